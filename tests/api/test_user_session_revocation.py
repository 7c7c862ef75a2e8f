"""RevokeUserSessions against real servers: a user's GetSessionToken and Login sessions issued
before the revocation fail on every replica, later ones work, its access keys keep working;
the call needs iam:PutUserPolicy on the user."""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2
from iamd_client.signing import SigningCredentials

from tests.api.management_support import (
    document,
    eventually,
    expect_error,
    management_account,
    new_user,
    unique,
)
from tests.api.sts_support import end_user_proof, session_credentials, whoami
from tests.harness import ServerProcess, Stubs, start_server, stubs

PASSWORD = "Correct-Horse-7"
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def replica(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("replica")
    shutil.copy(server.master_key_file, directory / "master.key")
    process = start_server(server.database_url, directory)
    try:
        yield process.endpoint
    finally:
        process.stop()


def _refused(client: Stubs) -> None:
    """Passes once the credentials fail UNAUTHENTICATED (AssertionError until then)."""
    try:
        whoami(client)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc.details()
        return
    raise AssertionError("still accepted")


def _session_token(user: Stubs) -> SigningCredentials:
    minted = user.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest()).credentials
    return session_credentials(minted)


def _login(endpoint: str, account: str, name: str) -> SigningCredentials:
    anonymous = stubs(endpoint, None)
    try:
        response = anonymous.sts.Login(
            sts_pb2.LoginRequest(account=account, user_name=name, password=PASSWORD)
        )
    finally:
        anonymous.close()
    return session_credentials(response.credentials)


def test_revoked_user_sessions_fail_everywhere_and_later_ones_work(
    server: ServerProcess, root: Stubs, replica: str
) -> None:
    account = management_account(root)
    name, user = new_user(root, server.endpoint, policy=document("iam:ListUsers"))
    root.management.CreateLoginProfile(
        pb.CreateLoginProfileRequest(user_name=name, password=PASSWORD)
    )
    old = [_session_token(user), _login(server.endpoint, account, name)]
    clients = [stubs(endpoint, c) for c in old for endpoint in (server.endpoint, replica)]
    for client in clients:
        assert whoami(client).arn.endswith(f":user/{name}")
        assert client.management.ListUsers(pb.ListUsersRequest(max_items=1)) is not None

    response = root.management.RevokeUserSessions(pb.RevokeUserSessionsRequest(user_name=name))
    assert response.revision > 0 and response.revoked_before.seconds > 0
    started = time.monotonic()
    for client in clients:
        eventually(functools.partial(_refused, client), timeout=1.0)
    assert time.monotonic() - started < 2.0
    # Forwarded as an end user's proof, a revoked session does not authenticate either.
    for credentials in old:
        question = apb.AuthorizeRequest(
            action="iam:ListUsers", end_user=end_user_proof(credentials)
        )
        expect_error(
            functools.partial(root.authorization.Authorize, question),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    # The access key is not a session: it keeps working; sessions minted now work everywhere.
    assert whoami(user).arn.endswith(f":user/{name}")
    time.sleep(0.01)
    fresh = [_session_token(user), _login(replica, account, name)]
    for credentials in fresh:
        for endpoint in (server.endpoint, replica):
            client = stubs(endpoint, credentials)
            assert whoami(client).arn.endswith(f":user/{name}")
            assert client.management.ListUsers(pb.ListUsersRequest(max_items=1)) is not None


def test_revoking_needs_put_user_policy_on_the_user(server: ServerProcess, root: Stubs) -> None:
    account = management_account(root)
    name, user = new_user(root, server.endpoint)
    target = f"arn:aws:iam::{account}:user/{name}"
    _, nobody = new_user(root, server.endpoint, policy=document("iam:*", f"{target}-other"))
    request = pb.RevokeUserSessionsRequest(user_name=name)
    expect_error(lambda: nobody.management.RevokeUserSessions(request), DENIED)
    # Revoking one's own sessions (empty user_name) needs the same right on oneself.
    expect_error(lambda: user.management.RevokeUserSessions(pb.RevokeUserSessionsRequest()), DENIED)
    _, admin = new_user(root, server.endpoint, policy=document("iam:PutUserPolicy", target))
    session = stubs(server.endpoint, _session_token(user))
    assert whoami(session).arn == target
    assert admin.management.RevokeUserSessions(request).revision > 0
    _refused(session)
    # An unknown user: NOT_FOUND only after the caller passed authorization.
    missing = pb.RevokeUserSessionsRequest(user_name=unique("ghost"))
    expect_error(lambda: nobody.management.RevokeUserSessions(missing), DENIED)
    expect_error(lambda: root.management.RevokeUserSessions(missing), grpc.StatusCode.NOT_FOUND)
