"""Property tests: monotonicity of Deny/Allow, and no exceptions on arbitrary input."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iamd_policy import (
    AuthorizationRequest,
    Context,
    Decision,
    PolicyKind,
    PolicySet,
    PolicySets,
    PolicyValidationError,
    Principal,
    builtin_registry,
    compile_policy,
    evaluate,
    validate_policy,
)

from tests.policy.policy_helpers import ACCT, OTHER

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

services = st.sampled_from(["s3", "iam", "kms", "sqs", "sts"])
names = st.sampled_from(["GetObject", "PutObject", "GetUser", "Decrypt", "AssumeRole", "List"])
actions = st.one_of(
    st.just("*"),
    st.builds(lambda s, n: f"{s}:{n}", services, names),
    st.builds(lambda s, n: f"{s}:{n[:3]}*", services, names),
    st.builds(lambda s: f"{s}:*", services),
)
resource_values = st.sampled_from(
    [
        "*",
        "arn:aws:s3:::bucket/*",
        "arn:aws:s3:::bucket/key",
        "arn:aws:s3:::b?cket/*",
        f"arn:aws:iam::{ACCT}:user/*",
        f"arn:aws:iam::{ACCT}:role/R",
        f"arn:aws:kms:us-east-1:{ACCT}:key/*",
        "arn:aws:sqs:*:*:q-${aws:username}",
        "arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'x'}/*",
    ]
)
conditions = st.sampled_from(
    [
        ("StringEquals", "aws:username", ["alice", "${aws:PrincipalTag/team}"]),
        ("StringNotLike", "aws:PrincipalTag/team", ["d*"]),
        ("StringLikeIfExists", "aws:username", ["a?ice"]),
        ("ForAnyValue:StringEquals", "aws:TagKeys", ["a"]),
        ("ForAllValues:StringNotEquals", "aws:TagKeys", ["b", "dev"]),
        ("IpAddress", "aws:SourceIp", ["10.0.0.0/8"]),
        ("NotIpAddress", "aws:SourceIp", ["10.0.0.0/8", "2001:db8::/32"]),
        ("Bool", "aws:MultiFactorAuthPresent", ["false"]),
        ("BoolIfExists", "aws:MultiFactorAuthPresent", ["true"]),
        ("Null", "aws:username", ["true"]),
        ("Null", "aws:TagKeys", ["false"]),
        ("DateGreaterThan", "aws:CurrentTime", ["2020-01-01T00:00:00Z"]),
        ("NumericLessThan", "aws:MultiFactorAuthAge", ["5"]),
        ("ArnLike", "aws:SourceArn", ["arn:aws:*:*:*:*"]),
        ("StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", ["DEV"]),
    ]
)
principals = st.sampled_from(
    [
        "*",
        {"AWS": ACCT},
        {"AWS": OTHER},
        {"AWS": f"arn:aws:iam::{ACCT}:user/alice"},
        {"AWS": f"arn:aws:iam::{ACCT}:role/R"},
        {"Service": "sns.amazonaws.com"},
    ]
)


@st.composite
def statements(
    draw: st.DrawFn, effect: str | None = None, principal: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    body["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(
        st.lists(actions, min_size=1, max_size=3)
    )
    body["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = draw(
        st.lists(resource_values, min_size=1, max_size=2)
    )
    if draw(st.booleans()):
        operator, key, values = draw(conditions)
        body["Condition"] = {operator: {key: values}}
    if principal:
        body["Principal"] = draw(principals)
    return body


def document(items: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": items})


contexts = st.lists(
    st.sampled_from(
        [
            ("aws:username", "string", ["alice"]),
            ("aws:PrincipalTag/team", "string", ["dev"]),
            ("aws:SourceIp", "ip", ["10.1.2.3"]),
            ("aws:TagKeys", "stringList", ["a", "dev"]),
            ("aws:CurrentTime", "date", ["2024-01-01T00:00:00Z"]),
            ("aws:MultiFactorAuthPresent", "boolean", ["false"]),
        ]
    ),
    unique_by=lambda e: e[0],
    max_size=4,
)
requests = st.tuples(
    st.sampled_from(
        [
            "s3:GetObject",
            "s3:PutObject",
            "iam:GetUser",
            "kms:Decrypt",
            "sts:AssumeRole",
            "sqs:SendMessage",
        ]
    ),
    st.sampled_from(
        [
            "*",
            "arn:aws:s3:::bucket/key",
            f"arn:aws:iam::{ACCT}:user/alice",
            f"arn:aws:iam::{ACCT}:role/R",
            f"arn:aws:kms:us-east-1:{ACCT}:key/k",
            f"arn:aws:sqs:us-east-1:{ACCT}:q-alice",
        ]
    ),
    st.sampled_from(
        [
            f"arn:aws:iam::{ACCT}:user/alice",
            f"arn:aws:sts::{ACCT}:assumed-role/R/s",
            f"arn:aws:iam::{OTHER}:user/bob",
            "sns.amazonaws.com",
            f"arn:aws:iam::{ACCT}:root",
        ]
    ),
    contexts,
)


def run(
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]] | None,
    boundary: list[dict[str, Any]] | None,
    request: tuple[str, str, str, list[tuple[str, str, list[str]]]],
) -> Decision:
    action, target, caller, entries = request
    sets = PolicySets(
        identity=PolicySet.of(
            [
                compile_policy(
                    document(identity), PolicyKind.IDENTITY, policy_id="i", source_type="user"
                )
            ]
            if identity
            else []
        ),
        boundary=PolicySet.of(
            [
                compile_policy(
                    document(boundary),
                    PolicyKind.PERMISSIONS_BOUNDARY,
                    policy_id="b",
                    source_type="boundary",
                )
            ]
        )
        if boundary
        else None,
        resource=PolicySet.of(
            [
                compile_policy(
                    document(resource), PolicyKind.RESOURCE, policy_id="r", source_type="resource"
                )
            ]
        )
        if resource
        else None,
    )
    req = AuthorizationRequest(
        Principal.from_arn(caller), action, target, ACCT, Context.from_entries(entries)
    )
    full = evaluate(req, sets, builtin_registry())
    fast = evaluate(req, sets, builtin_registry(), explain=False)
    assert full.decision is fast.decision
    return full.decision


@SETTINGS
@given(
    st.lists(statements(), max_size=4),
    st.one_of(st.none(), st.lists(statements(principal=True), min_size=1, max_size=3)),
    st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2)),
    requests,
    statements(effect="Deny"),
    st.sampled_from(["identity", "resource", "boundary"]),
)
def test_adding_deny_never_allows(
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]] | None,
    boundary: list[dict[str, Any]] | None,
    request: tuple[str, str, str, list[tuple[str, str, list[str]]]],
    extra: dict[str, Any],
    where: str,
) -> None:
    before = run(identity, resource, boundary, request)
    if where == "identity":
        identity = [*identity, extra]
    elif where == "resource":
        resource = [*(resource or []), {**extra, "Principal": "*"}]
    else:
        boundary = [*(boundary or []), extra]
    after = run(identity, resource, boundary, request)
    if before is not Decision.ALLOWED:
        assert after is not Decision.ALLOWED
    if before is Decision.EXPLICIT_DENY:
        assert after is Decision.EXPLICIT_DENY


@SETTINGS
@given(
    st.lists(statements(), max_size=4),
    st.one_of(st.none(), st.lists(statements(principal=True), min_size=1, max_size=3)),
    st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2)),
    requests,
    statements(effect="Allow"),
)
def test_adding_identity_allow_never_denies(
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]] | None,
    boundary: list[dict[str, Any]] | None,
    request: tuple[str, str, str, list[tuple[str, str, list[str]]]],
    extra: dict[str, Any],
) -> None:
    before = run(identity, resource, boundary, request)
    after = run([*identity, extra], resource, boundary, request)
    if before is Decision.ALLOWED:
        assert after is Decision.ALLOWED


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "Allow",
            "Deny",
            "*",
            "s3:GetObject",
            "arn:aws:s3:::b",
            "2012-10-17",
            "StringEquals",
            "aws:username",
            "Statement",
            "Effect",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Version",
                    "Statement",
                    "Effect",
                    "Action",
                    "NotAction",
                    "Resource",
                    "NotResource",
                    "Principal",
                    "NotPrincipal",
                    "Condition",
                    "Sid",
                    "Id",
                    "AWS",
                    "Service",
                    "StringEquals",
                    "Null",
                    "aws:username",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@SETTINGS
@given(json_values, st.sampled_from(list(PolicyKind)))
def test_validation_only_raises_policy_errors_on_json(value: Any, kind: PolicyKind) -> None:
    with contextlib.suppress(PolicyValidationError):
        validate_policy(json.dumps(value), kind)


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200), st.sampled_from(list(PolicyKind)))
def test_validation_only_raises_policy_errors_on_bytes(
    value: bytes | str, kind: PolicyKind
) -> None:
    with contextlib.suppress(PolicyValidationError):
        validate_policy(value, kind)


@SETTINGS
@given(st.lists(statements(), min_size=1, max_size=5), requests)
def test_evaluation_never_raises(
    identity: list[dict[str, Any]], request: tuple[str, str, str, list[tuple[str, str, list[str]]]]
) -> None:
    run(identity, [{**s, "Principal": "*"} for s in identity], identity, request)
