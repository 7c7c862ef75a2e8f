"""Resources without an account in their ARN belong to whoever claimed them first: decisions
take that stored owner as the resource account, so a member's resource policy cannot decide
for the management account's principals as if they were its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb

from tests.api.management_support import (
    expect_error,
    management_account,
    new_member_account,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

ALLOWED = tpb.DECISION_ALLOWED
IMPLICIT = tpb.DECISION_IMPLICIT_DENY
REPORT = "arn:aws:files:::quarterly-report"


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    s = stubs(server.endpoint, server.root)
    definition = tpb.ServiceDefinition(
        service_prefix="files",
        actions=[tpb.ServiceAction(name="Read", resource_types=["file"])],
        resource_types=[
            tpb.ServiceResourceType(name="file", arn_pattern="arn:${Partition}:files:::${Name}")
        ],
    )
    revision = s.management.PutServiceDefinition(
        mpb.PutServiceDefinitionRequest(definition=definition)
    ).revision
    s.authorization.Authorize(pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=revision))
    try:
        yield s
    finally:
        s.close()


def read_everyone() -> str:
    return json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "files:Read",
                        "Resource": REPORT}]}
    )  # fmt: skip


def read_report() -> str:
    return json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "files:Read", "Resource": REPORT}]}
    )  # fmt: skip


def test_a_member_resource_policy_does_not_decide_for_the_management_account(
    root: Stubs, server: ServerProcess
) -> None:
    member_id, member = new_member_account(root, server.endpoint)
    try:
        # The member claims the account-less ARN by writing its policy first.
        revision = member.management.PutResourcePolicy(
            mpb.PutResourcePolicyRequest(resource_arn=REPORT, policy_document=read_everyone())
        ).revision
        owner = member.management.GetResourcePolicy(
            mpb.GetResourcePolicyRequest(resource_arn=REPORT)
        ).owner_account_id
        assert owner == member_id
        # A management-account user without any identity policy.
        name = unique("outsider")
        outsider = root.management.CreateUser(mpb.CreateUserRequest(user_name=name)).user.arn
        assert outsider.split(":")[4] == management_account(root) != member_id

        def ask(**fields: Any) -> pb.AuthorizeResponse:
            reply: pb.AuthorizeResponse = root.authorization.Authorize(
                pb.AuthorizeRequest(
                    principal_arn=outsider, action="files:Read", resource_arn=REPORT,
                    at_least_revision=revision, **fields,
                )
            )  # fmt: skip
            return reply

        # Cross-account: the resource policy alone is not enough (before: allowed, as if
        # the member's resource were the management account's own).
        denied = ask(explain=True)
        assert denied.decision == IMPLICIT, denied
        assert denied.explain.reason == "no_allow"
        assert ask().decision == IMPLICIT  # the remembered answer agrees
        assert ask(resource_owner_account=member_id).decision == IMPLICIT

        # Naming another owner than the stored one is refused, naming the field.
        mine = management_account(root)
        expect_error(
            lambda: ask(resource_owner_account=mine),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="resource_owner_account",
        )
        expect_error(
            lambda: root.authorization.AuthorizeBatch(
                pb.AuthorizeBatchRequest(
                    principal_arn=outsider,
                    checks=[
                        pb.AuthorizeCheck(action="files:Read", resource_arn=REPORT),
                        pb.AuthorizeCheck(
                            action="files:Read", resource_arn=REPORT, resource_owner_account=mine
                        ),
                    ],
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="checks[1].resource_owner_account",
        )
        # So is an owner that contradicts the ARN's own account field.
        expect_error(
            lambda: root.authorization.Authorize(
                pb.AuthorizeRequest(
                    principal_arn=outsider,
                    action="iam:GetUser",
                    resource_arn=outsider,
                    resource_owner_account=member_id,
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="resource_owner_account",
        )

        # With an identity policy as well, both sides allow: cross-account access works.
        revision = root.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name=name,
                policy_name="read",
                policy_document=read_report(),
            )
        ).revision
        assert ask().decision == ALLOWED

        # The member's own principals are same-account: the resource policy suffices.
        insider = member.management.CreateUser(
            mpb.CreateUserRequest(user_name=unique("insider"))
        ).user.arn
        reply = member.authorization.Authorize(
            pb.AuthorizeRequest(principal_arn=insider, action="files:Read", resource_arn=REPORT)
        )
        assert reply.decision == ALLOWED
    finally:
        member.close()
