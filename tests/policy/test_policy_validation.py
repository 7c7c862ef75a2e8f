"""Validation: every malformed document is rejected with a message naming the problem."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iamd_policy import (
    MAX_POLICY_SIZE,
    PolicyKind,
    PolicyValidationError,
    policy_size,
    validate_policy,
)
from iamd_policy.grammar import MAX_NESTING, _nesting_depth

from tests.policy.policy_helpers import allow, doc

ID = PolicyKind.IDENTITY


def error(document: str | bytes, kind: PolicyKind = ID, **kw: bool) -> PolicyValidationError:
    with pytest.raises(PolicyValidationError) as info:
        validate_policy(document, kind, **kw)
    return info.value


def test_valid_identity_policy() -> None:
    validate_policy(doc(allow("s3:GetObject", "arn:aws:s3:::b/*")), ID)


def test_statement_as_single_object() -> None:
    validate_policy(json.dumps({"Version": "2012-10-17", "Statement": allow()}), ID)


def test_duplicate_sid() -> None:  # edge case 56
    e = error(doc(allow(Sid="A"), allow(Sid="A")))
    assert e.message == "Statement IDs (SID) in a single policy must be unique."
    assert (e.statement_index, e.sid, e.field) == (1, "A", "Sid")
    assert "statement 1" in str(e) and "'A'" in str(e) and "Sid" in str(e)


def test_empty_sids_not_compared() -> None:
    validate_policy(doc(allow(Sid=""), allow(Sid="")), ID)


def test_sid_must_be_alphanumeric_in_iam_documents() -> None:
    assert "alpha-numeric" in error(doc(allow(Sid="a b"))).message
    validate_policy(
        doc(allow(Sid="a b", Principal="*")), PolicyKind.RESOURCE
    )  # resource policies are not IAM documents


def test_effect_case_sensitive() -> None:  # edge case 57
    e = error(doc({"Effect": "allow", "Action": "*", "Resource": "*"}))
    assert e.message.startswith("The policy failed legacy parsing")
    assert (e.statement_index, e.field) == (0, "Effect")


def test_action_and_notaction() -> None:  # edge case 58
    e = error(doc({"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}))
    assert e.message.startswith("Syntax errors in policy.")
    assert e.field == "NotAction"


def test_resource_and_notresource() -> None:
    e = error(doc(allow(NotResource="*")))
    assert e.message.startswith("Syntax errors in policy.")


def test_principal_in_identity_policy() -> None:  # edge case 59
    e = error(doc(allow(Principal="*")))
    assert e.message == "Policy document should not specify a principal."
    assert e.field == "Principal"


@pytest.mark.parametrize(
    "kind",
    [PolicyKind.PERMISSIONS_BOUNDARY, PolicyKind.SESSION, PolicyKind.SERVICE_CONTROL],
)
def test_principal_forbidden_in_other_kinds(kind: PolicyKind) -> None:
    e = error(doc(allow(NotPrincipal={"AWS": "123456789012"})), kind)
    assert e.message in (
        "Policy document should not specify a principal.",
        "Policy document must be version 2012-10-17 or greater.",
    )


def test_missing_principal_in_resource_policy() -> None:
    e = error(doc(allow()), PolicyKind.RESOURCE)
    assert e.message == "Missing required field Principal"


def test_trust_policy_rules() -> None:
    trust = {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}
    validate_policy(doc(trust), PolicyKind.TRUST)
    assert error(doc({**trust, "Resource": "*"}), PolicyKind.TRUST).message == (
        "Has prohibited field Resource"
    )
    no_principal = {"Effect": "Allow", "Action": "sts:AssumeRole"}
    assert error(doc(no_principal), PolicyKind.TRUST).message == "Missing required field Principal"
    np = {"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}
    assert error(doc(np), PolicyKind.TRUST).message == "Has prohibited field NotPrincipal"


def test_rcp_principal_must_be_star() -> None:
    validate_policy(doc(allow(Principal="*")), PolicyKind.RESOURCE_CONTROL)
    e = error(doc(allow(Principal={"AWS": "123456789012"})), PolicyKind.RESOURCE_CONTROL)
    assert "only support" in e.message


def test_not_principal_only_with_deny() -> None:
    e = error(doc(allow(NotPrincipal={"AWS": "123456789012"})), PolicyKind.RESOURCE)
    assert "NotPrincipal" in e.message


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:iam::123456789012:user/*",
        "bob",
        "arn:aws:s3:::bucket",
        "12345",
    ],
)
def test_invalid_principal(value: str) -> None:
    e = error(doc(allow(Principal={"AWS": value})), PolicyKind.RESOURCE)
    assert e.message == f'Invalid principal in policy: "AWS":"{value}"'


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "123456789012",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:user/path/bob",
        "arn:aws:iam::123456789012:role/R",
        "arn:aws:sts::123456789012:assumed-role/R/s",
        "AIDAJQABLZS4A3QDU576Q",
    ],
)
def test_valid_principals(value: str) -> None:
    validate_policy(doc(allow(Principal={"AWS": value})), PolicyKind.RESOURCE)


def test_unknown_principal_type() -> None:
    e = error(doc(allow(Principal={"Group": "x"})), PolicyKind.RESOURCE)
    assert e.message.startswith("Syntax errors in policy.")


def test_action_without_vendor() -> None:  # edge case 60
    e = error(doc(allow("GetObject")))
    assert e.message.startswith("Actions/Conditions must be prefaced by a vendor")
    assert e.field == "Action"


def test_action_two_colons() -> None:  # edge case 60
    assert error(doc(allow("s3:Get:Object"))).message.startswith(
        "Actions/Condition can contain only one colon."
    )


def test_action_bad_vendor() -> None:
    assert error(doc(allow("s 3:GetObject"))).message.startswith("Vendor s 3 is not valid")


def test_resource_not_arn() -> None:  # edge case 61
    e = error(doc(allow("s3:GetObject", "bucket-name")))
    assert e.message == 'Resource bucket-name must be in ARN format or "*".'
    assert e.field == "Resource"


def test_iam_resource_with_region() -> None:  # edge case 62
    arn = "arn:aws:iam:us-east-1:111122223333:user/x"
    assert error(doc(allow("iam:GetUser", arn))).message == (
        f"IAM resource {arn} cannot contain region information."
    )


def test_iam_resource_bad_prefix() -> None:
    e = error(doc(allow("iam:GetUser", "arn:aws:iam::111122223333:people/x")))
    assert e.message.startswith('IAM resource path must either be "*" or start with user/')


def test_s3_resource_with_region() -> None:
    e = error(doc(allow("s3:GetObject", "arn:aws:s3:us-east-1::b/k")))
    assert e.message == "Resource arn:aws:s3:us-east-1::b/k can not contain region information."


def test_resource_bad_partition_and_vendor() -> None:
    assert error(doc(allow("s3:GetObject", "arn:nope:s3:::b"))).message.startswith(
        'Partition "nope" is not valid'
    )
    assert error(doc(allow("s3:GetObject", "arn:aws:s*:::b"))).message == (
        "Resource vendor must be fully qualified and cannot contain regexes."
    )


def test_managed_policy_requires_version() -> None:  # edge case 63
    e = error(doc(allow(), version=None), managed=True)
    assert e.message == "Policy document must be version 2012-10-17 or greater."
    error(doc(allow(), version="2008-10-17"), PolicyKind.PERMISSIONS_BOUNDARY)
    validate_policy(doc(allow(), version=None), ID)  # inline: legacy accepted
    validate_policy(doc(allow(), version="2008-10-17"), ID)


def test_unknown_version() -> None:
    assert error(doc(allow(), version="2020-01-01")).message == (
        "Policy document must be version 2012-10-17 or greater."
    )


def test_unknown_action_accepted() -> None:  # edge case 64
    validate_policy(doc(allow("s3:NoSuchAction")), ID)


def test_missing_actions_and_resources() -> None:
    assert error(doc({"Effect": "Allow", "Resource": "*"})).message == (
        "Policy statement must contain actions."
    )
    assert error(doc({"Effect": "Allow", "Action": []})).message == (
        "Policy statement must contain actions."
    )
    assert error(doc({"Effect": "Allow", "Action": "*"})).message == (
        "Policy statement must contain resources."
    )


def test_unknown_elements() -> None:
    assert "Unknown element" in error(json.dumps({"Statement": [allow()], "Foo": 1})).message
    e = error(doc({**allow(), "Bogus": 1}))
    assert "Unknown element" in e.message and e.field == "Bogus"


def test_missing_statement_and_effect() -> None:
    assert "Missing Statement" in error(json.dumps({"Version": "2012-10-17"})).message
    assert "Missing Effect" in error(doc({"Action": "*", "Resource": "*"})).message
    assert error(json.dumps({"Statement": []})).message.startswith("Syntax errors")


def test_non_string_values() -> None:
    assert error(doc(allow(action=1))).message.startswith("Syntax errors")
    assert error(doc(allow(resource=["a", 2]))).message.startswith("Syntax errors")
    assert error(doc(allow(Sid=5))).field == "Sid"
    assert error(doc({"Effect": True, "Action": "*", "Resource": "*"})).field == "Effect"
    assert error(json.dumps({"Version": 2012, "Statement": allow()})).field == "Version"


def test_condition_errors() -> None:
    bad_op = error(doc(allow(Condition={"StringEqualz": {"aws:username": "a"}})))
    assert "Unknown condition operator" in bad_op.message
    assert bad_op.field == "Condition"
    assert "Unknown condition operator" in (
        error(doc(allow(Condition={"NullIfExists": {"aws:username": "true"}}))).message
    )
    assert "Unknown condition operator" in (
        error(doc(allow(Condition={"ForAnyValue:Null": {"aws:TagKeys": "true"}}))).message
    )
    assert error(doc(allow(Condition={"StringEquals": "x"}))).message.startswith("Syntax")
    assert error(doc(allow(Condition={"StringEquals": {"k:a": {"x": 1}}}))).message.startswith(
        "Syntax"
    )
    assert error(doc(allow(Condition={"StringEquals": {"k:a": None}}))).message.startswith("Syntax")
    assert error(doc(allow(Condition={"StringEquals": {"nokey": "x"}}))).message.startswith(
        "Actions/Conditions must be prefaced by a vendor"
    )


def test_bad_date_value() -> None:
    e = error(doc(allow(Condition={"DateLessThan": {"aws:CurrentTime": "yesterday"}})))
    assert e.message.startswith("The policy failed legacy parsing")


def test_numbers_and_booleans_in_conditions_accepted() -> None:
    validate_policy(
        doc(allow(Condition={"NumericLessThan": {"s3:max-keys": 10}, "Bool": {"aws:x": True}})),
        ID,
    )


def test_duplicate_json_keys() -> None:
    text = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Effect": "Deny"}}'
    e = error(text)
    assert e.message.startswith("Syntax errors in policy.") and "Duplicate key" in e.message


@pytest.mark.parametrize(
    "document",
    [
        b"\xff\xfe\x00",
        "not json",
        "[1, 2]",
        "null",
        '{"Statement": NaN}',
        "[" * 100000,
        '{"a":' * 50000,
        "",
    ],
)
def test_garbage_rejected(document: str | bytes) -> None:
    assert error(document).message.startswith("Syntax errors in policy.")


def test_invalid_characters() -> None:
    # json.dumps escapes the character, so the raw text is ASCII: accepted.
    validate_policy(doc(allow(Condition={"StringEquals": {"aws:x": "\u65e5"}})), ID)
    raw = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", '
    raw += '"Resource": "*", "Condition": {"StringEquals": {"aws:x": "\u65e5"}}}}'
    assert "invalid character" in error(raw).message


def test_size_limits() -> None:
    assert policy_size('{ "a" : "b c" }') == 10
    assert policy_size(b'{"a":\n"b"}') == 9
    big = doc(allow(resource=[f"arn:aws:s3:::bucket-{i:05d}/*" for i in range(300)]))
    assert policy_size(big) > MAX_POLICY_SIZE[PolicyKind.IDENTITY]
    assert error(big, managed=True).message == "Cannot exceed quota for PolicySize: 6144"
    assert error(big, PolicyKind.SESSION).message == "Cannot exceed quota for PolicySize: 2048"
    validate_policy(big, ID)  # an inline role policy may reach 10,240
    big_rp = doc(
        allow(resource=[f"arn:aws:s3:::bucket-{i:05d}/*" for i in range(300)], Principal="*")
    )
    validate_policy(big_rp, PolicyKind.RESOURCE)


def test_error_is_value_error_with_fields() -> None:
    e = PolicyValidationError("msg", 2, "S1", "Action")
    assert isinstance(e, ValueError)
    assert str(e) == "msg (statement 2, Sid 'S1', field Action)"
    assert str(PolicyValidationError("plain")) == "plain"


NESTED_DOCUMENTS = (
    "[" * 100_000 + "]" * 100_000,
    "[" * 60_000 + "]" * 60_000,
    "{" * 50_000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '{"Version": "2012-10-17", "Statement": ' + "[" * 40 + "]" * 40 + "}",
    json.dumps(
        {"Version": "2012-10-17", "Statement": [allow(Condition={"X": {"k:a": [[[[]]]]}})]}
    ).replace("[[[[]]]]", "[" * 900 + "]" * 900),
)


@pytest.mark.parametrize("text", NESTED_DOCUMENTS)
def test_deeply_nested_documents_are_malformed(text: str) -> None:
    for kind in (ID, PolicyKind.RESOURCE, PolicyKind.TRUST, PolicyKind.SERVICE_CONTROL):
        e = error(text, kind)
        assert e.message.startswith("Syntax errors in policy."), e.message
        assert "nested" in e.message or "longer than" in e.message


def test_documents_longer_than_aws_allows() -> None:
    padded = doc(allow()) + " " * 131_072
    assert "longer than 131072 characters" in error(padded).message


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    tricky = ["[" * 40, "{" * 40, '\\"[[[[', "\\\\", 'a\\\\"]]]', "\\u005b" * 40]
    statements = [allow("s3:GetObject", f"arn:aws:s3:::b/{t}") for t in tricky]
    statements += [allow("s3:GetObject", "*") for _ in range(20)]  # > 32 brackets overall
    validate_policy(doc(*statements), ID)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3), children, max_size=3)
    ),
    max_leaves=60,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 40))
def test_nesting_depth_agrees_with_the_parsed_value(value: object, wrap: int) -> None:
    wrapped: object = value
    for _ in range(wrap):
        wrapped = [wrapped]
    text = json.dumps(wrapped)
    true_depth = _depth(wrapped)
    measured = _nesting_depth(text)
    openers = text.count("[") + text.count("{")
    if openers <= MAX_NESTING:
        assert measured == 0
    elif true_depth > MAX_NESTING:
        assert measured > MAX_NESTING
    else:
        assert measured == true_depth


def test_account_ids_are_ascii_digits_only() -> None:
    """Non-ASCII digits (here Arabic-Indic) are not an account id in a principal's ARN."""
    arabic = "\u0661" * 12
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{arabic}:root"},
        "Action": "s3:GetObject",
        "Resource": "*",
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    with pytest.raises(PolicyValidationError):
        validate_policy(document, PolicyKind.RESOURCE)
