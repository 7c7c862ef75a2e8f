"""Wildcard tests without regular expressions, for analysing caller-supplied policies.

`glob_match` matches a pattern (`*` any run, `?` one character) against plain text;
`glob_covers` says whether every string one pattern matches is matched by another. Both use
the greedy backtracking scan (time O(len(pattern) * len(text)) at worst, never exponential)
and charge each step to a `Budget`, so a whole analysis has a fixed upper bound of work.
"""

from __future__ import annotations

__all__ = [
    "Budget",
    "BudgetExceeded",
    "arn_covers",
    "glob_covers",
    "glob_match",
    "has_wildcard",
    "widen_variables",
]

_ARN_PARTS = 6


class BudgetExceeded(Exception):
    """The analysis used up its steps; the checks that need more are skipped."""


class Budget:
    """Steps left for wildcard comparisons."""

    __slots__ = ("left",)

    def __init__(self, steps: int) -> None:
        self.left = steps

    def charge(self, steps: int = 1) -> None:
        """Spend steps of work done outside the wildcard scans (loops over pairs)."""
        self.left -= steps
        if self.left < 0:
            self.left = 0
            raise BudgetExceeded


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _scan(pattern: str, text: str, covers: bool, budget: Budget) -> bool:
    """Greedy match; with `covers`, `*` and `?` in `text` are wildcards only a `*` (or, for
    `?`, a `?`) of `pattern` can stand for."""
    limit = budget.left
    steps = 0
    p = t = 0
    star = -1
    mark = 0
    plen, tlen = len(pattern), len(text)
    while t < tlen:
        steps += 1
        if steps > limit:
            budget.left = 0
            raise BudgetExceeded
        pc = pattern[p] if p < plen else ""
        if pc == "*":
            star, mark = p, t
            p += 1
            continue
        tc = text[t]
        if pc and (
            (pc == "?" and not (covers and tc == "*")) or (pc == tc and not (covers and tc in "*?"))
        ):
            p += 1
            t += 1
        elif star >= 0:
            mark += 1
            p, t = star + 1, mark
        else:
            budget.left = limit - steps
            return False
    budget.left = limit - steps
    while p < plen and pattern[p] == "*":
        p += 1
    return p == plen


def glob_match(pattern: str, text: str, budget: Budget) -> bool:
    """Whether `pattern` matches all of the plain string `text`."""
    if not has_wildcard(pattern):
        return pattern == text
    if pattern.endswith("*") and not has_wildcard(pattern[:-1]):
        return text.startswith(pattern[:-1])
    return _scan(pattern, text, False, budget)


def glob_covers(wider: str, narrower: str, budget: Budget) -> bool:
    """True only if every string `narrower` matches is matched by `wider` (sound; it may
    miss exotic cases, never claims a false cover)."""
    if wider == narrower or wider == "*":
        return True
    return _scan(wider, narrower, True, budget)


def arn_covers(wider: str, narrower: str, budget: Budget) -> bool:
    """`glob_covers` for Resource entries: `*` alone matches everything, otherwise the six
    ARN segments are compared one by one (wildcards stay within the first five)."""
    if wider == "*" or wider == narrower:
        return True
    if narrower == "*":
        return False
    wide_parts = wider.split(":", _ARN_PARTS - 1)
    narrow_parts = narrower.split(":", _ARN_PARTS - 1)
    if len(wide_parts) < _ARN_PARTS or len(narrow_parts) < _ARN_PARTS:
        return False
    return all(glob_covers(w, n, budget) for w, n in zip(wide_parts, narrow_parts, strict=True))


def widen_variables(text: str) -> str:
    """`${...}` replaced by `*`: a resolved variable is some literal text, so whatever covers
    the widened string covers every resolution of the original."""
    start = text.find("${")
    if start < 0:
        return text
    out: list[str] = []
    position = 0
    while start >= 0:
        end = text.find("}", start + 2)
        if end < 0:
            break
        out.append(text[position:start])
        out.append("*")
        position = end + 1
        start = text.find("${", position)
    out.append(text[position:])
    return "".join(out)
