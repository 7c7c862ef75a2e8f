"""Policy variables: `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.

A template is parsed once into tokens; per request it resolves to a list of (text, is_pattern)
pieces: text from the document keeps its wildcards, substituted and escaped text is literal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Template", "parse_template"]

_VAR_RE = re.compile(r"\$\{(\$|[^${}]*)\}")
_KEY_RE = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?")

# Token kinds.
PATTERN = 0  # document text, wildcards active
LITERAL = 1  # escape, wildcards inactive
VARIABLE = 2


class Template:
    """A string with variables; `keys` lists the referenced context keys as written."""

    __slots__ = ("keys", "tokens")

    def __init__(self, tokens: tuple[tuple[int, str, str | None], ...]) -> None:
        self.tokens = tokens
        self.keys = tuple(t[1] for t in tokens if t[0] == VARIABLE)

    def resolve(self, context: Context) -> list[tuple[str, bool]] | None:
        """Pieces (text, is_pattern), or None when a variable cannot be resolved."""
        out: list[tuple[str, bool]] = []
        for kind, text, default in self.tokens:
            if kind == PATTERN:
                out.append((text, True))
            elif kind == LITERAL:
                out.append((text, False))
            else:
                value = context.single(text)
                if value is None:
                    if default is None or context.is_multi(text):
                        return None
                    value = default
                out.append((value, False))
        return out

    def resolve_text(self, context: Context) -> str | None:
        pieces = self.resolve(context)
        if pieces is None:
            return None
        return "".join(text for text, _ in pieces)


def parse_template(text: str) -> Template | None:
    """None when the text holds no variable or escape (match it as a plain pattern)."""
    if "${" not in text:
        return None
    tokens: list[tuple[int, str, str | None]] = []
    pos = 0
    found = False
    for match in _VAR_RE.finditer(text):
        inner = match.group(1)
        if inner in ("*", "?", "$"):
            token: tuple[int, str, str | None] = (LITERAL, inner, None)
        else:
            key = _KEY_RE.fullmatch(inner)
            if key is None:
                continue  # not a variable: stays document text
            token = (VARIABLE, key.group(1), key.group(2))
        if match.start() > pos:
            tokens.append((PATTERN, text[pos : match.start()], None))
        tokens.append(token)
        pos = match.end()
        found = True
    if not found:
        return None
    if pos < len(text):
        tokens.append((PATTERN, text[pos:], None))
    return Template(tuple(tokens))
