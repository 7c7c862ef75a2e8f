"""Revocation across replicas: a second `iamd serve` process on the same database sees
revoked sessions, deleted and deactivated keys, and deleted roles within a second; access
key last-used times are written in batches."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2
from iamd_client.signing import SigningCredentials

from tests.api.management_support import credentials_of, management_account, new_user, unique
from tests.api.sts_support import (
    assume,
    assumed_stubs,
    new_role,
    session_credentials,
    trust,
    whoami,
)
from tests.harness import ServerProcess, Stubs, start_server, stubs


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def replica(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server on the same database and master key; yields its endpoint."""
    directory: Path = tmp_path_factory.mktemp("replica")
    shutil.copy(server.master_key_file, directory / "master.key")
    process = start_server(server.database_url, directory)
    try:
        yield process.endpoint
    finally:
        process.stop()


def fails_within(check: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls ``check`` until it fails UNAUTHENTICATED; returns how long that took."""
    started = time.monotonic()
    while True:
        try:
            check()
        except grpc.RpcError as exc:
            assert isinstance(exc, grpc.Call)
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc.details()
            elapsed = time.monotonic() - started
            assert elapsed <= seconds, f"took {elapsed:.2f}s"
            return elapsed
        if time.monotonic() - started > seconds:
            pytest.fail(f"still accepted after {seconds}s")
        time.sleep(0.02)


def test_revoked_role_sessions_fail_on_the_other_replica(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    account = management_account(root)
    name, user = new_user(root, server.endpoint)
    role_name = unique("shared")
    role_arn = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:user/{name}"}), name=role_name)
    on_primary = assumed_stubs(server.endpoint, user, role_arn)
    assert whoami(on_primary).arn
    on_replica = stubs(replica, _credentials_of_session(user, role_arn))
    assert whoami(on_replica).arn
    root.management.RevokeRoleSessions(pb.RevokeRoleSessionsRequest(role_name=role_name))
    fails_within(lambda: whoami(on_replica))
    fails_within(lambda: whoami(on_primary))
    # Sessions issued after the revocation work on both replicas.
    fresh = _credentials_of_session(user, role_arn, "fresh")
    assert whoami(stubs(replica, fresh)).arn.endswith("/fresh")
    assert whoami(stubs(server.endpoint, fresh)).arn.endswith("/fresh")


def _credentials_of_session(user: Stubs, role_arn: str, name: str = "s1") -> SigningCredentials:
    return session_credentials(assume(user, role_arn, name).credentials)


def test_deleted_role_sessions_fail_on_the_other_replica(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    account = management_account(root)
    name, user = new_user(root, server.endpoint)
    role_name = unique("gone")
    role_arn = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:user/{name}"}), name=role_name)
    on_replica = stubs(replica, _credentials_of_session(user, role_arn))
    assert whoami(on_replica).arn
    root.management.DeleteRole(pb.DeleteRoleRequest(role_name=role_name))
    fails_within(lambda: whoami(on_replica))


def test_deleted_and_deactivated_keys_fail_on_the_other_replica(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    name = unique("keys")
    root.management.CreateUser(pb.CreateUserRequest(user_name=name))
    first = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    second = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    deactivated = stubs(replica, credentials_of(first))
    deleted = stubs(replica, credentials_of(second))
    assert whoami(deactivated).arn and whoami(deleted).arn

    root.management.UpdateAccessKey(
        pb.UpdateAccessKeyRequest(
            user_name=name,
            access_key_id=first.access_key_id,
            status=types_pb2.ACCESS_KEY_STATUS_INACTIVE,
        )
    )
    fails_within(lambda: whoami(deactivated))
    root.management.DeleteAccessKey(
        pb.DeleteAccessKeyRequest(user_name=name, access_key_id=second.access_key_id)
    )
    fails_within(lambda: whoami(deleted))
    # Reactivating takes effect everywhere as well.
    root.management.UpdateAccessKey(
        pb.UpdateAccessKeyRequest(
            user_name=name,
            access_key_id=first.access_key_id,
            status=types_pb2.ACCESS_KEY_STATUS_ACTIVE,
        )
    )
    deadline = time.monotonic() + 1.0
    while True:
        try:
            assert whoami(deactivated).arn
            break
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_key_last_used_is_recorded_in_batches(server: ServerProcess, root: Stubs) -> None:
    name, user = new_user(root, server.endpoint)
    key_id = (
        root.management.ListAccessKeys(pb.ListAccessKeysRequest(user_name=name))
        .access_key_metadata[0]
        .access_key_id
    )

    async def last_used() -> tuple[object, object]:
        conn = await asyncpg.connect(server.database_url)
        try:
            row = await conn.fetchrow(
                "SELECT last_used_at, last_used_rpc FROM iamd_access_keys WHERE id = $1", key_id
            )
        finally:
            await conn.close()
        assert row is not None
        return row["last_used_at"], row["last_used_rpc"]

    assert asyncio.run(last_used()) == (None, None)
    for _ in range(5):
        whoami(user)
    deadline = time.monotonic() + 10
    while True:
        used_at, rpc = asyncio.run(last_used())
        if used_at is not None:
            break
        assert time.monotonic() < deadline, "last-used time never written"
        time.sleep(0.2)
    assert "GetCallerIdentity" in str(rpc)
