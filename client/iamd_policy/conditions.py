"""Condition operators compiled into objects evaluated against a Context.

One `Condition` is one (operator, key, values) triple of a Condition block. The per-value test
(`_Test`) is specialised by operator family; the wrapper applies the missing-key, IfExists,
set-operator and negation rules of iam-semantics 4.3/4.4.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from .context import Context, ContextValue
from .grammar import split_operator
from .patterns import (
    ArnPattern,
    Glob,
    Matcher,
    arn_from_pieces,
    compile_arn_patterns,
    compile_globs,
    glob_from_pieces,
    pieces_text,
)
from .values import IpNetwork, parse_binary, parse_bool, parse_date, parse_ip, parse_number
from .variables import Template, parse_template

__all__ = ["Condition", "ConditionTrace", "compile_condition"]

_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnLike",
    "ArnNotLike": "ArnLike",
}
_VARIABLE_FAMILIES = frozenset(
    {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnLike", "ArnEquals", "Bool"}
)

_number = lru_cache(maxsize=4096)(parse_number)
_date = lru_cache(maxsize=4096)(parse_date)
_ip = lru_cache(maxsize=4096)(parse_ip)


class _Test:
    """True when one context value matches any policy value (before negation)."""

    __slots__ = ()

    def __call__(self, value: str, context: Context) -> bool:
        raise NotImplementedError


class _Equals(_Test):
    __slots__ = ("fold", "templates", "values")

    def __init__(self, values: Sequence[str], fold: bool, templates: Sequence[Template]) -> None:
        self.fold = fold
        self.values = frozenset(v.lower() if fold else v for v in values)
        self.templates = tuple(templates)

    def __call__(self, value: str, context: Context) -> bool:
        if self.fold:
            value = value.lower()
        if value in self.values:
            return True
        for template in self.templates:
            text = template.resolve_text(context)
            if text is not None and (text.lower() if self.fold else text) == value:
                return True
        return False


def _template_pattern(template: Template, context: Context, arn: bool) -> Glob | ArnPattern | None:
    """The value pattern with the request's variables substituted (their text is literal)."""
    pieces = template.resolve(context)
    if pieces is None:
        return None
    resolved = tuple(pieces)
    return arn_from_pieces(resolved) if arn else glob_from_pieces(resolved)


class _Like(_Test):
    __slots__ = ("arn", "matcher", "templates")

    def __init__(self, values: Sequence[str], templates: Sequence[Template], arn: bool) -> None:
        self.arn = arn
        self.matcher: Matcher = compile_arn_patterns(values) if arn else compile_globs(values)
        self.templates = tuple(templates)

    def __call__(self, value: str, context: Context) -> bool:
        if self.matcher.test(value):
            return True
        for template in self.templates:
            pattern = _template_pattern(template, context, self.arn)
            if pattern is not None and pattern.match(value):
                return True
        return False


class _Numeric(_Test):
    __slots__ = ("op", "values")

    def __init__(self, values: Sequence[str], op: str) -> None:
        self.op = op
        self.values = tuple(n for n in (parse_number(v) for v in values) if n is not None)

    def __call__(self, value: str, context: Context) -> bool:
        number = _number(value)
        if number is None:
            return False
        return any(_compare(self.op, number, v) for v in self.values)


class _Date(_Test):
    __slots__ = ("op", "values")

    def __init__(self, values: Sequence[str], op: str) -> None:
        self.op = op
        self.values = tuple(d for d in (parse_date(v) for v in values) if d is not None)

    def __call__(self, value: str, context: Context) -> bool:
        stamp = _date(value)
        if stamp is None:
            return False
        return any(_compare(self.op, stamp, v) for v in self.values)


def _compare(op: str, left: Decimal | float, right: Decimal | float) -> bool:
    if op == "Equals":
        return left == right
    if op == "LessThan":
        return left < right
    if op == "LessThanEquals":
        return left <= right
    if op == "GreaterThan":
        return left > right
    return left >= right  # GreaterThanEquals


class _Bool(_Test):
    __slots__ = ("templates", "values")

    def __init__(self, values: Sequence[str], templates: Sequence[Template]) -> None:
        self.values = frozenset(b for b in (parse_bool(v) for v in values) if b is not None)
        self.templates = tuple(templates)

    def __call__(self, value: str, context: Context) -> bool:
        parsed = parse_bool(value)
        if parsed is None:
            return False
        if parsed in self.values:
            return True
        for template in self.templates:
            text = template.resolve_text(context)
            if text is not None and parse_bool(text) is parsed:
                return True
        return False


class _Binary(_Test):
    __slots__ = ("values",)

    def __init__(self, values: Sequence[str]) -> None:
        self.values = frozenset(b for b in (parse_binary(v) for v in values) if b is not None)

    def __call__(self, value: str, context: Context) -> bool:
        parsed = parse_binary(value)
        return parsed is not None and parsed in self.values


class _Ip(_Test):
    __slots__ = ("values",)

    def __init__(self, values: Sequence[str]) -> None:
        self.values: tuple[IpNetwork, ...] = tuple(
            n for n in (parse_ip(v) for v in values) if n is not None
        )

    def __call__(self, value: str, context: Context) -> bool:
        network = _ip(value)
        if network is None:
            return False
        # Any listed block may match, in any order; an address only lies in blocks of its own
        # family (0.0.0.0/0 holds every IPv4 address, ::/0 every IPv6 address).
        for block in self.values:
            if block.version == network.version and network.subnet_of(block):  # type: ignore[arg-type]
                return True
        return False


class _Null(_Test):
    """Handled entirely in Condition.test; kept for a uniform shape."""

    __slots__ = ()

    def __call__(self, value: str, context: Context) -> bool:
        return False


class ConditionTrace(NamedTuple):
    """How one condition went for a request (explain output)."""

    operator: str
    key: str
    # The request's values of the key; None when the key is absent.
    context_values: tuple[str, ...] | None
    result: bool
    # (context value, policy value as written, the policy value with its variables
    # substituted or None when it has none) for each context value some policy value
    # matched, before any negation: the CIDR block holding the address, the pattern...
    matches: tuple[tuple[str, str, str | None], ...]


class Condition:
    """One key under one operator."""

    __slots__ = (
        "base",
        "exact_values",
        "if_exists",
        "key",
        "key_lower",
        "negated",
        "null_absent",
        "null_present",
        "operator",
        "set_op",
        "test_value",
        "values",
        "variable_keys",
        "variables",
    )

    def __init__(self, operator: str, key: str, values: Sequence[str], variables: bool) -> None:
        split = split_operator(operator)
        if split is None:
            raise ValueError(f"unknown condition operator {operator!r}")
        set_op, base, if_exists = split
        self.operator = operator
        self.key = key
        self.key_lower = key.lower()
        self.set_op = set_op
        self.if_exists = if_exists
        self.negated = base in _NEGATED
        family = _NEGATED.get(base, base)
        self.base = family
        self.values = tuple(values)
        self.variables = variables
        plain: list[str] = []
        templates: list[Template] = []
        for value in values:
            template = parse_template(value) if variables and family in _VARIABLE_FAMILIES else None
            if template is None:
                plain.append(value)
            else:
                templates.append(template)
        self.variable_keys = tuple(k for t in templates for k in t.keys)
        lowered = {v.lower() for v in values}
        self.null_absent = "true" in lowered
        self.null_present = "false" in lowered
        self.test_value = _make_test(family, plain, templates)
        # Fast path for the most common shape: StringEquals/StringNotEquals, no set operator,
        # no variables.
        self.exact_values: frozenset[str] | None = None
        if family == "StringEquals" and set_op is None and not templates:
            self.exact_values = frozenset(plain)

    def test(self, context: Context) -> bool:
        value: ContextValue | None = context.get(self.key_lower)
        exact = self.exact_values
        if exact is not None and value is not None and not value.multi and value.values:
            return (value.values[0] in exact) is not self.negated
        if self.base == "Null":
            absent = value is None or not value.values
            return self.null_absent if absent else self.null_present
        if value is None or not value.values:
            if self.if_exists:
                return True
            if self.set_op is not None:
                return self.set_op == "ForAllValues"
            return self.negated
        test = self.test_value
        if self.set_op is None:
            if value.multi:
                return False  # multi-valued key without a set operator (iam-semantics 4.3)
            return test(value.values[0], context) is not self.negated
        negated = self.negated
        if self.set_op == "ForAllValues":
            return all(test(v, context) is not negated for v in value.values)
        return any(test(v, context) is not negated for v in value.values)

    def explain(self, context: Context) -> ConditionTrace:
        """The outcome and, for each context value, the policy value it matched."""
        value = context.get(self.key_lower)
        present = value.values if value is not None and value.values else None
        matches: list[tuple[str, str, str | None]] = []
        if present is not None and self.base != "Null":
            singles = [self._single(v, context) for v in self.values]
            for item in present:
                for written, (test, substituted) in zip(self.values, singles, strict=True):
                    if test(item, context):
                        matches.append((item, written, substituted))
                        break
        return ConditionTrace(self.operator, self.key, present, self.test(context), tuple(matches))

    def _single(self, written: str, context: Context) -> tuple[_Test, str | None]:
        """A test of one policy value, and that value with its variables substituted."""
        family = self.base
        template = (
            parse_template(written) if self.variables and family in _VARIABLE_FAMILIES else None
        )
        if template is None:
            return _make_test(family, [written], []), None
        pieces = template.resolve(context)
        shown = None
        if pieces is not None:
            like = family in ("StringLike", "ArnLike", "ArnEquals")
            shown = pieces_text(tuple(pieces)) if like else "".join(t for t, _ in pieces)
        return _make_test(family, [], [template]), shown


def _make_test(family: str, plain: list[str], templates: list[Template]) -> _Test:
    if family == "StringEquals":
        return _Equals(plain, False, templates)
    if family == "StringEqualsIgnoreCase":
        return _Equals(plain, True, templates)
    if family == "StringLike":
        return _Like(plain, templates, arn=False)
    if family in ("ArnLike", "ArnEquals"):
        return _Like(plain, templates, arn=True)
    if family.startswith("Numeric"):
        return _Numeric(plain, family[7:])
    if family.startswith("Date"):
        return _Date(plain, family[4:])
    if family == "Bool":
        return _Bool(plain, templates)
    if family == "BinaryEquals":
        return _Binary(plain)
    if family == "IpAddress":
        return _Ip(plain)
    return _Null()


def compile_condition(
    operator: str, key: str, values: Sequence[str], *, variables: bool = True
) -> Condition:
    return Condition(operator, key, values, variables)
