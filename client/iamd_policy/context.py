"""Typed request context; key names compare case-insensitively."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .errors import ContextError
from .values import parse_binary, parse_bool, parse_date, parse_ip, parse_number

__all__ = ["CONTEXT_TYPES", "Context", "ContextValue"]

_SCALAR_TYPES = ("string", "numeric", "boolean", "ip", "binary", "date")
CONTEXT_TYPES = frozenset(_SCALAR_TYPES + tuple(t + "List" for t in _SCALAR_TYPES))

_CHECKS = {
    "numeric": parse_number,
    "boolean": parse_bool,
    "ip": parse_ip,
    "binary": parse_binary,
    "date": parse_date,
}


class ContextValue:
    """The values of one key. `multi` is True for list types (set operators apply)."""

    __slots__ = ("multi", "name", "type", "values")

    def __init__(self, name: str, type_: str, values: tuple[str, ...], multi: bool) -> None:
        self.name = name
        self.type = type_
        self.values = values
        self.multi = multi

    def __repr__(self) -> str:
        return f"ContextValue({self.name!r}, {self.type!r}, {self.values!r})"


class Context:
    """Immutable mapping of lowercased key -> ContextValue."""

    __slots__ = ("_values",)

    EMPTY: Context

    def __init__(self, values: Mapping[str, ContextValue] | None = None) -> None:
        self._values: dict[str, ContextValue] = dict(values) if values else {}

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, Sequence[str]]]) -> Context:
        """Entries (key, type, values) as in SimulateCustomPolicy's ContextEntries."""
        values: dict[str, ContextValue] = {}
        for entry in entries:
            value = _make_value(*entry)
            lowered = value.name.lower()
            if lowered in values:
                raise ContextError(value.name, "duplicate context key")
            values[lowered] = value
        return cls(values)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Sequence[str]]) -> Context:
        """Untyped convenience: a str is a single string, a sequence a stringList."""
        entries: list[tuple[str, str, Sequence[str]]] = []
        for key, value in mapping.items():
            if isinstance(value, str):
                entries.append((key, "string", (value,)))
            else:
                entries.append((key, "stringList", tuple(value)))
        return cls.from_entries(entries)

    def merge(self, trusted: Context) -> Context:
        """A new context where the keys of `trusted` replace same-named keys of this one."""
        if not trusted._values:
            return self
        merged = dict(self._values)
        merged.update(trusted._values)
        return Context(merged)

    def get(self, key_lower: str) -> ContextValue | None:
        return self._values.get(key_lower)

    def single(self, key: str) -> str | None:
        """The one value of a single-valued key, else None."""
        value = self._values.get(key.lower())
        if value is None or value.multi or len(value.values) != 1:
            return None
        return value.values[0]

    def is_multi(self, key: str) -> bool:
        value = self._values.get(key.lower())
        return value is not None and value.multi

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values

    def __len__(self) -> int:
        return len(self._values)

    def items(self) -> list[tuple[str, ContextValue]]:
        return list(self._values.items())

    def __repr__(self) -> str:
        return f"Context({list(self._values.values())!r})"


Context.EMPTY = Context()


def _make_value(key: object, type_: object, values: object) -> ContextValue:
    if not isinstance(key, str) or not key:
        raise ContextError(str(key), "key must be a non-empty string")
    if not isinstance(type_, str) or type_ not in CONTEXT_TYPES:
        raise ContextError(key, f"unknown context key type {type_!r}")
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ContextError(key, "values must be a list of strings")
    items = tuple(values)
    if not all(isinstance(v, str) for v in items):
        raise ContextError(key, "values must be strings")
    multi = type_.endswith("List")
    base = type_[:-4] if multi else type_
    if not multi and len(items) != 1:
        raise ContextError(key, f"type {type_} takes exactly one value, got {len(items)}")
    check = _CHECKS.get(base)
    if check is not None:
        for item in items:
            if check(item) is None:
                raise ContextError(key, f"{item[:64]!r} is not a valid {base} value")
    if base == "boolean":
        items = tuple(v.strip().lower() for v in items)
    return ContextValue(key, type_, items, multi)
