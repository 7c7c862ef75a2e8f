"""Where each value and key of a JSON document sits in its text (for findings' locations).

The standard `json` module gives values but no positions, so this module walks the text once
more, after `json.loads` has accepted it, and records the span (start and end offsets) of
every value and every object key. Strings are decoded by the standard library's own scanner;
nesting deeper than `MAX_DEPTH` is skipped over without recursion (policies never nest that
deeply). Positions count characters of the text, as Python indexes it.
"""

from __future__ import annotations

import bisect
import json.decoder
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_DEPTH", "Node", "Position", "line_starts", "position", "scan"]

MAX_DEPTH = 24
_SPACE = " \t\n\r"
_NUMBER_CHARS = frozenset("+-0123456789.eE")
# The standard library's string scanner (C-accelerated); typeshed does not declare it.
_scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009


@dataclass(slots=True)
class Node:
    """One JSON value: its span, and its members (objects) or items (arrays)."""

    start: int
    end: int
    # Object members: name -> (key start, key end, value). The first of duplicates wins.
    members: dict[str, tuple[int, int, Node]] | None = None
    items: list[Node] | None = None


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # from 1
    column: int  # from 0
    offset: int  # from 0


def line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index >= 0:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def position(starts: list[int], offset: int) -> Position:
    line = bisect.bisect_right(starts, offset) - 1
    return Position(line + 1, offset - starts[line], offset)


class _Scanner:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def space(self, index: int) -> int:
        text = self.text
        while index < len(text) and text[index] in _SPACE:
            index += 1
        return index

    def string(self, index: int) -> tuple[str, int]:
        return _scanstring(self.text, index + 1)

    def value(self, index: int, depth: int) -> Node:
        text = self.text
        index = self.space(index)
        char = text[index]
        if char == "{":
            if depth >= MAX_DEPTH:
                return Node(index, self.skip(index))
            return self.obj(index, depth)
        if char == "[":
            if depth >= MAX_DEPTH:
                return Node(index, self.skip(index))
            return self.array(index, depth)
        if char == '"':
            _, end = self.string(index)
            return Node(index, end)
        if char in "tn":
            return Node(index, index + 4)
        if char == "f":
            return Node(index, index + 5)
        end = index
        while end < len(text) and text[end] in _NUMBER_CHARS:
            end += 1
        if end == index:
            raise ValueError(f"unexpected character at {index}")
        return Node(index, end)

    def obj(self, start: int, depth: int) -> Node:
        members: dict[str, tuple[int, int, Node]] = {}
        index = self.space(start + 1)
        if self.text[index] == "}":
            return Node(start, index + 1, members=members)
        while True:
            key_start = index
            key, key_end = self.string(index)
            index = self.space(key_end)
            if self.text[index] != ":":
                raise ValueError(f"expected ':' at {index}")
            node = self.value(index + 1, depth + 1)
            members.setdefault(key, (key_start, key_end, node))
            index = self.space(node.end)
            if self.text[index] == "}":
                return Node(start, index + 1, members=members)
            if self.text[index] != ",":
                raise ValueError(f"expected ',' at {index}")
            index = self.space(index + 1)

    def array(self, start: int, depth: int) -> Node:
        items: list[Node] = []
        index = self.space(start + 1)
        if self.text[index] == "]":
            return Node(start, index + 1, items=items)
        while True:
            node = self.value(index, depth + 1)
            items.append(node)
            index = self.space(node.end)
            if self.text[index] == "]":
                return Node(start, index + 1, items=items)
            if self.text[index] != ",":
                raise ValueError(f"expected ',' at {index}")
            index += 1

    def skip(self, start: int) -> int:
        """The end of the object or array at `start`, counting brackets outside strings."""
        text = self.text
        depth = 0
        index = start
        while index < len(text):
            char = text[index]
            if char == '"':
                _, index = self.string(index)
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
                if depth == 0:
                    return index + 1
            index += 1
        raise ValueError("unterminated value")


def scan(text: str) -> Node | None:
    """The span tree of a document `json.loads` accepts; None if the text is not such."""
    try:
        return _Scanner(text).value(0, 0)
    except (ValueError, IndexError):
        return None
