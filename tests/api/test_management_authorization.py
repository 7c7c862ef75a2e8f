"""Manage API authorization: every call is checked against the caller's policies before any
write; roots rule their own account only."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import message
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2
from iamd_server.api.management import ManagementServicer

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
from tests.harness import ServerProcess, Stubs, stubs

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def _every_rpc(root: Stubs, account: str) -> list[message.Message]:
    """One valid request per Manage RPC, on entities that exist."""
    m = root.management
    user = unique("target")
    group = unique("tgroup")
    role = unique("trole")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    m.CreateGroup(pb.CreateGroupRequest(group_name=group))
    m.CreateRole(
        pb.CreateRoleRequest(
            role_name=role,
            assume_role_policy_document=trust_document(f"arn:aws:iam::{account}:root"),
        )
    )
    policy = m.CreatePolicy(
        pb.CreatePolicyRequest(policy_name=unique("tpol"), policy_document=document("s3:*"))
    ).policy.arn
    key = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user)).access_key.access_key_id
    doc = document("s3:*")
    tags = [types_pb2.Tag(key="k", value="v")]
    bucket = f"arn:aws:s3:::{unique('b')}"
    definition = types_pb2.ServiceDefinition(
        service_prefix="denied-svc", actions=[types_pb2.ServiceAction(name="Do")]
    )
    return [
        pb.CreateAccountRequest(name="x"),
        pb.DescribeAccountRequest(account_id=account),
        pb.ListAccountsRequest(),
        pb.CreateOrganizationalUnitRequest(parent_id="r-root", name="x"),
        pb.ListOrganizationalUnitsRequest(),
        pb.DeleteOrganizationalUnitRequest(organizational_unit_id="ou-abcd-12345678"),
        pb.MoveAccountRequest(account_id=account, destination_parent_id="r-root"),
        pb.CreateServiceControlPolicyRequest(name="x", document=doc),
        pb.UpdateServiceControlPolicyRequest(policy_id="p-FullAWSAccess", name="y"),
        pb.DeleteServiceControlPolicyRequest(policy_id="p-FullAWSAccess"),
        pb.ListServiceControlPoliciesRequest(),
        pb.AttachServiceControlPolicyRequest(policy_id="p-FullAWSAccess", target_id=account),
        pb.DetachServiceControlPolicyRequest(policy_id="p-FullAWSAccess", target_id=account),
        pb.ListServiceControlPoliciesForTargetRequest(target_id="r-root"),
        pb.CreateUserRequest(user_name=unique("new")),
        pb.GetUserRequest(user_name=user),
        pb.ListUsersRequest(),
        pb.UpdateUserRequest(user_name=user, new_path="/moved/"),
        pb.DeleteUserRequest(user_name=user),
        pb.TagUserRequest(user_name=user, tags=tags),
        pb.UntagUserRequest(user_name=user, tag_keys=["k"]),
        pb.ListUserTagsRequest(user_name=user),
        pb.CreateGroupRequest(group_name=unique("new")),
        pb.GetGroupRequest(group_name=group),
        pb.ListGroupsRequest(),
        pb.DeleteGroupRequest(group_name=group),
        pb.AddUserToGroupRequest(group_name=group, user_name=user),
        pb.RemoveUserFromGroupRequest(group_name=group, user_name=user),
        pb.ListGroupsForUserRequest(user_name=user),
        pb.CreateRoleRequest(
            role_name=unique("new"),
            assume_role_policy_document=trust_document(f"arn:aws:iam::{account}:root"),
        ),
        pb.GetRoleRequest(role_name=role),
        pb.ListRolesRequest(),
        pb.UpdateRoleRequest(role_name=role, description="x"),
        pb.UpdateAssumeRolePolicyRequest(
            role_name=role, policy_document=trust_document(f"arn:aws:iam::{account}:root")
        ),
        pb.DeleteRoleRequest(role_name=role),
        pb.TagRoleRequest(role_name=role, tags=tags),
        pb.UntagRoleRequest(role_name=role, tag_keys=["k"]),
        pb.ListRoleTagsRequest(role_name=role),
        pb.CreatePolicyRequest(policy_name=unique("new"), policy_document=doc),
        pb.GetPolicyRequest(policy_arn=policy),
        pb.ListPoliciesRequest(),
        pb.DeletePolicyRequest(policy_arn=policy),
        pb.CreatePolicyVersionRequest(policy_arn=policy, policy_document=doc),
        pb.GetPolicyVersionRequest(policy_arn=policy, version_id="v1"),
        pb.ListPolicyVersionsRequest(policy_arn=policy),
        pb.DeletePolicyVersionRequest(policy_arn=policy, version_id="v1"),
        pb.SetDefaultPolicyVersionRequest(policy_arn=policy, version_id="v1"),
        pb.AttachUserPolicyRequest(user_name=user, policy_arn=policy),
        pb.DetachUserPolicyRequest(user_name=user, policy_arn=policy),
        pb.ListAttachedUserPoliciesRequest(user_name=user),
        pb.AttachGroupPolicyRequest(group_name=group, policy_arn=policy),
        pb.DetachGroupPolicyRequest(group_name=group, policy_arn=policy),
        pb.ListAttachedGroupPoliciesRequest(group_name=group),
        pb.AttachRolePolicyRequest(role_name=role, policy_arn=policy),
        pb.DetachRolePolicyRequest(role_name=role, policy_arn=policy),
        pb.ListAttachedRolePoliciesRequest(role_name=role),
        pb.PutUserPolicyRequest(user_name=user, policy_name="p", policy_document=doc),
        pb.GetUserPolicyRequest(user_name=user, policy_name="p"),
        pb.DeleteUserPolicyRequest(user_name=user, policy_name="p"),
        pb.ListUserPoliciesRequest(user_name=user),
        pb.PutGroupPolicyRequest(group_name=group, policy_name="p", policy_document=doc),
        pb.GetGroupPolicyRequest(group_name=group, policy_name="p"),
        pb.DeleteGroupPolicyRequest(group_name=group, policy_name="p"),
        pb.ListGroupPoliciesRequest(group_name=group),
        pb.PutRolePolicyRequest(role_name=role, policy_name="p", policy_document=doc),
        pb.GetRolePolicyRequest(role_name=role, policy_name="p"),
        pb.DeleteRolePolicyRequest(role_name=role, policy_name="p"),
        pb.ListRolePoliciesRequest(role_name=role),
        pb.PutUserPermissionsBoundaryRequest(user_name=user, permissions_boundary=policy),
        pb.DeleteUserPermissionsBoundaryRequest(user_name=user),
        pb.PutRolePermissionsBoundaryRequest(role_name=role, permissions_boundary=policy),
        pb.DeleteRolePermissionsBoundaryRequest(role_name=role),
        pb.CreateAccessKeyRequest(user_name=user),
        pb.UpdateAccessKeyRequest(
            user_name=user, access_key_id=key, status=types_pb2.ACCESS_KEY_STATUS_INACTIVE
        ),
        pb.DeleteAccessKeyRequest(user_name=user, access_key_id=key),
        pb.ListAccessKeysRequest(user_name=user),
        pb.PutResourcePolicyRequest(
            resource_arn=bucket,
            policy_document=(
                '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
                '"Action":"s3:GetObject","Resource":"*"}]}'
            ),
        ),
        pb.GetResourcePolicyRequest(resource_arn=bucket),
        pb.DeleteResourcePolicyRequest(resource_arn=bucket),
        pb.PutResourceAclRequest(resource_arn=bucket),
        pb.GetResourceAclRequest(resource_arn=bucket),
        pb.PutServiceDefinitionRequest(definition=definition),
        pb.GetServiceDefinitionRequest(service_prefix="iam"),
        pb.ListServiceDefinitionsRequest(),
        pb.DeleteServiceDefinitionRequest(service_prefix="denied-svc"),
        pb.ListAuditEventsRequest(),
        pb.GenerateServiceLastAccessedDetailsRequest(arn=f"arn:aws:iam::{account}:user/{user}"),
        pb.GetServiceLastAccessedDetailsRequest(job_id="job"),
    ]


def _call(client: Stubs, request: message.Message) -> Any:
    rpc = type(request).__name__.removesuffix("Request")
    return getattr(client.management, rpc)(request)


def test_every_rpc_is_denied_without_permission(root: Stubs, server: ServerProcess) -> None:
    account = management_account(root)
    requests = _every_rpc(root, account)
    rpcs = {type(r).__name__.removesuffix("Request") for r in requests}
    service = pb.DESCRIPTOR.services_by_name["ManagementService"]
    implemented = {m.name for m in service.methods if hasattr(ManagementServicer, m.name)}
    assert rpcs == implemented
    # A user whose only policy allows something unrelated.
    _, nobody = new_user(root, server.endpoint, policy=document("s3:GetObject"))
    try:
        for request in requests:
            expect_error(functools.partial(_call, nobody, request), DENIED)
    finally:
        nobody.close()


def test_denied_writes_change_nothing(root: Stubs, server: ServerProcess) -> None:
    _, nobody = new_user(root, server.endpoint, policy=document("iam:GetUser"))
    name = unique("never")
    try:
        expect_error(
            lambda: nobody.management.CreateUser(pb.CreateUserRequest(user_name=name)), DENIED
        )
    finally:
        nobody.close()
    expect_error(
        lambda: root.management.GetUser(pb.GetUserRequest(user_name=name)),
        grpc.StatusCode.NOT_FOUND,
    )


def test_permission_follows_policy_changes(root: Stubs, server: ServerProcess) -> None:
    user, client = new_user(root, server.endpoint, policy=document("iam:GetUser"))
    try:
        expect_error(lambda: client.management.ListUsers(pb.ListUsersRequest()), DENIED)
        root.management.PutUserPolicy(
            pb.PutUserPolicyRequest(
                user_name=user, policy_name="list", policy_document=document("iam:ListUsers")
            )
        )
        eventually(lambda: client.management.ListUsers(pb.ListUsersRequest()))
        root.management.PutUserPolicy(
            pb.PutUserPolicyRequest(
                user_name=user,
                policy_name="deny",
                policy_document=document("iam:*", effect="Deny"),
            )
        )

        def denied() -> None:
            expect_error(lambda: client.management.ListUsers(pb.ListUsersRequest()), DENIED)

        eventually(denied)
    finally:
        client.close()


def test_resource_arns_carry_the_path(root: Stubs, server: ServerProcess) -> None:
    account = management_account(root)
    scoped = f"arn:aws:iam::{account}:user/team-a/*"
    _, admin = new_user(
        root, server.endpoint, policy=document(["iam:CreateUser", "iam:GetUser"], scoped)
    )
    try:
        made = admin.management.CreateUser(
            pb.CreateUserRequest(user_name=unique("a"), path="/team-a/")
        ).user
        assert admin.management.GetUser(pb.GetUserRequest(user_name=made.user_name)).user.arn
        expect_error(
            lambda: admin.management.CreateUser(
                pb.CreateUserRequest(user_name=unique("b"), path="/team-b/")
            ),
            DENIED,
        )
        other = unique("c")
        root.management.CreateUser(pb.CreateUserRequest(user_name=other, path="/team-b/"))
        expect_error(lambda: admin.management.GetUser(pb.GetUserRequest(user_name=other)), DENIED)
        # Unauthorized callers learn nothing about existence: denied, not NOT_FOUND.
        expect_error(
            lambda: admin.management.GetUser(pb.GetUserRequest(user_name=unique("ghost"))), DENIED
        )
    finally:
        admin.close()


def test_tag_conditions_see_request_and_resource_tags(root: Stubs, server: ServerProcess) -> None:
    condition = {"StringEquals": {"aws:RequestTag/team": "core"}}
    _, tagger = new_user(
        root,
        server.endpoint,
        policy=document(["iam:CreateUser", "iam:TagUser"], condition=condition),
    )
    _, resource_scoped = new_user(
        root,
        server.endpoint,
        policy=document(
            "iam:DeleteUser", condition={"StringEquals": {"aws:ResourceTag/owner": "me"}}
        ),
    )
    try:
        core = [types_pb2.Tag(key="team", value="core")]
        tagger.management.CreateUser(pb.CreateUserRequest(user_name=unique("t"), tags=core))
        expect_error(
            lambda: tagger.management.CreateUser(
                pb.CreateUserRequest(
                    user_name=unique("t"), tags=[types_pb2.Tag(key="team", value="edge")]
                )
            ),
            DENIED,
        )
        expect_error(
            lambda: tagger.management.CreateUser(pb.CreateUserRequest(user_name=unique("t"))),
            DENIED,
        )
        mine = unique("mine")
        theirs = unique("theirs")
        root.management.CreateUser(
            pb.CreateUserRequest(user_name=mine, tags=[types_pb2.Tag(key="owner", value="me")])
        )
        root.management.CreateUser(pb.CreateUserRequest(user_name=theirs))
        expect_error(
            lambda: resource_scoped.management.DeleteUser(pb.DeleteUserRequest(user_name=theirs)),
            DENIED,
        )
        resource_scoped.management.DeleteUser(pb.DeleteUserRequest(user_name=mine))
    finally:
        tagger.close()
        resource_scoped.close()


def test_roots_rule_their_own_account_only(root: Stubs, server: ServerProcess) -> None:
    mgmt = management_account(root)
    member_id, member = new_member_account(root, server.endpoint)
    try:
        # Each root succeeds in its own account, with no policy at all.
        name = unique("own")
        member.management.CreateUser(pb.CreateUserRequest(user_name=name))
        assert member.management.ListUsers(pb.ListUsersRequest()).users
        root.management.CreateUser(pb.CreateUserRequest(user_name=name))
        # Neither can touch the other's account.
        for call in (
            lambda: member.management.CreateUser(
                pb.CreateUserRequest(account_id=mgmt, user_name=unique("x"))
            ),
            lambda: member.management.ListUsers(pb.ListUsersRequest(account_id=mgmt)),
            lambda: member.management.GetUser(pb.GetUserRequest(account_id=mgmt, user_name=name)),
            lambda: member.management.CreatePolicy(
                pb.CreatePolicyRequest(
                    account_id=mgmt, policy_name=unique("x"), policy_document=document("s3:*")
                )
            ),
            lambda: root.management.CreateUser(
                pb.CreateUserRequest(account_id=member_id, user_name=unique("x"))
            ),
            lambda: root.management.DeleteUser(
                pb.DeleteUserRequest(account_id=member_id, user_name=name)
            ),
            lambda: root.management.ListAuditEvents(
                pb.ListAuditEventsRequest(account_id=member_id)
            ),
        ):
            expect_error(call, DENIED)
        # A member's user with iam:* is still confined to its account.
        member_user = unique("admin")
        member.management.CreateUser(pb.CreateUserRequest(user_name=member_user))
        member.management.PutUserPolicy(
            pb.PutUserPolicyRequest(
                user_name=member_user, policy_name="all", policy_document=document("*")
            )
        )
        key = member.management.CreateAccessKey(
            pb.CreateAccessKeyRequest(user_name=member_user)
        ).access_key
        admin = stubs(
            server.endpoint,
            type(server.root)(key.access_key_id, key.secret_access_key),
        )
        try:
            admin.management.CreateUser(pb.CreateUserRequest(user_name=unique("ok")))
            expect_error(
                lambda: admin.management.CreateUser(
                    pb.CreateUserRequest(account_id=mgmt, user_name=unique("no"))
                ),
                DENIED,
            )
            audit = admin.management.ListAuditEvents(pb.ListAuditEventsRequest()).events
            assert audit and all(e.account_id == member_id for e in audit)
        finally:
            admin.close()
    finally:
        member.close()
