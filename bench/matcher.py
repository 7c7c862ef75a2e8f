"""Microseconds per wildcard match: the linear-time matcher beside the regex it replaced.

Typical patterns (what policies are made of) and adversarial ones (a policy author or a
caller choosing the value): the worst case is a pattern with 20 wildcards against a value of
10,000 characters. Both columns go through a one-pattern matcher as the engine calls it:
"glob" is `Matcher.test`, "regex (before)" the previous matcher's shape (exact set, prefix
tuple, then `re.fullmatch` of the pattern translated as before: `*` -> `.*`, `?` -> `.`, ARN
head segments `[^:]*`). Each adversarial regex match runs once in a child process stopped
after --timeout seconds, because a backtracking match cannot be interrupted.

Run: PYTHONPATH=server python bench/matcher.py [--timeout S]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from iamd_policy.patterns import compile_arn_patterns, compile_globs

ACCOUNT = "111122223333"


@dataclass(frozen=True)
class Case:
    name: str
    pattern: str
    value: str
    arn: bool
    adversarial: bool = False


def regex_source(pattern: str, arn: bool) -> str:
    """The translation the engine used before (patterns.py at the previous release)."""

    def glob(text: str, segment: bool) -> str:
        star, one = ("[^:]*", "[^:]") if segment else (".*", ".")
        return "".join(star if c == "*" else one if c == "?" else re.escape(c) for c in text)

    if not arn:
        return glob(pattern, False)
    parts = pattern.split(":", 5)
    return ":".join(glob(p, True) for p in parts[:-1]) + ":" + glob(parts[-1], False)


CASES = (
    Case("action exact", "s3:getobject", "s3:getobject", False),
    Case("action prefix s3:Get*", "s3:get*", "s3:getobject", False),
    Case("action s3:Get*Acl", "s3:get*acl", "s3:getobjectacl", False),
    Case("ARN prefix bucket/*", "arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.txt", True),
    Case(
        "ARN head wildcards",
        "arn:aws:dynamodb:*:*:table/orders",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders",
        True,
    ),
    Case(
        "ARN bucket/*/test/*",
        "arn:aws:s3:::bucket/*/test/*",
        "arn:aws:s3:::bucket/1/2/test/x.jpg",
        True,
    ),
    Case("StringLike home/*/docs/*", "home/*/docs/*", "home/alice/docs/report.pdf", False),
    Case(
        "issue: 8 x *a, 40-char ARN",
        "arn:aws:iam::*:user/" + "*a" * 8 + "*b",
        f"arn:aws:iam::{ACCOUNT}:user/" + "a" * 40,
        True,
        adversarial=True,
    ),
    Case("issue: *-*-*.csv, 3,000 chars", "*-*-*.csv", "-" * 3000, False, adversarial=True),
    Case(
        "worst: 20 wildcards, 10,000 chars",
        "*a" * 19 + "*b",
        "a" * 9_999 + "b",
        False,
        adversarial=True,
    ),
    Case(
        "worst, no match: 20 wildcards",
        "*a" * 18 + "*c*b",
        "a" * 9_999 + "b",
        False,
        adversarial=True,
    ),
)


def per_match_us(match: Callable[[str], object], value: str, budget: float = 0.2) -> float:
    """Median over 5 runs of a loop sized to take about `budget` seconds."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            match(value)
        elapsed = time.perf_counter() - start
        if elapsed > budget / 5 or loops >= 1 << 20:
            break
        loops *= 4
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            match(value)
        samples.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(samples)


def previous_matcher(case: Case) -> Callable[[str], bool]:
    """The matcher the engine had: exact strings, prefixes, then one regex."""
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    regex = None
    body = case.pattern[:-1]
    if "*" not in case.pattern and "?" not in case.pattern:
        exact = frozenset({case.pattern})
    elif case.pattern.endswith("*") and "*" not in body and "?" not in body:
        prefixes = (body,)
    else:
        regex = re.compile(regex_source(case.pattern, case.arn), re.DOTALL)

    def match(value: str) -> bool:
        if value in exact:
            return True
        if prefixes and value.startswith(prefixes):
            return True
        return regex is not None and regex.fullmatch(value) is not None

    return match


_CHILD = """
import re, sys, time
source, value = sys.argv[1], sys.argv[2]
compiled = re.compile(source, re.DOTALL)
start = time.perf_counter()
compiled.fullmatch(value)
print((time.perf_counter() - start) * 1e6)
"""


def regex_once_us(source: str, value: str, timeout: float) -> float | None:
    """One regex match in a child process; None when it ran past the timeout."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, source, value],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0, help="regex child limit (s)")
    args = parser.parse_args()
    print(f"{'case':36} {'glob us/match':>14} {'regex (before)':>16}  match")
    for case in CASES:
        build = compile_arn_patterns if case.arn else compile_globs
        matcher = build([case.pattern])
        glob_us = per_match_us(matcher.test, case.value)
        source = regex_source(case.pattern, case.arn)
        expected = re.fullmatch(source, case.value, re.DOTALL) if not case.adversarial else None
        if case.adversarial:
            once = regex_once_us(source, case.value, args.timeout)
            before = f">{args.timeout:.0f} s" if once is None else f"{once:,.1f}"
        else:
            before = f"{per_match_us(previous_matcher(case), case.value):,.2f}"
            assert bool(expected) is matcher(case.value), case.name
        print(f"{case.name:36} {glob_us:>14,.2f} {before:>16}  {matcher(case.value)}")


if __name__ == "__main__":
    main()
