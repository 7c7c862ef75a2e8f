"""Identity follows the stable unique id, never the name: credentials of a user or role that
was renamed, moved or deleted never speak for whoever takes the name next, on any replica
(key cache, Authorize grants and decisions included)."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2, types_pb2

from tests.api.management_support import (
    credentials_of,
    document,
    error_of,
    eventually,
    management_account,
    new_user,
    unique,
)
from tests.api.sts_support import new_role, session_credentials, trust, whoami
from tests.harness import ServerProcess, Stubs, start_server, stubs

ADMIN = document(["iam:*", "sts:*", "iamd:*"])


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


def _denied(call: Callable[[], object]) -> None:
    error = error_of(call)
    assert error.code() in (
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    ), f"{error.code()}: {error.details()}"


def _arn(account: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user{path}{name}"


def test_a_key_follows_its_user_not_the_name(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    """The attack: dave's key is cached on both replicas; dave is renamed and a new dave with
    every right is created. The old key must still be the old user's: not the new dave's
    identity, rights, sessions or Authorize grants."""
    account = management_account(root)
    name = unique("dave")
    root.management.CreateUser(pb.CreateUserRequest(user_name=name))
    key = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    old_key = credentials_of(key)
    clients = [stubs(server.endpoint, old_key), stubs(replica, old_key)]
    for client in clients:  # cached everywhere, as the user of that name
        assert whoami(client).arn == _arn(account, "/", name)
        decision = client.authorization.Authorize(apb.AuthorizeRequest(action="iam:ListUsers"))
        assert decision.decision == types_pb2.DECISION_IMPLICIT_DENY

    root.management.UpdateUser(pb.UpdateUserRequest(user_name=name, new_user_name=name + "-old"))
    old_arn = _arn(account, "/", name + "-old")
    old_id = root.management.GetUser(pb.GetUserRequest(user_name=name + "-old")).user.user_id
    # The name is taken again by an administrator.
    _, newcomer = new_user(root, server.endpoint, name=name, policy=ADMIN)
    taken_arn = _arn(account, "/", name)
    assert whoami(newcomer).arn == taken_arn
    assert newcomer.management.ListUsers(pb.ListUsersRequest(max_items=1)) is not None

    for client in clients:
        _is_the_old_user(server, client, old_arn, old_id, taken_arn)


def _is_the_old_user(
    server: ServerProcess, client: Stubs, old_arn: str, old_id: str, taken_arn: str
) -> None:
    identity = eventually(lambda: _is(whoami(client), old_arn), timeout=1.0)
    assert identity.user_id == old_id
    # None of the newcomer's rights.
    _denied(lambda: client.management.ListUsers(pb.ListUsersRequest(max_items=1)))
    taken_name = taken_arn.rsplit("/", 1)[-1]
    _denied(
        lambda: client.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=taken_name))
    )
    # Authorize about itself answers for the old user; asking about others needs a grant the
    # old user does not have (the newcomer's iamd:* is not its).
    reply = client.authorization.Authorize(apb.AuthorizeRequest(action="iam:ListUsers"))
    assert reply.principal_arn == old_arn
    assert reply.decision == types_pb2.DECISION_IMPLICIT_DENY
    _denied(
        lambda: client.authorization.Authorize(
            apb.AuthorizeRequest(principal_arn=taken_arn, action="iam:ListUsers")
        )
    )
    # A session it mints is the old user's, with the old user's rights.
    minted = client.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest()).credentials
    session = stubs(server.endpoint, session_credentials(minted))
    assert whoami(session).arn == old_arn
    _denied(lambda: session.management.ListUsers(pb.ListUsersRequest(max_items=1)))


def test_a_key_follows_its_user_to_a_new_path(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    """Moving a user changes its ARN: every replica's cached key follows it at once."""
    account = management_account(root)
    name, _ = new_user(root, server.endpoint)
    key = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    clients = [stubs(server.endpoint, credentials_of(key)), stubs(replica, credentials_of(key))]
    for client in clients:
        assert whoami(client).arn == _arn(account, "/", name)
    root.management.UpdateUser(pb.UpdateUserRequest(user_name=name, new_path="/moved/"))
    moved = _arn(account, "/moved/", name)
    for client in clients:
        eventually(functools.partial(_is_at, client, moved), timeout=1.0)
        reply = client.authorization.Authorize(apb.AuthorizeRequest(action="iam:ListUsers"))
        assert reply.principal_arn == moved


def _is(identity: sts_pb2.GetCallerIdentityResponse, arn: str) -> sts_pb2.GetCallerIdentityResponse:
    assert identity.arn == arn, identity.arn
    return identity


def test_a_users_session_never_speaks_for_the_new_holder_of_the_name(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    name, user = new_user(root, server.endpoint)
    minted = user.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest()).credentials
    session = session_credentials(minted)
    clients = [stubs(server.endpoint, session), stubs(replica, session)]
    for client in clients:
        assert whoami(client).arn.endswith(f":user/{name}")
    root.management.UpdateUser(pb.UpdateUserRequest(user_name=name, new_user_name=name + "-x"))
    new_user(root, server.endpoint, name=name, policy=ADMIN)
    for client in clients:
        # The token names the old user's id: refused, never the newcomer.
        eventually(functools.partial(_refused, client), timeout=1.0)


def _unauthenticated(call: Callable[[], object]) -> None:
    """AssertionError (which `eventually` retries) unless the call fails UNAUTHENTICATED."""
    try:
        call()
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc.details()
        return
    raise AssertionError("still accepted")


def _refused(client: Stubs) -> None:
    """Every kind of call with these credentials fails UNAUTHENTICATED."""
    _unauthenticated(lambda: whoami(client))
    _unauthenticated(lambda: client.management.ListUsers(pb.ListUsersRequest(max_items=1)))
    _unauthenticated(
        lambda: client.authorization.Authorize(apb.AuthorizeRequest(action="iam:ListUsers"))
    )


def _is_at(client: Stubs, arn: str) -> None:
    _is(whoami(client), arn)


def test_a_role_session_does_not_survive_its_role_being_recreated(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    """AWS binds role sessions to the role's unique id: deleting a role and creating one of
    the same name (with more rights) does not revive or widen the old sessions."""
    account = management_account(root)
    name, user = new_user(root, server.endpoint)
    principal = {"AWS": f"arn:aws:iam::{account}:user/{name}"}
    role_name = unique("phoenix")
    role_arn = new_role(root, trust(principal), name=role_name)
    minted = user.sts.AssumeRole(
        sts_pb2.AssumeRoleRequest(role_arn=role_arn, role_session_name="before")
    ).credentials
    session = session_credentials(minted)
    clients = [stubs(server.endpoint, session), stubs(replica, session)]
    for client in clients:
        assert whoami(client).arn.endswith(f":assumed-role/{role_name}/before")
    root.management.DeleteRole(pb.DeleteRoleRequest(role_name=role_name))
    assert new_role(root, trust(principal), name=role_name, policy=ADMIN) == role_arn
    for client in clients:
        eventually(functools.partial(_refused, client), timeout=1.0)
    # A session of the new role works, with the new role's rights.
    fresh = user.sts.AssumeRole(
        sts_pb2.AssumeRoleRequest(role_arn=role_arn, role_session_name="after")
    ).credentials
    for endpoint in (server.endpoint, replica):
        client = stubs(endpoint, session_credentials(fresh))
        assert client.management.ListUsers(pb.ListUsersRequest(max_items=1)) is not None
