"""Client and AsyncClient against a real gRPC server: signing, errors, retries, pagination."""

from __future__ import annotations

import time

import grpc
import pytest
from iamd.v1 import types_pb2
from iamd_client import (
    AlreadyExists,
    AsyncClient,
    Client,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
    authorize_check,
    context_entry,
)
from iamd_client._calls import is_idempotent

from tests.client.sdk_fake_server import ACCESS_KEY_ID, SECRET, RunningServer


def test_calls_are_signed_over_the_bytes_sent(client: Client, fake: RunningServer) -> None:
    response = client.create_user(user_name="alice", path="/dev/", tags={"team": "a"})
    assert response.user.arn == "arn:aws:iam::111122223333:user/dev/alice"
    assert response.revision > 0
    call = fake.fake.rpcs("CreateUser")[0]
    assert call.signature_ok
    assert call.metadata["x-iamd-access-key-id"] == ACCESS_KEY_ID
    assert "x-iamd-security-token" not in call.metadata


def test_session_token_is_sent(fake: RunningServer) -> None:
    with Client(
        endpoint=fake.endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET,
        session_token="token-1",
    ) as c:
        c.get_caller_identity()
    assert fake.fake.rpcs("GetCallerIdentity")[0].metadata["x-iamd-security-token"] == "token-1"


def test_errors_carry_code_field_and_reason(client: Client) -> None:
    client.create_user(user_name="bob")
    with pytest.raises(AlreadyExists) as excinfo:
        client.create_user(user_name="Bob")
    error = excinfo.value
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.field == "user_name"
    assert error.reason == "EntityAlreadyExists"
    assert error.message == "user with name Bob already exists"
    assert str(error) == "EntityAlreadyExists: user_name: user with name Bob already exists"

    with pytest.raises(NotFound) as missing:
        client.get_user(user_name="nobody")
    assert missing.value.reason == "NoSuchEntity"
    assert missing.value.field is None


def test_wrong_secret_is_unauthenticated(fake: RunningServer) -> None:
    with (
        Client(endpoint=fake.endpoint, access_key_id=ACCESS_KEY_ID, secret_access_key="wrong") as c,
        pytest.raises(Unauthenticated) as excinfo,
    ):
        c.list_users()
    assert excinfo.value.reason == "SignatureDoesNotMatch"


def test_unimplemented_maps_to_internal_error(client: Client) -> None:
    with pytest.raises(Exception) as excinfo:
        client.create_account(name="x")
    assert type(excinfo.value).__name__ == "InternalError"
    assert excinfo.value.code == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


def test_iter_follows_markers(client: Client, fake: RunningServer) -> None:
    names = ["e", "a", "d", "c", "b"]
    for name in names:
        client.create_user(user_name=name)
    assert [u.user_name for u in client.iter_users()] == sorted(names)
    assert len(fake.fake.rpcs("ListUsers")) == 3  # pages of 2, 2, 1
    assert len(list(client.iter_users(max_items=4))) == 5
    assert len(fake.fake.rpcs("ListUsers")) == 5
    page = client.list_users(max_items=2)
    assert page.is_truncated
    assert page.marker == "2"


def test_idempotent_calls_retry_unavailable(client: Client, fake: RunningServer) -> None:
    client.create_user(user_name="carol")
    fake.fake.unavailable["GetUser"] = 2
    assert client.get_user(user_name="carol").user.user_name == "carol"
    attempts = fake.fake.rpcs("GetUser")
    assert len(attempts) == 3
    assert all(a.signature_ok for a in attempts)


def test_retries_stop_after_max_attempts(client: Client, fake: RunningServer) -> None:
    fake.fake.unavailable["ListUsers"] = 100
    with pytest.raises(Unavailable) as excinfo:
        client.list_users()
    assert excinfo.value.retryable
    assert len(fake.fake.rpcs("ListUsers")) == 4
    fake.fake.unavailable.clear()
    fake.fake.calls.clear()
    fake.fake.unavailable["ListUsers"] = 100
    with pytest.raises(Unavailable):
        client.with_options(max_attempts=1).list_users()
    assert len(fake.fake.rpcs("ListUsers")) == 1


def test_writes_that_are_not_idempotent_are_not_retried(
    client: Client, fake: RunningServer
) -> None:
    client.create_user(user_name="dave")
    fake.fake.unavailable["DeleteUser"] = 1
    with pytest.raises(Unavailable):
        client.delete_user(user_name="dave")
    assert len(fake.fake.rpcs("DeleteUser")) == 1
    assert not is_idempotent("CreateUser")
    assert not is_idempotent("DeleteUser")
    assert not is_idempotent("AttachServiceControlPolicy")
    assert is_idempotent("PutUserPolicy")
    assert is_idempotent("AuthorizeBatch")
    assert is_idempotent("AttachRolePolicy")


def test_retries_stay_within_the_deadline(client: Client, fake: RunningServer) -> None:
    fake.fake.unavailable["ListUsers"] = 1000
    started = time.monotonic()
    with pytest.raises(Unavailable):
        client.with_options(timeout=0.3, max_attempts=1000).list_users()
    assert time.monotonic() - started < 2.0


def test_optional_fields_keep_presence(client: Client) -> None:
    client.create_user(user_name="erin", path="/a/")
    assert client.update_user(user_name="erin").user.path == "/a/"
    assert client.update_user(user_name="erin", new_path="/b/").user.path == "/b/"


def test_authorize_and_batch(client: Client, fake: RunningServer) -> None:
    context: dict[str, str | list[str] | int] = {
        "aws:SourceIp": "10.0.0.1",
        "aws:TagKeys": ["a", "b"],
        "n": 3,
    }
    decision = client.authorize(
        principal_arn="arn:aws:iam::111122223333:user/alice",
        action="s3:GetObject",
        resource_arn="arn:aws:s3:::bucket/key",
        context=context,
        explain=True,
    )
    assert decision.decision == types_pb2.DECISION_ALLOWED
    assert decision.revision == 7
    assert list(decision.explain.missing_context_keys) == ["aws:SourceIp", "aws:TagKeys", "n"]
    batch = client.authorize_batch(
        principal_arn="arn:aws:iam::111122223333:user/alice",
        checks=[
            authorize_check(action="s3:GetObject", resource_arn="arn:aws:s3:::b/k"),
            authorize_check(action="s3:PutObject", resource_arn="arn:aws:s3:::b/k"),
        ],
    )
    assert [r.decision for r in batch.results] == [
        types_pb2.DECISION_ALLOWED,
        types_pb2.DECISION_IMPLICIT_DENY,
    ]


def test_context_entry_types() -> None:
    assert context_entry("k", True).type == types_pb2.CONTEXT_KEY_TYPE_BOOLEAN
    assert list(context_entry("k", True).values) == ["true"]
    assert context_entry("k", 5).type == types_pb2.CONTEXT_KEY_TYPE_NUMERIC
    assert context_entry("k", ["a"]).type == types_pb2.CONTEXT_KEY_TYPE_STRING_LIST
    ip = context_entry("aws:SourceIp", "10.0.0.1", types_pb2.CONTEXT_KEY_TYPE_IP)
    assert ip.type == types_pb2.CONTEXT_KEY_TYPE_IP


def test_unsigned_client(fake: RunningServer) -> None:
    with Client(endpoint=fake.endpoint) as anonymous:
        response = anonymous.assume_role_with_web_identity(
            role_arn="arn:aws:iam::111122223333:role/r",
            role_session_name="s1",
            web_identity_token="jwt",
        )
        assert response.credentials.access_key_id == "ASIATEMP"
        assert "x-iamd-signature" not in fake.fake.rpcs("AssumeRoleWithWebIdentity")[0].metadata
        with pytest.raises(Unauthenticated):
            anonymous.get_caller_identity()


def test_invalid_status_value_is_rejected_locally(client: Client) -> None:
    with pytest.raises(ValueError):
        client.update_access_key(access_key_id="AKIA", status="Sleeping")


def test_error_classes_are_distinct() -> None:
    assert not issubclass(InvalidArgument, NotFound)


async def test_async_client(fake: RunningServer) -> None:
    async with AsyncClient(
        endpoint=fake.endpoint, access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET
    ) as c:
        for name in ("x1", "x2", "x3"):
            await c.create_user(user_name=name)
        assert [u.user_name async for u in c.iter_users()] == ["x1", "x2", "x3"]
        with pytest.raises(AlreadyExists) as excinfo:
            await c.create_user(user_name="X1")
        assert excinfo.value.field == "user_name"
        fake.fake.unavailable["GetUser"] = 1
        assert (await c.get_user(user_name="x2")).user.user_name == "x2"
        assert len(fake.fake.rpcs("GetUser")) == 2
        decision = await c.authorize(action="s3:PutObject", resource_arn="arn:aws:s3:::b/k")
        assert decision.decision == types_pb2.DECISION_IMPLICIT_DENY
        assert all(call.signature_ok for call in fake.fake.calls)
