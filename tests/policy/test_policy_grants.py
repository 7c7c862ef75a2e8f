"""Resource-policy grants where iamd had departed from AWS's documentation: `*` grants and
boundaries / session policies (6.5), anonymous callers and non-AWS principals, SCPs and
callers outside every account, and user/role principals named with another letter case or
resolved to unique ids (2.3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from iamd_policy import (
    DecidedBy,
    Decision,
    PolicyKind,
    Principal,
    PrincipalKind,
    bind_principal_ids,
    compile_policy,
)

from tests.policy.policy_helpers import (
    ACCT,
    OTHER,
    OTHER_USER,
    ROLE,
    SESSION,
    USER,
    allow,
    decide,
    decision,
    deny,
    doc,
)

S3 = doc(allow("s3:*"))
EC2 = doc(allow("ec2:*"))
SERVICE = "svc.example.com"


def grant(principal: object, **extra: object) -> dict[str, object]:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject"}
    return {**statement, "Resource": "*", **extra}


def narrowed(arn: str) -> str:
    """`*` narrowed by aws:PrincipalArn, AWS's documented example."""
    return doc(grant("*", Condition={"ArnEquals": {"aws:PrincipalArn": arn}}))


# --- item 3: `*` grants in the same account ---------------------------------------------


def test_star_narrowed_by_principal_arn_is_not_limited_by_boundary_or_session() -> None:
    user = decide([], boundary=[EC2], resource_policy=narrowed(USER), context={
        "aws:PrincipalArn": USER})  # fmt: skip
    assert user.decision is Decision.ALLOWED
    assert user.decided_by is DecidedBy.RESOURCE
    assert user.allowed_by_permissions_boundary is False  # the boundary's own verdict
    assert "narrowed by aws:PrincipalArn" in user.reason
    assert 'principal "*"' in user.reason and "rp" in user.reason
    session = decide(
        [], caller=SESSION, boundary=[EC2], session=[EC2], resource_policy=narrowed(ROLE),
        context={"aws:PrincipalArn": ROLE},
    )  # fmt: skip
    assert session.decision is Decision.ALLOWED
    assert session.decided_by is DecidedBy.RESOURCE
    # The condition still narrows: another principal ARN gets nothing from the grant.
    assert decision([], boundary=[EC2], resource_policy=narrowed(ROLE), context={
        "aws:PrincipalArn": USER}) == "implicitDeny"  # fmt: skip


def test_bare_star_is_decided_the_same_way_and_says_why() -> None:
    bare = doc(grant("*"))
    result = decide([], caller=SESSION, boundary=[EC2], session=[EC2], resource_policy=bare)
    assert result.decision is Decision.ALLOWED
    assert result.decided_by is DecidedBy.RESOURCE
    assert 'bare "*"' in result.reason and "6.5" in result.reason
    assert decision([], boundary=[EC2], resource_policy=doc(grant({"AWS": "*"}))) == "allowed"
    # The fast path decides the same (and is shared, so carries no per-request text).
    assert decide([], boundary=[EC2], resource_policy=bare, explain=False).allowed


def test_star_grants_keep_every_other_limit() -> None:
    bare = doc(grant("*"))
    # Across accounts the caller's own side must allow, boundary included (6.4).
    assert decision([S3], caller=OTHER_USER, boundary=[EC2], resource_policy=bare) == (
        "implicitDeny"
    )
    # An explicit Deny in the boundary or session policy still wins.
    assert decision([], boundary=[doc(allow(), deny("s3:*"))], resource_policy=bare) == (
        "explicitDeny"
    )
    assert decision([], caller=SESSION, session=[doc(deny("s3:*"))], resource_policy=bare) == (
        "explicitDeny"
    )
    # SCPs restrict the account's principals whatever the resource policy says.
    scp = decide([], scps=[[EC2]], resource_policy=bare)
    assert scp.decision is Decision.IMPLICIT_DENY and scp.decided_by is DecidedBy.SERVICE_CONTROL
    # A role grant is still limited by both (6.5 ROLE row).
    role = doc(grant({"AWS": ROLE}))
    assert decision([], caller=SESSION, boundary=[EC2], resource_policy=role) == "implicitDeny"
    assert decision([], caller=SESSION, session=[EC2], resource_policy=role) == "implicitDeny"


# --- item 4: anonymous callers match only `*` ---------------------------------------------


def test_anonymous_matches_only_star() -> None:
    for principal in ({"Service": "anonymous"}, {"Federated": "anonymous"}):
        policy = doc(grant(principal))
        assert decision([], caller="anonymous", resource_policy=policy) == "implicitDeny"
    everyone: list[object] = ["*", {"AWS": "*"}, {"AWS": ["*"]}]
    for star in everyone:
        assert decision([], caller="anonymous", resource_policy=doc(grant(star))) == "allowed"
    # Nor does a Deny naming those principals apply to an anonymous caller.
    both = doc(grant("*"), deny("s3:*", Principal={"Service": "anonymous"}))
    assert decision([], caller="anonymous", resource_policy=both) == "allowed"


def test_services_and_identity_providers_are_told_apart() -> None:
    provider = f"arn:aws:iam::{ACCT}:oidc-provider/idp.example.com"
    as_service = Principal(arn=SERVICE, account=None, kind=PrincipalKind.SERVICE)
    as_provider = Principal(arn=provider, account=None, kind=PrincipalKind.SERVICE)
    assert decision([], caller=as_service, resource_policy=doc(grant({"Service": SERVICE}))) == (
        "allowed"
    )
    assert decision([], caller=as_service, resource_policy=doc(grant({"Federated": SERVICE}))) == (
        "implicitDeny"
    )
    federated = doc(grant({"Federated": provider}))
    assert decision([], caller=as_provider, resource_policy=federated) == "allowed"


# --- item 5: SCPs do not apply to callers outside every account -------------------------


def test_scps_do_not_restrict_anonymous_or_service_callers() -> None:
    public = doc(grant("*"))
    deny_all = [doc(deny("*"))]
    for caller in ("anonymous", SERVICE):
        result = decide([], caller=caller, scps=[deny_all], resource_policy=public)
        assert result.decision is Decision.ALLOWED, caller
        assert result.allowed_by_organizations is None  # no SCP applied
        assert decision([], caller=caller, scps=[[EC2]], resource_policy=public) == "allowed"
        # RCPs restrict the resource, whoever calls.
        rcp = [doc(deny("s3:*", Principal="*"))]
        denied = decide([], caller=caller, rcps=[rcp], resource_policy=public)
        assert denied.decision is Decision.EXPLICIT_DENY
        assert denied.decided_by is DecidedBy.RESOURCE_CONTROL
    # The account's own principals stay restricted.
    assert decision([], scps=[deny_all], resource_policy=public) == "explicitDeny"


# --- item 6: user and role names are case-insensitive; ids decide when resolved ---------

TEAM_ROLE = f"arn:aws:iam::{ACCT}:role/team/super-admin"
TEAM_SESSION = f"arn:aws:sts::{ACCT}:assumed-role/super-admin/s1"
NAMED = f"arn:aws:iam::{ACCT}:role/team/Super-Admin"


def session_of(role_arn: str | None, unique_id: str | None = None) -> Principal:
    return Principal(
        arn=TEAM_SESSION,
        account=ACCT,
        kind=PrincipalKind.ROLE_SESSION,
        role_arn=role_arn,
        unique_id=unique_id,
    )


def test_role_and_user_names_match_case_insensitively() -> None:
    policy = doc(grant({"AWS": NAMED}))
    # The session ARN alone (no path), the role ARN with its path, and iamd simulate's
    # parse of the session ARN all name the same role.
    for caller in (session_of(None), session_of(TEAM_ROLE), TEAM_SESSION):
        assert decision([], caller=caller, resource_policy=policy) == "allowed", caller
    # The path is part of the ARN and is compared exactly.
    other_path = doc(grant({"AWS": f"arn:aws:iam::{ACCT}:role/ops/Super-Admin"}))
    assert decision([], caller=session_of(TEAM_ROLE), resource_policy=other_path) == (
        "implicitDeny"
    )
    # A session ARN names one session and compares exactly (iam-semantics 3.3).
    upper = doc(grant({"AWS": TEAM_SESSION.replace("super-admin", "Super-Admin")}))
    assert decision([], caller=TEAM_SESSION, resource_policy=upper) == "implicitDeny"
    user = doc(grant({"AWS": USER.replace("alice", "Alice")}))
    assert decision([], resource_policy=user) == "allowed"
    assert decision([], caller=USER.replace("alice", "alice2"), resource_policy=user) == (
        "implicitDeny"
    )


def bound(document: str, ids: dict[str, str]) -> Any:
    policy = compile_policy(document, PolicyKind.RESOURCE, policy_id="rp", source_type="resource")
    return bind_principal_ids(policy, ids)


def test_resolved_principals_match_by_unique_id_and_explain_it() -> None:
    role_id = "AROAEXAMPLEROLE00001"
    policy = bound(doc(grant({"AWS": NAMED})), {NAMED: role_id})
    result = decide([], caller=session_of(TEAM_ROLE, role_id), extra_resource=[policy])
    assert result.decision is Decision.ALLOWED
    assert f'principal "{NAMED}" resolved to unique id {role_id}' in result.reason
    # A role re-created with the same name has a new id: the grant does not follow the name.
    recreated = session_of(TEAM_ROLE, "AROAEXAMPLEROLE00002")
    assert decision([], caller=recreated, extra_resource=[policy]) == "implicitDeny"
    # A principal given as the unique id itself matches that entity only.
    by_id = doc(grant({"AWS": role_id}))
    found = decide([], caller=session_of(TEAM_ROLE, role_id), resource_policy=by_id)
    assert found.allowed and f"principal {role_id} (a unique id)" in found.reason
    user_id = "AIDAEXAMPLEUSER00001"
    alice = Principal(arn=USER, account=ACCT, kind=PrincipalKind.USER, unique_id=user_id)
    users = bound(doc(grant({"AWS": USER})), {USER: user_id})
    assert decision([], caller=alice, extra_resource=[users]) == "allowed"
    impostor = Principal(arn=USER, account=ACCT, kind=PrincipalKind.USER, unique_id="AIDAOTHER0")
    assert decision([], caller=impostor, extra_resource=[users]) == "implicitDeny"


def test_resolved_not_principal_deny_follows_the_id() -> None:
    role_id = "AROAEXAMPLEROLE00001"
    document = doc(grant("*"), deny("s3:*", NotPrincipal={"AWS": [NAMED, f"{ACCT}"]}))
    policy = bound(document, {NAMED: role_id})
    assert decision([], caller=session_of(TEAM_ROLE, role_id), extra_resource=[policy]) == (
        "allowed"
    )
    recreated = session_of(TEAM_ROLE, "AROAEXAMPLEROLE00002")
    policy = bound(doc(grant("*"), deny("s3:*", NotPrincipal={"AWS": NAMED})), {NAMED: role_id})
    assert decision([], caller=recreated, extra_resource=[policy]) == "explicitDeny"


def test_cross_account_allow_names_the_grant() -> None:
    result = decide([S3], caller=OTHER_USER, resource_policy=doc(grant({"AWS": OTHER})))
    assert result.allowed and f"principal account {OTHER}" in result.reason


# --- the same cases through `iamd simulate` ------------------------------------------------


def request(case_id: str, caller: str, resource_policy: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": case_id,
        "PolicyInputList": [],
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": ["arn:aws:s3:::bucket/key"],
        "ResourcePolicy": resource_policy,
        "ResourceOwner": f"arn:aws:iam::{ACCT}:root",
        "CallerArn": caller,
        **extra,
    }


def principal_arn(arn: str) -> list[dict[str, Any]]:
    return [{"ContextKeyName": "aws:PrincipalArn", "ContextKeyType": "string",
             "ContextKeyValues": [arn]}]  # fmt: skip


CASES: list[tuple[dict[str, Any], str]] = [
    (request("narrowed-star-boundary", USER, narrowed(USER),
             PermissionsBoundaryPolicyInputList=[EC2], ContextEntries=principal_arn(USER)),
     "allowed"),
    (request("narrowed-star-session", SESSION, narrowed(ROLE), SessionPolicyInputList=[EC2],
             PermissionsBoundaryPolicyInputList=[EC2], ContextEntries=principal_arn(ROLE)),
     "allowed"),
    (request("bare-star-session", SESSION, doc(grant("*")), SessionPolicyInputList=[EC2]),
     "allowed"),
    (request("star-cross-account-boundary", OTHER_USER, doc(grant("*")),
             PolicyInputList=[S3], PermissionsBoundaryPolicyInputList=[EC2]),
     "implicitDeny"),
    (request("anonymous-service", "anonymous", doc(grant({"Service": "anonymous"}))),
     "implicitDeny"),
    (request("anonymous-federated", "anonymous", doc(grant({"Federated": "anonymous"}))),
     "implicitDeny"),
    (request("anonymous-star", "anonymous", doc(grant({"AWS": "*"}))), "allowed"),
    (request("anonymous-scp", "anonymous", doc(grant("*")),
             ServiceControlPolicyInputList=[doc(deny("*"))]),
     "allowed"),
    (request("anonymous-rcp", "anonymous", doc(grant("*")),
             ResourceControlPolicyInputList=[doc(deny("s3:*", Principal="*"))]),
     "explicitDeny"),
    (request("user-scp", USER, doc(grant("*")), ServiceControlPolicyInputList=[doc(deny("*"))]),
     "explicitDeny"),
    (request("role-name-case", TEAM_SESSION, doc(grant({"AWS": NAMED}))), "allowed"),
    (request("user-name-case", USER, doc(grant({"AWS": USER.replace("alice", "ALICE")}))),
     "allowed"),
]  # fmt: skip


def test_cases_through_iamd_simulate() -> None:
    iamd = Path(sys.executable).with_name("iamd")
    lines = "".join(json.dumps(case) + "\n" for case, _ in CASES)
    proc = subprocess.run(
        [str(iamd), "simulate", "--format", "json"],
        input=lines, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = {o["id"]: o for o in map(json.loads, proc.stdout.splitlines())}
    got = {k: o["EvaluationResults"][0]["EvalDecision"] for k, o in outputs.items()}
    assert got == {case["id"]: expected for case, expected in CASES}
    bare = outputs["bare-star-session"]["EvaluationResults"][0]
    assert bare["DecidedBy"] == "RESOURCE" and 'bare "*"' in bare["Reason"]
