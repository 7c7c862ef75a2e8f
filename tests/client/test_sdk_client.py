"""Client and AsyncClient against a real `iamd serve`: signing, sessions, errors, pagination.

The server verifies every signature over the bytes it received, so each successful call
here is also a signature check; the failures below come from the server's own error
trailers (field and reason), mapped to the SDK's exception classes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from iamd.v1 import types_pb2
from iamd_client import (
    AlreadyExists,
    AsyncClient,
    Client,
    FailedPrecondition,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    authorize_check,
    context_entry,
    write_profile,
)
from iamd_client.signing import SigningCredentials

from tests.client.conftest import allow, connect, policy
from tests.harness import ServerProcess


@pytest.fixture(scope="module")
def alice(root: Client) -> SigningCredentials:
    """A user with an access key and no policies at all."""
    root.create_user(user_name="c-alice", path="/c/")
    key = root.create_access_key(user_name="c-alice").access_key
    return SigningCredentials(key.access_key_id, key.secret_access_key)


@pytest.fixture
def as_alice(server: ServerProcess, alice: SigningCredentials) -> Iterator[Client]:
    with connect(server.endpoint, alice) as client:
        yield client


# ---- signing and credentials ---------------------------------------------------------------


def test_signed_calls_identify_the_caller(root: Client, as_alice: Client, account: str) -> None:
    assert root.get_caller_identity().arn == f"arn:aws:iam::{account}:root"
    identity = as_alice.get_caller_identity()
    assert identity.arn == f"arn:aws:iam::{account}:user/c/c-alice"
    assert identity.account == account


def test_wrong_secret_is_unauthenticated(server: ServerProcess, alice: SigningCredentials) -> None:
    forged = SigningCredentials(alice.access_key_id, "x" * 40)
    with connect(server.endpoint, forged) as client, pytest.raises(Unauthenticated) as excinfo:
        client.get_caller_identity()
    error = excinfo.value
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "Unauthenticated"
    assert not error.retryable


def test_unknown_key_and_unsigned_calls_are_unauthenticated(server: ServerProcess) -> None:
    unknown = SigningCredentials("AKIA" + "Z" * 16, "x" * 40)
    with connect(server.endpoint, unknown) as client, pytest.raises(Unauthenticated):
        client.list_users()
    with connect(server.endpoint, None) as anonymous, pytest.raises(Unauthenticated):
        anonymous.get_caller_identity()


def test_session_token_is_sent_and_checked(
    server: ServerProcess, as_alice: Client, account: str
) -> None:
    credentials = as_alice.get_session_token(duration_seconds=900).credentials
    assert credentials.access_key_id.startswith("ASIA")
    session = SigningCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    with connect(server.endpoint, session) as client:
        assert client.get_caller_identity().arn == f"arn:aws:iam::{account}:user/c/c-alice"
    without_token = SigningCredentials(credentials.access_key_id, credentials.secret_access_key)
    with connect(server.endpoint, without_token) as client, pytest.raises(Unauthenticated):
        client.get_caller_identity()


def test_assume_role_and_use_the_session(
    root: Client, server: ServerProcess, alice: SigningCredentials, account: str
) -> None:
    alice_arn = f"arn:aws:iam::{account}:user/c/c-alice"
    trust = policy({"Effect": "Allow", "Principal": {"AWS": alice_arn}, "Action": "sts:AssumeRole"})
    role = root.create_role(role_name="c-reader", assume_role_policy_document=trust).role
    root.put_role_policy(
        role_name="c-reader", policy_name="read", policy_document=policy(allow("iam:ListUsers"))
    )
    with connect(server.endpoint, alice) as client:
        assumed = client.assume_role(
            role_arn=role.arn, role_session_name="audit", duration_seconds=900
        )
    assert assumed.assumed_role_user.arn == f"arn:aws:sts::{account}:assumed-role/c-reader/audit"
    credentials = assumed.credentials
    session = SigningCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    with connect(server.endpoint, session) as client:
        assert client.get_caller_identity().arn == assumed.assumed_role_user.arn
        assert "c-alice" in [u.user_name for u in client.iter_users(path_prefix="/c/")]
        with pytest.raises(PermissionDenied):
            client.list_roles()


def test_profile_from_the_credentials_file(
    server: ServerProcess,
    alice: SigningCredentials,
    account: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials_file = tmp_path / "credentials"
    shutil.copy(server.credentials_file, credentials_file)
    write_profile(
        credentials_file, "alice", server.endpoint, alice.access_key_id, alice.secret_access_key
    )
    for name in ("IAMD_ENDPOINT", "IAMD_ACCESS_KEY_ID", "IAMD_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("IAMD_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("IAMD_SHARED_CREDENTIALS_FILE", str(credentials_file))
    monkeypatch.setenv("IAMD_PROFILE", "alice")
    with Client.from_environment() as client:
        assert client.endpoint == server.endpoint
        assert client.access_key_id == alice.access_key_id
        assert client.get_caller_identity().arn == f"arn:aws:iam::{account}:user/c/c-alice"
    monkeypatch.delenv("IAMD_PROFILE")
    with Client.from_environment() as client:  # "default": the bootstrap root profile
        assert client.get_caller_identity().arn == f"arn:aws:iam::{account}:root"


# ---- errors --------------------------------------------------------------------------------


def test_invalid_argument_names_the_field(root: Client) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        root.create_user(user_name="not a valid name!")
    assert excinfo.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert excinfo.value.field == "user_name"
    with pytest.raises(InvalidArgument) as malformed:
        root.put_user_policy(
            user_name="c-alice", policy_name="bad", policy_document='{"Version": "2012-10-17"}'
        )
    assert malformed.value.reason == "MalformedPolicyDocument"


def test_not_found_and_already_exists(root: Client) -> None:
    with pytest.raises(NotFound) as missing:
        root.get_user(user_name="c-nobody")
    assert missing.value.reason == "NoSuchEntity"
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    root.create_user(user_name="c-bob")
    with pytest.raises(AlreadyExists) as excinfo:
        root.create_user(user_name="C-BOB")  # names are case-insensitive
    error = excinfo.value
    assert error.reason == "EntityAlreadyExists"
    assert error.message == "User C-BOB already exists"
    assert str(error) == "EntityAlreadyExists: User C-BOB already exists"


def test_failed_precondition(root: Client) -> None:
    root.create_group(group_name="c-busy")
    root.create_user(user_name="c-member")
    root.add_user_to_group(group_name="c-busy", user_name="c-member")
    with pytest.raises(FailedPrecondition) as excinfo:
        root.delete_group(group_name="c-busy")
    assert excinfo.value.reason == "DeleteConflict"


def test_limit_exceeded(root: Client) -> None:
    root.create_user(user_name="c-keys")
    root.create_access_key(user_name="c-keys")
    root.create_access_key(user_name="c-keys")
    with pytest.raises(LimitExceeded) as excinfo:
        root.create_access_key(user_name="c-keys")
    assert excinfo.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert excinfo.value.reason == "LimitExceeded"


def test_permission_denied_without_policies(as_alice: Client) -> None:
    with pytest.raises(PermissionDenied) as excinfo:
        as_alice.create_user(user_name="c-not-allowed")
    assert excinfo.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "iam:CreateUser" in excinfo.value.message


def test_invalid_values_are_rejected_before_any_call(root: Client) -> None:
    with pytest.raises(ValueError):
        root.update_access_key(access_key_id="AKIA", status="Sleeping")


# ---- pagination, optional fields, authorization --------------------------------------------


def test_iter_users_follows_markers_over_several_pages(root: Client) -> None:
    names = [f"c-page-{n}" for n in range(5)]
    for name in reversed(names):
        root.create_user(user_name=name, path="/c-page/")
    first = root.list_users(path_prefix="/c-page/", max_items=2)
    assert first.is_truncated and first.marker
    assert [u.user_name for u in first.users] == names[:2]
    second = root.list_users(path_prefix="/c-page/", max_items=2, marker=first.marker)
    assert [u.user_name for u in second.users] == names[2:4]
    assert [u.user_name for u in root.iter_users(path_prefix="/c-page/", max_items=2)] == names


def test_optional_fields_keep_presence(root: Client) -> None:
    root.create_user(user_name="c-erin", path="/a/")
    assert root.update_user(user_name="c-erin").user.path == "/a/"
    assert root.update_user(user_name="c-erin", new_path="/b/").user.path == "/b/"


def test_authorize_and_batch(root: Client, account: str) -> None:
    root.create_user(user_name="c-reader")
    written = root.put_user_policy(
        user_name="c-reader",
        policy_name="read",
        policy_document=policy(
            {
                "Effect": "Allow",
                "Action": "iam:GetUser",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ),
    )
    principal = f"arn:aws:iam::{account}:user/c-reader"
    target = f"arn:aws:iam::{account}:user/c-reader"
    decision = root.authorize(
        principal_arn=principal,
        action="iam:GetUser",
        resource_arn=target,
        context=[context_entry("aws:SourceIp", "10.1.2.3", types_pb2.CONTEXT_KEY_TYPE_IP)],
        explain=True,
        at_least_revision=written.revision,
    )
    assert decision.decision == types_pb2.DECISION_ALLOWED
    assert decision.revision >= written.revision
    assert [s.source_policy_id for s in decision.explain.matched_statements] == [
        f"{principal}#read"
    ]
    batch = root.authorize_batch(
        principal_arn=principal,
        checks=[
            authorize_check(action="iam:GetUser", resource_arn=target),
            authorize_check(action="iam:DeleteUser", resource_arn=target),
        ],
    )
    assert [r.decision for r in batch.results] == [
        types_pb2.DECISION_IMPLICIT_DENY,  # no aws:SourceIp in the context
        types_pb2.DECISION_IMPLICIT_DENY,
    ]


def test_context_entry_types() -> None:
    assert context_entry("k", True).type == types_pb2.CONTEXT_KEY_TYPE_BOOLEAN
    assert list(context_entry("k", True).values) == ["true"]
    assert context_entry("k", 5).type == types_pb2.CONTEXT_KEY_TYPE_NUMERIC
    assert context_entry("k", ["a"]).type == types_pb2.CONTEXT_KEY_TYPE_STRING_LIST
    ip = context_entry("aws:SourceIp", "10.0.0.1", types_pb2.CONTEXT_KEY_TYPE_IP)
    assert ip.type == types_pb2.CONTEXT_KEY_TYPE_IP


def test_error_classes_are_distinct() -> None:
    assert not issubclass(InvalidArgument, NotFound)


# ---- the async client ----------------------------------------------------------------------


async def test_async_client_errors_pages_and_sessions(
    server: ServerProcess, alice: SigningCredentials, account: str
) -> None:
    root = server.root
    async with AsyncClient(
        endpoint=server.endpoint,
        access_key_id=root.access_key_id,
        secret_access_key=root.secret_access_key,
    ) as client:
        for n in range(3):
            await client.create_user(user_name=f"c-async-{n}", path="/c-async/")
        names = [u.user_name async for u in client.iter_users(path_prefix="/c-async/", max_items=2)]
        assert names == ["c-async-0", "c-async-1", "c-async-2"]
        with pytest.raises(AlreadyExists) as excinfo:
            await client.create_user(user_name="C-ASYNC-0")
        assert excinfo.value.reason == "EntityAlreadyExists"
        with pytest.raises(NotFound):
            await client.get_user(user_name="c-async-nobody")
    async with AsyncClient(
        endpoint=server.endpoint,
        access_key_id=alice.access_key_id,
        secret_access_key=alice.secret_access_key,
    ) as as_alice:
        with pytest.raises(PermissionDenied):
            await as_alice.list_roles()
        credentials = (await as_alice.get_session_token()).credentials
    async with AsyncClient(
        endpoint=server.endpoint,
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
    ) as session:
        identity = await session.get_caller_identity()
        assert identity.arn == f"arn:aws:iam::{account}:user/c/c-alice"
    async with AsyncClient(
        endpoint=server.endpoint, access_key_id=alice.access_key_id, secret_access_key="y" * 40
    ) as forged:
        with pytest.raises(Unauthenticated):
            await forged.get_caller_identity()
