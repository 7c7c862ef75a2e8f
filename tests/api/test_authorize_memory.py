"""The decision caches hold what their byte bound says: remembered decisions and sessions
with arbitrary names are counted, and evicted, instead of growing the process unseen."""

from __future__ import annotations

import json
from pathlib import Path

from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import sts_pb2
from iamd.v1 import types_pb2 as tpb

from tests.api.test_authorize_replicas import free_port, metric
from tests.harness import ServerProcess, start_server, stubs

BUDGET = 4 * 1024 * 1024  # --cache-max-bytes: 7/16 of it for principals
SESSIONS = 100
CHECKS = 1000  # distinct resources per session: each answer is remembered


def rss_bytes(server: ServerProcess) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_remembered_decisions_and_session_names_stay_within_the_byte_bound(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    server = start_server(
        database_url,
        tmp_path / "srv",
        extra_args=["--cache-max-bytes", str(BUDGET), "--metrics-listen", f"127.0.0.1:{port}"],
    )
    s = stubs(server.endpoint, server.root)
    try:
        account = s.sts.GetCallerIdentity(sts_pb2.GetCallerIdentityRequest()).account
        s.management.CreateRole(
            mpb.CreateRoleRequest(
                role_name="worker",
                assume_role_policy_document=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                            }
                        ],
                    }
                ),
            )
        )
        s.management.PutRolePolicy(
            mpb.PutRolePolicyRequest(
                role_name="worker",
                policy_name="read-some",
                policy_document=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "iam:GetUser",
                                "Resource": f"arn:aws:iam::{account}:user/even-*",
                            }
                        ],
                    }
                ),
            )
        )

        def principals(name: str) -> float:
            return metric(port, f'{name}{{cache="principals"}}')

        bound = principals("iamd_cache_max_bytes")
        assert bound == BUDGET * 7 // 16
        rss_before = rss_bytes(server)
        peak = 0.0
        for session in range(SESSIONS):
            # Any session name can be asked about; each is a principal of its own.
            reply = s.authorization.AuthorizeBatch(
                pb.AuthorizeBatchRequest(
                    principal_arn=f"arn:aws:sts::{account}:assumed-role/worker/s-{session}",
                    checks=[
                        pb.AuthorizeCheck(
                            action="iam:GetUser",
                            resource_arn=f"arn:aws:iam::{account}:user/{kind}-{check}",
                        )
                        for check in range(CHECKS // 2)
                        for kind in ("even", "odd")
                    ],
                )
            )
            decisions = [r.decision for r in reply.results]
            assert decisions[:2] == [tpb.DECISION_ALLOWED, tpb.DECISION_IMPLICIT_DENY]
            if session % 10 == 9:
                held = principals("iamd_cache_bytes")
                assert held <= bound
                peak = max(peak, held)
        # The remembered decisions are counted: the cache filled up to its bound...
        assert peak > bound / 2
        # ...and made room by evicting the least recently used sessions.
        assert principals("iamd_cache_evictions_total") > 0
        assert principals("iamd_cache_entries") < SESSIONS
        # The sessions share one compiled role.
        assert metric(port, 'iamd_cache_entries{cache="roles"}') == 1
        # What the process holds follows: 100,000 remembered decisions would take over
        # 30 MiB if they escaped the bound.
        grown = rss_bytes(server) - rss_before
        assert grown < 16 * 1024 * 1024, f"RSS grew {grown / 2**20:.1f} MiB"
    finally:
        s.close()
        server.stop()
