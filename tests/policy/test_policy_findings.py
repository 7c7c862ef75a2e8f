"""Policy findings (ValidatePolicy): one test policy per finding type, the locations (path and
span) of what each finding is about, and the bound on the work one document may cost."""

from __future__ import annotations

import fnmatch
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iamd_policy import (
    PolicyKind,
    PolicyValidationError,
    ServiceDefinition,
    ServiceRegistry,
    builtin_registry,
    validate_policy,
)
from iamd_policy.findings import Finding, FindingType, validate_policy_document
from iamd_policy.findings.globs import Budget, BudgetExceeded, glob_covers, glob_match

from tests.policy.policy_helpers import ACCT, allow, deny, doc

ID = PolicyKind.IDENTITY
ERROR = FindingType.ERROR
SECURITY = FindingType.SECURITY_WARNING
WARNING = FindingType.WARNING
SUGGESTION = FindingType.SUGGESTION

ORDERS = ServiceDefinition.from_dict(
    {
        "prefix": "orders",
        "resource_types": [
            {
                "name": "order",
                "arn_pattern": "arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}",
            }
        ],
        "actions": [
            {"name": "GetOrder", "resource_types": ["order"]},
            {"name": "CancelOrder", "resource_types": ["order"]},
            {"name": "ListOrders"},
        ],
        "condition_keys": {
            "orders:Amount": "Numeric",
            "orders:Placed": "Date",
            "orders:Express": "Bool",
            "orders:Labels": "ArrayOfString",
            "orders:OrderArn": "ARN",
            "orders:Store": "String",
        },
    }
)
REGISTRY: ServiceRegistry = builtin_registry().with_definition(ORDERS)
ORDER = f"arn:aws:orders:eu-west-1:{ACCT}:order/1001"


def check(
    document: str | dict[str, Any], kind: PolicyKind = ID, **options: Any
) -> tuple[str, list[Finding]]:
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    registry = options.pop("registry", REGISTRY)
    return text, validate_policy_document(text, kind, registry, **options)


def codes(findings: list[Finding]) -> list[str]:
    return [f.issue_code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.issue_code == code]
    assert len(found) == 1, (code, codes(findings))
    return found[0]


def at(text: str, finding: Finding, number: int = 0) -> str:
    """The text of the finding's location `number`."""
    location = finding.locations[number]
    return text[location.start.offset : location.end.offset]


def path(finding: Finding, number: int = 0) -> list[Any]:
    return [
        s.index if s.index is not None else {"key": s.key} if s.key is not None else s.value
        for s in finding.locations[number].path
    ]


def clean(*statements: dict[str, Any], kind: PolicyKind = ID) -> None:
    """The policy gets no finding at all."""
    _, findings = check(doc(*statements), kind)
    assert findings == [], [(f.issue_code, f.details) for f in findings]


# ---- JSON and grammar ----------------------------------------------------------------------


def test_json_syntax_error_is_one_error_at_the_fault() -> None:
    text, findings = check('{"Version": "2012-10-17",\n  "Statement": [}')
    assert codes(findings) == ["JSON_SYNTAX_ERROR"]
    finding = findings[0]
    assert finding.finding_type is ERROR
    start = finding.locations[0].start
    assert (start.line, start.column) == (2, 16) and text[start.offset] == "}"
    assert "line 2 column 16" in finding.details
    assert finding.learn_more_link.endswith(
        "#access-analyzer-reference-policy-checks-error-json-syntax-error"
    )
    assert codes(check("not json at all")[1]) == ["JSON_SYNTAX_ERROR"]


GRAMMAR_CASES = [
    (allow(Foo="x"), "INVALID_POLICY_ELEMENT", [{"key": "Foo"}], '"Foo"'),
    (
        {"Effect": "Permit", "Action": "iam:GetUser", "Resource": "*"},
        "INVALID_EFFECT",
        ["Effect"],
        '"Permit"',
    ),
    ({"Effect": "Allow", "Resource": "*"}, "MISSING_ACTION", [], None),
    (allow("iam:GetUser", Sid="not-ok"), "UNSUPPORTED_SID", ["Sid"], '"not-ok"'),
    (allow("iam:GetUser", ["*", "bucket"]), "INVALID_ARN_PREFIX", ["Resource", 1], '"bucket"'),
    (allow("iam:GetUser", Principal="*"), "UNSUPPORTED_PRINCIPAL", ["Principal"], '"*"'),
    (allow("GetUser"), "INVALID_ACTION", ["Action"], '"GetUser"'),
    (
        allow("iam:GetUser", Condition={"StringMatches": {"aws:username": "a"}}),
        "INVALID_CONDITION_OPERATOR",
        ["Condition", {"key": "StringMatches"}],
        '"StringMatches"',
    ),
    (
        allow("iam:GetUser", Condition={"DateLessThan": {"aws:CurrentTime": "soon"}}),
        "TYPE_MISMATCH_DATE",
        ["Condition", "DateLessThan", {"key": "aws:CurrentTime"}],
        '"aws:CurrentTime"',
    ),
]


@pytest.mark.parametrize(("statement", "code", "steps", "token"), GRAMMAR_CASES)
def test_what_the_grammar_refuses_is_one_error_with_aws_code(
    statement: dict[str, Any], code: str, steps: list[Any], token: str | None
) -> None:
    text, findings = check({"Version": "2012-10-17", "Statement": [statement]})
    with pytest.raises(PolicyValidationError) as refused:
        validate_policy(text, ID)  # writes refuse exactly these documents
    assert codes(findings) == [code]
    finding = findings[0]
    assert finding.finding_type is ERROR and finding.details == refused.value.message
    assert path(finding) == ["Statement", 0, *steps]
    if token is not None:
        assert at(text, finding) == token


def test_grammar_errors_outside_statements() -> None:
    text, findings = check({"Version": "2013-01-01", "Statement": [allow("iam:GetUser")]})
    assert codes(findings) == ["INVALID_VERSION"] and at(text, findings[0]) == '"2013-01-01"'
    _, findings = check({"Version": "2012-10-17"})
    assert codes(findings) == ["MISSING_STATEMENT"]
    _, findings = check(doc(allow("iam:GetUser", Sid="A"), allow("iam:ListUsers", Sid="A")))
    assert codes(findings) == ["UNIQUE_SIDS_REQUIRED"] and path(findings[0]) == [
        "Statement",
        1,
        "Sid",
    ]
    text = doc(allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/x")).replace("/x", "/\u0101")
    _, findings = check(text)
    assert codes(findings) == ["INVALID_CHARACTER"]
    assert text[findings[0].locations[0].start.offset] == "\u0101"


def test_policy_size() -> None:
    resources = [f"arn:aws:s3:::bucket-{i:05d}/*" for i in range(300)]  # about 9,000 characters
    _, findings = check(doc(allow("s3:GetObject", resources)), registry=builtin_registry())
    warning = only(findings, "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA")
    assert warning.finding_type is WARNING and "6144" in warning.details
    resources = [f"arn:aws:s3:::bucket-{i:05d}/*" for i in range(400)]  # over 10,240
    _, findings = check(doc(allow("s3:GetObject", resources)))
    assert codes(findings) == ["POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA"]
    assert findings[0].finding_type is ERROR  # the write would be refused


# ---- the document -------------------------------------------------------------------------


def test_missing_version() -> None:
    _, findings = check(doc(allow("iam:GetUser"), version=None))
    finding = only(findings, "MISSING_VERSION")
    assert finding.finding_type is WARNING and path(finding) == []
    assert finding.learn_more_link.endswith("general-warning-missing-version")
    clean(allow("iam:GetUser"))


def test_variables_need_version_2012() -> None:
    statement = allow(
        "iam:GetUser",
        [f"arn:aws:iam::{ACCT}:user/${{aws:username}}", f"arn:aws:iam::{ACCT}:user/admin"],
        Condition={"StringEquals": {"aws:PrincipalTag/team": "${aws:username}"}},
    )
    text, findings = check(doc(statement, version="2008-10-17"))
    found = [f for f in findings if f.issue_code == "VARIABLE_UNSUPPORTED_IN_VERSION"]
    assert [f.finding_type for f in found] == [ERROR, ERROR]
    assert path(found[0]) == ["Statement", 0, "Resource", 0]
    assert path(found[1]) == ["Statement", 0, "Condition", "StringEquals", "aws:PrincipalTag/team"]
    assert at(text, found[1]) == '"${aws:username}"'
    _, findings = check(doc(statement))
    assert "VARIABLE_UNSUPPORTED_IN_VERSION" not in codes(findings)


def test_empty_sid() -> None:
    text, findings = check(doc(allow("iam:GetUser", Sid="")))
    finding = only(findings, "EMPTY_SID_VALUE")
    assert finding.finding_type is SUGGESTION and at(text, finding) == '""'


# ---- actions ----------------------------------------------------------------------------


def test_pass_role_with_star_in_resource() -> None:
    text, findings = check(doc(allow(["iam:GetRole", "iam:PassRole"], "*")))
    finding = only(findings, "PASS_ROLE_WITH_STAR_IN_RESOURCE")
    assert finding.finding_type is SECURITY
    assert path(finding, 0) == ["Statement", 0, "Action", 1]
    assert at(text, finding, 0) == '"iam:PassRole"' and at(text, finding, 1) == '"*"'
    assert "iam:PassedToService" in finding.details


def _statement(
    action: str, resource: str, *, not_action: bool, not_resource: bool
) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "NotAction" if not_action else "Action": action,
        "NotResource" if not_resource else "Resource": resource,
    }


@pytest.mark.parametrize(
    ("action", "resource", "not_action", "not_resource", "code"),
    [
        (
            "iam:*",
            f"arn:aws:iam::{ACCT}:role/*",
            False,
            False,
            "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
        ),
        ("iam:PassRole", "arn:aws:iam::1:role/x", False, True, "PASS_ROLE_WITH_NOT_RESOURCE"),
        ("*", "arn:aws:s3:::b", False, True, "PASS_ROLE_WITH_STAR_IN_ACTION_AND_NOT_RESOURCE"),
        ("s3:*", "*", True, False, "PASS_ROLE_WITH_STAR_IN_RESOURCE_AND_NOT_ACTION"),
        ("s3:*", "arn:aws:s3:::b", True, True, "PASS_ROLE_WITH_NOT_ACTION_AND_NOT_RESOURCE"),
    ],
)
def test_pass_role_variants(
    action: str, resource: str, not_action: bool, not_resource: bool, code: str
) -> None:
    statement = _statement(action, resource, not_action=not_action, not_resource=not_resource)
    text, findings = check(doc(statement))
    finding = only(findings, code)
    assert finding.finding_type is SECURITY
    assert at(text, finding, 0) == json.dumps(action)
    assert at(text, finding, 1) == json.dumps(resource)


def test_pass_role_that_is_narrowed_gets_no_security_warning() -> None:
    clean(allow("iam:PassRole", f"arn:aws:iam::{ACCT}:role/app-runner"))
    passed = {"StringEquals": {"iam:PassedToService": "orders.example.com"}}
    clean(allow("iam:PassRole", "*", Condition=passed))
    _, findings = check(doc({"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": "*"}))
    assert not [c for c in codes(findings) if c.startswith("PASS_ROLE")]
    clean(deny("iam:PassRole", "*"))
    clean(allow("iam:PassRole", "*"), kind=PolicyKind.SERVICE_CONTROL)  # SCPs grant nothing


def test_allow_with_not_action_and_not_resource() -> None:
    text, findings = check(doc({"Effect": "Allow", "NotAction": "iam:*", "NotResource": ORDER}))
    not_action = only(findings, "ALLOW_WITH_NOT_ACTION")
    not_resource = only(findings, "ALLOW_WITH_NOT_RESOURCE")
    assert not_action.finding_type is WARNING and not_resource.finding_type is WARNING
    assert at(text, not_action) == '"iam:*"' and at(text, not_resource) == f'"{ORDER}"'
    assert not_action.learn_more_link == ""  # a check AWS's reference does not list
    clean({"Effect": "Deny", "NotAction": "iam:*", "NotResource": ORDER})


def test_actions_no_service_definition_declares() -> None:
    statement = allow(["iam:GetUser", "iam:GetUsr", "billing:GetInvoice", "orders:Get*"], "*")
    text, findings = check(doc(statement))
    invalid = only(findings, "INVALID_ACTION")
    assert invalid.finding_type is ERROR and at(text, invalid) == '"iam:GetUsr"'
    service = only(findings, "INVALID_SERVICE_IN_ACTION")
    assert service.finding_type is ERROR and path(service) == ["Statement", 0, "Action", 2]
    # Registering the service (the live registry) makes its actions known.
    billing = ServiceDefinition.from_dict(
        {"prefix": "billing", "actions": [{"name": "GetInvoice"}]}
    )
    _, findings = check(doc(statement), registry=REGISTRY.with_definition(billing))
    assert "INVALID_SERVICE_IN_ACTION" not in codes(findings)
    # A wildcard that matches no declared action is as invalid as a misspelt name.
    _, findings = check(doc(allow(["orders:Delete*", "orders:Get*"], ORDER)))
    assert codes(findings) == ["INVALID_ACTION"]
    clean(allow(["orders:*Order", "ORDERS:listorders"], "*"))


def test_wildcard_in_service_name() -> None:
    text, findings = check(doc(allow("ord*:GetOrder", ORDER)))
    finding = only(findings, "WILDCARD_IN_SERVICE_NAME")
    # The grammar refuses it, as IAM does on write: an ERROR, not AWS's mere suggestion.
    assert finding.finding_type is ERROR and at(text, finding) == '"ord*:GetOrder"'


def test_unreachable_statements() -> None:
    # Every action undeclared: the statement never matches a request.
    _, findings = check(doc(allow(["iam:Nope", "orders:Nothing"], "*")))
    assert codes(findings).count("UNREACHABLE_STATEMENT") == 1
    # Resources of a type the actions do not act on.
    _, findings = check(doc(allow("orders:GetOrder", "arn:aws:s3:::bucket/*")))
    finding = only(findings, "UNREACHABLE_STATEMENT")
    assert finding.finding_type is WARNING
    assert path(finding, 0) == ["Statement", 0, "Resource"]
    assert path(finding, 1) == ["Statement", 0, "Action"]
    _, findings = check(doc(allow("orders:GetOrder", "arn:aws:orders:*:*:invoice/*")))
    assert codes(findings) == ["UNREACHABLE_STATEMENT"]
    # An action without resource types is only matched by "Resource": "*".
    _, findings = check(doc(allow("orders:ListOrders", "arn:aws:orders:*:*:order/*")))
    assert codes(findings) == ["UNREACHABLE_STATEMENT"]
    clean(allow("orders:ListOrders", "*"))
    clean(allow(["orders:GetOrder", "orders:ListOrders"], "arn:aws:orders:*:*:order/*"))
    clean(allow("orders:Get*", "arn:aws:orders:eu-*:*:ord*"))
    clean(allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"))


# ---- conditions ---------------------------------------------------------------------------


def test_condition_keys_no_definition_declares() -> None:
    condition = {
        "StringEquals": {
            "aws:SourceAddress": "10.0.0.1",
            "orders:Colour": "red",
            "orders:Store": "north",
            "aws:ResourceTag/team": "a",
            "token.example.com:aud": "client-1",
            "iam:ResourceTag/team": "a",
        }
    }
    text, findings = check(doc(allow("orders:GetOrder", ORDER, Condition=condition)))
    assert sorted(codes(findings)) == ["INVALID_GLOBAL_CONDITION_KEY", "UNKNOWN_CONDITION_KEY"]
    global_key = only(findings, "INVALID_GLOBAL_CONDITION_KEY")
    assert global_key.finding_type is ERROR and at(text, global_key) == '"aws:SourceAddress"'
    assert path(global_key) == [
        "Statement",
        0,
        "Condition",
        "StringEquals",
        {"key": "aws:SourceAddress"},
    ]
    service_key = only(findings, "UNKNOWN_CONDITION_KEY")
    assert service_key.finding_type is WARNING and at(text, service_key) == '"orders:Colour"'


def test_operator_of_the_wrong_type() -> None:
    condition = {
        "StringEquals": {"orders:Placed": "2024-01-01", "aws:SecureTransport": "true"},
        "DateLessThan": {"aws:CurrentTime": "2030-01-01", "aws:EpochTime": "1900000000"},
        "NumericLessThan": {"aws:EpochTime": "1900000000", "orders:Amount": "100"},
        "Bool": {"orders:Express": "true"},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "ArnLike": {"orders:OrderArn": "arn:aws:orders:*:*:order/*"},
    }
    text, findings = check(doc(allow("orders:GetOrder", ORDER, Condition=condition)))
    mismatches = [f for f in findings if f.issue_code == "TYPE_MISMATCH"]
    assert [at(text, f) for f in mismatches] == ['"orders:Placed"', '"aws:SecureTransport"']
    assert mismatches[0].finding_type is WARNING
    assert mismatches[0].details == (
        "Use the operator type Date instead of operator string for the condition key orders:Placed."
    )
    assert codes(findings) == ["TYPE_MISMATCH", "TYPE_MISMATCH"]


def test_string_like_on_an_arn_key() -> None:
    condition = {"StringLike": {"orders:OrderArn": "arn:aws:orders:*"}}
    _, findings = check(doc(allow("orders:GetOrder", ORDER, Condition=condition)))
    finding = only(findings, "STRING_LIKE_OPERATOR_WITH_ARN_CONDITION_KEYS")
    assert finding.finding_type is SECURITY
    clean(allow("orders:GetOrder", ORDER, Condition={"StringEquals": {"orders:OrderArn": ORDER}}))


@pytest.mark.parametrize(
    ("operator", "value", "code"),
    [
        ("NumericLessThan", "lots", "TYPE_MISMATCH_NUMBER"),
        ("Bool", "yes", "TYPE_MISMATCH_BOOLEAN"),
        ("IpAddress", "10.0.0.300/8", "TYPE_MISMATCH_IP_RANGE"),
        ("BinaryEquals", "not base64!", "TYPE_MISMATCH_STRING"),
        ("Null", "maybe", "TYPE_MISMATCH_BOOLEAN"),
    ],
)
def test_condition_values_the_operator_cannot_read(operator: str, value: str, code: str) -> None:
    key = {
        "NumericLessThan": "orders:Amount",
        "Bool": "orders:Express",
        "IpAddress": "aws:SourceIp",
        "BinaryEquals": "orders:Payload",
        "Null": "orders:Store",
    }[operator]
    condition = {operator: {key: [value]}}
    text, findings = check(doc(allow("orders:GetOrder", ORDER, Condition=condition)))
    finding = only(findings, code)
    assert finding.finding_type is WARNING and at(text, finding) == json.dumps(value)
    assert path(finding)[-1] == 0  # the value's index in its array


def test_set_qualifiers() -> None:
    text, findings = check(
        doc(allow("orders:GetOrder", ORDER, Condition={"StringEquals": {"aws:TagKeys": "team"}}))
    )
    missing = only(findings, "MISSING_QUALIFIER")
    assert missing.finding_type is ERROR and at(text, missing) == '"aws:TagKeys"'
    clean(
        allow(
            "orders:GetOrder",
            ORDER,
            Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "team", "orders:Labels": "x"}},
        )
    )
    _, findings = check(
        doc(
            allow(
                "orders:GetOrder",
                ORDER,
                Condition={"ForAllValues:StringEquals": {"orders:Store": "a"}},
            )
        )
    )
    assert only(findings, "FORALLVALUES_WITH_SINGLE_VALUED_KEY").finding_type is SECURITY


def test_wildcard_without_like_operator() -> None:
    condition = {"StringEquals": {"orders:Store": ["north", "south-*"]}}
    text, findings = check(doc(allow("orders:GetOrder", ORDER, Condition=condition)))
    finding = only(findings, "WILDCARD_WITHOUT_LIKE_OPERATOR")
    assert finding.finding_type is WARNING and at(text, finding) == '"south-*"'
    clean(allow("orders:GetOrder", ORDER, Condition={"StringLike": {"orders:Store": "south-*"}}))


# ---- principals ---------------------------------------------------------------------------


def test_public_access_without_condition() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "orders:GetOrder",
        "Resource": ORDER,
    }
    text, findings = check(doc(statement), PolicyKind.RESOURCE)
    finding = only(findings, "PUBLIC_ACCESS_WITHOUT_CONDITION")
    assert finding.finding_type is SECURITY and at(text, finding) == '"*"'
    _, findings = check(doc({**statement, "Principal": {"AWS": ["*"]}}), PolicyKind.RESOURCE)
    assert "PUBLIC_ACCESS_WITHOUT_CONDITION" in codes(findings)
    narrowed = {**statement, "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCT}}}
    clean(narrowed, kind=PolicyKind.RESOURCE)
    clean(
        {**statement, "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}}, kind=PolicyKind.RESOURCE
    )
    trust = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    _, findings = check(doc(trust), PolicyKind.TRUST)
    assert codes(findings) == ["PUBLIC_ACCESS_WITHOUT_CONDITION"]


# ---- redundancy -------------------------------------------------------------------------


def test_redundant_actions_and_resources() -> None:
    statement = allow(
        ["orders:GetOrder", "orders:Get*", "orders:ListOrders", "ORDERS:LISTORDERS"],
        ["arn:aws:orders:*:*:order/*", ORDER, "*"],
    )
    text, findings = check(doc(statement))
    actions = [f for f in findings if f.issue_code == "REDUNDANT_ACTION"]
    assert [(at(text, f, 0), at(text, f, 1)) for f in actions] == [
        ('"orders:Get*"', '"orders:GetOrder"'),
        ('"orders:ListOrders"', '"ORDERS:LISTORDERS"'),
    ]
    assert actions[0].finding_type is SUGGESTION
    assert "orders:GetOrder" in actions[0].details
    resources = [f for f in findings if f.issue_code == "REDUNDANT_RESOURCE"]
    assert {at(text, f, 1) for f in resources} == {
        '"arn:aws:orders:*:*:order/*"',
        f'"{ORDER}"',
    }


def test_redundant_statements() -> None:
    narrow = allow("orders:GetOrder", ORDER)
    wide = allow("orders:*", "arn:aws:orders:*:*:order/*")
    _, findings = check(doc(narrow, wide))
    finding = only(findings, "REDUNDANT_STATEMENT")
    assert finding.finding_type is SUGGESTION
    assert path(finding, 0) == ["Statement", 0] and path(finding, 1) == ["Statement", 1]
    assert "Statement 1 allows everything" in finding.details
    # Identical statements: AWS's wording; the later one is the redundant one.
    _, findings = check(doc(allow("iam:GetUser", Sid="A"), allow("iam:GetUser", Sid="B")))
    finding = only(findings, "REDUNDANT_STATEMENT")
    assert "identical permissions" in finding.details and path(finding) == ["Statement", 1]
    # A narrower statement with more conditions is covered; one with fewer is not.
    condition = {"StringEquals": {"aws:PrincipalTag/team": "a"}}
    _, findings = check(doc(wide, {**narrow, "Condition": condition}))
    assert codes(findings) == ["REDUNDANT_STATEMENT"]
    clean({**wide, "Condition": condition}, narrow)
    # Different effects never cover each other.
    clean(wide, deny("orders:GetOrder", ORDER))
    _, findings = check(doc(deny("orders:*", "*"), deny("orders:CancelOrder", ORDER)))
    assert "denies everything" in only(findings, "REDUNDANT_STATEMENT").details


def test_redundancy_with_variables_and_negations() -> None:
    own = f"arn:aws:iam::{ACCT}:user/${{aws:username}}"
    _, findings = check(
        doc(allow("iam:GetUser", own), allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/*"))
    )
    assert codes(findings) == ["REDUNDANT_STATEMENT"]
    # A variable stands for one user, not for every user.
    clean(allow("iam:GetUser", own), allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/alice"))
    _, findings = check(
        doc(
            {"Effect": "Deny", "NotAction": "iam:Get*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": ["iam:GetUser", "iam:GetRole"], "Resource": "*"},
        )
    )
    finding = only(findings, "REDUNDANT_STATEMENT")  # the second denies more
    assert path(finding) == ["Statement", 0] and path(finding, 1) == ["Statement", 1]


# ---- locations ---------------------------------------------------------------------------


def test_paths_follow_the_document_as_written() -> None:
    text = (
        '{\n  "Version": "2012-10-17",\n  "Statement": {\n    "Effect": "Allow",\n'
        '    "Action": "iam:PassRole",\n    "Resource": ["*"]\n  }\n}'
    )
    _, findings = check(text)
    finding = only(findings, "PASS_ROLE_WITH_STAR_IN_RESOURCE")
    assert path(finding, 0) == ["Statement", "Action"]  # one statement object, scalar Action
    assert path(finding, 1) == ["Statement", "Resource", 0]
    action = finding.locations[0]
    assert (action.start.line, action.start.column) == (5, 14)
    assert (action.end.line, action.end.column) == (5, 28)
    assert at(text, finding, 0) == '"iam:PassRole"'
    # Unicode escapes and escaped quotes do not shift the spans that follow.
    text = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:\\u0050assRole",'
        '"Condition":{"StringEquals":{"aws:username":"a\\"}b"}},"Resource":"*"}]}'
    )
    _, findings = check(text)
    assert at(text, only(findings, "PASS_ROLE_WITH_STAR_IN_RESOURCE"), 1) == '"*"'


# ---- bounds ---------------------------------------------------------------------------------


def test_work_is_bounded() -> None:
    # Patterns that make a backtracking matcher work hard, compared pairwise.
    actions = ["orders:" + "*a" * 40 + f"*{i}" for i in range(20)]
    resources = ["arn:aws:orders:*:*:" + "*a" * 40 + f"*{i}" for i in range(20)]
    text = doc(allow(actions, resources), allow(actions, resources))
    started = time.perf_counter()
    _, findings = check(text)
    assert time.perf_counter() - started < 5
    assert codes(findings).count("INVALID_ACTION") == 40
    # With no work left the cheap checks still run; the comparisons are skipped.
    _, findings = check(doc(allow("iam:PassRole"), allow("iam:PassRole")), work_limit=0)
    assert codes(findings) == ["PASS_ROLE_WITH_STAR_IN_RESOURCE"] * 2
    _, findings = check(doc(allow("iam:PassRole"), allow("iam:PassRole")))
    assert "REDUNDANT_STATEMENT" in codes(findings)


def test_wildcard_comparisons_stop_when_the_budget_is_spent() -> None:
    budget = Budget(1000)
    with pytest.raises(BudgetExceeded):
        glob_covers("*" + "a" * 100 + "b", "a" * 1000, budget)
    assert budget.left == 0
    with pytest.raises(BudgetExceeded):
        glob_match("x*", "y", budget) or glob_match("*a*b", "ab" * 10, budget)


# ---- the wildcard comparisons themselves --------------------------------------------------

_PATTERN = st.text(alphabet="ab*?", max_size=7)
_TEXT = st.text(alphabet="ab", max_size=8)


@settings(max_examples=300, deadline=None)
@given(_PATTERN, _TEXT)
def test_glob_match_agrees_with_fnmatch(pattern: str, text: str) -> None:
    assert glob_match(pattern, text, Budget(10_000)) == fnmatch.fnmatchcase(text, pattern)


@settings(max_examples=300, deadline=None)
@given(_PATTERN, _PATTERN, st.lists(_TEXT, min_size=1, max_size=8))
def test_glob_covers_is_sound(wider: str, narrower: str, texts: list[str]) -> None:
    if glob_covers(wider, narrower, Budget(10_000)):
        for text in texts:
            if fnmatch.fnmatchcase(text, narrower):
                assert fnmatch.fnmatchcase(text, wider), (wider, narrower, text)


# ---- any input ---------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "*",
        "iam:PassRole",
        "iam:Get*",
        "orders:GetOrder",
        "orders:*",
        "ord?rs:List*",
        "nope:Thing",
        ORDER,
        "arn:aws:orders:*:*:order/*",
        f"arn:aws:iam::{ACCT}:role/*",
        f"arn:aws:iam::{ACCT}:user/${{aws:username}}",
        "arn:aws:s3:::b",
        "bad",
        "",
    ]
)
_ELEMENT = st.one_of(_WORDS, st.lists(_WORDS, max_size=4))
_CONDITION = st.dictionaries(
    st.sampled_from(
        [
            "StringEquals",
            "StringLike",
            "NumericLessThan",
            "Bool",
            "ForAllValues:StringLike",
            "Null",
            "DateLessThan",
            "Bogus",
        ]
    ),
    st.dictionaries(
        st.sampled_from(
            ["aws:TagKeys", "aws:SourceIp", "orders:Amount", "orders:OrderArn", "aws:Nope", "x"]
        ),
        st.one_of(
            st.sampled_from(["1", "true", "10.0.0.0/8", "2020-01-01", "a*"]),
            st.lists(st.sampled_from(["1", "a"]), max_size=2),
        ),
        max_size=2,
    ),
    max_size=2,
)
_STATEMENT = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", "Maybe"])},
    optional={
        "Sid": st.sampled_from(["", "A", "B", "a-b"]),
        "Action": _ELEMENT,
        "NotAction": _ELEMENT,
        "Resource": _ELEMENT,
        "NotResource": _ELEMENT,
        "Principal": st.one_of(st.just("*"), st.fixed_dictionaries({"AWS": _ELEMENT})),
        "Condition": _CONDITION,
    },
)
_DOCUMENT = st.fixed_dictionaries(
    {"Statement": st.one_of(_STATEMENT, st.lists(_STATEMENT, max_size=4))},
    optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17", "2020"])},
)


def _well_located(text: str, findings: list[Finding]) -> None:
    for finding in findings:
        assert finding.locations
        for location in finding.locations:
            start, end = location.start, location.end
            assert 0 <= start.offset <= end.offset <= len(text)
            line_start = text.rfind("\n", 0, start.offset) + 1
            assert start.line == text.count("\n", 0, start.offset) + 1
            assert start.column == start.offset - line_start


@settings(max_examples=300, deadline=None)
@given(_DOCUMENT, st.sampled_from(list(PolicyKind)), st.booleans())
def test_any_document_gets_findings_never_an_exception(
    document: dict[str, Any], kind: PolicyKind, pretty: bool
) -> None:
    text = json.dumps(document, indent=2 if pretty else None)
    _, findings = check(text, kind)
    _well_located(text, findings)
    try:
        validate_policy(text, kind)
    except PolicyValidationError:
        # The grammar refuses it: one ERROR finding with a specific code, as the write fails.
        assert len(findings) == 1 and findings[0].finding_type is ERROR
        assert findings[0].issue_code != "MALFORMED_POLICY_DOCUMENT", findings[0].details
    else:
        # Accepted documents get advice; none of it is a grammar error.
        assert not any(f.issue_code == "MALFORMED_POLICY_DOCUMENT" for f in findings)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='{}[]":,*\\ \nu0aAllowStatement\u00e9', max_size=80))
def test_any_text_gets_findings_never_an_exception(text: str) -> None:
    _, findings = check(text)
    assert findings
    _well_located(text, findings)
