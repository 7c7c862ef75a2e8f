"""Who may ask Authorize about whom: time-limited grants expire on time, and a session asking
about itself is decided with its session policies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import sts_pb2
from iamd.v1 import types_pb2 as tpb

from tests.api.management_support import expect_error, new_user, unique
from tests.api.sts_support import assumed_stubs, new_role, trust
from tests.harness import ServerProcess, Stubs, stubs

ALLOWED = tpb.DECISION_ALLOWED
IMPLICIT = tpb.DECISION_IMPLICIT_DENY


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    s = stubs(server.endpoint, server.root)
    try:
        yield s
    finally:
        s.close()


def allow(
    action: str | list[str], resource: str = "*", condition: dict[str, object] | None = None
) -> str:
    statement: dict[str, object] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_time_limited_authorize_grant_expires(root: Stubs, server: ServerProcess) -> None:
    target_name = unique("target")
    target = root.management.CreateUser(mpb.CreateUserRequest(user_name=target_name)).user.arn
    # The enforcer may ask about the target for about three more seconds.
    until = int(time.time()) + 3
    stamp = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, enforcer = new_user(
        root,
        server.endpoint,
        policy=allow("iamd:Authorize", target, {"DateLessThan": {"aws:CurrentTime": stamp}}),
    )
    try:

        def ask() -> pb.AuthorizeResponse:
            reply: pb.AuthorizeResponse = enforcer.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=target, action="iam:GetUser")
            )
            return reply

        # Asked repeatedly while the grant holds (so it would be remembered if it could be).
        for _ in range(5):
            assert ask().decision == IMPLICIT  # the target itself may do nothing
        while time.time() < until + 1.2:
            time.sleep(0.1)
        expect_error(ask, grpc.StatusCode.PERMISSION_DENIED)
        expect_error(
            lambda: enforcer.authorization.AuthorizeBatch(
                pb.AuthorizeBatchRequest(
                    principal_arn=target, checks=[pb.AuthorizeCheck(action="iam:GetUser")]
                )
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    finally:
        enforcer.close()


def test_a_session_asking_about_itself_gets_its_session_policies(
    root: Stubs, server: ServerProcess
) -> None:
    user_name, user = new_user(root, server.endpoint, policy=allow("sts:AssumeRole"))
    user_arn = root.management.GetUser(mpb.GetUserRequest(user_name=user_name)).user.arn
    role = new_role(root, trust({"AWS": user_arn}), policy=allow(["iam:GetUser", "iam:ListUsers"]))
    # The session may only list users: its session policy narrows the role.
    session = assumed_stubs(
        server.endpoint, user, role, session_name="narrowed", policy=allow("iam:ListUsers")
    )
    try:
        me = session.sts.GetCallerIdentity(sts_pb2.GetCallerIdentityRequest()).arn
        assert me.endswith(":assumed-role/" + role.rsplit("/", 1)[-1] + "/narrowed")

        def decide(action: str, principal: str = "") -> pb.AuthorizeResponse:
            reply: pb.AuthorizeResponse = session.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=principal, action=action, explain=True)
            )
            return reply

        for principal in ("", me):
            denied = decide("iam:GetUser", principal)
            assert denied.decision == IMPLICIT, denied
            assert denied.explain.decided_by == tpb.POLICY_KIND_SESSION
            assert decide("iam:ListUsers", principal).decision == ALLOWED
        batch = session.authorization.AuthorizeBatch(
            pb.AuthorizeBatchRequest(
                checks=[pb.AuthorizeCheck(action="iam:GetUser"),
                        pb.AuthorizeCheck(action="iam:ListUsers"),
                        pb.AuthorizeCheck(action="iam:GetUser", principal_arn=me)]
            )
        )  # fmt: skip
        assert [r.decision for r in batch.results] == [IMPLICIT, ALLOWED, IMPLICIT]
        # The role itself, asked about by an administrator, still may do both.
        assert (
            root.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=me, action="iam:GetUser")
            ).decision
            == ALLOWED
        )
    finally:
        session.close()
        user.close()
