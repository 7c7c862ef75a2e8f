"""Authorize when the database misbehaves: a listening connection that hangs instead of
dying, and tables locked by a long export or a migration."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_server.store.embedded import EmbeddedPostgres

from tests.api.test_authorize_replicas import free_port, metric, second_server
from tests.harness import ServerProcess, Stubs, start_server, stubs

ALLOWED = tpb.DECISION_ALLOWED
IMPLICIT = tpb.DECISION_IMPLICIT_DENY
MAX_STALENESS = 1.0  # the default of --max-staleness


def allow(action: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
    )  # fmt: skip


def decide(s: Stubs, principal: str, revision: int = 0, timeout: float = 5) -> int:
    reply = s.authorization.Authorize(
        pb.AuthorizeRequest(
            principal_arn=principal, action="iam:GetUser", at_least_revision=revision
        ),
        timeout=timeout,
    )
    return int(reply.decision)


async def _listener_pids(dsn: str) -> set[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'iamd-change-feed'"
        )
        return {int(r["pid"]) for r in rows}
    finally:
        await conn.close()


def listener_pids(dsn: str) -> set[int]:
    return asyncio.run(_listener_pids(dsn))


def is_postgres_backend(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"postgres" in command


@pytest.fixture
def own_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL of this test's own: its backends are processes on this host
    (the test stops one), and the shared test cluster is never disturbed."""
    directory = Path(tempfile.mkdtemp(prefix="iamd-stall-pg-"))
    cluster = EmbeddedPostgres(directory, throwaway=True)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_hung_listening_connection_never_allows_past_the_staleness_bound(
    own_cluster: str, tmp_path: Path
) -> None:
    first = start_server(own_cluster, tmp_path / "a")
    stopped: int | None = None
    second: ServerProcess | None = None
    try:
        before = listener_pids(own_cluster)
        port = free_port()
        second = second_server(first, tmp_path / "b", "--metrics-listen", f"127.0.0.1:{port}")
        (listener,) = listener_pids(own_cluster) - before
        assert is_postgres_backend(listener)
        one, two = stubs(first.endpoint, first.root), stubs(second.endpoint, first.root)
        try:
            arn = one.management.CreateUser(mpb.CreateUserRequest(user_name="held")).user.arn
            revision = one.management.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name="held", policy_name="p", policy_document=allow("iam:GetUser")
                )
            ).revision
            assert decide(two, arn, revision) == ALLOWED
            resets = metric(port, "iamd_change_feed_resets_total")

            # The second replica's listening backend stops; its socket stays open.
            os.kill(listener, signal.SIGSTOP)
            stopped = listener
            one.management.DeleteUserPolicy(
                mpb.DeleteUserPolicyRequest(user_name="held", policy_name="p")
            )
            revoked = time.monotonic()  # the revocation has committed

            answers: list[tuple[float, str]] = []
            while time.monotonic() - revoked < 4.0:
                sent = time.monotonic()
                try:
                    outcome = "allowed" if decide(two, arn, timeout=2) == ALLOWED else "denied"
                except grpc.RpcError as error:
                    assert isinstance(error, grpc.Call)
                    outcome = error.code().name
                answers.append((sent - revoked, outcome))
                time.sleep(0.02)
            late = [(at, o) for at, o in answers if at > MAX_STALENESS and o != "denied"]
            late_allows = [(at, o) for at, o in late if o == "allowed"]
            assert not late_allows, f"allowed after the bound: {late_allows[:3]}"
            assert {o for _, o in late} <= {"UNAVAILABLE"}, late
            # It noticed the hang, reconnected, and answers from the database again.
            assert answers[-1][1] == "denied", answers[-5:]
            assert metric(port, "iamd_change_feed_resets_total") > resets
            assert metric(port, "iamd_feed_staleness_seconds") < MAX_STALENESS
        finally:
            one.close()
            two.close()
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        if second is not None:
            second.stop()
        first.stop()


class TableLock:
    """Holds ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` in an open transaction (a thread of
    its own) for the duration of the block, as a long export or a migration would."""

    def __init__(self, dsn: str, table: str) -> None:
        self._dsn = dsn
        self._table = table
        self._locked = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {self._table} IN ACCESS EXCLUSIVE MODE")
                self._locked.set()
                await asyncio.to_thread(self._release.wait)
        finally:
            await conn.close()

    def __enter__(self) -> TableLock:
        self._thread.start()
        assert self._locked.wait(10), f"could not lock {self._table}"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._release.set()
        self._thread.join(10)


def test_uncached_authorize_does_not_wait_for_locked_tables(
    database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path / "srv")
    s = stubs(server.endpoint, server.root)
    try:
        arns = []
        for name in ("cold-1", "cold-2"):
            arns.append(s.management.CreateUser(mpb.CreateUserRequest(user_name=name)).user.arn)
            s.management.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name=name, policy_name="p", policy_document=allow("iam:GetUser")
                )
            )
        assert decide(s, arns[0].replace("cold-1", "warm-up")) == IMPLICIT  # the caller cached

        # A long audit export: nothing Authorize needs is in that table.
        with TableLock(database_url, "iamd_audit"):
            started = time.monotonic()
            assert decide(s, arns[0], timeout=10) == ALLOWED
            assert time.monotonic() - started < 1.0

        # A migration holding the users table: the load gives up after --load-timeout (2 s)
        # and the caller learns UNAVAILABLE, well before its own 10 s deadline.
        with TableLock(database_url, "iamd_users"):
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as error:
                decide(s, arns[1], timeout=10)
            assert isinstance(error.value, grpc.Call)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE, error.value.details()
            assert 1.5 < time.monotonic() - started < 4.0
        # Once the lock is gone the same principal is answered (and the pool is healthy).
        assert decide(s, arns[1]) == ALLOWED
        for _ in range(20):
            assert decide(s, arns[1]) == ALLOWED
    finally:
        s.close()
        server.stop()


def test_a_change_arriving_while_entries_load_is_reflected(
    database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path / "srv")
    s = stubs(server.endpoint, server.root)
    try:
        definition = tpb.ServiceDefinition(
            service_prefix="docs",
            actions=[tpb.ServiceAction(name="Read", resource_types=["doc"])],
            resource_types=[
                tpb.ServiceResourceType(name="doc", arn_pattern="arn:${Partition}:docs:::${Name}")
            ],
        )
        s.management.PutServiceDefinition(mpb.PutServiceDefinitionRequest(definition=definition))
        arn = s.management.CreateUser(mpb.CreateUserRequest(user_name="reader")).user.arn
        s.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name="reader", policy_name="p", policy_document=allow("docs:Read")
            )
        )
        shared = "arn:aws:docs:::shared"
        revision = s.management.PutResourcePolicy(
            mpb.PutResourcePolicyRequest(
                resource_arn=shared,
                policy_document=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "999999999999"},
                                "Action": "docs:Read",
                                "Resource": shared,
                            }
                        ],
                    }
                ),
            )
        ).revision

        def read(resource: str, revision: int = 0) -> int:
            reply = s.authorization.Authorize(
                pb.AuthorizeRequest(
                    principal_arn=arn, action="docs:Read", resource_arn=resource,
                    at_least_revision=revision,
                ),
                timeout=10,
            )  # fmt: skip
            return int(reply.decision)

        assert read("arn:aws:docs:::other", revision) == ALLOWED  # the user's entry is cached
        answer: list[int] = []
        with TableLock(database_url, "iamd_resource_policies"):
            # The shared document's policy cannot be read yet: the decision waits for it...
            waiting = threading.Thread(target=lambda: answer.append(read(shared)))
            waiting.start()
            time.sleep(0.3)
            # ...while the user loses the permission.
            s.management.DeleteUserPolicy(
                mpb.DeleteUserPolicyRequest(user_name="reader", policy_name="p")
            )
            time.sleep(0.2)
        waiting.join(10)
        # Before: allowed, from the user's entry as it was when the decision started.
        assert answer == [IMPLICIT]
    finally:
        s.close()
        server.stop()
