"""Every condition operator, with IfExists, set prefixes and missing keys."""

from __future__ import annotations

import pytest
from iamd_policy import Context
from iamd_policy.conditions import compile_condition


def check(operator: str, values: list[str] | str, context: Context, key: str = "k:a") -> bool:
    items = values if isinstance(values, list) else [values]
    return compile_condition(operator, key, items).test(context)


def S(value: str) -> Context:  # noqa: N802 - reads like a type tag in the tables below
    return Context.from_entries([("k:a", "string", [value])])


EMPTY = Context()


@pytest.mark.parametrize(
    ("operator", "values", "value", "expected"),
    [
        ("StringEquals", ["a", "b"], "a", True),
        ("StringEquals", ["a"], "A", False),
        ("StringEquals", ["a*"], "abc", False),
        ("StringNotEquals", ["a", "b"], "a", False),  # edge case 14
        ("StringNotEquals", ["a", "b"], "c", True),
        ("StringEqualsIgnoreCase", ["AbC"], "aBc", True),
        ("StringEqualsIgnoreCase", ["AbC"], "abd", False),
        ("StringNotEqualsIgnoreCase", ["AbC"], "aBc", False),
        ("StringNotEqualsIgnoreCase", ["AbC"], "x", True),
        ("StringLike", ["a*c", "x?z"], "abbbc", True),
        ("StringLike", ["a*c", "x?z"], "xyz", True),
        ("StringLike", ["a*c"], "ABC", False),
        ("StringLike", ["*"], "", True),
        ("StringNotLike", ["a*"], "abc", False),
        ("StringNotLike", ["a*"], "bc", True),
    ],
)
def test_string_operators(operator: str, values: list[str], value: str, expected: bool) -> None:
    assert check(operator, values, S(value)) is expected


def num(v: str) -> Context:
    return Context.from_entries([("k:a", "numeric", [v])])


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("NumericEquals", "10", "10.0", True),
        ("NumericEquals", "10", "11", False),
        ("NumericNotEquals", "10", "11", True),
        ("NumericNotEquals", "10", "10", False),
        ("NumericLessThan", "10", "9.5", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericGreaterThan", "10", "10", False),
        ("NumericGreaterThan", "10", "11", True),
        ("NumericGreaterThanEquals", "10", "10", True),
        ("NumericGreaterThanEquals", "10", "-1", False),
    ],
)
def test_numeric_operators(operator: str, policy: str, value: str, expected: bool) -> None:
    assert check(operator, policy, num(value)) is expected


def test_numeric_unparsable_values() -> None:
    assert check("NumericEquals", "abc", num("1")) is False
    assert check("NumericEquals", "1", S("abc")) is False  # string-typed context value
    assert check("NumericNotEquals", "1", S("abc")) is True


def date(v: str) -> Context:
    return Context.from_entries([("aws:CurrentTime", "date", [v])])


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("DateEquals", "2024-01-01T00:00:00Z", "2024-01-01", True),
        ("DateEquals", "2024-01-01T00:00:00Z", "1704067200", True),
        ("DateNotEquals", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", True),
        ("DateNotEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00", False),
        ("DateLessThan", "2024-06-30T23:59:59Z", "2024-06-30T23:59:58Z", True),
        ("DateLessThan", "2024-06-30T23:59:59Z", "2024-06-30T23:59:59Z", False),
        ("DateLessThanEquals", "2024-06-30T23:59:59Z", "2024-06-30T23:59:59Z", True),
        ("DateGreaterThan", "2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z", True),  # edge 52
        ("DateGreaterThan", "1577836800", "2024-01-01T00:00:00Z", True),  # edge 52 epoch
        ("DateGreaterThanEquals", "2024-01-01", "2023-12-31T23:59:59Z", False),
        ("DateLessThan", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", False),
    ],
)
def test_date_operators(operator: str, policy: str, value: str, expected: bool) -> None:
    assert check(operator, policy, date(value), key="aws:CurrentTime") is expected


def test_bool_operator() -> None:
    def b(value: str) -> Context:
        return Context.from_entries([("k:a", "boolean", [value])])

    assert check("Bool", "true", b("TRUE"))
    assert not check("Bool", "true", b("false"))
    assert check("Bool", "FALSE", b("false"))
    assert check("Bool", "true", S("True"))  # string-typed value still compares as bool
    assert not check("Bool", "true", S("yes"))


def test_binary_operator() -> None:
    b = Context.from_entries([("k:a", "binary", ["aGVsbG8="])])
    assert check("BinaryEquals", "aGVsbG8=", b)
    assert not check("BinaryEquals", "d29ybGQ=", b)


def ip(v: str) -> Context:
    return Context.from_entries([("aws:SourceIp", "ip", [v])])


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("IpAddress", ["203.0.113.5"], "203.0.113.5", True),  # edge case 51
        ("IpAddress", ["203.0.113.5"], "203.0.113.6", False),
        ("IpAddress", ["203.0.113.0/24"], "203.0.113.200", True),
        ("IpAddress", ["2001:db8::/32"], "2001:db8::1", True),
        ("IpAddress", ["2001:db8::/32"], "203.0.113.5", False),
        ("IpAddress", ["0.0.0.0/0"], "2001:db8::1", False),
        ("IpAddress", ["::/0"], "203.0.113.5", False),
        ("IpAddress", ["10.0.0.0/8"], "10.1.0.0/16", True),
        ("NotIpAddress", ["10.0.0.0/8", "192.0.2.0/24"], "192.0.2.1", False),
        ("NotIpAddress", ["10.0.0.0/8", "192.0.2.0/24"], "198.51.100.1", True),
        # Any block may match, whatever the families and the order of the list.
        ("IpAddress", ["2001:db8::/32", "203.0.113.0/24"], "2001:db8::7", True),
        ("IpAddress", ["203.0.113.0/24", "2001:db8::/32"], "203.0.113.9", True),
        ("IpAddress", ["2001:db8::/32", "203.0.113.0/24"], "203.0.113.9", True),
        ("IpAddress", ["203.0.113.0/24", "2001:db8::/32"], "2001:db8::7", True),
        ("IpAddress", ["2001:db8::/32", "192.0.2.0/24"], "203.0.113.9", False),
        ("NotIpAddress", ["2001:db8::/32", "203.0.113.0/24"], "203.0.113.9", False),
        ("NotIpAddress", ["2001:db8::/32", "192.0.2.0/24"], "203.0.113.9", True),
        # IPv4-mapped IPv6 addresses are the IPv4 address they carry, in values and blocks.
        ("IpAddress", ["203.0.113.0/24"], "::ffff:203.0.113.9", True),
        ("IpAddress", ["192.0.2.0/24"], "::ffff:203.0.113.9", False),
        ("IpAddress", ["0.0.0.0/0"], "::ffff:203.0.113.9", True),
        ("IpAddress", ["::/0"], "::ffff:203.0.113.9", False),
        ("IpAddress", ["::ffff:203.0.113.0/120"], "203.0.113.9", True),
        ("IpAddress", ["::ffff:203.0.113.0/120"], "203.0.114.9", False),
        ("IpAddress", ["::ffff:0:0/96"], "198.51.100.1", True),
        ("NotIpAddress", ["203.0.113.0/24"], "::ffff:203.0.113.9", False),
        ("NotIpAddress", ["::/0"], "::ffff:203.0.113.9", True),
        ("IpAddress", ["2001:db8::/32"], "::ffff:203.0.113.9", False),
    ],
)
def test_ip_operators(operator: str, policy: list[str], value: str, expected: bool) -> None:
    assert check(operator, policy, ip(value), key="aws:SourceIp") is expected


ZERO_LISTS = (
    ["0.0.0.0/0"],
    ["0.0.0.0/0", "2001:db8::/32"],
    ["2001:db8::/32", "0.0.0.0/0"],
    ["192.0.2.0/24", "2001:db8::/32", "0.0.0.0/0"],
    ["2001:db8::/32", "192.0.2.0/24", "0.0.0.0/0", "::1/128"],
)
V4 = ("0.0.0.0", "10.1.2.3", "203.0.113.9", "255.255.255.255", "::ffff:198.51.100.7")
V6 = ("::", "::1", "2001:db8::7", "fe80::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")


@pytest.mark.parametrize("blocks", ZERO_LISTS)
@pytest.mark.parametrize("address", V4)
def test_ipv4_zero_block_holds_every_ipv4_address(blocks: list[str], address: str) -> None:
    """0.0.0.0/0 at any place of the list: every operator form sees the address inside."""
    context = ip(address)
    key = "aws:SourceIp"
    assert check("IpAddress", blocks, context, key=key) is True
    assert check("IpAddressIfExists", blocks, context, key=key) is True
    assert check("NotIpAddress", blocks, context, key=key) is False
    assert check("NotIpAddressIfExists", blocks, context, key=key) is False
    listed = Context.from_entries([(key, "ipList", [address, "192.0.2.1"])])
    assert check("ForAllValues:IpAddress", blocks, listed, key=key) is True
    assert check("ForAnyValue:IpAddress", blocks, listed, key=key) is True
    assert check("ForAnyValue:NotIpAddress", blocks, listed, key=key) is False
    assert check("ForAllValues:NotIpAddress", blocks, listed, key=key) is False


@pytest.mark.parametrize(
    "blocks",
    [
        ["::/0"],
        ["::/0", "192.0.2.0/24"],
        ["192.0.2.0/24", "::/0"],
        ["0.0.0.0/0", "192.0.2.0/24", "::/0"],
    ],
)
@pytest.mark.parametrize("address", V6)
def test_ipv6_zero_block_holds_every_ipv6_address(blocks: list[str], address: str) -> None:
    context = ip(address)
    key = "aws:SourceIp"
    assert check("IpAddress", blocks, context, key=key) is True
    assert check("NotIpAddress", blocks, context, key=key) is False
    listed = Context.from_entries([(key, "ipList", [address, "2001:db8::1"])])
    assert check("ForAllValues:IpAddress", blocks, listed, key=key) is True
    assert check("ForAnyValue:NotIpAddress", blocks, listed, key=key) is False


@pytest.mark.parametrize("address", V6)
def test_ipv4_zero_block_holds_no_ipv6_address(address: str) -> None:
    context = ip(address)
    key = "aws:SourceIp"
    assert check("IpAddress", ["0.0.0.0/0"], context, key=key) is False
    assert check("NotIpAddress", ["0.0.0.0/0"], context, key=key) is True


def arn(v: str) -> Context:
    return Context.from_entries([("aws:SourceArn", "string", [v])])


def test_arn_operators_vs_string_like() -> None:  # edge case 20
    pattern = "arn:aws:svc:*:111122223333:finance/*"
    value = "arn:aws:svc:us-east-2:999999999999:store/abc:111122223333:finance/doc"
    assert check("StringLike", pattern, arn(value), key="aws:SourceArn")
    assert not check("ArnLike", pattern, arn(value), key="aws:SourceArn")
    assert not check("ArnEquals", pattern, arn(value), key="aws:SourceArn")
    assert check("ArnNotLike", pattern, arn(value), key="aws:SourceArn")
    assert check("ArnNotEquals", pattern, arn(value), key="aws:SourceArn")
    good = "arn:aws:svc:eu-west-1:111122223333:finance/a:b"
    assert check("ArnLike", pattern, arn(good), key="aws:SourceArn")
    assert check("ArnEquals", pattern, arn(good), key="aws:SourceArn")
    assert not check("ArnLike", "arn:aws:svc:*:*:x", arn("not-an-arn"), key="aws:SourceArn")
    assert check("ArnLike", "*", arn(good), key="aws:SourceArn")


def test_missing_key_rules() -> None:
    for positive in (
        "StringEquals",
        "StringLike",
        "NumericEquals",
        "DateEquals",
        "Bool",
        "IpAddress",
        "ArnLike",
        "BinaryEquals",
        "StringEqualsIgnoreCase",
    ):
        assert check(positive, "x", EMPTY) is False, positive
        assert check(positive + "IfExists", "x", EMPTY) is True, positive
    for negated in (
        "StringNotEquals",
        "StringNotLike",
        "StringNotEqualsIgnoreCase",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "ArnNotLike",
        "ArnNotEquals",
    ):
        assert check(negated, "x", EMPTY) is True, negated
        assert check(negated + "IfExists", "x", EMPTY) is True, negated


def test_if_exists_with_present_key_behaves_like_base() -> None:
    assert check("StringEqualsIfExists", "a", S("a")) is True
    assert check("StringEqualsIfExists", "a", S("b")) is False
    assert check("StringNotEqualsIfExists", "a", S("a")) is False


def test_null_operator() -> None:
    assert check("Null", "true", EMPTY) is True
    assert check("Null", "false", EMPTY) is False
    assert check("Null", "TRUE", S("x")) is False
    assert check("Null", "false", S("x")) is True
    empty_list = Context.from_entries([("k:a", "stringList", [])])
    assert check("Null", "true", empty_list) is True


def tags(*values: str) -> Context:
    return Context.from_entries([("aws:TagKeys", "stringList", list(values))])


def test_for_all_values() -> None:
    op = "ForAllValues:StringEquals"
    assert check(op, ["a", "b"], EMPTY, key="aws:TagKeys") is True  # edge case 5
    assert check(op, ["a", "b"], tags(), key="aws:TagKeys") is True
    assert check(op, ["a", "b"], tags("a", "b"), key="aws:TagKeys") is True
    assert check(op, ["a", "b"], tags("a", "c"), key="aws:TagKeys") is False  # edge case 6
    neg = "ForAllValues:StringNotEquals"
    assert check(neg, ["a", "b"], tags("c", "d"), key="aws:TagKeys") is True
    assert check(neg, ["a", "b"], tags("c", "a"), key="aws:TagKeys") is False
    assert check("ForAllValues:StringLike", ["a*"], tags("ab", "ac"), key="aws:TagKeys")


def test_for_any_value() -> None:
    op = "ForAnyValue:StringEquals"
    assert check(op, ["a"], EMPTY, key="aws:TagKeys") is False  # edge case 7
    assert check(op, ["a"], tags(), key="aws:TagKeys") is False
    assert check(op, ["a"], tags("b", "a"), key="aws:TagKeys") is True
    assert check(op, ["a"], tags("b"), key="aws:TagKeys") is False
    assert check(op + "IfExists", ["a"], EMPTY, key="aws:TagKeys") is True
    neg = "ForAnyValue:StringNotEquals"
    assert check(neg, ["a", "b"], tags("a", "c"), key="aws:TagKeys") is True
    assert check(neg, ["a", "b"], tags("a", "b"), key="aws:TagKeys") is False
    assert check("ForAnyValue:StringEqualsIgnoreCase", ["A"], tags("a"), key="aws:TagKeys")


def test_set_operator_on_single_valued_key() -> None:
    assert check("ForAnyValue:StringEquals", ["a"], S("a")) is True
    assert check("ForAllValues:StringEquals", ["a"], S("b")) is False


def test_single_operator_on_multivalued_key() -> None:  # edge case 53
    assert check("StringEquals", ["a"], tags("a"), key="aws:TagKeys") is False
    assert check("StringNotEquals", ["a"], tags("b"), key="aws:TagKeys") is False


def test_key_names_case_insensitive() -> None:
    context = Context.from_entries([("AWS:SourceVpc", "string", ["vpc-1"])])
    assert check("StringEquals", "vpc-1", context, key="aws:sourcevpc")


def test_policy_variables_in_conditions() -> None:
    context = Context.from_entries(
        [("aws:username", "string", ["bob"]), ("k:a", "string", ["home/bob/x"])]
    )
    assert check("StringLike", "home/${aws:username}/*", context)
    assert not check("StringEquals", "home/${aws:username}/*", context)
    assert check("StringLike", "home/${aws:missing, 'bob'}/*", context)
    # Unresolvable: positive operators do not match, negated ones do.
    assert not check("StringLike", "home/${aws:missing}/*", context)
    assert check("StringNotLike", "home/${aws:missing}/*", context)
    # Substituted text is literal, escapes are literal.
    star = Context.from_entries([("aws:username", "string", ["*"]), ("k:a", "string", ["x"])])
    assert not check("StringLike", "${aws:username}", star)
    lit = Context.from_entries([("k:a", "string", ["a*b"])])
    assert check("StringEquals", "a${*}b", lit)
    assert check("StringLike", "a${*}b", lit)
    assert not check("StringLike", "a${*}b", S("axxb"))
    # Variables are not substituted for numeric operators.
    assert not check("NumericEquals", "${k:a}", num("1"))
    # Under the legacy version a variable is plain text.
    legacy = compile_condition("StringEquals", "k:a", ["${aws:username}"], variables=False)
    assert legacy.test(Context.from_entries([("k:a", "string", ["${aws:username}"])]))


def test_bool_with_variable() -> None:
    context = Context.from_entries([("k:a", "boolean", ["true"]), ("k:b", "string", ["true"])])
    assert check("Bool", "${k:b}", context)
