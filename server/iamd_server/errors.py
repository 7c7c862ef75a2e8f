"""Domain errors raised by the store, the services and the engine adapters.

They are mapped to gRPC status codes in exactly one place (`iamd_server.api.errors`); nothing
below the API layer knows about gRPC.
"""

from __future__ import annotations


class IamdError(Exception):
    """Base of every error a client may see; ``reason`` is safe to show to callers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidArgument(IamdError):
    """A request field is malformed; ``field`` names it (dotted path, e.g. ``tags[2].key``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class MalformedPolicyDocument(InvalidArgument):
    """A policy document failed validation (AWS's MalformedPolicyDocument)."""


class NotFound(IamdError):
    """The named entity does not exist (AWS's NoSuchEntity)."""


class AlreadyExists(IamdError):
    """An entity with that name already exists (AWS's EntityAlreadyExists)."""


class FailedPrecondition(IamdError):
    """The entity is in a state that forbids the call (AWS's DeleteConflict and friends)."""


class LimitExceeded(IamdError):
    """A quota would be exceeded (AWS's LimitExceeded)."""


class Unauthenticated(IamdError):
    """The caller's credentials are missing, unknown, expired or do not verify."""


class PermissionDenied(IamdError):
    """The caller is authenticated but its policies do not allow the call."""


class Unavailable(IamdError):
    """A dependency (PostgreSQL) is unreachable; the call may be retried."""
