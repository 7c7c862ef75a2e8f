"""Attack: a role's trust policy used as a resource policy for every action on the role.

With a trust policy `Principal: {"AWS": "arn:aws:iam::B:root"}, Action: "*"`, account B's root
could write an inline policy onto the management account's role. AWS consults a trust
policy only for sts:AssumeRole, AssumeRoleWithWebIdentity, AssumeRoleWithSAML, TagSession,
SetSourceIdentity and SetContext, and refuses other actions in one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import asyncpg
import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import (
    document,
    eventually,
    expect_error,
    management_account,
    new_member_account,
    new_user,
    trust_document,
    unique,
)
from tests.api.sts_support import assume
from tests.harness import ServerProcess, Stubs, stubs

DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
MESSAGE = "AssumeRole policy may only specify STS AssumeRole actions."


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def trust_all_actions(principal: str, action: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action}],
        }
    )


def put_role_policy(client: Stubs, account: str, role: str) -> None:
    client.management.PutRolePolicy(
        pb.PutRolePolicyRequest(
            account_id=account, role_name=role, policy_name="pwn", policy_document=document("*")
        )
    )


def test_trust_policies_may_name_only_trust_actions(server: ServerProcess, root: Stubs) -> None:
    other, _ = new_member_account(root, server.endpoint)
    other_root = f"arn:aws:iam::{other}:root"
    m = root.management
    for action in ("*", "iam:*", "iam:PutRolePolicy", "sts:GetCallerIdentity"):
        error = expect_error(
            lambda action=action: m.CreateRole(  # type: ignore[misc]
                pb.CreateRoleRequest(
                    role_name=unique("trusting"),
                    assume_role_policy_document=trust_all_actions(other_root, action),
                )
            ),
            INVALID,
            field="assume_role_policy_document",
        )
        assert MESSAGE in (error.details() or "")
    role = unique("trusting")
    m.CreateRole(
        pb.CreateRoleRequest(
            role_name=role, assume_role_policy_document=trust_all_actions(other_root, "sts:*")
        )
    )
    error = expect_error(
        lambda: m.UpdateAssumeRolePolicy(
            pb.UpdateAssumeRolePolicyRequest(
                role_name=role, policy_document=trust_all_actions(other_root)
            )
        ),
        INVALID,
        field="policy_document",
    )
    assert MESSAGE in (error.details() or "")


async def test_account_named_by_a_trust_policy_cannot_manage_the_role(
    server: ServerProcess, root: Stubs, module_database_url: str
) -> None:
    account = management_account(root)
    other, other_root_stubs = new_member_account(root, server.endpoint)
    other_root = f"arn:aws:iam::{other}:root"
    role = unique("target")
    role_arn = f"arn:aws:iam::{account}:role/{role}"
    m = root.management
    m.CreateRole(
        pb.CreateRoleRequest(role_name=role, assume_role_policy_document=trust_document(account))
    )
    # A user of account B allowed to assume any role: the trust policy decides.
    _, other_user = new_user(other_root_stubs, server.endpoint, policy=document("sts:AssumeRole"))
    expect_error(lambda: assume(other_user, role_arn), DENIED)

    # A trust policy stored before writes were checked: B's root, every action.
    connection = await asyncpg.connect(module_database_url)
    try:
        updated = await connection.execute(
            "UPDATE iamd_roles SET trust_policy = $3 WHERE account_id = $1 AND name = $2",
            account,
            role,
            trust_all_actions(other_root),
        )
    finally:
        await connection.close()
    assert updated == "UPDATE 1"
    # Any write on the role drops cached entries; the stored document is now the live one.
    m.TagRole(pb.TagRoleRequest(role_name=role, tags=[types_pb2.Tag(key="k", value="v")]))

    # It is in force for the trust actions: B's user may now assume the role...
    eventually(lambda: assume(other_user, role_arn))
    # ...and for nothing else: B's root may not write, read or replace the role's policies.
    expect_error(lambda: put_role_policy(other_root_stubs, account, role), DENIED)
    expect_error(
        lambda: other_root_stubs.management.GetRole(
            pb.GetRoleRequest(account_id=account, role_name=role)
        ),
        DENIED,
    )
    expect_error(
        lambda: other_root_stubs.management.UpdateAssumeRolePolicy(
            pb.UpdateAssumeRolePolicyRequest(
                account_id=account,
                role_name=role,
                policy_document=trust_all_actions(other_root, "sts:AssumeRole"),
            )
        ),
        DENIED,
    )
    expect_error(
        lambda: m.GetRolePolicy(pb.GetRolePolicyRequest(role_name=role, policy_name="pwn")),
        NOT_FOUND,
    )
