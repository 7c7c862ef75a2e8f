"""Manage API: groups and memberships."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb

from tests.api.management_support import document, expect_error, unique
from tests.harness import ServerProcess, Stubs, stubs


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def test_group_lifecycle_with_members(root: Stubs) -> None:
    m = root.management
    group = unique("devs")
    created = m.CreateGroup(pb.CreateGroupRequest(group_name=group, path="/team/"))
    account = created.group.account_id
    assert created.group.arn == f"arn:aws:iam::{account}:group/team/{group}"
    assert created.group.group_id.startswith("AGPA")
    users = sorted(unique("member") for _ in range(3))
    for user in users:
        m.CreateUser(pb.CreateUserRequest(user_name=user))
        m.AddUserToGroup(pb.AddUserToGroupRequest(group_name=group, user_name=user))
    # Adding a member twice is a no-op.
    m.AddUserToGroup(pb.AddUserToGroupRequest(group_name=group, user_name=users[0]))

    got = m.GetGroup(pb.GetGroupRequest(group_name=group, max_items=2))
    assert got.group.group_name == group
    assert [u.user_name for u in got.users] == users[:2] and got.is_truncated
    rest = m.GetGroup(pb.GetGroupRequest(group_name=group, marker=got.marker))
    assert [u.user_name for u in rest.users] == users[2:] and not rest.is_truncated

    groups = m.ListGroupsForUser(pb.ListGroupsForUserRequest(user_name=users[1])).groups
    assert [g.group_name for g in groups] == [group]
    listed = m.ListGroups(pb.ListGroupsRequest(path_prefix="/team/")).groups
    assert group in {g.group_name for g in listed}

    expect_error(
        lambda: m.DeleteGroup(pb.DeleteGroupRequest(group_name=group)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DeleteConflict",
    )
    for user in users:
        m.RemoveUserFromGroup(pb.RemoveUserFromGroupRequest(group_name=group, user_name=user))
    expect_error(
        lambda: m.RemoveUserFromGroup(
            pb.RemoveUserFromGroupRequest(group_name=group, user_name=users[0])
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    deleted = m.DeleteGroup(pb.DeleteGroupRequest(group_name=group))
    assert deleted.revision > created.revision
    expect_error(
        lambda: m.GetGroup(pb.GetGroupRequest(group_name=group)), grpc.StatusCode.NOT_FOUND
    )


def test_group_validation_and_conflicts(root: Stubs) -> None:
    m = root.management
    expect_error(
        lambda: m.CreateGroup(pb.CreateGroupRequest(group_name="")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="group_name",
    )
    expect_error(
        lambda: m.CreateGroup(pb.CreateGroupRequest(group_name="g" * 129)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="group_name",
    )
    name = unique("Ops")
    m.CreateGroup(pb.CreateGroupRequest(group_name=name))
    expect_error(
        lambda: m.CreateGroup(pb.CreateGroupRequest(group_name=name.upper())),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    expect_error(
        lambda: m.AddUserToGroup(pb.AddUserToGroupRequest(group_name=name, user_name=unique("n"))),
        grpc.StatusCode.NOT_FOUND,
    )
    expect_error(
        lambda: m.DeleteGroup(pb.DeleteGroupRequest(group_name=unique("none"))),
        grpc.StatusCode.NOT_FOUND,
    )


def test_eleventh_group_for_a_user_is_refused(root: Stubs) -> None:
    m = root.management
    user = unique("joiner")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    for _ in range(10):
        group = unique("g")
        m.CreateGroup(pb.CreateGroupRequest(group_name=group))
        m.AddUserToGroup(pb.AddUserToGroupRequest(group_name=group, user_name=user))
    extra = unique("g")
    m.CreateGroup(pb.CreateGroupRequest(group_name=extra))
    expect_error(
        lambda: m.AddUserToGroup(pb.AddUserToGroupRequest(group_name=extra, user_name=user)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        reason="LimitExceeded",
    )


def test_group_inline_and_managed_policies(root: Stubs) -> None:
    m = root.management
    group = unique("pgroup")
    m.CreateGroup(pb.CreateGroupRequest(group_name=group))
    m.PutGroupPolicy(
        pb.PutGroupPolicyRequest(
            group_name=group, policy_name="read", policy_document=document("iam:Get*")
        )
    )
    got = m.GetGroupPolicy(pb.GetGroupPolicyRequest(group_name=group, policy_name="read"))
    assert got.group_name == group and "iam:Get*" in got.policy_document
    names = m.ListGroupPolicies(pb.ListGroupPoliciesRequest(group_name=group)).policy_names
    assert list(names) == ["read"]
    policy = m.CreatePolicy(
        pb.CreatePolicyRequest(policy_name=unique("gp"), policy_document=document("s3:*"))
    ).policy
    m.AttachGroupPolicy(pb.AttachGroupPolicyRequest(group_name=group, policy_arn=policy.arn))
    attached = m.ListAttachedGroupPolicies(
        pb.ListAttachedGroupPoliciesRequest(group_name=group)
    ).attached_policies
    assert [a.policy_arn for a in attached] == [policy.arn]
    expect_error(
        lambda: m.DeleteGroup(pb.DeleteGroupRequest(group_name=group)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    m.DetachGroupPolicy(pb.DetachGroupPolicyRequest(group_name=group, policy_arn=policy.arn))
    expect_error(
        lambda: m.DetachGroupPolicy(
            pb.DetachGroupPolicyRequest(group_name=group, policy_arn=policy.arn)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    m.DeleteGroupPolicy(pb.DeleteGroupPolicyRequest(group_name=group, policy_name="read"))
    expect_error(
        lambda: m.GetGroupPolicy(pb.GetGroupPolicyRequest(group_name=group, policy_name="read")),
        grpc.StatusCode.NOT_FOUND,
    )
    m.DeleteGroup(pb.DeleteGroupRequest(group_name=group))
