"""Several replicas on one database: change propagation, read-your-writes, a lost
notification connection, and a database outage (on a throwaway cluster of its own)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_server.store.embedded import EmbeddedPostgres

from tests.harness import ServerProcess, Stubs, start_server, stubs

ALLOWED = tpb.DECISION_ALLOWED
IMPLICIT = tpb.DECISION_IMPLICIT_DENY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def allow(action: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
    )  # fmt: skip


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"{name} is not exported"
    return total


def second_server(first: ServerProcess, directory: Path, *extra: str) -> ServerProcess:
    # Replicas share the master key (it decrypts the stored access key secrets).
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "master.key").write_bytes(first.master_key_file.read_bytes())
    return start_server(first.database_url, directory, extra_args=extra)


def decide(s: Stubs, principal: str, action: str, revision: int = 0) -> int:
    reply = s.authorization.Authorize(
        pb.AuthorizeRequest(principal_arn=principal, action=action, at_least_revision=revision),
        timeout=5,
    )
    return int(reply.decision)


@pytest.fixture
def replicas(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess, int]]:
    port = free_port()
    first = start_server(database_url, tmp_path / "one")
    try:
        second = second_server(first, tmp_path / "two", "--metrics-listen", f"127.0.0.1:{port}")
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second, port
    finally:
        second.stop()
        first.stop()


def test_change_reaches_the_second_process_within_a_second(
    replicas: tuple[ServerProcess, ServerProcess, int],
) -> None:
    first, second, _ = replicas
    one, two = stubs(first.endpoint, first.root), stubs(second.endpoint, first.root)
    try:
        arn = one.management.CreateUser(mpb.CreateUserRequest(user_name="carol")).user.arn
        deadline = time.monotonic() + 5
        while decide(two, arn, "iam:ListUsers") is None:  # pragma: no cover - warm up
            assert time.monotonic() < deadline
        assert decide(two, arn, "iam:ListUsers") == IMPLICIT  # now cached on the second one
        one.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name="carol", policy_name="p", policy_document=allow("iam:ListUsers")
            )
        )
        written = time.monotonic()
        while decide(two, arn, "iam:ListUsers") != ALLOWED:
            assert time.monotonic() - written < 1.0, "the change took over a second"
            time.sleep(0.01)
        # And back: deleting the policy is seen too.
        one.management.DeleteUserPolicy(
            mpb.DeleteUserPolicyRequest(user_name="carol", policy_name="p")
        )
        written = time.monotonic()
        while decide(two, arn, "iam:ListUsers") != IMPLICIT:
            assert time.monotonic() - written < 1.0, "the change took over a second"
            time.sleep(0.01)
    finally:
        one.close()
        two.close()


def test_at_least_revision_reads_your_writes_on_another_process(
    replicas: tuple[ServerProcess, ServerProcess, int],
) -> None:
    first, second, _ = replicas
    one, two = stubs(first.endpoint, first.root), stubs(second.endpoint, first.root)
    try:
        arn = one.management.CreateUser(mpb.CreateUserRequest(user_name="dave")).user.arn
        for round_ in range(20):
            action = "iam:GetUser" if round_ % 2 == 0 else "iam:ListUsers"
            assert decide(two, arn, action) == IMPLICIT or round_ > 0
            revision = one.management.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name="dave", policy_name="p", policy_document=allow(action)
                )
            ).revision
            # No sleeping: the revision alone makes the second process wait for the change.
            reply = two.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=arn, action=action, at_least_revision=revision),
                timeout=5,
            )
            assert reply.decision == ALLOWED
            assert reply.revision >= revision
        # A revision that never comes: UNAVAILABLE when the deadline is near, never an answer.
        with pytest.raises(grpc.RpcError) as error:
            two.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=arn, action="iam:GetUser",
                                    at_least_revision=revision + 1000),
                timeout=0.5,
            )  # fmt: skip
        assert error.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    finally:
        one.close()
        two.close()


async def _terminate_listener(dsn: str, exclude_pids: set[int]) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'iamd-change-feed'"
        )
        pids = [r["pid"] for r in rows if r["pid"] not in exclude_pids]
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        return len(pids)
    finally:
        await conn.close()


def test_lost_listen_connection_flushes_everything(
    replicas: tuple[ServerProcess, ServerProcess, int],
) -> None:
    first, second, port = replicas
    one, two = stubs(first.endpoint, first.root), stubs(second.endpoint, first.root)
    try:
        arn = one.management.CreateUser(mpb.CreateUserRequest(user_name="erin")).user.arn
        revision = one.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name="erin", policy_name="p", policy_document=allow("iam:GetUser")
            )
        ).revision
        assert decide(two, arn, "iam:GetUser", revision) == ALLOWED
        assert metric(port, "iamd_cache_entries") >= 1
        resets = metric(port, "iamd_change_feed_resets_total")
        # Kill the listening connections of both replicas.
        assert asyncio.run(_terminate_listener(first.database_url, set())) >= 1
        deadline = time.monotonic() + 5
        while metric(port, "iamd_change_feed_resets_total") <= resets:
            assert time.monotonic() < deadline, "the lost connection was not noticed"
            time.sleep(0.02)
        while metric(port, "iamd_change_feed_connected") != 1:
            assert time.monotonic() < deadline, "the feed did not reconnect"
            time.sleep(0.02)
        # Everything was dropped on reconnecting (the root caller's entry may be back).
        assert metric(port, 'iamd_cache_entries{cache="principals"}') <= 1
        # Answers are right afterwards, and changes flow again.
        assert decide(two, arn, "iam:GetUser") == ALLOWED
        one.management.DeleteUserPolicy(
            mpb.DeleteUserPolicyRequest(user_name="erin", policy_name="p")
        )
        written = time.monotonic()
        while decide(two, arn, "iam:GetUser") != IMPLICIT:
            assert time.monotonic() - written < 1.0
            time.sleep(0.01)
    finally:
        one.close()
        two.close()


def test_database_outage_serves_cached_principals_within_the_staleness_bound(
    tmp_path: Path,
) -> None:
    # Its own throwaway cluster: the shared test cluster is never stopped.
    pg_dir = Path(tempfile.mkdtemp(prefix="iamd-outage-pg-"))
    cluster = EmbeddedPostgres(pg_dir, throwaway=True)
    dsn = cluster.start()
    server: ServerProcess | None = None
    bound = 4.0
    try:
        server = start_server(dsn, tmp_path / "srv", extra_args=["--max-staleness", str(bound)])
        s = stubs(server.endpoint, server.root)
        try:
            cached = s.management.CreateUser(mpb.CreateUserRequest(user_name="kept")).user.arn
            other = s.management.CreateUser(mpb.CreateUserRequest(user_name="cold")).user.arn
            revision = s.management.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name="kept", policy_name="p", policy_document=allow("iam:GetUser")
                )
            ).revision
            assert decide(s, cached, "iam:GetUser", revision) == ALLOWED
            stopping = time.monotonic()
            cluster.stop()
            # Nothing can be written while the database is down: what is cached still answers
            # for a while; what is not cannot be loaded and fails closed.
            for _ in range(10):
                assert decide(s, cached, "iam:GetUser") == ALLOWED
                time.sleep(0.02)
            with pytest.raises(grpc.RpcError) as error:
                decide(s, other, "iam:GetUser")
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            # Past the bound the replica cannot prove it missed nothing: everything fails
            # closed, cached principals included.
            while time.monotonic() - stopping < bound + 0.5:
                time.sleep(0.1)
            with pytest.raises(grpc.RpcError) as error:
                decide(s, cached, "iam:GetUser")
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            s.close()
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
