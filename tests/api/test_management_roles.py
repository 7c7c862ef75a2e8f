"""Manage API: roles, trust policies, role tags, inline policies and boundaries."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import (
    document,
    expect_error,
    management_account,
    trust_document,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def test_role_lifecycle(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    name = unique("deployer")
    created = m.CreateRole(
        pb.CreateRoleRequest(
            role_name=name,
            path="/svc/",
            assume_role_policy_document=trust_document(f"arn:aws:iam::{account}:root"),
            description="deploys things",
            max_session_duration=7200,
            tags=[types_pb2.Tag(key="env", value="prod")],
        )
    )
    role = created.role
    assert role.arn == f"arn:aws:iam::{account}:role/svc/{name}"
    assert role.role_id.startswith("AROA")
    assert role.max_session_duration == 7200
    assert role.description == "deploys things"
    assert "sts:AssumeRole" in role.assume_role_policy_document

    got = m.GetRole(pb.GetRoleRequest(role_name=name)).role
    assert got.role_id == role.role_id and [t.key for t in got.tags] == ["env"]

    updated = m.UpdateRole(pb.UpdateRoleRequest(role_name=name, description=""))
    assert updated.role.description == "" and updated.role.max_session_duration == 7200
    updated = m.UpdateRole(pb.UpdateRoleRequest(role_name=name, max_session_duration=3600))
    assert updated.role.max_session_duration == 3600

    trust = m.UpdateAssumeRolePolicy(
        pb.UpdateAssumeRolePolicyRequest(
            role_name=name, policy_document=trust_document(f"arn:aws:iam::{account}:root")
        )
    )
    assert trust.revision > updated.revision

    m.TagRole(pb.TagRoleRequest(role_name=name, tags=[types_pb2.Tag(key="ENV", value="dev")]))
    tags = m.ListRoleTags(pb.ListRoleTagsRequest(role_name=name)).tags
    assert [(t.key.lower(), t.value) for t in tags] == [("env", "dev")]
    m.UntagRole(pb.UntagRoleRequest(role_name=name, tag_keys=["env"]))
    assert not m.ListRoleTags(pb.ListRoleTagsRequest(role_name=name)).tags

    listed = m.ListRoles(pb.ListRolesRequest(path_prefix="/svc/")).roles
    assert name in {r.role_name for r in listed}

    m.PutRolePolicy(
        pb.PutRolePolicyRequest(
            role_name=name, policy_name="inline", policy_document=document("s3:GetObject")
        )
    )
    assert list(m.ListRolePolicies(pb.ListRolePoliciesRequest(role_name=name)).policy_names) == [
        "inline"
    ]
    got_inline = m.GetRolePolicy(pb.GetRolePolicyRequest(role_name=name, policy_name="inline"))
    assert got_inline.role_name == name and "s3:GetObject" in got_inline.policy_document
    expect_error(
        lambda: m.DeleteRole(pb.DeleteRoleRequest(role_name=name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DeleteConflict",
    )
    m.DeleteRolePolicy(pb.DeleteRolePolicyRequest(role_name=name, policy_name="inline"))
    m.DeleteRole(pb.DeleteRoleRequest(role_name=name))
    expect_error(lambda: m.GetRole(pb.GetRoleRequest(role_name=name)), grpc.StatusCode.NOT_FOUND)


def test_role_validation(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    trust = trust_document(f"arn:aws:iam::{account}:root")
    expect_error(
        lambda: m.CreateRole(
            pb.CreateRoleRequest(
                role_name=unique("r"), assume_role_policy_document=trust, max_session_duration=60
            )
        ),
        INVALID,
        field="max_session_duration",
    )
    expect_error(
        lambda: m.CreateRole(
            pb.CreateRoleRequest(role_name=unique("r"), assume_role_policy_document="{not json")
        ),
        INVALID,
        reason="MalformedPolicyDocument",
    )
    # A trust policy without Principal is malformed.
    expect_error(
        lambda: m.CreateRole(
            pb.CreateRoleRequest(
                role_name=unique("r"), assume_role_policy_document=document("sts:AssumeRole")
            )
        ),
        INVALID,
    )
    expect_error(
        lambda: m.CreateRole(pb.CreateRoleRequest(role_name="", assume_role_policy_document=trust)),
        INVALID,
        field="role_name",
    )
    name = unique("Dup")
    m.CreateRole(pb.CreateRoleRequest(role_name=name, assume_role_policy_document=trust))
    expect_error(
        lambda: m.CreateRole(
            pb.CreateRoleRequest(role_name=name.lower(), assume_role_policy_document=trust)
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    expect_error(
        lambda: m.UpdateRole(pb.UpdateRoleRequest(role_name=unique("none"), description="x")),
        grpc.StatusCode.NOT_FOUND,
    )


def test_permissions_boundaries(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    boundary = m.CreatePolicy(
        pb.CreatePolicyRequest(policy_name=unique("boundary"), policy_document=document("s3:*"))
    ).policy
    role = unique("bounded")
    m.CreateRole(
        pb.CreateRoleRequest(
            role_name=role,
            assume_role_policy_document=trust_document(f"arn:aws:iam::{account}:root"),
            permissions_boundary=boundary.arn,
        )
    )
    assert m.GetRole(pb.GetRoleRequest(role_name=role)).role.permissions_boundary_arn == (
        boundary.arn
    )
    m.DeleteRolePermissionsBoundary(pb.DeleteRolePermissionsBoundaryRequest(role_name=role))
    assert not m.GetRole(pb.GetRoleRequest(role_name=role)).role.permissions_boundary_arn
    expect_error(
        lambda: m.DeleteRolePermissionsBoundary(
            pb.DeleteRolePermissionsBoundaryRequest(role_name=role)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    m.PutRolePermissionsBoundary(
        pb.PutRolePermissionsBoundaryRequest(role_name=role, permissions_boundary=boundary.arn)
    )
    assert (
        m.GetPolicy(
            pb.GetPolicyRequest(policy_arn=boundary.arn)
        ).policy.permissions_boundary_usage_count
        == 1
    )

    user = unique("buser")
    m.CreateUser(pb.CreateUserRequest(user_name=user))
    m.PutUserPermissionsBoundary(
        pb.PutUserPermissionsBoundaryRequest(user_name=user, permissions_boundary=boundary.arn)
    )
    assert m.GetUser(pb.GetUserRequest(user_name=user)).user.permissions_boundary_arn == (
        boundary.arn
    )
    # A policy used as a boundary cannot be deleted.
    expect_error(
        lambda: m.DeletePolicy(pb.DeletePolicyRequest(policy_arn=boundary.arn)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    m.DeleteUserPermissionsBoundary(pb.DeleteUserPermissionsBoundaryRequest(user_name=user))
    assert not m.GetUser(pb.GetUserRequest(user_name=user)).user.permissions_boundary_arn
    expect_error(
        lambda: m.PutUserPermissionsBoundary(
            pb.PutUserPermissionsBoundaryRequest(user_name=user, permissions_boundary="nope")
        ),
        INVALID,
        field="permissions_boundary",
    )
    expect_error(
        lambda: m.PutUserPermissionsBoundary(
            pb.PutUserPermissionsBoundaryRequest(
                user_name=user,
                permissions_boundary=f"arn:aws:iam::{account}:policy/{unique('missing')}",
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
