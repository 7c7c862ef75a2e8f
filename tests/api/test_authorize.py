"""Authorize, AuthorizeBatch and the simulators over real channels and real PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_client.signing import SigningCredentials
from iamd_policy.simulate import SimulationInput, result_to_json, simulate_custom_policy

from tests.harness import ServerProcess, Stubs, stubs

ALLOWED = tpb.DECISION_ALLOWED
EXPLICIT = tpb.DECISION_EXPLICIT_DENY
IMPLICIT = tpb.DECISION_IMPLICIT_DENY

WIDGET_ACTIONS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("Read", ["widget"], ["widgets:color"]),
    ("Write", ["widget"], []),
    ("Delete", ["widget"], []),
    ("List", [], []),
)


def policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def widget(name: str) -> str:
    return f"arn:aws:widgets:::{name}"


def define_widgets(s: Stubs) -> int:
    definition = tpb.ServiceDefinition(
        service_prefix="widgets",
        actions=[
            tpb.ServiceAction(name=n, resource_types=t, condition_keys=k)
            for n, t, k in WIDGET_ACTIONS
        ],
        resource_types=[
            tpb.ServiceResourceType(name="widget", arn_pattern="arn:${Partition}:widgets:::${Name}")
        ],
        condition_keys=[tpb.ServiceConditionKey(name="widgets:color", type="String")],
    )
    request = mpb.PutServiceDefinitionRequest(definition=definition)
    return int(s.management.PutServiceDefinition(request).revision)


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    s = stubs(server.endpoint, server.root)
    revision = define_widgets(s)
    # Make sure the service definition is applied before any test uses it.
    s.authorization.Authorize(pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=revision))
    try:
        yield s
    finally:
        s.close()


def user_arn(s: Stubs, name: str) -> str:
    return str(s.management.GetUser(mpb.GetUserRequest(user_name=name)).user.arn)


def authorize(s: Stubs, **fields: Any) -> pb.AuthorizeResponse:
    reply: pb.AuthorizeResponse = s.authorization.Authorize(pb.AuthorizeRequest(**fields))
    return reply


def test_root_and_self(root: Stubs) -> None:
    reply = authorize(root, action="widgets:List", explain=True)
    assert reply.decision == ALLOWED
    assert reply.principal_arn.endswith(":root")
    assert reply.explain.decided_by == tpb.POLICY_KIND_ROOT
    assert reply.explain.reason == "root"
    assert reply.explain.detail
    assert reply.revision > 0


def test_explain_fields(root: Stubs) -> None:
    m = root.management
    m.CreateUser(mpb.CreateUserRequest(user_name="explained"))
    arn = user_arn(root, "explained")
    document = policy(
        {"Sid": "ReadBlue", "Effect": "Allow", "Action": "widgets:Read", "Resource": "*",
         "Condition": {"StringEquals": {"widgets:color": "blue"}}},
        {"Sid": "Write", "Effect": "Allow", "Action": "widgets:Write", "Resource": "*"},
        {"Sid": "NoSecret", "Effect": "Deny", "Action": "widgets:*", "Resource": widget("secret")},
    )  # fmt: skip
    revision = m.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name="explained", policy_name="main", policy_document=document
        )
    ).revision

    allowed = authorize(
        root, principal_arn=arn, action="widgets:Write", resource_arn=widget("a"), explain=True,
        at_least_revision=revision,
    )  # fmt: skip
    assert allowed.decision == ALLOWED
    assert allowed.revision >= revision
    assert allowed.principal_arn == arn
    (matched,) = allowed.explain.matched_statements
    assert matched.source_policy_id == f"{arn}#main"
    assert matched.source_policy_type == "user"
    assert matched.statement_index == 1
    assert matched.sid == "Write"
    assert matched.policy_kind == tpb.POLICY_KIND_IDENTITY
    assert allowed.explain.decided_by == tpb.POLICY_KIND_IDENTITY
    assert allowed.explain.reason == "allowed"

    denied = authorize(
        root, principal_arn=arn, action="widgets:Write", resource_arn=widget("secret"),
        explain=True,
    )  # fmt: skip
    assert denied.decision == EXPLICIT
    assert [s.sid for s in denied.explain.matched_statements] == ["NoSecret"]
    assert denied.explain.reason == "explicit_deny"
    assert denied.explain.decided_by == tpb.POLICY_KIND_IDENTITY

    missing = authorize(
        root, principal_arn=arn, action="widgets:Read", resource_arn=widget("a"), explain=True
    )
    assert missing.decision == IMPLICIT
    assert list(missing.explain.missing_context_keys) == ["widgets:color"]
    assert missing.explain.reason == "no_allow"
    assert not missing.explain.matched_statements

    blue = authorize(
        root, principal_arn=arn, action="widgets:Read", resource_arn=widget("a"), explain=True,
        context=[tpb.ContextEntry(key="widgets:color", type=tpb.CONTEXT_KEY_TYPE_STRING,
                                  values=["blue"])],
    )  # fmt: skip
    assert blue.decision == ALLOWED
    assert not blue.explain.missing_context_keys

    # Without explain nothing is filled.
    plain = authorize(root, principal_arn=arn, action="widgets:Write", resource_arn=widget("a"))
    assert plain.decision == ALLOWED
    assert not plain.HasField("explain")

    not_applicable = authorize(
        root, principal_arn=arn, action="widgets:Write", resource_arn="arn:aws:s3:::x",
        explain=True,
    )  # fmt: skip
    assert not_applicable.decision == IMPLICIT
    assert not_applicable.explain.decided_by == tpb.POLICY_KIND_SERVICE_DEFINITION
    assert not_applicable.explain.reason == "not_applicable"


def test_boundary_and_resource_policy_explained(root: Stubs) -> None:
    m = root.management
    boundary = m.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name="only-read",
            policy_document=policy({"Effect": "Allow", "Action": "widgets:Read", "Resource": "*"}),
        )
    ).policy.arn
    m.CreateUser(mpb.CreateUserRequest(user_name="bounded", permissions_boundary=boundary))
    arn = user_arn(root, "bounded")
    revision = m.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name="bounded", policy_name="all",
            policy_document=policy({"Effect": "Allow", "Action": "widgets:*", "Resource": "*"}),
        )
    ).revision  # fmt: skip
    withheld = authorize(
        root, principal_arn=arn, action="widgets:Write", resource_arn=widget("b"), explain=True,
        at_least_revision=revision,
    )  # fmt: skip
    assert withheld.decision == IMPLICIT
    assert withheld.explain.decided_by == tpb.POLICY_KIND_PERMISSIONS_BOUNDARY
    assert withheld.explain.reason == "permissions_boundary"

    # A same-account resource policy naming the user directly is not limited by the boundary.
    revision = m.PutResourcePolicy(
        mpb.PutResourcePolicyRequest(
            resource_arn=widget("shared"),
            owner_account_id=arn.split(":")[4],
            policy_document=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Sid": "Grant", "Effect": "Allow", "Principal": {"AWS": arn},
                               "Action": "widgets:Delete", "Resource": widget("shared")}],
            }),
        )
    ).revision  # fmt: skip
    granted = authorize(
        root, principal_arn=arn, action="widgets:Delete", resource_arn=widget("shared"),
        resource_owner_account=arn.split(":")[4], explain=True, at_least_revision=revision,
    )  # fmt: skip
    assert granted.decision == ALLOWED
    assert granted.explain.decided_by == tpb.POLICY_KIND_RESOURCE
    kinds = {s.policy_kind for s in granted.explain.matched_statements}
    assert tpb.POLICY_KIND_RESOURCE in kinds
    resource_match = next(
        s for s in granted.explain.matched_statements if s.policy_kind == tpb.POLICY_KIND_RESOURCE
    )
    assert resource_match.source_policy_id == widget("shared")
    assert resource_match.source_policy_type == "resource"
    assert resource_match.sid == "Grant"


def test_unknown_principal_and_invalid_action(root: Stubs) -> None:
    account = authorize(root, action="widgets:List").principal_arn.split(":")[4]
    ghost = f"arn:aws:iam::{account}:user/ghost"
    reply = authorize(root, principal_arn=ghost, action="widgets:List", explain=True)
    assert reply.decision == IMPLICIT
    assert reply.explain.reason == "unknown_principal"
    assert "ghost" in reply.explain.detail
    with pytest.raises(grpc.RpcError) as error:
        authorize(root, principal_arn=ghost, action="widgets:Fly")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Creating the user is seen at once (the negative entry is dropped).
    revision = root.management.CreateUser(mpb.CreateUserRequest(user_name="ghost")).revision
    root.management.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name="ghost", policy_name="p",
            policy_document=policy({"Effect": "Allow", "Action": "widgets:List", "Resource": "*"}),
        )
    )  # fmt: skip
    reply = authorize(
        root, principal_arn=ghost, action="widgets:List", at_least_revision=revision + 1
    )
    assert reply.decision == ALLOWED


def test_batch_in_order_and_caller_permission(root: Stubs, server: ServerProcess) -> None:
    m = root.management
    m.CreateUser(mpb.CreateUserRequest(user_name="batcher"))
    m.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name="batcher", policy_name="p",
            policy_document=policy(
                {"Effect": "Allow", "Action": "widgets:Read", "Resource": widget("ok-*")},
                {"Effect": "Deny", "Action": "widgets:Read", "Resource": widget("ok-no")},
            ),
        )
    )  # fmt: skip
    created = m.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name="batcher"))
    key = created.access_key
    arn = user_arn(root, "batcher")
    names = ["ok-1", "nope", "ok-no", "ok-2"] * 50
    checks = [pb.AuthorizeCheck(action="widgets:Read", resource_arn=widget(n)) for n in names]
    reply = root.authorization.AuthorizeBatch(
        pb.AuthorizeBatchRequest(
            principal_arn=arn, checks=checks, at_least_revision=created.revision
        )
    )
    expected = {"ok-1": ALLOWED, "nope": IMPLICIT, "ok-no": EXPLICIT, "ok-2": ALLOWED}
    assert [r.decision for r in reply.results] == [expected[n] for n in names]
    assert all(r.principal_arn == arn for r in reply.results)

    explained = root.authorization.AuthorizeBatch(
        pb.AuthorizeBatchRequest(principal_arn=arn, checks=checks[:4], explain=True)
    )
    assert [r.explain.reason for r in explained.results] == [
        "allowed", "no_allow", "explicit_deny", "allowed",
    ]  # fmt: skip

    with pytest.raises(grpc.RpcError) as error:
        root.authorization.AuthorizeBatch(
            pb.AuthorizeBatchRequest(
                principal_arn=arn,
                checks=[*checks[:2], pb.AuthorizeCheck(action="widgets:Nope")],
            )
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # The user itself may ask about itself, but not about others (no iamd:Authorize).
    own = stubs(server.endpoint, SigningCredentials(key.access_key_id, key.secret_access_key))
    try:
        wait_for_key(own)
        mine = own.authorization.AuthorizeBatch(pb.AuthorizeBatchRequest(checks=checks[:4]))
        assert [r.decision for r in mine.results] == [ALLOWED, IMPLICIT, EXPLICIT, ALLOWED]
        with pytest.raises(grpc.RpcError) as error:
            own.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=arn.replace("batcher", "explained"),
                                    action="widgets:Read", resource_arn=widget("ok-1"))
            )  # fmt: skip
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        own.close()


def wait_for_key(s: Stubs) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            s.authorization.Authorize(pb.AuthorizeRequest(action="widgets:List"))
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_simulate_custom_policy_matches_the_cli_function(root: Stubs) -> None:
    documents = [
        policy({"Sid": "A", "Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}),
        policy({"Sid": "D", "Effect": "Deny", "Action": "iam:GetUser",
                "Resource": "arn:aws:iam::111122223333:user/secret"}),
    ]  # fmt: skip
    actions = ["iam:GetUser", "iam:DeleteUser"]
    resources = ["arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:user/secret"]
    reply = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            policy_input_list=documents, action_names=actions, resource_arns=resources
        )
    )
    local = simulate_custom_policy(
        SimulationInput.from_request(
            {"PolicyInputList": documents, "ActionNames": actions, "ResourceArns": resources}
        )
    )
    assert len(reply.evaluation_results) == len(local) == 4
    names = {ALLOWED: "allowed", EXPLICIT: "explicitDeny", IMPLICIT: "implicitDeny"}
    for remote, item in zip(reply.evaluation_results, local, strict=True):
        expected = result_to_json(item)
        assert remote.eval_action_name == expected["EvalActionName"]
        assert remote.eval_resource_name == expected["EvalResourceName"]
        assert names[remote.eval_decision] == expected["EvalDecision"]
        assert [(s.source_policy_id, s.statement_index) for s in remote.matched_statements] == [
            (s["SourcePolicyId"], s["StatementIndex"]) for s in expected["MatchedStatements"]
        ]
    page = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            policy_input_list=documents, action_names=actions, resource_arns=resources, max_items=3
        )
    )
    assert page.is_truncated and len(page.evaluation_results) == 3
    rest = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            policy_input_list=documents, action_names=actions, resource_arns=resources,
            max_items=3, marker=page.marker,
        )
    )  # fmt: skip
    assert not rest.is_truncated and len(rest.evaluation_results) == 1


def test_simulate_principal_policy(root: Stubs) -> None:
    arn = user_arn(root, "explained")
    reply = root.authorization.SimulatePrincipalPolicy(
        pb.SimulatePrincipalPolicyRequest(
            policy_source_arn=arn,
            action_names=["widgets:Write", "widgets:Delete"],
            resource_arns=[widget("a")],
            policy_input_list=[
                policy({"Sid": "Extra", "Effect": "Allow", "Action": "widgets:Delete",
                        "Resource": "*"})
            ],
        )
    )  # fmt: skip
    decisions = [r.eval_decision for r in reply.evaluation_results]
    assert decisions == [ALLOWED, ALLOWED]
    assert reply.evaluation_results[1].matched_statements[0].source_policy_id == (
        "PolicyInputList.1"
    )
    assert reply.revision > 0


def test_remembered_decisions_follow_resource_policy_changes(root: Stubs) -> None:
    """Repeated context-free checks are answered from memory; a change to the resource's
    policy must still show in the very next answer after its revision, single and batch."""
    m = root.management
    m.CreateUser(mpb.CreateUserRequest(user_name="memo-user"))
    arn = user_arn(root, "memo-user")
    account = arn.split(":")[4]
    target = widget("memo-target")

    def grant(effect: str) -> int:
        return int(
            m.PutResourcePolicy(
                mpb.PutResourcePolicyRequest(
                    resource_arn=target,
                    owner_account_id=account,
                    policy_document=json.dumps({
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": effect, "Principal": {"AWS": arn},
                                       "Action": "widgets:Read", "Resource": target}],
                    }),
                )
            ).revision
        )  # fmt: skip

    def single(revision: int) -> int:
        return int(
            authorize(
                root, principal_arn=arn, action="widgets:Read", resource_arn=target,
                resource_owner_account=account, at_least_revision=revision,
            ).decision
        )  # fmt: skip

    def batch(revision: int) -> list[int]:
        reply = root.authorization.AuthorizeBatch(
            pb.AuthorizeBatchRequest(
                principal_arn=arn,
                at_least_revision=revision,
                checks=[
                    pb.AuthorizeCheck(
                        action="widgets:Read", resource_arn=target, resource_owner_account=account
                    )
                ]
                * 3,
            )
        )
        return [int(r.decision) for r in reply.results]

    revision = grant("Allow")
    for _ in range(3):  # the second and third answers come from memory
        assert single(revision) == ALLOWED
        assert batch(revision) == [ALLOWED] * 3
    revision = grant("Deny")
    assert single(revision) == EXPLICIT
    assert batch(revision) == [EXPLICIT] * 3
    revision = int(
        m.DeleteResourcePolicy(mpb.DeleteResourcePolicyRequest(resource_arn=target)).revision
    )
    assert single(revision) == IMPLICIT
    assert batch(revision) == [IMPLICIT] * 3


def test_simulate_principal_policy_with_a_group_source(root: Stubs) -> None:
    m = root.management
    m.CreateGroup(mpb.CreateGroupRequest(group_name="simulated", path="/teams/"))
    m.PutGroupPolicy(
        mpb.PutGroupPolicyRequest(
            group_name="simulated", policy_name="read",
            policy_document=policy({"Sid": "GroupRead", "Effect": "Allow",
                                    "Action": "widgets:Read", "Resource": "*"}),
        )
    )  # fmt: skip
    group = m.GetGroup(mpb.GetGroupRequest(group_name="simulated")).group.arn
    assert ":group/teams/simulated" in group
    reply = root.authorization.SimulatePrincipalPolicy(
        pb.SimulatePrincipalPolicyRequest(
            policy_source_arn=group,
            action_names=["widgets:Read", "widgets:Write"],
            resource_arns=[widget("g")],
        )
    )
    assert [r.eval_decision for r in reply.evaluation_results] == [ALLOWED, IMPLICIT]
    assert reply.evaluation_results[0].matched_statements[0].sid == "GroupRead"
    # A resource policy is matched against a member; without one it cannot be simulated.
    error = None
    try:
        root.authorization.SimulatePrincipalPolicy(
            pb.SimulatePrincipalPolicyRequest(
                policy_source_arn=group,
                action_names=["widgets:Read"],
                resource_arns=[widget("g")],
                resource_policy=policy({"Effect": "Deny", "Principal": "*",
                                        "Action": "widgets:Read", "Resource": "*"}),
            )
        )  # fmt: skip
    except grpc.RpcError as exc:
        error = exc
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("iamd-error-field", "caller_arn") in tuple(error.trailing_metadata() or ())
    with pytest.raises(grpc.RpcError) as missing:
        root.authorization.SimulatePrincipalPolicy(
            pb.SimulatePrincipalPolicyRequest(
                policy_source_arn=group.replace("simulated", "no-such-group"),
                action_names=["widgets:Read"],
            )
        )
    assert isinstance(missing.value, grpc.Call)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_cold_batch_loads_what_it_misses_and_decides_every_check(
    root: Stubs, server: ServerProcess
) -> None:
    """Principals and a resource policy nobody asked about yet, in one batch: each is loaded
    once (grants checked), then every check is decided in order; an unknown principal is
    denied implicitly; a principal the caller may not ask about refuses the whole batch."""
    m = root.management
    for name in ("cold-a", "cold-b"):
        m.CreateUser(mpb.CreateUserRequest(user_name=name))
    m.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name="cold-a", policy_name="p",
            policy_document=policy(
                {"Effect": "Allow", "Action": "widgets:Read", "Resource": widget("cold-*")}
            ),
        )
    )  # fmt: skip
    a, b = user_arn(root, "cold-a"), user_arn(root, "cold-b")
    account = a.split(":")[4]
    shared = widget("cold-shared")
    revision = m.PutResourcePolicy(
        mpb.PutResourcePolicyRequest(
            resource_arn=shared,
            owner_account_id=account,
            policy_document=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": b},
                               "Action": "widgets:Read", "Resource": shared}],
            }),
        )
    ).revision  # fmt: skip
    gone = a.replace("cold-a", "cold-nobody")
    asked = [
        (a, widget("cold-1"), ALLOWED),
        (b, widget("cold-1"), IMPLICIT),
        (b, shared, ALLOWED),
        (gone, shared, IMPLICIT),
        (a, widget("warm-1"), IMPLICIT),
        (a, shared, ALLOWED),
    ]
    checks = [
        pb.AuthorizeCheck(
            principal_arn=principal, action="widgets:Read", resource_arn=resource,
            resource_owner_account=account,
        )
        for principal, resource, _ in asked
    ]  # fmt: skip
    for _ in range(2):  # cold, then from memory
        reply = root.authorization.AuthorizeBatch(
            pb.AuthorizeBatchRequest(checks=checks, at_least_revision=revision)
        )
        assert [(r.principal_arn, r.decision) for r in reply.results] == [
            (principal, decision) for principal, _, decision in asked
        ]

    created = m.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name="cold-b"))
    key = created.access_key
    own = stubs(server.endpoint, SigningCredentials(key.access_key_id, key.secret_access_key))
    try:
        wait_for_key(own)
        with pytest.raises(grpc.RpcError) as error:
            own.authorization.AuthorizeBatch(pb.AuthorizeBatchRequest(checks=checks))
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert a in (error.value.details() or "")
    finally:
        own.close()
