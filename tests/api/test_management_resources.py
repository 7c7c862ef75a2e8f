"""Manage API: resource policies, ACLs and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import (
    document,
    expect_error,
    management_account,
    new_member_account,
    new_user,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def _bucket_policy(principal: str, bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def test_resource_policy_lifecycle(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    bucket = unique("bucket")
    arn = f"arn:aws:s3:::{bucket}"
    put = m.PutResourcePolicy(
        pb.PutResourcePolicyRequest(
            resource_arn=arn, policy_document=_bucket_policy(f"arn:aws:iam::{account}:root", bucket)
        )
    )
    assert put.revision > 0
    got = m.GetResourcePolicy(pb.GetResourcePolicyRequest(resource_arn=arn))
    assert got.resource_arn == arn and got.owner_account_id == account
    assert "s3:GetObject" in got.policy_document
    deleted = m.DeleteResourcePolicy(pb.DeleteResourcePolicyRequest(resource_arn=arn))
    assert deleted.revision > put.revision
    expect_error(
        lambda: m.GetResourcePolicy(pb.GetResourcePolicyRequest(resource_arn=arn)),
        grpc.StatusCode.NOT_FOUND,
    )
    expect_error(
        lambda: m.DeleteResourcePolicy(pb.DeleteResourcePolicyRequest(resource_arn=arn)),
        grpc.StatusCode.NOT_FOUND,
    )


def test_resource_policy_validation(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    expect_error(
        lambda: m.PutResourcePolicy(
            pb.PutResourcePolicyRequest(resource_arn="bucket", policy_document="{}")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="resource_arn",
    )
    # A resource policy needs a Principal.
    expect_error(
        lambda: m.PutResourcePolicy(
            pb.PutResourcePolicyRequest(
                resource_arn=f"arn:aws:s3:::{unique('b')}", policy_document=document("s3:*")
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="MalformedPolicyDocument",
    )
    queue = f"arn:aws:sqs:us-east-1:{account}:{unique('q')}"
    expect_error(
        lambda: m.PutResourcePolicy(
            pb.PutResourcePolicyRequest(
                resource_arn=queue,
                owner_account_id="000000000009",
                policy_document=_bucket_policy("*", "x"),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="owner_account_id",
    )


def test_acls(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    arn = f"arn:aws:s3:::{unique('acl')}"
    grants = [
        types_pb2.AclGrant(grantee=account, permission=types_pb2.ACL_PERMISSION_FULL_CONTROL),
        types_pb2.AclGrant(grantee="authenticated", permission=types_pb2.ACL_PERMISSION_READ),
    ]
    put = m.PutResourceAcl(pb.PutResourceAclRequest(resource_arn=arn, grants=grants))
    assert put.revision > 0
    got = m.GetResourceAcl(pb.GetResourceAclRequest(resource_arn=arn))
    assert got.owner_account_id == account
    assert sorted((g.grantee, g.permission) for g in got.grants) == sorted(
        (g.grantee, g.permission) for g in grants
    )
    m.PutResourceAcl(pb.PutResourceAclRequest(resource_arn=arn))  # empty: removes the ACL
    assert not m.GetResourceAcl(pb.GetResourceAclRequest(resource_arn=arn)).grants
    expect_error(
        lambda: m.PutResourceAcl(
            pb.PutResourceAclRequest(resource_arn=arn, grants=[types_pb2.AclGrant(grantee="*")])
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="grants[0].permission",
    )
    expect_error(
        lambda: m.PutResourceAcl(
            pb.PutResourceAclRequest(
                resource_arn=arn,
                grants=[
                    types_pb2.AclGrant(grantee="bogus", permission=types_pb2.ACL_PERMISSION_READ)
                ],
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="grants[0].grantee",
    )


def test_resources_of_another_account_are_off_limits(root: Stubs, server: ServerProcess) -> None:
    m = root.management
    account = management_account(root)
    bucket = unique("owned")
    arn = f"arn:aws:s3:::{bucket}"
    m.PutResourcePolicy(
        pb.PutResourcePolicyRequest(
            resource_arn=arn, policy_document=_bucket_policy(f"arn:aws:iam::{account}:root", bucket)
        )
    )
    member_id, member = new_member_account(root, server.endpoint)
    try:
        # The ARN names no account: the stored owner decides, not the caller's claim.
        for call in (
            lambda: member.management.GetResourcePolicy(
                pb.GetResourcePolicyRequest(resource_arn=arn)
            ),
            lambda: member.management.GetResourcePolicy(
                pb.GetResourcePolicyRequest(resource_arn=arn, owner_account_id=member_id)
            ),
            lambda: member.management.DeleteResourcePolicy(
                pb.DeleteResourcePolicyRequest(resource_arn=arn)
            ),
            lambda: member.management.PutResourcePolicy(
                pb.PutResourcePolicyRequest(
                    resource_arn=arn,
                    owner_account_id=member_id,
                    policy_document=_bucket_policy("*", bucket),
                )
            ),
            lambda: member.management.PutResourceAcl(pb.PutResourceAclRequest(resource_arn=arn)),
        ):
            expect_error(call, DENIED)
        queue = f"arn:aws:sqs:us-east-1:{account}:{unique('q')}"
        expect_error(
            lambda: member.management.PutResourcePolicy(
                pb.PutResourcePolicyRequest(
                    resource_arn=queue, policy_document=_bucket_policy("*", "q")
                )
            ),
            DENIED,
        )
        # The member's own resources are its own.
        mine = f"arn:aws:sqs:us-east-1:{member_id}:{unique('q')}"
        member.management.PutResourcePolicy(
            pb.PutResourcePolicyRequest(resource_arn=mine, policy_document=_bucket_policy("*", "q"))
        )
        got = member.management.GetResourcePolicy(pb.GetResourcePolicyRequest(resource_arn=mine))
        assert got.owner_account_id == member_id
    finally:
        member.close()
    assert m.GetResourcePolicy(pb.GetResourcePolicyRequest(resource_arn=arn)).owner_account_id == (
        account
    )


def test_resource_policy_permission_for_users(root: Stubs, server: ServerProcess) -> None:
    bucket = unique("perm")
    arn = f"arn:aws:s3:::{bucket}"
    _, allowed = new_user(
        root,
        server.endpoint,
        policy=document(["iam:PutResourcePolicy", "iam:GetResourcePolicy"], arn),
    )
    _, other = new_user(
        root, server.endpoint, policy=document("iam:PutResourcePolicy", "arn:aws:s3:::else")
    )
    try:
        body = _bucket_policy("*", bucket)
        expect_error(
            lambda: other.management.PutResourcePolicy(
                pb.PutResourcePolicyRequest(resource_arn=arn, policy_document=body)
            ),
            DENIED,
        )
        allowed.management.PutResourcePolicy(
            pb.PutResourcePolicyRequest(resource_arn=arn, policy_document=body)
        )
        assert allowed.management.GetResourcePolicy(
            pb.GetResourcePolicyRequest(resource_arn=arn)
        ).policy_document
        expect_error(
            lambda: allowed.management.DeleteResourcePolicy(
                pb.DeleteResourcePolicyRequest(resource_arn=arn)
            ),
            DENIED,
        )
    finally:
        allowed.close()
        other.close()


def test_audit_events(root: Stubs) -> None:
    m = root.management
    account = management_account(root)
    user = unique("audited")
    start = m.CreateUser(pb.CreateUserRequest(user_name=user)).revision
    tagged = m.TagUser(
        pb.TagUserRequest(user_name=user, tags=[types_pb2.Tag(key="k", value="v")])
    ).revision
    events = m.ListAuditEvents(pb.ListAuditEventsRequest(since_revision=start - 1)).events
    mine = [e for e in events if e.target_arn.endswith(f"user/{user}")]
    assert [(e.rpc, e.revision) for e in mine] == [("CreateUser", start), ("TagUser", tagged)]
    assert all(e.account_id == account and e.principal_arn.endswith(":root") for e in mine)
    assert all(e.time.seconds > 0 for e in mine)
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions)
    page = m.ListAuditEvents(pb.ListAuditEventsRequest(since_revision=start - 1, max_items=1))
    assert len(page.events) == 1 and page.is_truncated and page.marker
