"""Names, paths, ids and session names over a real channel: AWS's character sets exactly,
matched whole (a trailing newline is not a valid last character) and ASCII only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2, types_pb2

from tests.api.management_support import (
    credentials_of,
    document,
    expect_error,
    management_account,
    unique,
)
from tests.api.sts_support import assume, new_role, trust
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def refused(call: Callable[[], Any], field: str) -> None:
    expect_error(call, INVALID, field=field)


def test_entity_names_end_where_they_seem_to(root: Stubs) -> None:
    m = root.management
    for bad in (f"{unique('alice')}\n", f"{unique('al')}\u00e9", "a" * 65):
        refused(partial(m.CreateUser, pb.CreateUserRequest(user_name=bad)), "user_name")
        refused(partial(m.CreateRole, role_request(bad)), "role_name")
    for bad in (f"{unique('team')}\n", f"{unique('team')}\u0661", "g" * 129):
        refused(partial(m.CreateGroup, pb.CreateGroupRequest(group_name=bad)), "group_name")
        policy = pb.CreatePolicyRequest(policy_name=bad, policy_document=document("iam:GetUser"))
        refused(partial(m.CreatePolicy, policy), "policy_name")
    user = unique("named")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    refused(
        lambda: m.PutUserPolicy(
            pb.PutUserPolicyRequest(
                user_name=user, policy_name="inline\n", policy_document=document("iam:GetUser")
            )
        ),
        "policy_name",
    )
    refused(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name=unique("p"), path="/team/\n")), "path"
    )
    refused(lambda: m.CreateUser(pb.CreateUserRequest(user_name=unique("p"), path="//")), "path")
    refused(lambda: m.ListUsers(pb.ListUsersRequest(path_prefix="/team\n")), "path_prefix")
    account = management_account(root)
    refused(lambda: m.GetUser(pb.GetUserRequest(account_id=f"{account}\n")), "account_id")
    refused(
        lambda: m.PutServiceDefinition(
            pb.PutServiceDefinitionRequest(
                definition=types_pb2.ServiceDefinition(service_prefix=f"{unique('svc')}\n")
            )
        ),
        "definition.service_prefix",
    )
    # AWS's full character set and lengths are accepted.
    longest = "a+=,.@_-" + "b" * 56
    m.CreateUser(pb.CreateUserRequest(user_name=longest, path="/a!~b/"))
    assert m.ListUsers(pb.ListUsersRequest(path_prefix="/a!~")).users[0].user_name == longest


def role_request(name: str) -> pb.CreateRoleRequest:
    return pb.CreateRoleRequest(
        role_name=name, assume_role_policy_document=trust({"AWS": "arn:aws:iam::111122223333:root"})
    )


def test_session_names_are_ascii(server: ServerProcess, root: Stubs) -> None:
    account = management_account(root)
    name = unique("caller")
    root.management.CreateUser(pb.CreateUserRequest(user_name=name))
    key = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    user = stubs(server.endpoint, credentials_of(key))
    role = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:user/{name}"}))
    for bad in ("sessi\u00f3n", "\u0441\u0435\u0441\u0441\u0438\u044f", "s1\n", "s\u0661"):
        refused(partial(assume, user, role, bad), "role_session_name")
        refused(partial(assume, user, role, "ok", source_identity=bad), "source_identity")
        refused(partial(assume, user, role, "ok", external_id=bad), "external_id")
        web = sts_pb2.AssumeRoleWithWebIdentityRequest(
            role_arn=role, role_session_name=bad, web_identity_token="a.b.c"
        )
        refused(partial(user.sts.AssumeRoleWithWebIdentity, web), "role_session_name")
    refused(
        lambda: user.sts.Login(
            sts_pb2.LoginRequest(account=account, user_name=f"{name}\n", password="x-Y-1234")
        ),
        "user_name",
    )
    granted = assume(user, role, "a+=,.@_-b", external_id="x:/y")
    assert granted.assumed_role_user.arn.endswith("/a+=,.@_-b")
