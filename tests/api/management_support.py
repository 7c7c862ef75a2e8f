"""Helpers shared by the Manage API tests (no tests here).

Every test module shares one real server (the `server` fixture) and creates uniquely named
entities, so tests stay independent without a server per test.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd_client.signing import SigningCredentials

from tests.harness import Stubs, stubs

T = TypeVar("T")

_counter = itertools.count()
_RUN = secrets.token_hex(3)

FIELD_KEY = "iamd-error-field"
REASON_KEY = "iamd-error-reason"


def unique(prefix: str) -> str:
    """A name no other test uses: prefix + run id + counter (valid IAM name characters)."""
    return f"{prefix}-{_RUN}-{next(_counter)}"


def document(
    actions: str | Sequence[str],
    resources: str | Sequence[str] = "*",
    *,
    effect: str = "Allow",
    condition: dict[str, Any] | None = None,
) -> str:
    statement: dict[str, Any] = {"Effect": effect, "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def trust_document(principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def error_of(call: Callable[[], Any]) -> grpc.Call:
    """The gRPC error a call fails with (fails the test when the call succeeds)."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    error = info.value
    assert isinstance(error, grpc.Call)
    return error


def expect_error(
    call: Callable[[], Any],
    code: grpc.StatusCode,
    *,
    field: str | None = None,
    reason: str | None = None,
) -> grpc.Call:
    error = error_of(call)
    assert error.code() == code, f"{error.code()}: {error.details()}"
    trailers = {k: v for k, v in (error.trailing_metadata() or ())}
    if field is not None:
        assert trailers.get(FIELD_KEY) == field, (trailers, error.details())
    if reason is not None:
        assert trailers.get(REASON_KEY) == reason, (trailers, error.details())
    return error


def eventually(check: Callable[[], T], *, timeout: float = 5.0) -> T:
    """Retries ``check`` until it stops raising: policy caches refresh on change
    notifications, which arrive a few milliseconds after the write commits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, grpc.RpcError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def credentials_of(key: Any) -> SigningCredentials:
    return SigningCredentials(key.access_key_id, key.secret_access_key)


def new_user(
    root: Stubs,
    endpoint: str,
    *,
    policy: str | None = None,
    account_id: str = "",
    name: str | None = None,
    path: str = "",
) -> tuple[str, Stubs]:
    """A user (optionally with an inline policy) and stubs signed with its new key."""
    user_name = name or unique("user")
    root.management.CreateUser(
        pb.CreateUserRequest(account_id=account_id, user_name=user_name, path=path)
    )
    if policy is not None:
        root.management.PutUserPolicy(
            pb.PutUserPolicyRequest(
                account_id=account_id,
                user_name=user_name,
                policy_name="test",
                policy_document=policy,
            )
        )
    key = root.management.CreateAccessKey(
        pb.CreateAccessKeyRequest(account_id=account_id, user_name=user_name)
    ).access_key
    return user_name, stubs(endpoint, credentials_of(key))


def new_member_account(root: Stubs, endpoint: str) -> tuple[str, Stubs]:
    """A member account and stubs signed with its root user's first key (created by the
    management account's root, the one cross-account key creation iamd allows)."""
    account = root.management.CreateAccount(pb.CreateAccountRequest(name=unique("acct"))).account
    key = root.management.CreateAccessKey(
        pb.CreateAccessKeyRequest(account_id=account.account_id)
    ).access_key
    return account.account_id, stubs(endpoint, credentials_of(key))


def management_account(root: Stubs) -> str:
    response: pb.DescribeAccountResponse = root.management.DescribeAccount(
        pb.DescribeAccountRequest()
    )
    return response.account.account_id
