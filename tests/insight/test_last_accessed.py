"""Last-accessed data (access advisor) against real servers: what counts, the report shapes
for users, groups, roles and policies, who may read them, and survival across a restart."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb

from tests.api.management_support import expect_error, new_member_account, new_user
from tests.api.sts_support import assumed_stubs
from tests.harness import ServerProcess, Stubs, start_server, stubs

ACTION_LEVEL = mpb.ACCESS_ADVISOR_USAGE_GRANULARITY_ACTION_LEVEL
ORDERS = tpb.ServiceDefinition(
    service_prefix="orders",
    actions=[
        tpb.ServiceAction(name="GetOrder", resource_types=["order"]),
        tpb.ServiceAction(name="CancelOrder", resource_types=["order"]),
        tpb.ServiceAction(name="ListOrders"),
    ],
    resource_types=[
        tpb.ServiceResourceType(
            name="order", arn_pattern="arn:${Partition}:orders:${Region}:${Account}:order/${Id}"
        )
    ],
)


def policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: list[str]) -> dict[str, object]:
    return {"Effect": "Allow", "Action": actions, "Resource": "*"}


def report(
    s: Stubs, arn: str, granularity: Any = ACTION_LEVEL
) -> mpb.GetServiceLastAccessedDetailsResponse:
    job = s.management.GenerateServiceLastAccessedDetails(
        mpb.GenerateServiceLastAccessedDetailsRequest(arn=arn, granularity=granularity)
    ).job_id
    reply: mpb.GetServiceLastAccessedDetailsResponse = s.management.GetServiceLastAccessedDetails(
        mpb.GetServiceLastAccessedDetailsRequest(job_id=job)
    )
    return reply


def services(
    reply: mpb.GetServiceLastAccessedDetailsResponse,
) -> dict[str, mpb.ServiceLastAccessed]:
    return {s.service_namespace: s for s in reply.services_last_accessed}


def actions(service: mpb.ServiceLastAccessed) -> dict[str, mpb.TrackedActionLastAccessed]:
    return {a.action_name: a for a in service.tracked_actions_last_accessed}


class World:
    def __init__(self, s: Stubs, endpoint: str) -> None:
        revision = s.management.PutServiceDefinition(
            mpb.PutServiceDefinitionRequest(definition=ORDERS)
        ).revision
        self.account = s.management.DescribeAccount(mpb.DescribeAccountRequest()).account.account_id
        a = self.account
        self.alice_name, self.alice = new_user(
            s, endpoint, name="alice",
            policy=policy(allow(["orders:GetOrder", "orders:CancelOrder", "iam:GetUser"])),
        )  # fmt: skip
        s.management.CreateUser(mpb.CreateUserRequest(user_name="bob"))
        s.management.CreateGroup(mpb.CreateGroupRequest(group_name="support"))
        for name in ("alice", "bob"):
            s.management.AddUserToGroup(
                mpb.AddUserToGroupRequest(group_name="support", user_name=name)
            )
        s.management.PutGroupPolicy(
            mpb.PutGroupPolicyRequest(
                group_name="support", policy_name="list",
                policy_document=policy(allow(["orders:ListOrders"])),
            )
        )  # fmt: skip
        trust = policy(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{a}:root"},
             "Action": "sts:AssumeRole"}
        )  # fmt: skip
        s.management.CreateRole(
            mpb.CreateRoleRequest(role_name="reader", assume_role_policy_document=trust)
        )
        managed = s.management.CreatePolicy(
            mpb.CreatePolicyRequest(
                policy_name="order-reader", policy_document=policy(allow(["orders:Get*"]))
            )
        ).policy
        self.policy_arn = managed.arn
        last = s.management.AttachRolePolicy(
            mpb.AttachRolePolicyRequest(role_name="reader", policy_arn=managed.arn)
        ).revision
        s.authorization.Authorize(
            pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=max(revision, last))
        )
        self.alice_arn = f"arn:aws:iam::{a}:user/alice"
        self.bob_arn = f"arn:aws:iam::{a}:user/bob"
        self.group_arn = f"arn:aws:iam::{a}:group/support"
        self.role_arn = f"arn:aws:iam::{a}:role/reader"
        self.order = f"arn:aws:orders:eu-west-1:{a}:order/1"


def authorize(s: Stubs, principal: str, action: str, resource: str = "*") -> int:
    reply = s.authorization.Authorize(
        pb.AuthorizeRequest(principal_arn=principal, action=action, resource_arn=resource)
    )
    return int(reply.decision)


def test_reports_for_users_groups_roles_and_policies(server: ServerProcess) -> None:
    s = stubs(server.endpoint, server.root)
    try:
        w = World(s, server.endpoint)
        before = datetime.now(UTC).timestamp() - 1
        assert authorize(s, w.alice_arn, "orders:GetOrder", w.order) == tpb.DECISION_ALLOWED
        # Denied: counts for nothing.
        assert authorize(s, w.bob_arn, "orders:GetOrder", w.order) == tpb.DECISION_IMPLICIT_DENY
        # A role session counts toward its role.
        session = f"arn:aws:sts::{w.account}:assumed-role/reader/s1"
        assert authorize(s, session, "orders:GetOrder", w.order) == tpb.DECISION_ALLOWED
        # A Manage call alice makes herself counts as iam:GetUser.
        w.alice.management.GetUser(mpb.GetUserRequest(user_name="alice"))

        user = report(s, w.alice_arn)
        assert user.job_status == mpb.JOB_STATUS_COMPLETED
        assert user.job_type == ACTION_LEVEL
        assert user.job_completion_date.ToSeconds() >= user.job_creation_date.ToSeconds()
        by_service = services(user)
        assert set(by_service) == {"orders", "iam"}  # what her and her group's policies allow
        orders = by_service["orders"]
        assert orders.service_name == "orders"
        assert orders.last_authenticated.ToSeconds() >= before
        assert orders.last_authenticated_entity == w.alice_arn
        assert orders.total_authenticated_entities == 1
        tracked = actions(orders)
        assert set(tracked) == {"GetOrder", "CancelOrder", "ListOrders"}
        assert tracked["GetOrder"].last_accessed_entity == w.alice_arn
        assert tracked["GetOrder"].last_accessed_time.ToSeconds() >= before
        assert not tracked["CancelOrder"].HasField("last_accessed_time")
        assert tracked["CancelOrder"].last_accessed_entity == ""
        assert actions(by_service["iam"])["GetUser"].last_accessed_entity == w.alice_arn

        service_level = services(report(s, w.alice_arn, granularity=0))
        assert not service_level["orders"].tracked_actions_last_accessed

        never = services(report(s, w.bob_arn))["orders"]  # allowed ListOrders, never used
        assert not never.HasField("last_authenticated") and never.total_authenticated_entities == 0

        group = services(report(s, w.group_arn))["orders"]
        assert group.last_authenticated_entity == w.alice_arn
        assert group.total_authenticated_entities == 1

        role = services(report(s, w.role_arn))
        assert set(role) == {"orders"}
        assert role["orders"].last_authenticated_entity == w.role_arn
        assert actions(role["orders"])["GetOrder"].last_accessed_entity == w.role_arn

        managed = services(report(s, w.policy_arn))
        assert set(managed) == {"orders"}  # only what the policy allows
        assert set(actions(managed["orders"])) == {"GetOrder"}
        assert managed["orders"].last_authenticated_entity == w.role_arn

        page = s.management.GetServiceLastAccessedDetails(
            mpb.GetServiceLastAccessedDetailsRequest(
                job_id=s.management.GenerateServiceLastAccessedDetails(
                    mpb.GenerateServiceLastAccessedDetailsRequest(arn=w.alice_arn)
                ).job_id,
                max_items=1,
            )
        )
        assert page.is_truncated and page.marker and len(page.services_last_accessed) == 1
    finally:
        s.close()


def test_who_may_generate_and_read_reports(server: ServerProcess) -> None:
    s = stubs(server.endpoint, server.root)
    try:
        account = s.management.DescribeAccount(mpb.DescribeAccountRequest()).account.account_id
        name, nobody = new_user(s, server.endpoint, policy=policy(allow(["iam:ListUsers"])))
        arn = f"arn:aws:iam::{account}:user/{name}"
        expect_error(
            lambda: nobody.management.GenerateServiceLastAccessedDetails(
                mpb.GenerateServiceLastAccessedDetailsRequest(arn=arn)
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        job = s.management.GenerateServiceLastAccessedDetails(
            mpb.GenerateServiceLastAccessedDetailsRequest(arn=arn)
        ).job_id
        expect_error(
            lambda: nobody.management.GetServiceLastAccessedDetails(
                mpb.GetServiceLastAccessedDetailsRequest(job_id=job)
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        # Another account's root may read reports, but not this account's.
        _, member = new_member_account(s, server.endpoint)
        try:
            expect_error(
                lambda: member.management.GetServiceLastAccessedDetails(
                    mpb.GetServiceLastAccessedDetailsRequest(job_id=job)
                ),
                grpc.StatusCode.NOT_FOUND,
            )
        finally:
            member.close()
        nobody.close()
    finally:
        s.close()


def test_bad_input_names_the_field(server: ServerProcess) -> None:
    s = stubs(server.endpoint, server.root)
    m = s.management
    try:
        account = m.DescribeAccount(mpb.DescribeAccountRequest()).account.account_id
        generate = mpb.GenerateServiceLastAccessedDetailsRequest
        get = mpb.GetServiceLastAccessedDetailsRequest
        bad = grpc.StatusCode.INVALID_ARGUMENT
        expect_error(lambda: m.GenerateServiceLastAccessedDetails(generate()), bad, field="arn")
        for arn in ("nonsense", f"arn:aws:iam::{account}:root", "arn:aws:s3:::bucket"):
            expect_error(
                lambda a=arn: m.GenerateServiceLastAccessedDetails(generate(arn=a)),  # type: ignore[misc]
                bad,
                field="arn",
            )
        expect_error(
            lambda: m.GenerateServiceLastAccessedDetails(
                generate(arn=f"arn:aws:iam::{account}:user/ghost")
            ),
            grpc.StatusCode.NOT_FOUND,
        )
        expect_error(
            lambda: m.GenerateServiceLastAccessedDetails(
                generate(arn=f"arn:aws:iam::{account}:user/x", granularity=7)  # type: ignore[arg-type]
            ),
            bad,
            field="granularity",
        )
        expect_error(lambda: m.GetServiceLastAccessedDetails(get()), bad, field="job_id")
        expect_error(
            lambda: m.GetServiceLastAccessedDetails(get(job_id="x" * 65)), bad, field="job_id"
        )
        expect_error(
            lambda: m.GetServiceLastAccessedDetails(get(job_id="nope")), grpc.StatusCode.NOT_FOUND
        )
        expect_error(
            lambda: m.GetServiceLastAccessedDetails(get(job_id="nope", marker="%%")),
            bad,
            field="marker",
        )
    finally:
        s.close()


def test_times_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    first = start_server(database_url, tmp_path / "a")
    s = stubs(first.endpoint, first.root)
    try:
        w = World(s, first.endpoint)
        assert authorize(s, w.alice_arn, "orders:GetOrder", w.order) == tpb.DECISION_ALLOWED
        at = time.time()
    finally:
        s.close()
        assert first.stop() == 0  # well within the flush interval: written at shutdown
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "master.key").write_bytes(first.master_key_file.read_bytes())
    second = start_server(database_url, tmp_path / "b")
    s = stubs(second.endpoint, first.root)
    try:
        orders = services(report(s, w.alice_arn))["orders"]
        assert abs(orders.last_authenticated.ToSeconds() - at) < 5
        assert actions(orders)["GetOrder"].last_accessed_entity == w.alice_arn
    finally:
        s.close()
        second.stop()


def test_assume_role_and_a_sessions_own_calls(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "iamd")
    s = stubs(server.endpoint, server.root)
    try:
        w = World(s, server.endpoint)
        name, carol = new_user(
            s, server.endpoint, name="carol",
            policy=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": w.role_arn}),
        )  # fmt: skip
        session = assumed_stubs(server.endpoint, carol, w.role_arn)
        try:
            # The session asks about itself: decided as the session, counted for the role.
            reply = session.authorization.Authorize(
                pb.AuthorizeRequest(action="orders:GetOrder", resource_arn=w.order)
            )
            assert reply.decision == tpb.DECISION_ALLOWED
        finally:
            session.close()
            carol.close()
        carol_arn = f"arn:aws:iam::{w.account}:user/{name}"
        sts = services(report(s, carol_arn))["sts"]
        assert sts.last_authenticated_entity == carol_arn
        assert actions(sts)["AssumeRole"].last_accessed_entity == carol_arn
        role = services(report(s, w.role_arn))["orders"]
        assert actions(role)["GetOrder"].last_accessed_entity == w.role_arn
    finally:
        s.close()
        server.stop()
