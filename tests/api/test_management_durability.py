"""Durability: a server killed with SIGKILL while writes are in flight loses no acknowledged
write and leaves no half-written entity (each write is one transaction)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import document, unique
from tests.harness import start_server, stubs

WRITERS = 8
TAGS = 3


def test_kill_during_writes_keeps_every_acknowledged_write(
    database_url: str, tmp_path: Path
) -> None:
    first = start_server(database_url, tmp_path / "iamd")
    client = stubs(first.endpoint, first.root)
    acknowledged_users: dict[str, int] = {}
    acknowledged_policies: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            name = unique(f"w{index}")
            tags = [types_pb2.Tag(key=f"k{i}", value=f"{name}-{i}") for i in range(TAGS)]
            try:
                if n % 2:
                    user = client.management.CreateUser(
                        pb.CreateUserRequest(user_name=name, tags=tags)
                    )
                    with lock:
                        acknowledged_users[name] = user.revision
                else:
                    policy = client.management.CreatePolicy(
                        pb.CreatePolicyRequest(
                            policy_name=name, policy_document=document("s3:*"), tags=tags
                        )
                    )
                    with lock:
                        acknowledged_policies[policy.policy.arn] = policy.revision
            except grpc.RpcError:
                return  # the server is gone

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        # Let writes flow, then kill while they are in flight.
        deadline = time.monotonic() + 10
        while len(acknowledged_users) + len(acknowledged_policies) < 60:
            assert time.monotonic() < deadline, "writes did not get going"
            time.sleep(0.02)
        first.stop(signal.SIGKILL)
        assert first.process.returncode == -signal.SIGKILL
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        client.close()

    second = start_server(database_url, tmp_path / "iamd")
    check = stubs(second.endpoint, second.root)
    try:
        m = check.management
        users = m.ListUsers(pb.ListUsersRequest(max_items=1000))
        assert not users.is_truncated
        listed = {u.user_name: u for u in users.users}
        # Every acknowledged user is there...
        assert set(acknowledged_users) <= set(listed)
        # ...and every user that exists (acknowledged or not) is whole.
        for name in listed:
            tags = m.ListUserTags(pb.ListUserTagsRequest(user_name=name)).tags
            assert sorted((t.key, t.value) for t in tags) == [
                (f"k{i}", f"{name}-{i}") for i in range(TAGS)
            ]
        policies = m.ListPolicies(
            pb.ListPoliciesRequest(scope=pb.POLICY_SCOPE_LOCAL, max_items=1000)
        )
        assert not policies.is_truncated
        by_arn = {p.arn: p for p in policies.policies}
        assert set(acknowledged_policies) <= set(by_arn)
        for arn, policy in by_arn.items():
            assert policy.default_version_id == "v1"
            version = m.GetPolicyVersion(
                pb.GetPolicyVersionRequest(policy_arn=arn, version_id="v1")
            )
            assert version.policy_version.is_default_version
            assert "s3:*" in version.policy_version.document
            assert len(m.GetPolicy(pb.GetPolicyRequest(policy_arn=arn)).policy.tags) == TAGS
        # Each acknowledged write left its audit row with the revision it reported.
        audited = {
            e.revision for e in m.ListAuditEvents(pb.ListAuditEventsRequest(max_items=1000)).events
        }
        assert set(acknowledged_users.values()) | set(acknowledged_policies.values()) <= audited
        # The restarted server keeps taking writes, with higher revisions.
        newest = max([*acknowledged_users.values(), *acknowledged_policies.values()])
        after = m.CreateUser(pb.CreateUserRequest(user_name=unique("after"))).revision
        assert after > newest
    finally:
        check.close()
        second.stop()
