"""``--output table``, shaped as the AWS CLI's table format.

The response becomes boxed sections titled with the operation's name: a mapping's scalar
keys make a header row and a value row (a single scalar key makes one "Key | value" row),
a list of mappings makes one row per item under the union of their scalar keys, and every
nested list or mapping becomes a section of its own, indented one level (``||``). Columns
are sorted by name. When the table is wider than the terminal, sections of one row turn
into key/value rows, as the AWS CLI does.
"""

from __future__ import annotations

import shutil
import unicodedata
from dataclasses import dataclass, field
from typing import Any, TextIO


def _width(text: str) -> int:
    """Columns taken on a terminal (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text)


def _cell(value: Any) -> str:
    return str(value).replace("\n", " ")


@dataclass
class Section:
    title: str
    indent: int
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def column_widths(self) -> list[int]:
        lines = ([self.headers] if self.headers else []) + self.rows
        count = max((len(line) for line in lines), default=0)
        return [
            max((_width(line[i]) for line in lines if i < len(line)), default=0)
            for i in range(count)
        ]

    def width(self) -> int:
        """The width this section needs, borders and indentation included."""
        widths = self.column_widths()
        body = sum(w + 4 for w in widths) + len(widths) + 1 if widths else 0
        return max(_width(self.title) + 4, body) + 2 * self.indent


class _Builder:
    def __init__(self) -> None:
        self.sections: list[Section] = []

    def section(self, title: str, indent: int) -> Section:
        self.sections.append(Section(title, indent))
        return self.sections[-1]

    def add(self, title: str | None, value: Any, indent: int, into: Section | None) -> None:
        if not value:
            return
        current = self.section(title, indent) if title is not None else into
        if current is None:
            current = self.section("", indent)
        if isinstance(value, dict):
            self._mapping(value, indent, current)
        elif isinstance(value, list):
            if isinstance(value[0], dict):
                self._records(value, indent, title or "", current)
            else:
                for item in value:
                    if not isinstance(item, dict | list):
                        current.rows.append([_cell(item)])
                    elif isinstance(item, list) and all(
                        not isinstance(x, dict | list) for x in item
                    ):
                        current.rows.append([_cell(x) for x in item])
                    else:
                        self.add(None, item, indent, current)
        else:
            current.rows.append([_cell(value)])

    def _mapping(self, value: dict[str, Any], indent: int, current: Section) -> None:
        scalars = sorted(k for k, v in value.items() if not isinstance(v, dict | list))
        nested = sorted(k for k, v in value.items() if isinstance(v, dict | list))
        if len(scalars) == 1:
            current.rows.append([scalars[0], _cell(value[scalars[0]])])
        elif scalars:
            current.headers = scalars
            current.rows.append([_cell(value[k]) for k in scalars])
        for key in nested:
            self.add(key, value[key], indent + 1, None)

    def _records(self, items: list[Any], indent: int, title: str, current: Section) -> None:
        mappings = [i for i in items if isinstance(i, dict)]
        scalars = sorted(
            {k for m in mappings for k, v in m.items() if not isinstance(v, dict | list)}
        )
        nested = sorted({k for m in mappings for k, v in m.items() if isinstance(v, dict | list)})
        current.headers = scalars
        for n, item in enumerate(mappings):
            if n and nested:  # each record with nested parts gets its own section
                current = self.section(title, indent)
                current.headers = scalars
            current.rows.append([_cell(item.get(k, "")) for k in scalars])
            for key in nested:
                if key in item:
                    self.add(key, item[key], indent + 1, None)


def _vertical(section: Section) -> Section:
    if len(section.rows) == 1 and section.headers:
        rows = [[h, v] for h, v in zip(section.headers, section.rows[0], strict=False)]
        return Section(section.title, section.indent, [], rows)
    return section


def _spread(widths: list[int], space: int) -> list[int]:
    """Cell widths (text plus 2 columns of padding each side) grown to fill `space`."""
    natural = [w + 4 for w in widths]
    extra = space - sum(natural)
    if extra <= 0 or not natural:
        return natural
    grown = [w + extra * w // sum(natural) for w in natural]
    for i in range(space - sum(grown)):
        grown[i % len(grown)] += 1
    return grown


def _center(text: str, width: int) -> str:
    pad = max(width - _width(text), 0)
    return " " * (pad // 2) + text + " " * (pad - pad // 2)


def _left(text: str, width: int) -> str:
    return "  " + text + " " * max(width - 2 - _width(text), 0)


def _render(section: Section, total: int) -> list[str]:
    inner = total - 2 * section.indent
    lines: list[str] = []
    if section.title:
        lines.append("|" + _center(section.title, inner - 2) + "|")
        if not section.headers and not section.rows:
            lines.append("+" + "-" * (inner - 2) + "+")
    naturals = section.column_widths()
    cells = _spread(naturals, inner - len(naturals) - 1)
    rule = "+" + "+".join("-" * c for c in cells) + "+"
    if section.headers:
        lines.append(rule)
        headers = zip(section.headers, cells, strict=False)
        lines.append("|" + "|".join(_center(h, c) for h, c in headers) + "|")
    if section.rows:
        lines.append(rule)
        for row in section.rows:
            padded = zip(row + [""] * (len(cells) - len(row)), cells, strict=False)
            lines.append("|" + "|".join(_left(v, c) for v, c in padded) + "|")
        lines.append(rule)
    edge = "|" * section.indent
    return [edge + line + edge for line in lines]


def write_table(title: str, value: Any, out: TextIO, terminal_width: int | None = None) -> None:
    builder = _Builder()
    builder.add(title, value, 0, None)
    sections = builder.sections
    if not sections:
        return
    limit = terminal_width or shutil.get_terminal_size((80, 24)).columns
    total = max(s.width() for s in sections)
    if total > limit:
        sections = [_vertical(s) for s in sections]
        total = max(s.width() for s in sections)
    out.write("-" * total + "\n")
    for section in sections:
        out.writelines(line + "\n" for line in _render(section, total))
