"""Manage API: access keys (creation, use, status, quota under concurrency)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import (
    credentials_of,
    document,
    error_of,
    eventually,
    expect_error,
    new_user,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def test_key_is_returned_once_and_authenticates(root: Stubs, server: ServerProcess) -> None:
    m = root.management
    user = unique("holder")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    m.PutUserPolicy(
        pb.PutUserPolicyRequest(
            user_name=user, policy_name="self", policy_document=document("iam:GetUser")
        )
    )
    created = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user))
    key = created.access_key
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9/+]{40}", key.secret_access_key)
    assert key.user_name == user and key.status == types_pb2.ACCESS_KEY_STATUS_ACTIVE
    assert created.revision > 0

    listed = m.ListAccessKeys(pb.ListAccessKeysRequest(user_name=user)).access_key_metadata
    assert [k.access_key_id for k in listed] == [key.access_key_id]
    assert listed[0].status == types_pb2.ACCESS_KEY_STATUS_ACTIVE

    client = stubs(server.endpoint, credentials_of(key))
    try:
        # Empty user_name = the calling user.
        assert client.management.GetUser(pb.GetUserRequest()).user.user_name == user
        m.UpdateAccessKey(
            pb.UpdateAccessKeyRequest(
                user_name=user,
                access_key_id=key.access_key_id,
                status=types_pb2.ACCESS_KEY_STATUS_INACTIVE,
            )
        )

        def rejected() -> None:
            error = error_of(lambda: client.management.GetUser(pb.GetUserRequest()))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED

        eventually(rejected)
        m.UpdateAccessKey(
            pb.UpdateAccessKeyRequest(
                user_name=user,
                access_key_id=key.access_key_id,
                status=types_pb2.ACCESS_KEY_STATUS_ACTIVE,
            )
        )
        eventually(lambda: client.management.GetUser(pb.GetUserRequest()))
        m.DeleteAccessKey(
            pb.DeleteAccessKeyRequest(user_name=user, access_key_id=key.access_key_id)
        )
        eventually(rejected)
    finally:
        client.close()
    assert not m.ListAccessKeys(pb.ListAccessKeysRequest(user_name=user)).access_key_metadata


def test_third_key_is_refused(root: Stubs) -> None:
    m = root.management
    user = unique("two")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user))
    m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user))
    expect_error(
        lambda: m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        reason="LimitExceeded",
    )


def test_concurrent_creates_leave_exactly_two_keys(root: Stubs) -> None:
    m = root.management
    user = unique("race")
    m.CreateUser(pb.CreateUserRequest(user_name=user))

    def create() -> grpc.StatusCode:
        try:
            m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user))
        except grpc.RpcError as exc:
            assert isinstance(exc, grpc.Call)
            return exc.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda _: create(), range(20)))
    assert codes.count(grpc.StatusCode.OK) == 2
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 18
    keys = m.ListAccessKeys(pb.ListAccessKeysRequest(user_name=user)).access_key_metadata
    assert len(keys) == 2


def test_key_validation_and_not_found(root: Stubs) -> None:
    m = root.management
    user = unique("kv")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    key = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user)).access_key
    expect_error(
        lambda: m.UpdateAccessKey(
            pb.UpdateAccessKeyRequest(user_name=user, access_key_id=key.access_key_id)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="status",
    )
    expect_error(
        lambda: m.DeleteAccessKey(
            pb.DeleteAccessKeyRequest(user_name=user, access_key_id="AKIAAAAAAAAAAAAAAAAA")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    other = unique("other")
    m.CreateUser(pb.CreateUserRequest(user_name=other))
    # A key is found only under its owner.
    expect_error(
        lambda: m.DeleteAccessKey(
            pb.DeleteAccessKeyRequest(user_name=other, access_key_id=key.access_key_id)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    expect_error(
        lambda: m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=unique("nobody"))),
        grpc.StatusCode.NOT_FOUND,
    )


def test_self_service_keys_with_empty_user_name(root: Stubs, server: ServerProcess) -> None:
    # A user allowed to manage keys of its own user only (the ${aws:username} idiom).
    own = "arn:aws:iam::*:user/${aws:username}"
    name, client = new_user(
        root,
        server.endpoint,
        policy=document(["iam:CreateAccessKey", "iam:ListAccessKeys", "iam:DeleteAccessKey"], own),
    )
    try:
        created = client.management.CreateAccessKey(pb.CreateAccessKeyRequest()).access_key
        assert created.user_name == name
        keys = client.management.ListAccessKeys(pb.ListAccessKeysRequest()).access_key_metadata
        assert len(keys) == 2
        # ...and only its own.
        other = unique("neighbour")
        root.management.CreateUser(pb.CreateUserRequest(user_name=other))
        expect_error(
            lambda: client.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=other)),
            grpc.StatusCode.PERMISSION_DENIED,
            reason="AccessDenied",
        )
        client.management.DeleteAccessKey(
            pb.DeleteAccessKeyRequest(access_key_id=created.access_key_id)
        )
    finally:
        client.close()


def test_root_manages_its_own_keys(root: Stubs, server: ServerProcess) -> None:
    m = root.management
    keys = m.ListAccessKeys(pb.ListAccessKeysRequest()).access_key_metadata
    assert server.root.access_key_id in {k.access_key_id for k in keys}
    assert all(k.user_name == "" for k in keys)
    if len(keys) < 2:
        extra = m.CreateAccessKey(pb.CreateAccessKeyRequest()).access_key
        assert extra.user_name == ""
        extra_client = stubs(server.endpoint, credentials_of(extra))
        try:
            listed = extra_client.management.ListAccessKeys(pb.ListAccessKeysRequest())
            assert extra.access_key_id in {k.access_key_id for k in listed.access_key_metadata}
        finally:
            extra_client.close()
        m.DeleteAccessKey(pb.DeleteAccessKeyRequest(access_key_id=extra.access_key_id))
