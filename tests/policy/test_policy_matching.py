"""Wildcard matching: the linear-time matchers agree with a plain dynamic-programming matcher."""

from __future__ import annotations

from collections.abc import Collection

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from iamd_policy.patterns import (
    ArnPattern,
    Glob,
    arn_from_pieces,
    compile_arn_patterns,
    compile_globs,
    glob_from_pieces,
)

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_glob(pattern: str, value: str, wild: Collection[int] | None = None) -> bool:
    """Textbook DP: table[i][j] = pattern[:i] matches value[:j]."""
    rows, cols = len(pattern), len(value)
    table = [[False] * (cols + 1) for _ in range(rows + 1)]
    table[0][0] = True
    for i in range(1, rows + 1):
        ch = pattern[i - 1]
        active = wild is None or (i - 1) in wild
        for j in range(cols + 1):
            if ch == "*" and active:
                table[i][j] = table[i - 1][j] or (j > 0 and table[i][j - 1])
            elif j > 0 and ((ch == "?" and active) or ch == value[j - 1]):
                table[i][j] = table[i - 1][j - 1]
    return table[rows][cols]


def _split(text: str, wild: Collection[int] | None) -> list[tuple[str, set[int] | None]]:
    parts: list[tuple[str, set[int] | None]] = []
    start = 0
    for _ in range(5):
        colon = text.find(":", start)
        if colon < 0:
            break
        parts.append((text[start:colon], _shift(wild, start)))
        start = colon + 1
    parts.append((text[start:], _shift(wild, start)))
    return parts


def _shift(wild: Collection[int] | None, offset: int) -> set[int] | None:
    return None if wild is None else {i - offset for i in wild if i >= offset}


def reference_arn(pattern: str, value: str, wild: Collection[int] | None = None) -> bool:
    """Segment-wise ARN rule, with the documented reading of short patterns."""
    if pattern == "*" and (wild is None or 0 in wild):
        return True
    values = value.split(":", 5)
    if len(values) < 6:
        return False
    parts = _split(pattern, wild)
    if len(parts) == 6:
        return all(reference_glob(p, v, w) for (p, w), v in zip(parts, values, strict=True))
    last, last_wild = parts[-1]
    if not last.endswith("*") or (last_wild is not None and len(last) - 1 not in last_wild):
        return False
    return all(reference_glob(p, v, w) for (p, w), v in zip(parts, values, strict=False))


patterns = st.text(alphabet="ab*?", max_size=10)
values = st.text(alphabet="abc", max_size=16)


@SETTINGS
@given(patterns, values)
@example("*a*a*a*a*b", "a" * 16)
@example("a?*?b", "aab")
@example("**", "")
@example("?", "")
def test_glob_agrees_with_reference(pattern: str, value: str) -> None:
    assert Glob(pattern).match(value) is reference_glob(pattern, value)


@SETTINGS
@given(patterns, values, st.integers(0, 5), st.integers(0, 5))
def test_glob_on_a_slice(pattern: str, value: str, left: int, right: int) -> None:
    padded = "x" * left + value + "y" * right
    expected = reference_glob(pattern, value)
    assert Glob(pattern).match_range(padded, left, left + len(value)) is expected
    assert Glob(pattern).match("x" * left + value, left) is expected


pieces = st.lists(st.tuples(st.text(alphabet="ab*?", max_size=4), st.booleans()), max_size=4)


@SETTINGS
@given(pieces, values)
@example([("a", True), ("*", False), ("b*", True)], "a*bzz")
def test_substituted_text_is_literal(parts: list[tuple[str, bool]], value: str) -> None:
    resolved = tuple(parts)
    text = "".join(t for t, _ in resolved)
    wild: set[int] = set()
    pos = 0
    for piece, active in resolved:
        if active:
            wild.update(pos + i for i, ch in enumerate(piece) if ch in "*?")
        pos += len(piece)
    assert glob_from_pieces(resolved).match(value) is reference_glob(text, value, wild)


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=4), values)
def test_compiled_glob_lists_agree(listed: list[str], value: str) -> None:
    expected = any(reference_glob(p, value) for p in listed)
    assert compile_globs(listed)(value) is expected


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=3), values)
def test_ignore_case_lowers_patterns(listed: list[str], value: str) -> None:
    upper = [p.upper() for p in listed]
    assert compile_globs(upper, ignore_case=True)(value) is compile_globs(listed)(value)


arn_patterns = st.text(alphabet="ab:*?", max_size=14)
arn_values = st.text(alphabet="ab:", max_size=16)


@SETTINGS
@given(arn_patterns, arn_values)
@example("a:b:*", "a:b:a:b:a:b")
@example("a:b:*:a", "a:b:a:b:a:b")
@example("a:b:a*", "a:b:ab:b:a:b:a")
@example("*:*:*:*:*:a*b", "a:a:a:a:a:aa:b")
@example("a:b", "a:b:a:b:a:b")
def test_arn_pattern_agrees_with_reference(pattern: str, value: str) -> None:
    compiled = ArnPattern.compile(pattern)
    got = compiled is not None and compiled.match(value)
    if pattern == "*":
        got = True  # `*` alone is handled by compile_arn_patterns
    assert got is reference_arn(pattern, value)
    assert compile_arn_patterns([pattern])(value) is reference_arn(pattern, value)


@SETTINGS
@given(st.lists(arn_patterns, min_size=1, max_size=4), arn_values)
def test_compiled_arn_lists_agree(listed: list[str], value: str) -> None:
    expected = any(reference_arn(p, value) for p in listed)
    assert compile_arn_patterns(listed)(value) is expected


arn_pieces = st.lists(st.tuples(st.text(alphabet="ab:*?", max_size=5), st.booleans()), max_size=4)


@SETTINGS
@given(arn_pieces, arn_values)
def test_arn_with_substituted_text(parts: list[tuple[str, bool]], value: str) -> None:
    resolved = tuple(parts)
    text = "".join(t for t, _ in resolved)
    wild: set[int] = set()
    pos = 0
    for piece, active in resolved:
        if active:
            wild.update(pos + i for i, ch in enumerate(piece) if ch in "*?")
        pos += len(piece)
    compiled = arn_from_pieces(resolved)
    got = compiled is not None and compiled.match(value)
    if text == "*" and 0 in wild:
        got = True
    assert got is reference_arn(text, value, wild)


def test_worst_case_patterns_answer() -> None:
    """The patterns that made the regex engine backtrack for seconds (timing: bench/)."""
    arn = "arn:aws:iam::111122223333:user/" + "a" * 40
    assert not compile_arn_patterns(["arn:aws:iam::*:user/*a*a*a*a*a*a*a*a*b"])(arn)
    assert compile_arn_patterns(["arn:aws:iam::*:user/*a*a*a*a*a*a*a*a*"])(arn)
    value = "-" * 3000
    assert not compile_globs(["*-*-*.csv"])(value)
    assert compile_globs(["*-*-*.csv"])(value + ".csv")
    many = "*a" * 20 + "*b"
    assert not Glob(many).match("a" * 10_000)
    assert Glob(many).match("a" * 10_000 + "b")
