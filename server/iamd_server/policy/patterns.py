"""Wildcard matchers for actions, ARNs and string values.

Each pattern list compiles to three plain-data parts checked in order: a set of exact strings,
a tuple of prefixes (a pattern whose only wildcard is a trailing `*`), and one combined regular
expression for everything else. Most policies only need the first two, which avoid `re`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "ARN_SEGMENTS",
    "Matcher",
    "arn_regex_source",
    "compile_arn_patterns",
    "compile_globs",
    "compiled_regex",
    "glob_regex_source",
    "has_wildcard",
]

ARN_SEGMENTS = 6
_EMPTY: frozenset[str] = frozenset()


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def glob_regex_source(pattern: str, *, segment: bool = False) -> str:
    """`*` = any run, `?` = one character; inside an ARN segment neither crosses `:`."""
    star, one = ("[^:]*", "[^:]") if segment else (".*", ".")
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def arn_regex_source(pattern: str) -> str | None:
    """Regex for an ARN pattern matched segment by segment (iam-semantics 3.2).

    The first five segments never contain `:` in a match, so anchoring the literal colons
    of the pattern at the request's first five colons is exactly the segment-wise rule.
    None when the pattern has fewer than six parts (it never matches).
    """
    parts = pattern.split(":", ARN_SEGMENTS - 1)
    if len(parts) < ARN_SEGMENTS:
        return None
    head = ":".join(glob_regex_source(p, segment=True) for p in parts[:-1])
    return head + ":" + glob_regex_source(parts[-1])


@lru_cache(maxsize=8192)
def compiled_regex(source: str) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL)


class Matcher:
    """Matches a string against any of a list of compiled patterns."""

    __slots__ = ("any", "exact", "prefixes", "regex")

    def __init__(
        self,
        exact: frozenset[str],
        prefixes: tuple[str, ...],
        regex: re.Pattern[str] | None,
        any_: bool,
    ) -> None:
        self.exact = exact
        self.prefixes = prefixes
        self.regex = regex
        self.any = any_

    def __call__(self, value: str) -> bool:
        if self.any or value in self.exact:
            return True
        if self.prefixes and value.startswith(self.prefixes):
            return True
        regex = self.regex
        return regex is not None and regex.fullmatch(value) is not None


def _combine(sources: list[str]) -> re.Pattern[str] | None:
    if not sources:
        return None
    if len(sources) == 1:
        return compiled_regex(sources[0])
    return compiled_regex("|".join(f"(?:{s})" for s in sources))


def compile_globs(patterns: Iterable[str], *, ignore_case: bool = False) -> Matcher:
    """Plain glob patterns matched against the whole string (actions, StringLike values)."""
    exact: set[str] = set()
    prefixes: list[str] = []
    sources: list[str] = []
    any_ = False
    for pattern in patterns:
        if ignore_case:
            pattern = pattern.lower()
        if pattern == "*":
            any_ = True
        elif not has_wildcard(pattern):
            exact.add(pattern)
        elif pattern.endswith("*") and not has_wildcard(pattern[:-1]):
            prefixes.append(pattern[:-1])
        else:
            sources.append(glob_regex_source(pattern))
    return Matcher(frozenset(exact) or _EMPTY, tuple(prefixes), _combine(sources), any_)


def compile_arn_patterns(patterns: Iterable[str], *, star_matches_all: bool = True) -> Matcher:
    """ARN patterns (resource entries, ArnLike values); `*` alone matches everything."""
    exact: set[str] = set()
    prefixes: list[str] = []
    sources: list[str] = []
    any_ = False
    for pattern in patterns:
        if pattern == "*" and star_matches_all:
            any_ = True
            continue
        parts = pattern.split(":", ARN_SEGMENTS - 1)
        if len(parts) < ARN_SEGMENTS:
            continue  # never matches
        head_literal = not any(has_wildcard(p) for p in parts[:-1])
        rest = parts[-1]
        if head_literal and not has_wildcard(rest):
            exact.add(pattern)
        elif head_literal and rest.endswith("*") and not has_wildcard(rest[:-1]):
            prefixes.append(pattern[:-1])
        else:
            source = arn_regex_source(pattern)
            if source is not None:
                sources.append(source)
    return Matcher(frozenset(exact) or _EMPTY, tuple(prefixes), _combine(sources), any_)
