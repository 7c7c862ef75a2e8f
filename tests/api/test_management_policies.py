"""Manage API: managed policies, versions, attachments and inline user policies."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import document, expect_error, management_account, unique
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def _policy(root: Stubs) -> types_pb2.Policy:
    request = pb.CreatePolicyRequest(
        policy_name=unique("pol"), policy_document=document("s3:GetObject")
    )
    response: pb.CreatePolicyResponse = root.management.CreatePolicy(request)
    return response.policy


def test_policy_lifecycle_and_versions(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    name = unique("readers")
    created = m.CreatePolicy(
        pb.CreatePolicyRequest(
            policy_name=name,
            path="/app/",
            policy_document=document("s3:GetObject"),
            description="read objects",
            tags=[types_pb2.Tag(key="Owner", value="me")],
        )
    )
    policy = created.policy
    assert policy.arn == f"arn:aws:iam::{account}:policy/app/{name}"
    assert policy.policy_id.startswith("ANPA")
    assert policy.default_version_id == "v1"
    assert policy.attachment_count == 0 and not policy.is_provider_owned
    assert [t.key for t in policy.tags] == ["Owner"]

    got = m.GetPolicy(pb.GetPolicyRequest(policy_arn=policy.arn)).policy
    assert got.policy_id == policy.policy_id and got.description == "read objects"

    v2 = m.CreatePolicyVersion(
        pb.CreatePolicyVersionRequest(
            policy_arn=policy.arn, policy_document=document("s3:*"), set_as_default=True
        )
    )
    assert v2.policy_version.version_id == "v2" and v2.policy_version.is_default_version
    assert not v2.policy_version.document
    assert m.GetPolicy(pb.GetPolicyRequest(policy_arn=policy.arn)).policy.default_version_id == "v2"
    v1 = m.GetPolicyVersion(pb.GetPolicyVersionRequest(policy_arn=policy.arn, version_id="v1"))
    assert "s3:GetObject" in v1.policy_version.document
    assert not v1.policy_version.is_default_version

    for _ in range(3):  # v3..v5
        m.CreatePolicyVersion(
            pb.CreatePolicyVersionRequest(policy_arn=policy.arn, policy_document=document("s3:*"))
        )
    versions = m.ListPolicyVersions(pb.ListPolicyVersionsRequest(policy_arn=policy.arn)).versions
    assert [v.version_id for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    expect_error(
        lambda: m.CreatePolicyVersion(
            pb.CreatePolicyVersionRequest(policy_arn=policy.arn, policy_document=document("s3:*"))
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        reason="LimitExceeded",
    )
    expect_error(
        lambda: m.DeletePolicyVersion(
            pb.DeletePolicyVersionRequest(policy_arn=policy.arn, version_id="v2")
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DeleteConflict",
    )
    m.SetDefaultPolicyVersion(
        pb.SetDefaultPolicyVersionRequest(policy_arn=policy.arn, version_id="v1")
    )
    m.DeletePolicyVersion(pb.DeletePolicyVersionRequest(policy_arn=policy.arn, version_id="v2"))
    expect_error(
        lambda: m.GetPolicyVersion(
            pb.GetPolicyVersionRequest(policy_arn=policy.arn, version_id="v2")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    # Ids keep increasing after a delete.
    v6 = m.CreatePolicyVersion(
        pb.CreatePolicyVersionRequest(policy_arn=policy.arn, policy_document=document("s3:*"))
    )
    assert v6.policy_version.version_id == "v6"

    listed = m.ListPolicies(pb.ListPoliciesRequest(path_prefix="/app/")).policies
    assert name in {p.policy_name for p in listed}
    local = m.ListPolicies(
        pb.ListPoliciesRequest(scope=pb.POLICY_SCOPE_LOCAL, path_prefix="/app/")
    ).policies
    assert name in {p.policy_name for p in local}
    assert not m.ListPolicies(pb.ListPoliciesRequest(scope=pb.POLICY_SCOPE_AWS)).policies
    attached = m.ListPolicies(pb.ListPoliciesRequest(path_prefix="/app/", only_attached=True))
    assert name not in {p.policy_name for p in attached.policies}

    deleted = m.DeletePolicy(pb.DeletePolicyRequest(policy_arn=policy.arn))
    assert deleted.revision > v6.revision
    expect_error(
        lambda: m.GetPolicy(pb.GetPolicyRequest(policy_arn=policy.arn)), grpc.StatusCode.NOT_FOUND
    )


def test_policy_validation(root: Stubs) -> None:
    m = root.management
    expect_error(
        lambda: m.CreatePolicy(
            pb.CreatePolicyRequest(policy_name=unique("p"), policy_document="not json")
        ),
        INVALID,
        reason="MalformedPolicyDocument",
    )
    expect_error(
        lambda: m.CreatePolicy(
            pb.CreatePolicyRequest(policy_name="", policy_document=document("s3:*"))
        ),
        INVALID,
        field="policy_name",
    )
    # A managed policy document holds at most 6144 non-whitespace characters.
    huge = document([f"s3:Action{i:04d}" for i in range(400)])
    expect_error(
        lambda: m.CreatePolicy(
            pb.CreatePolicyRequest(policy_name=unique("p"), policy_document=huge)
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    name = unique("Same")
    m.CreatePolicy(pb.CreatePolicyRequest(policy_name=name, policy_document=document("s3:*")))
    expect_error(
        lambda: m.CreatePolicy(
            pb.CreatePolicyRequest(policy_name=name.lower(), policy_document=document("s3:*"))
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    for bad in ("", "arn:aws:iam::123:policy/x", "not-an-arn"):
        expect_error(
            functools.partial(m.GetPolicy, pb.GetPolicyRequest(policy_arn=bad)),
            INVALID,
            field="policy_arn",
        )


def test_attached_policy_cannot_be_deleted(root: Stubs) -> None:
    m = root.management
    policy = _policy(root)
    user = unique("attached")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    m.AttachUserPolicy(pb.AttachUserPolicyRequest(user_name=user, policy_arn=policy.arn))
    m.AttachUserPolicy(pb.AttachUserPolicyRequest(user_name=user, policy_arn=policy.arn))  # no-op
    assert m.GetPolicy(pb.GetPolicyRequest(policy_arn=policy.arn)).policy.attachment_count == 1
    expect_error(
        lambda: m.DeletePolicy(pb.DeletePolicyRequest(policy_arn=policy.arn)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DeleteConflict",
    )
    attached = m.ListAttachedUserPolicies(pb.ListAttachedUserPoliciesRequest(user_name=user))
    assert [(a.policy_name, a.policy_arn) for a in attached.attached_policies] == [
        (policy.policy_name, policy.arn)
    ]
    only = m.ListPolicies(pb.ListPoliciesRequest(only_attached=True, max_items=1000)).policies
    assert policy.arn in {p.arn for p in only}
    m.DetachUserPolicy(pb.DetachUserPolicyRequest(user_name=user, policy_arn=policy.arn))
    m.DeletePolicy(pb.DeletePolicyRequest(policy_arn=policy.arn))


def test_eleventh_attachment_is_refused(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    user = unique("u11")
    group = unique("g11")
    role = unique("r11")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    m.CreateGroup(pb.CreateGroupRequest(group_name=group))
    m.CreateRole(
        pb.CreateRoleRequest(
            role_name=role,
            assume_role_policy_document=(
                '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                f'{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}'
            ),
        )
    )
    policies = [_policy(root) for _ in range(11)]
    for policy in policies[:10]:
        m.AttachUserPolicy(pb.AttachUserPolicyRequest(user_name=user, policy_arn=policy.arn))
        m.AttachGroupPolicy(pb.AttachGroupPolicyRequest(group_name=group, policy_arn=policy.arn))
        m.AttachRolePolicy(pb.AttachRolePolicyRequest(role_name=role, policy_arn=policy.arn))
    last = policies[10].arn
    exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
    expect_error(
        lambda: m.AttachUserPolicy(pb.AttachUserPolicyRequest(user_name=user, policy_arn=last)),
        exhausted,
        reason="LimitExceeded",
    )
    expect_error(
        lambda: m.AttachGroupPolicy(pb.AttachGroupPolicyRequest(group_name=group, policy_arn=last)),
        exhausted,
    )
    expect_error(
        lambda: m.AttachRolePolicy(pb.AttachRolePolicyRequest(role_name=role, policy_arn=last)),
        exhausted,
    )
    page = m.ListAttachedRolePolicies(
        pb.ListAttachedRolePoliciesRequest(role_name=role, max_items=4)
    )
    assert len(page.attached_policies) == 4 and page.is_truncated and page.marker
    m.DetachRolePolicy(pb.DetachRolePolicyRequest(role_name=role, policy_arn=policies[0].arn))
    m.AttachRolePolicy(pb.AttachRolePolicyRequest(role_name=role, policy_arn=last))
    expect_error(
        lambda: m.AttachUserPolicy(
            pb.AttachUserPolicyRequest(
                user_name=user, policy_arn=f"arn:aws:iam::{account}:policy/{unique('no')}"
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_user_inline_policies_and_size_quota(root: Stubs) -> None:
    m = root.management
    user = unique("inline")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    first = m.PutUserPolicy(
        pb.PutUserPolicyRequest(user_name=user, policy_name="a", policy_document=document("s3:*"))
    )
    second = m.PutUserPolicy(
        pb.PutUserPolicyRequest(user_name=user, policy_name="a", policy_document=document("sqs:*"))
    )
    assert second.revision > first.revision
    got = m.GetUserPolicy(pb.GetUserPolicyRequest(user_name=user, policy_name="a"))
    assert got.user_name == user and "sqs:*" in got.policy_document
    assert list(m.ListUserPolicies(pb.ListUserPoliciesRequest(user_name=user)).policy_names) == [
        "a"
    ]
    # All inline policies of a user together: at most 2048 non-whitespace characters.
    big = document([f"s3:Action{i:04d}" for i in range(120)])
    expect_error(
        lambda: m.PutUserPolicy(
            pb.PutUserPolicyRequest(user_name=user, policy_name="big", policy_document=big)
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    expect_error(
        lambda: m.PutUserPolicy(
            pb.PutUserPolicyRequest(user_name=user, policy_name="bad name", policy_document=big)
        ),
        INVALID,
        field="policy_name",
    )
    expect_error(
        lambda: m.PutUserPolicy(
            pb.PutUserPolicyRequest(user_name=user, policy_name="p", policy_document="{}")
        ),
        INVALID,
        reason="MalformedPolicyDocument",
    )
    expect_error(
        lambda: m.DeleteUser(pb.DeleteUserRequest(user_name=user)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    m.DeleteUserPolicy(pb.DeleteUserPolicyRequest(user_name=user, policy_name="a"))
    expect_error(
        lambda: m.DeleteUserPolicy(pb.DeleteUserPolicyRequest(user_name=user, policy_name="a")),
        grpc.StatusCode.NOT_FOUND,
    )
    m.DeleteUser(pb.DeleteUserRequest(user_name=user))
