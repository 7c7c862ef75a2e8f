"""Service-definition ARN templates matched against request ARNs, in linear time.

`arn:${Partition}:s3:::${BucketName}/${ObjectName}`: in the first five segments a variable
or `*` matches any run within its segment. In the resource part a variable matches one or
more characters up to the next `/`, except a final variable directly after `/`, which takes
the rest (names with paths, object keys); `*` matches any run. Other characters are literal.

The request ARN comes from the caller, so no regular expression is run on it: segments are
compared with `patterns.Glob` (a variable is `?*` there: one character, then any), and a
template with `*` in its resource part, where a variable's stop at `/` and a `*` crossing it
meet, is run as a small NFA over the value, O(len(value) * len(template)).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .patterns import Glob

__all__ = ["compile_template"]

# Applied to the administrator's template, never to request values.
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

_LITERAL, _ONE, _ONE_BUT_SLASH, _RUN, _RUN_BUT_SLASH = range(5)


def _glob(text: str, variable: str) -> Glob:
    """A segment of the template as a Glob: `*` and variables (as `variable`) are wildcards,
    every other character (`?` included) is literal."""
    out: list[str] = []
    wild: list[int] = []
    pos = 0
    for match in _VARIABLE.finditer(text):
        for ch in text[pos : match.start()]:
            if ch == "*":
                wild.append(len(out))
            out.append(ch)
        for ch in variable:
            wild.append(len(out))
            out.append(ch)
        pos = match.end()
    for ch in text[pos:]:
        if ch == "*":
            wild.append(len(out))
        out.append(ch)
    return Glob("".join(out), wild)


def _tokens(text: str) -> list[tuple[int, str]]:
    """The resource part as NFA tokens."""
    out: list[tuple[int, str]] = []
    matches = list(_VARIABLE.finditer(text))
    pos = 0
    for index, match in enumerate(matches):
        for ch in text[pos : match.start()]:
            out.append((_RUN, "") if ch == "*" else (_LITERAL, ch))
        final = (
            index == len(matches) - 1
            and match.end() == len(text)
            and text[: match.start()].endswith("/")
        )
        out.append((_ONE, "") if final else (_ONE_BUT_SLASH, ""))
        out.append((_RUN, "") if final else (_RUN_BUT_SLASH, ""))
        pos = match.end()
    for ch in text[pos:]:
        out.append((_RUN, "") if ch == "*" else (_LITERAL, ch))
    return out


def _nfa(tokens: list[tuple[int, str]]) -> Callable[[str], bool]:
    size = len(tokens)

    def closure(states: set[int]) -> set[int]:
        todo = list(states)
        while todo:
            index = todo.pop()
            star = index < size and tokens[index][0] in (_RUN, _RUN_BUT_SLASH)
            if star and index + 1 not in states:
                states.add(index + 1)
                todo.append(index + 1)
        return states

    def match(value: str) -> bool:
        current = closure({0})
        for ch in value:
            following: set[int] = set()
            for index in current:
                if index == size:
                    continue
                kind, literal = tokens[index]
                if kind == _LITERAL:
                    if ch == literal:
                        following.add(index + 1)
                elif kind == _ONE or (kind == _ONE_BUT_SLASH and ch != "/"):
                    following.add(index + 1)
                elif kind == _RUN or (kind == _RUN_BUT_SLASH and ch != "/"):
                    following.add(index)
            if not following:
                return False
            current = closure(following)
        return size in current

    return match


def _resource_matcher(text: str) -> Callable[[str], bool]:
    if "*" in _VARIABLE.sub("", text):
        return _nfa(_tokens(text))
    segments = text.split("/")
    if len(segments) > 1 and _VARIABLE.fullmatch(segments[-1]) is not None:
        globs = tuple(_glob(s, "?*").match for s in segments[:-1])
        count = len(segments)

        def with_final(value: str) -> bool:
            pieces = value.split("/", count - 1)
            if len(pieces) != count or not pieces[-1]:
                return False
            return all(glob(piece) for glob, piece in zip(globs, pieces, strict=False))

        return with_final
    globs = tuple(_glob(s, "?*").match for s in segments)

    def segment_wise(value: str) -> bool:
        pieces = value.split("/")
        if len(pieces) != len(globs):
            return False
        return all(glob(piece) for glob, piece in zip(globs, pieces, strict=True))

    return segment_wise


def compile_template(template: str) -> Callable[[str], bool] | None:
    """A matcher for the template, or None when it does not have six segments."""
    parts = template.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    # Head segments other than `*`-likes: (index, literal text or Glob.match).
    head: list[tuple[int, str | Callable[..., bool]]] = []
    for index, part in enumerate(parts[:5]):
        glob = _glob(part, "*")
        if glob.source == "*" and glob.starred:
            continue
        head.append((index, part if not glob.starred else glob.match))
    resource = _resource_matcher(parts[5])

    def match(arn: str) -> bool:
        pieces = arn.split(":", 5)
        if len(pieces) != 6:
            return False
        for index, check in head:
            if isinstance(check, str):
                if pieces[index] != check:
                    return False
            elif not check(pieces[index]):
                return False
        return resource(pieces[5])

    return match
