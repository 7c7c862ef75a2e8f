"""ARN patterns as AWS reads them: short ARNs, wildcards in the resource type, variables in
the resource part, and the action strings AWS's validator accepts or refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iamd_policy import Context, PolicyKind, PolicyValidationError, validate_policy
from iamd_policy.conditions import compile_condition

from tests.policy.policy_helpers import ACCT, OTHER_USER, allow, decision, deny, doc

QUEUE = f"arn:aws:sqs:us-east-1:{ACCT}:jobs"
QUEUE_EU = f"arn:aws:sqs:eu-west-1:{ACCT}:jobs"
TOPIC = f"arn:aws:sns:us-east-1:{ACCT}:jobs"
KINDS_WITH_RESOURCES = (
    PolicyKind.IDENTITY,
    PolicyKind.PERMISSIONS_BOUNDARY,
    PolicyKind.SESSION,
    PolicyKind.SERVICE_CONTROL,
    PolicyKind.RESOURCE,
    PolicyKind.RESOURCE_CONTROL,
)


def error(document: str, kind: PolicyKind = PolicyKind.IDENTITY) -> PolicyValidationError:
    with pytest.raises(PolicyValidationError) as info:
        validate_policy(document, kind)
    return info.value


def statement_for(kind: PolicyKind, body: dict[str, Any]) -> dict[str, Any]:
    if kind in (PolicyKind.RESOURCE, PolicyKind.RESOURCE_CONTROL):
        return {**body, "Principal": "*"}
    return body


# -- short ARNs -----------------------------------------------------------------------------

SHORT_ACCEPTED = (
    "arn:aws:sqs",
    "arn:aws:sqs:*",
    "arn:aws:sqs:us-east-1",
    "arn:aws:sqs:us-east-1:*",
    f"arn:aws:sqs:us-east-1:{ACCT}",
    "arn:aws:fdsasf",
    "arn:*:sqs:*",
)


@pytest.mark.parametrize("kind", KINDS_WITH_RESOURCES)
@pytest.mark.parametrize("resource", SHORT_ACCEPTED)
def test_short_arns_are_accepted_in_every_kind_with_resources(
    kind: PolicyKind, resource: str
) -> None:
    validate_policy(doc(statement_for(kind, allow("sqs:SendMessage", resource))), kind)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("arn:aws", "Resource vendor must be fully qualified and cannot contain regexes."),
        ("arn:aws:*", "Resource vendor must be fully qualified and cannot contain regexes."),
        ("arn:aws:s?s:us-east-1:*", "Resource vendor must be fully qualified"),
        ("arn:nope:sqs", 'Partition "nope" is not valid'),
        ("arn:aws:s3::bucket", "The policy failed legacy parsing"),
        ("arn:aws::sqs", "The policy failed legacy parsing"),
        (f"arn:aws::us-east-1:{ACCT}:x", "The policy failed legacy parsing"),
        ("arn:aws:sqs::*", "The policy failed legacy parsing"),
        ("arn:aws:iam", "IAM resource arn:aws:iam cannot contain region information."),
        ("arn:aws:iam::*", "The policy failed legacy parsing"),
        ("arn:aws:s3", "Resource arn:aws:s3 can not contain region information."),
        ("sqs", 'Resource sqs must be in ARN format or "*".'),
    ],
)
def test_short_arns_aws_refuses(resource: str, message: str) -> None:
    e = error(doc(allow("sqs:SendMessage", resource)))
    assert e.message.startswith(message), e.message
    assert e.field == "Resource"


def test_trust_policies_have_no_resource_at_all() -> None:
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": ACCT},
        "Action": "sts:AssumeRole",
        "Resource": "arn:aws:sqs:*",
    }
    assert error(doc(trust), PolicyKind.TRUST).message == "Has prohibited field Resource"


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        # The trailing `*` of the last segment written covers the segments left out.
        ("arn:aws:sqs:us-east-1:*", (QUEUE, f"arn:aws:sqs:us-east-1:{'9' * 12}:q:x"), QUEUE_EU),
        ("arn:aws:sqs:*", (QUEUE, QUEUE_EU), TOPIC),
        ("arn:aws:sqs:us-*", (QUEUE, "arn:aws:sqs:us-west-2:1:q"), QUEUE_EU),
        (f"arn:aws:sqs:us-east-1:{ACCT[:4]}*", (QUEUE,), f"arn:aws:sqs:us-east-1:{'9' * 12}:q"),
        ("arn:*:sqs:*", (QUEUE, "arn:aws-cn:sqs:cn-north-1:1:q"), TOPIC),
        # No final wildcard: the entry names no ARN.
        ("arn:aws:sqs", (), QUEUE),
        ("arn:aws:sqs:us-east-1", (), QUEUE),
        (f"arn:aws:sqs:us-east-1:{ACCT}", (), QUEUE),
    ],
)
def test_what_short_arns_match(pattern: str, matching: tuple[str, ...], other: str) -> None:
    document = doc(allow("sqs:SendMessage", pattern))
    for resource in matching:
        assert decision([document], action="sqs:SendMessage", resource=resource) == "allowed"
    assert decision([document], action="sqs:SendMessage", resource=other) == "implicitDeny"
    assert decision([document], action="sqs:SendMessage", resource="*") == "implicitDeny"


def test_short_arns_mean_the_same_in_every_kind() -> None:
    """Deny, boundary, SCP, resource policy and ArnLike read a short ARN the same way."""
    allow_all = doc(allow("sqs:*", "*"))
    short = "arn:aws:sqs:us-east-1:*"
    send = {"action": "sqs:SendMessage"}
    assert decision([allow_all, doc(deny("sqs:*", short))], resource=QUEUE, **send) == (
        "explicitDeny"
    )
    assert decision([allow_all, doc(deny("sqs:*", short))], resource=QUEUE_EU, **send) == (
        "allowed"
    )
    not_resource = doc({"Effect": "Deny", "Action": "sqs:*", "NotResource": short})
    assert decision([allow_all, not_resource], resource=QUEUE_EU, **send) == "explicitDeny"
    assert decision([allow_all, not_resource], resource=QUEUE, **send) == "allowed"
    boundary = [doc(allow("sqs:*", short))]
    assert decision([allow_all], boundary=boundary, resource=QUEUE, **send) == "allowed"
    assert decision([allow_all], boundary=boundary, resource=QUEUE_EU, **send) == "implicitDeny"
    scps = [[doc(allow("sqs:*", short))]]
    assert decision([allow_all], scps=scps, resource=QUEUE, **send) == "allowed"
    assert decision([allow_all], scps=scps, resource=QUEUE_EU, **send) == "implicitDeny"
    grant = doc(allow("sqs:*", short, Principal={"AWS": OTHER_USER}))
    cross = {"caller": OTHER_USER, "resource_policy": grant}
    assert decision([allow_all], resource=QUEUE, **cross, **send) == "allowed"
    condition = compile_condition("ArnLike", "aws:SourceArn", [short])
    assert condition.test(Context.from_mapping({"aws:SourceArn": QUEUE}))
    assert not condition.test(Context.from_mapping({"aws:SourceArn": QUEUE_EU}))
    assert not condition.test(Context.from_mapping({"aws:SourceArn": "arn:aws:sqs:us-east-1"}))


# -- wildcards in the resource type ---------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        (
            "arn:aws:ec2:*:*:*/i-1",
            (
                f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-1",
                f"arn:aws:ec2:us-east-1:{ACCT}:volume/i-1",
                f"arn:aws:ec2:us-east-1:{ACCT}:a/b/i-1",
            ),
            (
                f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-12",
                f"arn:aws:ec2:us-east-1:{ACCT}:i-1",
                f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-1/x",
            ),
        ),
        (
            "arn:aws:ec2:*:*:*ance/i-*",
            (f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-9",),
            (f"arn:aws:ec2:us-east-1:{ACCT}:volume/i-9",),
        ),
        (
            "arn:aws:logs:*:*:log-group:*:log-stream:s?",
            (f"arn:aws:logs:us-east-1:{ACCT}:log-group:app:x:log-stream:s1",),
            (f"arn:aws:logs:us-east-1:{ACCT}:log-group:app:log-stream:s12",),
        ),
    ],
)
def test_wildcards_in_the_resource_type(
    pattern: str, matching: tuple[str, ...], other: tuple[str, ...]
) -> None:
    """`*` in the resource part matches any run of characters, `/` and `:` included, so a
    wildcard standing for the resource type matches every type (AWS: "The asterisk (*)
    character can expand to replace everything within a segment, including characters like
    a forward slash (/)")."""
    document = doc(allow("*", pattern))
    validate_policy(document, PolicyKind.IDENTITY)
    for resource in matching:
        assert decision([document], action="ec2:StartInstances", resource=resource) == "allowed"
    for resource in other:
        assert decision([document], action="ec2:StartInstances", resource=resource) == (
            "implicitDeny"
        )


# -- variables in the resource part ---------------------------------------------------------

TEAM = Context.from_entries(
    [
        ("aws:PrincipalTag/team", "string", ["dev"]),
        ("aws:SourceAccount", "string", [ACCT]),
        ("aws:username", "string", ["a*b"]),
    ]
)


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        # start, middle and end of the resource part
        ("arn:aws:sqs:*:*:${aws:PrincipalTag/team}-*", "q:dev-jobs", "q:ops-jobs"),
        ("arn:aws:sqs:*:*:q-${aws:PrincipalTag/team}-*", "q:q-dev-jobs", "q:q-ops-jobs"),
        ("arn:aws:sqs:*:*:jobs-${aws:PrincipalTag/team}", "q:jobs-dev", "q:jobs-ops"),
        ("arn:aws:sqs:*:*:${aws:PrincipalTag/team}", "q:dev", "q:devs"),
        # the whole resource part, and two variables
        (
            "arn:aws:sqs:*:*:${aws:PrincipalTag/team}/${aws:SourceAccount}",
            f"q:dev/{ACCT}",
            "q:dev/x",
        ),
        # substituted text is literal: `*` in a value is not a wildcard
        ("arn:aws:sqs:*:*:${aws:username}", "q:a*b", "q:axxb"),
        ("arn:aws:sqs:*:*:${aws:missing, 'shared'}-*", "q:shared-1", "q:dev-1"),
    ],
)
def test_variables_anywhere_in_the_resource_part(pattern: str, matching: str, other: str) -> None:
    """AWS substitutes policy variables anywhere after the fifth colon."""

    def arn(short: str) -> str:
        return f"arn:aws:sqs:us-east-1:{ACCT}:{short[2:]}"

    document = doc(allow("sqs:SendMessage", pattern))
    send = {"action": "sqs:SendMessage", "context": TEAM}
    assert decision([document], resource=arn(matching), **send) == "allowed"
    assert decision([document], resource=arn(other), **send) == "implicitDeny"
    outside = {"Effect": "Deny", "Action": "sqs:SendMessage", "NotResource": pattern}
    denied = [doc(allow("sqs:*", "*")), doc(outside)]
    assert decision(denied, resource=arn(matching), **send) == "allowed"
    assert decision(denied, resource=arn(other), **send) == "explicitDeny"
    for operator in ("ArnLike", "ArnEquals"):
        condition = compile_condition(operator, "aws:SourceArn", [pattern])
        assert condition.test(TEAM.merge(Context.from_mapping({"aws:SourceArn": arn(matching)})))
        assert not condition.test(TEAM.merge(Context.from_mapping({"aws:SourceArn": arn(other)})))
        negated = compile_condition(operator.replace("Arn", "ArnNot"), "aws:SourceArn", [pattern])
        assert negated.test(TEAM.merge(Context.from_mapping({"aws:SourceArn": arn(other)})))


def test_variable_at_the_start_of_an_s3_resource() -> None:
    document = doc(allow("s3:GetObject", "arn:aws:s3:::${aws:SourceAccount}/win"))
    assert decision([document], resource=f"arn:aws:s3:::{ACCT}/win", context=TEAM) == "allowed"
    assert decision([document], resource="arn:aws:s3:::999999999999/win", context=TEAM) == (
        "implicitDeny"
    )


def test_variables_before_the_fifth_colon_are_text() -> None:
    """AWS allows variables in the resource part only; elsewhere `${...}` is plain text."""
    document = doc(allow("sqs:*", "arn:aws:sqs:${aws:PrincipalTag/team}:*:*"))
    assert decision([document], action="sqs:SendMessage", resource=QUEUE, context=TEAM) == (
        "implicitDeny"
    )
    literal = "arn:aws:sqs:${aws:PrincipalTag/team}:1:q"
    assert decision([document], action="sqs:SendMessage", resource=literal, context=TEAM) == (
        "allowed"
    )


@pytest.mark.parametrize(
    ("value", "matching", "other"),
    [
        ("${aws:PrincipalTag/team}-*", "dev-x", "ops-x"),
        ("home/${aws:PrincipalTag/team}/*", "home/dev/a", "home/ops/a"),
        ("*-${aws:PrincipalTag/team}", "x-dev", "x-ops"),
    ],
)
def test_variables_in_string_like_values(value: str, matching: str, other: str) -> None:
    condition = compile_condition("StringLike", "s3:prefix", [value])
    assert condition.test(TEAM.merge(Context.from_mapping({"s3:prefix": matching})))
    assert not condition.test(TEAM.merge(Context.from_mapping({"s3:prefix": other})))


# -- action strings (item: refuse exactly what AWS refuses) ---------------------------------


@pytest.mark.parametrize(
    "action",
    [
        "iam: asdf safdsf af ",
        "s3:GetBucket   ",
        "s3:",
        "*:GetObject",
        "s3-s:ListBucket",
        "s3.s:ListBucket",
        "aaaaaadsfdsafsadfsadfaaaaa:ListBucket",
    ],
)
def test_actions_aws_accepts(action: str) -> None:
    """Accepted and stored; an action name with spaces never matches a request."""
    document = doc(allow(action, "*"))
    validate_policy(document, PolicyKind.IDENTITY)
    if action.startswith("*:"):
        assert decision([document], action="s3:GetObject", resource="*") == "allowed"
    else:
        assert decision([document], action="s3:GetBucketAcl", resource="*") == "implicitDeny"
        assert decision([document], action="iam:ListUsers", resource="*") == "implicitDeny"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("s3*:GetObject", "Vendor s3* is not valid"),
        ("s?:GetObject", "Vendor s? is not valid"),
        ("*3:GetObject", "Vendor *3 is not valid"),
        ("a a:ListBucket", "Vendor a a is not valid"),
        (":GetObject", "Vendor  is not valid"),
        ("s3:Get:Object", "Actions/Condition can contain only one colon."),
        ("GetObject", "Actions/Conditions must be prefaced by a vendor"),
    ],
)
def test_actions_aws_refuses(action: str, message: str) -> None:
    for field in ("Action", "NotAction"):
        body = {"Effect": "Allow", field: [action], "Resource": "*"}
        e = error(json.dumps({"Version": "2012-10-17", "Statement": [body]}))
        assert e.message.startswith(message), e.message
        assert e.field == field
