"""Wildcard matching for actions, ARNs and string values, in linear time, without `re`.

`*` matches any run of characters (also none), `?` exactly one. A pattern is cut at its stars
into chunks; a value matches when the first chunk is its start, the last chunk its end, and
the chunks in between occur in order, each at its leftmost place after the previous one.
Taking the leftmost place is always right (the star before the next chunk absorbs whatever
lies between), so no choice is ever revisited: the classic two-pointer glob match with one
resume point, here done chunk-wise with `str.find` / `str.startswith` on index ranges, which
allocate nothing. The cost is O(len(value) * len(pattern)) at worst whatever the pattern,
where a backtracking regex (`.*a.*a.*b`) is exponential.

A pattern list compiles into a `Matcher` checked cheapest first: a set of exact strings, a
tuple of prefixes (`abc*`), a tuple of suffixes (`*abc`, plain globs only) and the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from functools import lru_cache

__all__ = [
    "ARN_SEGMENTS",
    "ArnPattern",
    "Glob",
    "Matcher",
    "compile_arn_patterns",
    "compile_globs",
    "has_wildcard",
    "pieces_text",
]

ARN_SEGMENTS = 6
_HEAD = ARN_SEGMENTS - 1
_EMPTY: frozenset[str] = frozenset()

# Resolved template pieces: (text, wildcards active).
Pieces = tuple[tuple[str, bool], ...]


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


class _Chunk:
    """Text between two stars; `?` positions match any one character."""

    __slots__ = ("first", "first_offset", "length", "pieces", "plain", "text")

    def __init__(self, text: str, ones: Sequence[int] = ()) -> None:
        self.text = text
        self.length = len(text)
        self.plain = not ones
        # Literal runs between the `?` positions, as (offset, text).
        pieces: list[tuple[int, str]] = []
        start = 0
        for stop in (*ones, len(text)):
            if stop > start:
                pieces.append((start, text[start:stop]))
            start = stop + 1
        self.pieces = tuple(pieces)
        self.first_offset, self.first = pieces[0] if pieces else (0, "")

    def at(self, value: str, pos: int) -> bool:
        """Whether the chunk matches `value` at `pos` (the caller checked that it fits)."""
        if self.plain:
            return value.startswith(self.text, pos)
        for offset, piece in self.pieces:  # noqa: SIM110 - a loop is faster than all(genexpr)
            if not value.startswith(piece, pos + offset):
                return False
        return True

    def find(self, value: str, pos: int, stop: int) -> int:
        """The leftmost place in [pos, stop - length] where the chunk matches, or -1."""
        if self.plain:
            return value.find(self.text, pos, stop)
        last = stop - self.length
        if not self.pieces:
            return pos if pos <= last else -1
        offset, piece = self.first_offset, self.first
        end = last + offset + len(piece)
        while pos <= last:
            found = value.find(piece, pos + offset, end)
            if found < 0:
                return -1
            candidate = found - offset
            if self.at(value, candidate):
                return candidate
            pos = candidate + 1
        return -1


def _is_wild(text: str, index: int, wild: Collection[int] | None) -> bool:
    return text[index] in "*?" and (wild is None or index in wild)


class Glob:
    """One `*`/`?` pattern matched against a whole string: `Glob(p).match(value)`.

    `wild` lists the positions whose `*`/`?` are wildcards (None: all of them); the others
    are literal characters, as in text substituted for a policy variable. `match` is a
    function chosen for the pattern's shape (patterns without `?` need only `startswith`,
    `endswith` and one `find` per inner chunk); `match_range` is the general algorithm.
    """

    __slots__ = ("first", "last", "match", "middle", "min_length", "source", "starred")

    match: Callable[..., bool]  # (value, start=0): whether value[start:] matches

    def __init__(self, text: str, wild: Collection[int] | None = None) -> None:
        self.source = text
        chunks: list[_Chunk] = []
        ones: list[int] = []
        start = 0
        for index, ch in enumerate(text):
            if not _is_wild(text, index, wild):
                continue
            if ch == "*":
                chunks.append(_Chunk(text[start:index], ones))
                ones = []
                start = index + 1
            else:
                ones.append(index - start)
        chunks.append(_Chunk(text[start:], ones))
        self.starred = len(chunks) > 1
        self.first = chunks[0]
        self.last = chunks[-1]
        self.middle = tuple(c for c in chunks[1:-1] if c.length)
        self.min_length = sum(c.length for c in chunks)
        self.match = self._specialise()

    def match_range(self, value: str, start: int, end: int) -> bool:
        """Whether value[start:end] matches (without slicing it)."""
        first = self.first
        if not self.starred:
            return end - start == first.length and first.at(value, start)
        if end - start < self.min_length:
            return False
        if first.length and not first.at(value, start):
            return False
        last = self.last
        stop = end - last.length
        if last.length and not last.at(value, stop):
            return False
        pos = start + first.length
        for chunk in self.middle:
            found = chunk.find(value, pos, stop)
            if found < 0:
                return False
            pos = found + chunk.length
        return True

    def _specialise(self) -> Callable[..., bool]:
        """A function (value, start=0) -> whether value[start:] matches, for this shape."""
        first, last, middle = self.first, self.last, self.middle
        if not (first.plain and last.plain and all(c.plain for c in middle)):

            def general(value: str, start: int = 0) -> bool:
                return self.match_range(value, start, len(value))

            return general
        head, tail, size = first.text, last.text, self.min_length
        if not self.starred:

            def equal(value: str, start: int = 0) -> bool:
                return len(value) - start == size and value.startswith(head, start)

            return equal
        if not middle:

            def one_star(value: str, start: int = 0) -> bool:
                return (
                    len(value) - start >= size
                    and value.startswith(head, start)
                    and value.endswith(tail)
                )

            return one_star
        texts = tuple(c.text for c in middle)
        skip, keep = len(head), len(tail)
        if len(texts) == 1:
            inner = texts[0]
            if not head and not tail:

                def contains(value: str, start: int = 0) -> bool:
                    return value.find(inner, start) >= 0

                return contains

            def two_stars(value: str, start: int = 0) -> bool:
                return (
                    len(value) - start >= size
                    and value.startswith(head, start)
                    and value.endswith(tail)
                    and value.find(inner, start + skip, len(value) - keep) >= 0
                )

            return two_stars

        def stars(value: str, start: int = 0) -> bool:
            if len(value) - start < size:
                return False
            if not value.startswith(head, start) or not value.endswith(tail):
                return False
            pos, stop = start + skip, len(value) - keep
            for text in texts:
                found = value.find(text, pos, stop)
                if found < 0:
                    return False
                pos = found + len(text)
            return True

        return stars

    def __call__(self, value: str) -> bool:
        return self.match(value)

    def __repr__(self) -> str:
        return f"Glob({self.source!r})"


class ArnPattern:
    """An ARN pattern matched segment by segment (iam-semantics 3.2).

    The first five segments (`arn`, partition, service, region, account) are matched each on
    its own, so a wildcard there never crosses a `:`; in the resource part (after the fifth
    colon) `*` and `?` match any character. A value with fewer than six segments never
    matches.

    A pattern with fewer than six segments whose last character is a wildcard `*` covers the
    segments it leaves out; one without never matches. AWS, IAM User Guide, "IAM JSON policy
    elements: Resource", Using wildcards in resource ARNs: "You can use multiple * or ?
    characters in each segment. If the * wildcard is the last character of a resource ARN
    segment, it can expand to match beyond the colon boundaries." So
    `arn:aws:sqs:us-east-1:*` covers every SQS ARN in us-east-1, `arn:aws:sqs:*` every SQS
    ARN, and `arn:aws:sqs` (no wildcard) names no resource. Patterns with all six segments
    keep the segment-wise rule (ArnLike: "each of the six colon-delimited components of the
    ARN is checked individually").
    """

    __slots__ = ("globs", "literals", "prefix", "rest", "source", "tail")

    def __init__(
        self,
        source: str,
        prefix: str,
        literals: tuple[tuple[int, str], ...],
        globs: tuple[tuple[int, Callable[[str], bool]], ...],
        tail: Callable[[str], bool] | None,
        rest: Callable[..., bool] | None = None,
    ) -> None:
        self.source = source
        self.prefix = prefix  # the pattern's text before its first wildcard
        self.literals = literals  # (segment index, text) not already covered by `prefix`
        self.globs = globs  # (segment index, matcher)
        self.tail = tail  # the resource part; None: a short pattern, anything
        # When the prefix holds all five head segments: the pattern after the prefix.
        self.rest = rest

    @classmethod
    def compile(cls, text: str, wild: Collection[int] | None = None) -> ArnPattern | None:
        """None when the pattern can match no ARN."""
        parts: list[tuple[int, str]] = []
        start = 0
        while len(parts) < _HEAD:
            colon = text.find(":", start)
            if colon < 0:
                break
            parts.append((start, text[start:colon]))
            start = colon + 1
        resource = (start, text[start:])
        first_wild = next((i for i in range(len(text)) if _is_wild(text, i, wild)), len(text))
        prefix = text[:first_wild]
        covered = prefix.count(":")  # segments the prefix checks completely

        def glob(offset: int, part: str) -> Glob:
            local = None if wild is None else [i - offset for i in wild if offset <= i]
            return Glob(part, local)

        head = parts
        tail: Callable[[str], bool] | None = None
        if len(parts) == _HEAD:
            tail = glob(*resource).match
        else:
            offset, last = resource
            if not last.endswith("*") or not _is_wild(text, offset + len(last) - 1, wild):
                return None  # short without a final `*`: names no ARN
            head = [*parts, resource]
        literals: list[tuple[int, str]] = []
        globs: list[tuple[int, Callable[[str], bool]]] = []
        for index, (offset, part) in enumerate(head):
            if index < covered or (part == "*" and _is_wild(text, offset, wild)):
                continue
            if any(_is_wild(text, offset + i, wild) for i in range(len(part))):
                globs.append((index, glob(offset, part).match))
            else:
                literals.append((index, part))
        rest: Callable[..., bool] | None = None
        if tail is not None and covered >= _HEAD:
            rest = glob(first_wild, text[first_wild:]).match
        return cls(text, prefix, tuple(literals), tuple(globs), tail, rest)

    def match(self, value: str) -> bool:
        if not value.startswith(self.prefix):
            return False
        parts = value.split(":", _HEAD)
        if len(parts) != ARN_SEGMENTS:
            return False
        for index, literal in self.literals:
            if parts[index] != literal:
                return False
        for index, segment in self.globs:
            if not segment(parts[index]):
                return False
        tail = self.tail
        return tail is None or tail(parts[_HEAD])

    def matcher(self) -> Callable[[str], bool]:
        """`match`, specialised for the common shape: only the prefix and the resource part
        to check (`arn:aws:dynamodb:*:*:table/t*`)."""
        tail = self.tail
        if self.literals or self.globs or tail is None:
            return self.match
        prefix, rest = self.prefix, self.rest
        if rest is not None:
            start = len(prefix)

            def prefix_then_rest(value: str) -> bool:
                return value.startswith(prefix) and rest(value, start)

            return prefix_then_rest

        def prefix_and_tail(value: str) -> bool:
            if not value.startswith(prefix):
                return False
            parts = value.split(":", _HEAD)
            return len(parts) == ARN_SEGMENTS and tail(parts[_HEAD])

        return prefix_and_tail

    def __call__(self, value: str) -> bool:
        return self.match(value)

    def __repr__(self) -> str:
        return f"ArnPattern({self.source!r})"


def _wild_positions(pieces: Pieces) -> tuple[str, frozenset[int]]:
    """Joined text of resolved pieces and the positions whose wildcards are active."""
    out: list[str] = []
    wild: set[int] = set()
    pos = 0
    for text, is_pattern in pieces:
        if is_pattern:
            wild.update(pos + i for i, ch in enumerate(text) if ch in "*?")
        out.append(text)
        pos += len(text)
    return "".join(out), frozenset(wild)


def pieces_text(pieces: Pieces) -> str:
    """Resolved pieces as one pattern, substituted wildcards escaped as `${*}` / `${?}`."""
    out: list[str] = []
    for text, is_pattern in pieces:
        if is_pattern:
            out.append(text)
        else:
            out.append(text.replace("$", "${$}").replace("*", "${*}").replace("?", "${?}"))
    return "".join(out)


@lru_cache(maxsize=4096)
def glob_from_pieces(pieces: Pieces) -> Glob:
    text, wild = _wild_positions(pieces)
    return Glob(text, wild)


@lru_cache(maxsize=4096)
def arn_from_pieces(pieces: Pieces) -> ArnPattern | None:
    text, wild = _wild_positions(pieces)
    return ArnPattern.compile(text, wild)


class Matcher:
    """Matches a string against any of a list of compiled patterns: `matcher(value)`, or
    `matcher.test(value)`, a function chosen for the parts the list has (one call less)."""

    __slots__ = ("any", "exact", "others", "prefixes", "suffixes", "test")

    def __init__(
        self,
        exact: frozenset[str],
        prefixes: tuple[str, ...],
        others: tuple[Glob | ArnPattern, ...],
        any_: bool,
        suffixes: tuple[str, ...] = (),
    ) -> None:
        self.exact = exact
        self.prefixes = prefixes
        self.suffixes = suffixes
        self.others = others
        self.any = any_
        self.test = self._specialise()

    def _specialise(self) -> Callable[[str], bool]:
        exact, prefixes, suffixes = self.exact, self.prefixes, self.suffixes
        tests = tuple(p.matcher() if isinstance(p, ArnPattern) else p.match for p in self.others)
        if self.any:
            return _always
        if not prefixes and not suffixes and not tests:
            return exact.__contains__
        if not exact and not prefixes and not suffixes and len(tests) == 1:
            return tests[0]

        def test(value: str) -> bool:
            if value in exact:
                return True
            if prefixes and value.startswith(prefixes):
                return True
            if suffixes and value.endswith(suffixes):
                return True
            for other in tests:  # noqa: SIM110 - a loop is faster than any(genexpr)
                if other(value):
                    return True
            return False

        return test

    def __call__(self, value: str) -> bool:
        return self.test(value)


def _always(value: str) -> bool:
    return True


def compile_globs(patterns: Iterable[str], *, ignore_case: bool = False) -> Matcher:
    """Plain glob patterns matched against the whole string (actions, StringLike values)."""
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    others: list[Glob | ArnPattern] = []
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
        elif pattern.startswith("*") and not has_wildcard(pattern[1:]):
            suffixes.append(pattern[1:])
        else:
            others.append(Glob(pattern))
    return Matcher(
        frozenset(exact) or _EMPTY, tuple(prefixes), tuple(others), any_, tuple(suffixes)
    )


def compile_arn_patterns(patterns: Iterable[str]) -> Matcher:
    """ARN patterns (resource entries, ArnLike values); `*` alone matches everything."""
    exact: set[str] = set()
    prefixes: list[str] = []
    others: list[Glob | ArnPattern] = []
    any_ = False
    for pattern in patterns:
        if pattern == "*":
            any_ = True
            continue
        parts = pattern.split(":", _HEAD)
        if len(parts) == ARN_SEGMENTS and not any(has_wildcard(p) for p in parts[:-1]):
            rest = parts[-1]
            if not has_wildcard(rest):
                exact.add(pattern)
                continue
            if rest.endswith("*") and not has_wildcard(rest[:-1]):
                prefixes.append(pattern[:-1])
                continue
        compiled = ArnPattern.compile(pattern)
        if compiled is not None:
            others.append(compiled)
    return Matcher(frozenset(exact) or _EMPTY, tuple(prefixes), tuple(others), any_)
