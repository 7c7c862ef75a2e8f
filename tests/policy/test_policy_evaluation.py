"""Decision logic: iam-semantics section 6 and the engine-related edge cases of section 10."""

from __future__ import annotations

import pytest
from iamd_policy import (
    Context,
    DecidedBy,
    Decision,
    PolicyKind,
    Principal,
    PrincipalKind,
    acl_grants_to_policy,
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

OBJ = "arn:aws:s3:::bucket/key"
S3_ALL = doc(allow("s3:*", "*"))


def rp(*statements: dict[str, object]) -> str:
    return doc(*statements)


def grant(principal: object, action: object = "s3:GetObject", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


# --- section 10 edge cases -----------------------------------------------------------------


def test_notaction_allow() -> None:  # 1, 2
    policy = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decision([policy], action="s3:GetObject") == "allowed"
    assert (
        decision([policy], action="iam:CreateUser", resource=f"arn:aws:iam::{ACCT}:user/x")
        == "implicitDeny"
    )


def test_deny_notresource() -> None:  # 3, 4
    policy = doc(
        allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::pub/*"}
    )
    assert decision([policy], resource="arn:aws:s3:::priv/x") == "explicitDeny"
    assert decision([policy], resource="arn:aws:s3:::pub/x") == "allowed"


def test_tag_condition_traps() -> None:  # 5-10
    for_all = doc(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))
    assert decision([for_all]) == "allowed"
    tags_ac = Context.from_entries([("aws:TagKeys", "stringList", ["a", "c"])])
    assert decision([for_all], context=tags_ac) == "implicitDeny"
    for_any = doc(allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}))
    assert decision([for_any]) == "implicitDeny"
    deny_team = doc(allow(), deny(Condition={"StringNotEquals": {"aws:PrincipalTag/team": "x"}}))
    assert decision([deny_team]) == "explicitDeny"
    allow_team = doc(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "x"}}))
    assert decision([allow_team]) == "implicitDeny"
    if_exists = doc(allow(Condition={"StringEqualsIfExists": {"aws:PrincipalTag/team": "x"}}))
    assert decision([if_exists]) == "allowed"


def test_mfa_traps() -> None:  # 11, 12
    plain = doc(allow(), deny(Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}))
    assert decision([plain]) == "allowed"
    if_exists = doc(
        allow(), deny(Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": False}})
    )
    assert decision([if_exists]) == "explicitDeny"


def test_null_token_issue_time() -> None:  # 13
    policy = doc(allow(Condition={"Null": {"aws:TokenIssueTime": "true"}}))
    assert decision([policy]) == "allowed"
    session_ctx = Context.from_entries([("aws:TokenIssueTime", "date", ["2024-01-01T00:00:00Z"])])
    assert decision([policy], caller=SESSION, context=session_ctx) == "implicitDeny"


def test_condition_and_across_keys() -> None:  # 15
    policy = doc(allow(Condition={"StringEquals": {"k:a": "1", "k:b": "2"}}))
    assert decision([policy], context={"k:a": "1", "k:b": "3"}) == "implicitDeny"
    assert decision([policy], context={"k:a": "1", "k:b": "2"}) == "allowed"


def test_action_case_insensitive_resource_case_sensitive() -> None:  # 16, 17
    assert decision([doc(allow("S3:getobject"))]) == "allowed"
    policy = doc(allow("s3:*", "arn:aws:s3:::MyBucket"))
    assert decision([policy], action="s3:ListBucket", resource="arn:aws:s3:::mybucket") == (
        "implicitDeny"
    )


def test_resource_segments() -> None:  # 19, 21
    logs = doc(allow("logs:*", "arn:aws:logs:us-east-1:111122223333:log-group:*"))
    assert (
        decision(
            [logs],
            action="logs:GetLogEvents",
            resource="arn:aws:logs:us-east-1:111122223333:log-group:g:log-stream:s",
        )
        == "allowed"
    )
    users = doc(allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/B?b"))
    assert decision([users], action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:user/Bob") == (
        "allowed"
    )
    assert decision([users], action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:user/Boob") == (
        "implicitDeny"
    )
    region_star = doc(allow("sqs:*", "arn:aws:sqs:*:111122223333:q"))
    assert (
        decision(
            [region_star], action="sqs:SendMessage", resource="arn:aws:sqs:us-east-1:111122223333:q"
        )
        == "allowed"
    )
    assert (
        decision(
            [doc(allow("sqs:*", "arn:aws:sqs:us-*:111122223333:q"))],
            action="sqs:SendMessage",
            resource="arn:aws:sqs:us-east-1:111122223333:x:q",
        )
        == "implicitDeny"
    )


def test_slash_has_no_meaning() -> None:
    policy = doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*/test/*"))
    assert decision([policy], resource="arn:aws:s3:::bucket/1/2/test/x.jpg") == "allowed"
    assert decision([policy], resource="arn:aws:s3:::bucket//test/x.jpg") == "allowed"
    assert decision([policy], resource="arn:aws:s3:::bucket/test/x.jpg") == "implicitDeny"


def test_variables_in_resources() -> None:  # 22-25
    mine = doc(allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"))
    bob = {"aws:username": "Bob"}
    target = f"arn:aws:iam::{ACCT}:user/Bob"
    assert decision([mine], action="iam:GetUser", resource=target, context=bob) == "allowed"
    assert decision([mine], action="iam:GetUser", resource=target, caller=SESSION) == (
        "implicitDeny"
    )
    legacy = doc(
        allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"), version="2008-10-17"
    )
    assert decision([legacy], action="iam:GetUser", resource=target, context=bob) == (
        "implicitDeny"
    )
    default = doc(allow("s3:ListBucket", "arn:aws:s3:::b-${aws:PrincipalTag/team, 'shared'}"))
    assert decision([default], action="s3:ListBucket", resource="arn:aws:s3:::b-shared") == (
        "allowed"
    )
    escaped = doc(allow("s3:GetObject", "arn:aws:s3:::b/${*}"))
    assert decision([escaped], resource="arn:aws:s3:::b/x") == "implicitDeny"
    assert decision([escaped], resource="arn:aws:s3:::b/*") == "allowed"
    multi = Context.from_entries([("aws:PrincipalTag/team", "stringList", ["a"])])
    team = doc(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))
    assert decision([team], resource="arn:aws:s3:::b/a/x", context=multi) == "implicitDeny"
    dollar = doc(allow("s3:GetObject", "arn:aws:s3:::b/a${$}b$c${?}"))
    assert decision([dollar], resource="arn:aws:s3:::b/a$b$c?") == "allowed"
    assert decision([dollar], resource="arn:aws:s3:::b/a$b$cx") == "implicitDeny"
    # A variable is substituted anywhere after the fifth colon, also at its very start.
    tag = Context.from_entries([("aws:PrincipalTag/team", "string", ["dev"])])
    queue = "arn:aws:sqs:us-east-1:111122223333:dev-jobs"
    leading = doc(allow("sqs:*", "arn:aws:sqs:*:111122223333:${aws:PrincipalTag/team}-*"))
    assert decision([leading], action="sqs:SendMessage", resource=queue, context=tag) == ("allowed")
    ops = queue.replace("dev-", "ops-")
    assert decision([leading], action="sqs:SendMessage", resource=ops, context=tag) == (
        "implicitDeny"
    )
    inner = doc(allow("sqs:*", "arn:aws:sqs:*:111122223333:q-${aws:PrincipalTag/team}"))
    assert decision(
        [inner], action="sqs:SendMessage", resource=queue.replace("dev-jobs", "q-dev"), context=tag
    ) == ("allowed")
    unterminated = doc(allow("s3:GetObject", "arn:aws:s3:::b/${x"))
    assert decision([unterminated], resource="arn:aws:s3:::b/${x") == "allowed"


def test_same_account_resource_policies() -> None:  # 26, 27, 28, 29, 30
    star = rp(grant("*"))
    assert decision([], resource_policy=star) == "allowed"
    assert decision([], caller=OTHER_USER, resource_policy=star) == "implicitDeny"
    assert decision([S3_ALL], caller=OTHER_USER) == "implicitDeny"
    assert decision([S3_ALL], caller=OTHER_USER, resource_policy=rp(grant({"AWS": OTHER}))) == (
        "allowed"
    )
    root_only = rp(grant({"AWS": f"arn:aws:iam::{ACCT}:root"}))
    assert decision([], resource_policy=root_only) == "implicitDeny"
    assert decision([S3_ALL], resource_policy=root_only) == "allowed"


def test_boundary_and_direct_grants() -> None:  # 31, 32, 33
    nothing = [doc(allow("ec2:*"))]
    assert decision([], boundary=nothing, resource_policy=rp(grant({"AWS": USER}))) == "allowed"
    assert (
        decision([], caller=SESSION, boundary=nothing, resource_policy=rp(grant({"AWS": ROLE})))
        == "implicitDeny"
    )
    assert (
        decision(
            [],
            caller=SESSION,
            boundary=nothing,
            session=nothing,
            resource_policy=rp(grant({"AWS": SESSION})),
        )
        == "allowed"
    )


def test_boundary_and_session_intersection() -> None:  # 34-38
    ec2 = [doc(allow("ec2:*"))]
    assert decision([S3_ALL], boundary=ec2) == "implicitDeny"
    result = decide([S3_ALL], boundary=ec2)
    assert result.decided_by is DecidedBy.PERMISSIONS_BOUNDARY
    assert result.allowed_by_permissions_boundary is False
    assert decision([], boundary=[S3_ALL]) == "implicitDeny"
    assert decision([S3_ALL], caller=SESSION, session=ec2) == "implicitDeny"
    assert decision([doc(allow("ec2:*"))], caller=SESSION, session=[S3_ALL]) == "implicitDeny"
    assert decision([S3_ALL], boundary=[doc(allow(), deny("s3:GetObject"))]) == "explicitDeny"
    ok = decide([S3_ALL], boundary=[S3_ALL], caller=SESSION, session=[S3_ALL])
    assert ok.decision is Decision.ALLOWED
    assert ok.allowed_by_permissions_boundary is True


def test_scp_levels() -> None:  # 39, 40
    result = decide([S3_ALL], scps=[[doc(allow("ec2:*"))]])
    assert result.decision is Decision.IMPLICIT_DENY
    assert result.decided_by is DecidedBy.SERVICE_CONTROL
    assert result.allowed_by_organizations is False
    ok = decide([S3_ALL], scps=[[doc(allow())], [doc(allow("s3:*"))]])
    assert ok.decision is Decision.ALLOWED and ok.allowed_by_organizations is True
    assert decision([S3_ALL], scps=[[doc(allow())], [doc(allow("ec2:*"))]]) == "implicitDeny"
    root = f"arn:aws:iam::{ACCT}:root"
    assert decide([], caller=root).decided_by is DecidedBy.ROOT
    assert decision([], caller=root) == "allowed"
    assert decision([], caller=root, scps=[[doc(allow(), deny("s3:*"))]]) == "explicitDeny"
    assert decision([], caller=root, scps=[[doc(allow("ec2:*"))]]) == "implicitDeny"
    assert decision([], caller=root, resource_policy=rp(deny(Principal="*"))) == "explicitDeny"


TRUST_ROLE = f"arn:aws:iam::{ACCT}:role/Target"


def trust(principal: object) -> dict[str, object]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}


def assume(identity: list[str], trust_doc: str, caller: str = USER) -> str:
    return decision(
        identity,
        action="sts:AssumeRole",
        resource=TRUST_ROLE,
        caller=caller,
        resource_policy=trust_doc,
        resource_kind=PolicyKind.TRUST,
    )


def test_assume_role() -> None:  # 41-44
    can_assume = [doc(allow("sts:AssumeRole"))]
    assert assume([], doc(trust({"AWS": ACCT}))) == "implicitDeny"
    assert assume(can_assume, doc(trust({"AWS": ACCT}))) == "allowed"
    assert assume([], doc(trust({"AWS": USER}))) == "allowed"
    assert assume(can_assume, doc(trust({"AWS": ACCT})), caller=OTHER_USER) == "implicitDeny"
    assert assume(can_assume, doc(trust({"AWS": OTHER})), caller=OTHER_USER) == "allowed"
    assert assume([], doc(trust({"AWS": OTHER})), caller=OTHER_USER) == "implicitDeny"
    assert assume(can_assume, doc(trust({"AWS": f"arn:aws:iam::{ACCT}:user/other"}))) == (
        "implicitDeny"
    )
    # No trust policy at all: identity policy alone is never enough.
    assert decision(can_assume, action="sts:AssumeRole", resource=TRUST_ROLE) == "implicitDeny"


def test_kms_key_policy_must_delegate() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCT}:key/1234"
    kms = [doc(allow("kms:Decrypt"))]
    admin_only = rp(grant({"AWS": f"arn:aws:iam::{ACCT}:user/admin"}, "kms:*"))
    assert decision(kms, action="kms:Decrypt", resource=key, resource_policy=admin_only) == (
        "implicitDeny"
    )
    delegate = rp(grant({"AWS": ACCT}, "kms:*"))
    assert decision(kms, action="kms:Decrypt", resource=key, resource_policy=delegate) == "allowed"
    direct = rp(grant({"AWS": USER}, "kms:Decrypt"))
    assert decision([], action="kms:Decrypt", resource=key, resource_policy=direct) == "allowed"
    assert decision(kms, action="kms:Decrypt", resource=key) == "implicitDeny"


def test_role_arn_with_path_matches_session() -> None:  # 49
    policy = rp(grant({"AWS": f"arn:aws:iam::{ACCT}:role/path/Dev"}))
    assert decision([], caller=SESSION, resource_policy=policy) == "allowed"
    known = Principal(
        SESSION, ACCT, PrincipalKind.ROLE_SESSION, role_arn=f"arn:aws:iam::{ACCT}:role/other/Dev"
    )
    assert decision([], caller=known, resource_policy=policy) == "implicitDeny"
    exact = Principal(
        SESSION, ACCT, PrincipalKind.ROLE_SESSION, role_arn=f"arn:aws:iam::{ACCT}:role/path/Dev"
    )
    assert decision([], caller=exact, resource_policy=policy) == "allowed"


def test_not_principal() -> None:  # 50
    policy = rp(
        grant("*"),
        {"Effect": "Deny", "NotPrincipal": {"AWS": USER}, "Action": "*", "Resource": "*"},
    )
    assert decision([], resource_policy=policy) == "allowed"
    assert decision([], caller=f"arn:aws:iam::{ACCT}:user/eve", resource_policy=policy) == (
        "explicitDeny"
    )
    assert decision([S3_ALL], boundary=[S3_ALL], resource_policy=policy) == "explicitDeny"
    account = rp(
        grant("*"),
        {"Effect": "Deny", "NotPrincipal": {"AWS": ACCT}, "Action": "*", "Resource": "*"},
    )
    assert decision([], caller=SESSION, resource_policy=account) == "allowed"


def test_get_caller_identity_always_allowed() -> None:  # 54
    assert decision([doc(deny())], action="sts:GetCallerIdentity", resource="*") == "allowed"


def test_not_applicable_resource_type() -> None:  # 55
    result = decide(
        [doc(allow("iam:*"))], action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:role/R"
    )
    assert result.decision is Decision.IMPLICIT_DENY
    assert result.decided_by is DecidedBy.SERVICE_DEFINITION
    assert result.reason == "action not applicable to resource type"
    assert (
        decision(
            [doc(allow("iam:*"))], action="iam:ListUsers", resource=f"arn:aws:iam::{ACCT}:user/x"
        )
        == "implicitDeny"
    )
    assert decision([doc(allow("iam:*"))], action="iam:ListUsers", resource="*") == "allowed"


def test_wildcard_only_resource() -> None:
    arn_entry = doc(allow("s3:ListAllMyBuckets", "arn:aws:s3:::*"))
    assert decision([arn_entry], action="s3:ListAllMyBuckets", resource="*") == "implicitDeny"
    not_resource = doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::x"})
    assert decision([not_resource], action="s3:ListAllMyBuckets", resource="*") == "allowed"


# --- section 6 tables --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "boundary", "session", "principal", "caller", "expected"),
    [
        (True, None, None, None, USER, "allowed"),  # 1
        (False, None, None, USER, USER, "allowed"),  # 2
        (True, False, None, None, USER, "implicitDeny"),  # 3
        (False, True, None, None, USER, "implicitDeny"),  # 4
        (False, False, None, USER, USER, "allowed"),  # 5
        (False, False, None, ROLE, SESSION, "implicitDeny"),  # 6
        (False, False, False, SESSION, SESSION, "allowed"),  # 7
        (True, None, False, None, SESSION, "implicitDeny"),  # 8
        (False, None, True, None, SESSION, "implicitDeny"),  # 9
        (False, None, None, ACCT, USER, "implicitDeny"),  # 10
        (True, None, None, ACCT, USER, "allowed"),  # 11
        (False, None, None, ROLE, SESSION, "allowed"),  # role grant stands in for ID
        (False, None, True, ROLE, SESSION, "allowed"),
        (False, None, False, ROLE, SESSION, "implicitDeny"),
        (False, None, False, "*", SESSION, "allowed"),  # same-account `*`: SP does not limit
        (False, False, None, "*", USER, "allowed"),  # ... nor does the boundary (6.5)
        (False, False, None, "*", OTHER_USER, "implicitDeny"),  # across accounts both apply
        (True, None, None, None, OTHER_USER, "implicitDeny"),  # 14
        (False, None, None, "*", OTHER_USER, "implicitDeny"),  # 15
        (True, None, None, OTHER, OTHER_USER, "allowed"),  # 16
        (True, False, None, OTHER_USER, OTHER_USER, "implicitDeny"),  # 17
    ],
)
def test_decision_table(
    identity: bool,
    boundary: bool | None,
    session: bool | None,
    principal: str | None,
    caller: str,
    expected: str,
) -> None:
    s3 = doc(allow("s3:*"))
    ec2 = doc(allow("ec2:*"))
    assert (
        decision(
            [s3 if identity else ec2],
            caller=caller,
            boundary=None if boundary is None else [s3 if boundary else ec2],
            session=None if session is None else [s3 if session else ec2],
            resource_policy=None
            if principal is None
            else rp(grant("*" if principal == "*" else {"AWS": principal})),
        )
        == expected
    )


def test_resource_policy_deny_wins() -> None:  # table 13, 18
    policy = rp(grant({"AWS": USER}), deny(Principal={"AWS": USER}))
    assert decision([S3_ALL], resource_policy=policy) == "explicitDeny"
    assert decision([S3_ALL], caller=OTHER_USER, resource_policy=rp(deny(Principal="*"))) == (
        "explicitDeny"
    )


def test_rcp_only_denies() -> None:
    rcp_allow = [doc(allow(Principal="*"))]
    assert decision([S3_ALL], rcps=[rcp_allow]) == "allowed"
    assert decision([], rcps=[rcp_allow]) == "implicitDeny"
    result = decide([S3_ALL], rcps=[[doc(deny("s3:*", Principal="*"))]])
    assert result.decision is Decision.EXPLICIT_DENY
    assert result.decided_by is DecidedBy.RESOURCE_CONTROL


def test_service_principal() -> None:
    svc = "sns.amazonaws.com"
    assert decision([], caller=svc, resource_policy=rp(grant({"Service": svc}))) == "allowed"
    assert decision([], caller=svc, resource_policy=rp(grant("*"))) == "allowed"
    assert decision([], caller=svc, resource_policy=rp(grant({"AWS": ACCT}))) == "implicitDeny"
    assert decision([], caller=svc) == "implicitDeny"


def test_anonymous_caller() -> None:
    assert decision([], caller="anonymous", resource_policy=rp(grant("*"))) == "allowed"
    assert decision([], caller="anonymous", resource_policy=rp(grant({"AWS": ACCT}))) == (
        "implicitDeny"
    )


def test_federated_user_needs_session_policy() -> None:  # 69
    fed = Principal(
        f"arn:aws:sts::{ACCT}:federated-user/bob",
        ACCT,
        PrincipalKind.FEDERATED_USER,
        parent_user_arn=f"arn:aws:iam::{ACCT}:user/bob",
    )
    assert decision([S3_ALL], caller=fed) == "implicitDeny"
    assert decision([S3_ALL], caller=fed, session=[S3_ALL]) == "allowed"
    parent = rp(grant({"AWS": f"arn:aws:iam::{ACCT}:user/bob"}))
    assert decision([], caller=fed, session=[S3_ALL], resource_policy=parent) == "allowed"
    assert decision([], caller=fed, session=[doc(allow("ec2:*"))], resource_policy=parent) == (
        "implicitDeny"
    )


def test_unresolved_unique_id_never_matches() -> None:
    policy = rp(grant({"AWS": "AIDAJQABLZS4A3QDU576Q"}))
    assert decision([], resource_policy=policy) == "implicitDeny"


# --- explanation ---------------------------------------------------------------------------


def test_matched_statements_and_missing_keys() -> None:
    policy = doc(
        allow("s3:GetObject", Sid="A"),
        deny("s3:GetObject", Sid="B", Condition={"StringEquals": {"aws:SourceVpc": "v"}}),
        allow("s3:GetObject", Sid="C", Condition={"Bool": {"aws:SecureTransport": "true"}}),
    )
    result = decide([policy])
    assert result.decision is Decision.ALLOWED
    assert [(m.statement_index, m.sid) for m in result.matched_statements] == [(0, "A")]
    assert set(result.missing_context_keys) == {"aws:SourceVpc", "aws:SecureTransport"}
    assert result.decided_by is DecidedBy.IDENTITY
    denied = decide([policy], context={"aws:SourceVpc": "v"})
    assert denied.decision is Decision.EXPLICIT_DENY
    assert [m.sid for m in denied.matched_statements] == ["B"]
    assert denied.matched_statements[0].policy_id == "id.1"
    assert denied.missing_context_keys == ("aws:SecureTransport",)
    implicit = decide([doc(allow("ec2:*"))])
    assert implicit.matched_statements == () and implicit.decided_by is DecidedBy.IDENTITY
    assert decide([policy]).allowed_by_organizations is None
    assert decide([policy]).allowed_by_permissions_boundary is None
    fast = decide([policy], explain=False)
    assert fast.matched_statements == () and fast.missing_context_keys == ()


# --- ACL ------------------------------------------------------------------------------------


def test_acl_grants() -> None:
    acl = acl_grants_to_policy(
        [(OTHER, "READ"), ("authenticated", "READ_ACP")], "arn:aws:s3:::bucket/key", policy_id="acl"
    )
    result = decide([doc(allow("s3:GetObject"))], caller=OTHER_USER, extra_resource=[acl])
    assert result.decision is Decision.ALLOWED
    assert any(m.kind is PolicyKind.ACL for m in result.matched_statements)
    assert (
        decision(
            [doc(allow("s3:*"))], caller=OTHER_USER, action="s3:PutObject", extra_resource=[acl]
        )
        == "implicitDeny"
    )
    only_acl = decide([], caller=USER, action="s3:GetObjectAcl", extra_resource=[acl])
    assert only_acl.decision is Decision.ALLOWED and only_acl.decided_by is DecidedBy.ACL
    anon = decide([], caller="anonymous", action="s3:GetObjectAcl", extra_resource=[acl])
    assert anon.decision is Decision.IMPLICIT_DENY
    public = acl_grants_to_policy([("*", "READ")], "arn:aws:s3:::bucket/key", policy_id="acl2")
    assert decision([], caller="anonymous", extra_resource=[public]) == "allowed"


def test_acl_generic_mapping() -> None:
    from iamd_policy import acl_actions

    arn = "arn:aws:svc:us-east-1:111122223333:thing/x"
    assert acl_actions("READ", arn) == ("svc:Get*", "svc:List*", "svc:Describe*")
    assert acl_actions("WRITE", arn) == ("svc:Put*", "svc:Create*", "svc:Delete*", "svc:Update*")
    assert acl_actions("FULL_CONTROL", arn) == ("svc:*",)
    assert "s3:ListBucket" in acl_actions("READ", "arn:aws:s3:::bucket")
    assert "s3:PutObjectAcl" in acl_actions("FULL_CONTROL", "arn:aws:s3:::bucket/k")
    with pytest.raises(ValueError):
        acl_actions("EVERYTHING", arn)


def test_index_buckets_report_each_statement_once() -> None:
    policy = doc(
        allow(
            ["s3:GetObject", "s3:Get*", "s3:*Object"],
            ["arn:aws:s3:::bucket/*", OBJ, "arn:aws:s3:::b?cket/key"],
        ),
        allow(["s3:GetObject"], ["arn:aws:s3:::bucket/k*", OBJ], Sid="Two"),
        allow("*", "*", Sid="Three"),
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": OBJ, "Sid": "Four"},
    )
    result = decide([policy])
    assert sorted(m.statement_index for m in result.matched_statements) == [0, 1, 2, 3]
    assert decision([policy], action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:user/x") == (
        "allowed"
    )
    assert decision([doc(allow("s3:Get*"))], action="s3:PutObject") == "implicitDeny"
    assert decision([doc(allow("s3:G?tObject"))], action="s3:GetObject") == "allowed"
    assert decision([doc(allow("*:GetObject"))], action="s3:GetObject") == "allowed"


def test_matched_statements_in_document_order() -> None:
    policy = doc(
        deny("s3:*", "arn:aws:s3:::bucket/*", Sid="A"),
        deny("s3:GetObject", OBJ, Sid="B"),
        deny("*", "*", Sid="C"),
        deny("s3:Get*", "arn:aws:s3:::b*", Sid="D"),
    )
    result = decide([policy], resource_policy=rp(deny(Principal="*", Sid="R")))
    assert [m.sid for m in result.matched_statements] == ["A", "B", "C", "D", "R"]
    assert result.decided_by is DecidedBy.IDENTITY
