"""Exceptions raised by the policy engine."""

from __future__ import annotations

__all__ = ["ContextError", "PolicyValidationError"]


class PolicyValidationError(ValueError):
    """A policy document is malformed (AWS: MalformedPolicyDocument).

    `statement_index` is 0-based; `sid`, `field` and the index are None when the problem is
    not tied to one statement or element.
    """

    def __init__(
        self,
        message: str,
        statement_index: int | None = None,
        sid: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.statement_index = statement_index
        self.sid = sid
        self.field = field

    def __str__(self) -> str:
        where: list[str] = []
        if self.statement_index is not None:
            where.append(f"statement {self.statement_index}")
        if self.sid:
            where.append(f"Sid {self.sid!r}")
        if self.field is not None:
            where.append(f"field {self.field}")
        if not where:
            return self.message
        return f"{self.message} ({', '.join(where)})"


class ContextError(ValueError):
    """A request context entry is invalid (bad type, bad value, duplicate key)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"context key {key!r}: {reason}")
        self.key = key
        self.reason = reason
