"""Resource-policy grants over real channels and PostgreSQL: `*` grants and boundaries,
anonymous callers, SCPs, and user/role principals resolved to unique ids, in stored
decisions (Authorize) and in the simulators alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb

from tests.api.management_support import credentials_of, eventually, expect_error, unique
from tests.harness import ServerProcess, Stubs, stubs

ALLOWED = tpb.DECISION_ALLOWED
EXPLICIT = tpb.DECISION_EXPLICIT_DENY
IMPLICIT = tpb.DECISION_IMPLICIT_DENY


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def gadget(name: str) -> str:
    return f"arn:aws:gadgets:::{name}"


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    s = stubs(server.endpoint, server.root)
    definition = tpb.ServiceDefinition(
        service_prefix="gadgets",
        actions=[tpb.ServiceAction(name=n, resource_types=["gadget"]) for n in ("Read", "Write")],
        resource_types=[
            tpb.ServiceResourceType(name="gadget", arn_pattern="arn:${Partition}:gadgets:::${Name}")
        ],
    )
    revision = s.management.PutServiceDefinition(
        mpb.PutServiceDefinitionRequest(definition=definition)
    ).revision
    # The registry is reloaded just after the revision is applied: wait for the definition.
    eventually(
        lambda: s.authorization.Authorize(
            pb.AuthorizeRequest(action="gadgets:Read", at_least_revision=revision)
        )
    )
    try:
        yield s
    finally:
        s.close()


def account_of(s: Stubs) -> str:
    reply = s.management.DescribeAccount(mpb.DescribeAccountRequest())
    return str(reply.account.account_id)


def put_resource_policy(s: Stubs, resource: str, document: str) -> int:
    reply = s.management.PutResourcePolicy(
        mpb.PutResourcePolicyRequest(
            resource_arn=resource, owner_account_id=account_of(s), policy_document=document
        )
    )
    return int(reply.revision)


def authorize(s: Stubs, principal: str, action: str, resource: str, revision: int) -> Any:
    return s.authorization.Authorize(
        pb.AuthorizeRequest(
            principal_arn=principal, action=action, resource_arn=resource,
            resource_owner_account=account_of(s), explain=True, at_least_revision=revision,
        )
    )  # fmt: skip


# --- `*` narrowed by aws:PrincipalArn is not limited by the caller's boundary ------------


def test_star_grant_passes_the_callers_boundary(root: Stubs) -> None:
    m = root.management
    boundary = m.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name=unique("only-read"),
            policy_document=policy({"Effect": "Allow", "Action": "gadgets:Read", "Resource": "*"}),
        )
    ).policy.arn
    name = unique("bounded")
    user = m.CreateUser(mpb.CreateUserRequest(user_name=name, permissions_boundary=boundary)).user
    other = m.CreateUser(mpb.CreateUserRequest(user_name=unique("other"))).user
    thing = gadget(unique("thing"))
    revision = put_resource_policy(
        root, thing,
        policy({"Sid": "Star", "Effect": "Allow", "Principal": "*", "Action": "gadgets:Write",
                "Resource": thing,
                "Condition": {"ArnEquals": {"aws:PrincipalArn": user.arn}}}),
    )  # fmt: skip
    granted = authorize(root, user.arn, "gadgets:Write", thing, revision)
    assert granted.decision == ALLOWED
    assert granted.explain.decided_by == tpb.POLICY_KIND_RESOURCE
    assert "narrowed by aws:PrincipalArn" in granted.explain.detail
    # The condition is what limits the grant: another principal of the account gets nothing.
    assert authorize(root, other.arn, "gadgets:Write", thing, revision).decision == IMPLICIT


# --- anonymous callers match only `*` --------------------------------------------------------


def test_anonymous_does_not_match_service_or_federated_principals(root: Stubs) -> None:
    thing = gadget(unique("public"))
    revision = put_resource_policy(
        root, thing,
        policy({"Effect": "Allow", "Principal": {"Service": "anonymous"},
                "Action": "gadgets:Read", "Resource": thing},
               {"Effect": "Allow", "Principal": {"Federated": "anonymous"},
                "Action": "gadgets:Read", "Resource": thing}),
    )  # fmt: skip
    denied = authorize(root, "anonymous", "gadgets:Read", thing, revision)
    assert denied.decision == IMPLICIT
    revision = put_resource_policy(
        root, thing,
        policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "gadgets:Read",
                "Resource": thing}),
    )  # fmt: skip
    assert authorize(root, "anonymous", "gadgets:Read", thing, revision).decision == ALLOWED


def test_asking_about_anonymous_needs_authorize_on_star(root: Stubs, server: ServerProcess) -> None:
    m = root.management
    name = unique("enforcer")
    m.CreateUser(mpb.CreateUserRequest(user_name=name))
    key = m.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name=name)).access_key
    enforcer = stubs(server.endpoint, credentials_of(key))
    request = pb.AuthorizeRequest(principal_arn="anonymous", action="gadgets:Read")
    try:
        expect_error(
            lambda: enforcer.authorization.Authorize(request), grpc.StatusCode.PERMISSION_DENIED
        )
        revision = m.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name=name, policy_name="ask",
                policy_document=policy({"Effect": "Allow", "Action": "iamd:Authorize",
                                        "Resource": "*"}),
            )
        ).revision  # fmt: skip
        request.at_least_revision = revision
        assert enforcer.authorization.Authorize(request).decision == IMPLICIT
    finally:
        enforcer.close()


# --- SCPs do not restrict callers outside every account ------------------------------------


def test_simulated_scp_does_not_deny_anonymous(root: Stubs) -> None:
    thing = gadget("anything")
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "gadgets:Read",
                     "Resource": "*"})  # fmt: skip
    deny_all = policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
    rcp = policy({"Effect": "Deny", "Principal": "*", "Action": "gadgets:*", "Resource": "*"})
    reply = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            action_names=["gadgets:Read"], resource_arns=[thing], resource_policy=public,
            caller_arn="anonymous", service_control_policy_input_list=[deny_all],
        )
    )  # fmt: skip
    (result,) = reply.evaluation_results
    assert result.eval_decision == ALLOWED
    assert not result.HasField("allowed_by_organizations")
    reply = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            action_names=["gadgets:Read"], resource_arns=[thing], resource_policy=public,
            caller_arn="anonymous", resource_control_policy_input_list=[rcp],
        )
    )  # fmt: skip
    assert reply.evaluation_results[0].eval_decision == EXPLICIT


# --- role and user principals: case-insensitive names, resolved to unique ids -------------


def trust(principal: str) -> str:
    return policy({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"})


def test_principal_named_in_another_case_resolves_to_the_role(root: Stubs) -> None:
    m = root.management
    account = account_of(root)
    admin_name = unique("Super-Admin")
    written = f"arn:aws:iam::{account}:role/team/{admin_name}"
    admin = m.CreateRole(
        mpb.CreateRoleRequest(
            role_name=admin_name.lower(), path="/team/",
            assume_role_policy_document=trust(f"arn:aws:iam::{account}:root"),
        )
    ).role  # fmt: skip
    assert admin.arn != written
    # Saving resolves the principal to the role `super-admin-…` (names are unique
    # case-insensitively) and shows it by its ARN.
    target = m.CreateRole(
        mpb.CreateRoleRequest(
            role_name=unique("target"), assume_role_policy_document=trust(written)
        )
    ).role
    assert admin.arn in target.assume_role_policy_document
    session = f"arn:aws:sts::{account}:assumed-role/{admin.role_name}/s1"

    stored = authorize(root, session, "sts:AssumeRole", target.arn, 0)
    assert stored.decision == ALLOWED
    assert f"resolved to unique id {admin.role_id}" in stored.explain.detail

    # The simulators resolve the same written ARN to the same id and agree.
    custom = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            action_names=["sts:AssumeRole"], resource_arns=[target.arn],
            resource_policy=trust(written), caller_arn=session,
        )
    ).evaluation_results[0]  # fmt: skip
    assert custom.eval_decision == ALLOWED
    assert f'"{written}" resolved to unique id {admin.role_id}' in custom.detail
    principal = root.authorization.SimulatePrincipalPolicy(
        pb.SimulatePrincipalPolicyRequest(
            policy_source_arn=admin.arn, action_names=["sts:AssumeRole"],
            resource_arns=[target.arn], resource_policy=trust(written),
        )
    ).evaluation_results[0]  # fmt: skip
    assert principal.eval_decision == ALLOWED
    assert f"resolved to unique id {admin.role_id}" in principal.detail

    # Attack: delete the role and create another of the same name. The stored grant belonged
    # to the old role (its id), so the new role's sessions must not inherit it.
    m.DeleteRole(mpb.DeleteRoleRequest(role_name=admin.role_name))
    again = m.CreateRole(
        mpb.CreateRoleRequest(
            role_name=admin.role_name, path="/team/",
            assume_role_policy_document=trust(f"arn:aws:iam::{account}:root"),
        )
    )  # fmt: skip
    assert again.role.role_id != admin.role_id
    after = authorize(root, session, "sts:AssumeRole", target.arn, int(again.revision))
    assert after.decision == IMPLICIT
    shown = m.GetRole(mpb.GetRoleRequest(role_name=target.role_name)).role
    assert admin.role_id in shown.assume_role_policy_document  # the grant's raw, dead id
    # Simulating the stored document as shown agrees with the stored decision.
    replay = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            action_names=["sts:AssumeRole"], resource_arns=[target.arn],
            resource_policy=shown.assume_role_policy_document, caller_arn=session,
        )
    ).evaluation_results[0]  # fmt: skip
    assert replay.eval_decision == IMPLICIT


def test_user_principal_in_another_case(root: Stubs) -> None:
    m = root.management
    account = account_of(root)
    name = unique("Bob")
    user = m.CreateUser(mpb.CreateUserRequest(user_name=name.lower(), path="/dev/")).user
    written = f"arn:aws:iam::{account}:user/dev/{name}"
    thing = gadget(unique("bobs"))
    document = policy(
        {"Effect": "Allow", "Principal": {"AWS": written}, "Action": "gadgets:Read",
         "Resource": thing}
    )  # fmt: skip
    revision = put_resource_policy(root, thing, document)
    stored = authorize(root, user.arn, "gadgets:Read", thing, revision)
    assert stored.decision == ALLOWED
    assert f"resolved to unique id {user.user_id}" in stored.explain.detail
    custom = root.authorization.SimulateCustomPolicy(
        pb.SimulateCustomPolicyRequest(
            action_names=["gadgets:Read"], resource_arns=[thing], resource_policy=document,
            caller_arn=user.arn,
        )
    ).evaluation_results[0]  # fmt: skip
    assert custom.eval_decision == ALLOWED
    assert f"resolved to unique id {user.user_id}" in custom.detail
    # The path is part of the name: another path names no entity and is refused on save.
    wrong_path = written.replace("/dev/", "/ops/")
    expect_error(
        lambda: put_resource_policy(root, thing, document.replace(written, wrong_path)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
