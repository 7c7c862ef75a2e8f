"""A policy document as text, decoded JSON and span tree: paths and locations of its parts.

Paths mirror the document as written: a single statement object has no index, a scalar
Action has none either, so every path resolves to the text the finding is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Location, PathElement
from .spans import Node, line_starts, position, scan

__all__ = ["Document", "Key", "Path"]


@dataclass(frozen=True, slots=True)
class Key:
    """The last step of a path that points at an object key itself (AWS's `key`)."""

    name: str


Path = tuple[str | int | Key, ...]


class Document:
    __slots__ = ("_starts", "_statement_list", "data", "statements", "text", "tree")

    def __init__(self, text: str, data: Any) -> None:
        self.text = text
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.tree: Node | None = scan(text) if isinstance(data, dict) else None
        self._starts = line_starts(text)
        body = self.data.get("Statement")
        self._statement_list = isinstance(body, list)
        items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        self.statements: list[dict[str, Any]] = [s if isinstance(s, dict) else {} for s in items]

    # ---- paths ----

    def statement(self, index: int) -> Path:
        return ("Statement", index) if self._statement_list else ("Statement",)

    def element(self, index: int, field: str) -> Path:
        return (*self.statement(index), field)

    def entry(self, index: int, field: str, position_: int) -> Path:
        """An entry of a string-or-array element (Action, Resource, Principal type, ...)."""
        value = self._raw(index).get(field)
        if isinstance(value, list):
            return (*self.element(index, field), position_)
        return self.element(index, field)

    def principal_entry(self, index: int, field: str, principal_type: str, position_: int) -> Path:
        value = self._raw(index).get(field)
        if not isinstance(value, dict):
            return self.element(index, field)
        path = (*self.element(index, field), principal_type)
        return (*path, position_) if isinstance(value.get(principal_type), list) else path

    def condition_key(self, index: int, operator: str, key: str) -> Path:
        return (*self.element(index, "Condition"), operator, Key(key))

    def condition_value(self, index: int, operator: str, key: str, position_: int) -> Path:
        block = self._raw(index).get("Condition")
        values = block.get(operator, {}).get(key) if isinstance(block, dict) else None
        path = (*self.element(index, "Condition"), operator, key)
        return (*path, position_) if isinstance(values, list) else path

    def _raw(self, index: int) -> dict[str, Any]:
        return self.statements[index] if 0 <= index < len(self.statements) else {}

    # ---- locations ----

    def location(self, path: Path = ()) -> Location:
        """The location of `path`: the steps that resolve, and the span of the last one."""
        node = self.tree
        if node is None:
            return self.span(0, len(self.text))
        start, end = node.start, node.end
        steps: list[PathElement] = []
        for item in path:
            if isinstance(item, Key):
                member = node.members.get(item.name) if node.members is not None else None
                if member is not None:
                    steps.append(PathElement(key=item.name))
                    start, end = member[0], member[1]
                break
            if isinstance(item, int):
                if node.items is None or not 0 <= item < len(node.items):
                    break
                node = node.items[item]
                steps.append(PathElement(index=item))
            else:
                found = node.members.get(item) if node.members is not None else None
                if found is None:
                    break
                node = found[2]
                steps.append(PathElement(value=item))
            start, end = node.start, node.end
        return Location(tuple(steps), position(self._starts, start), position(self._starts, end))

    def span(self, start: int, end: int, path: tuple[PathElement, ...] = ()) -> Location:
        end = max(start, min(end, len(self.text)))
        return Location(path, position(self._starts, start), position(self._starts, end))
