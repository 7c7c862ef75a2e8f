"""Exceptions raised by the SDK.

Every gRPC failure leaves the client as one of these, never as a raw transport error. The
server sends the human message as the status details and, in trailing metadata, the request
field at fault (``iamd-error-field``) and a stable reason code (``iamd-error-reason``, AWS
style: ``EntityAlreadyExists``, ``NoSuchEntity``, ``DeleteConflict``, ``LimitExceeded``,
``MalformedPolicyDocument``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

TRAILER_FIELD = "iamd-error-field"
TRAILER_REASON = "iamd-error-reason"


class IamdError(Exception):
    """Base class: a failed call (or a local configuration problem when ``code`` is None)."""

    #: Whether retrying the same call later may succeed.
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        field: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        parts = []
        if self.reason:
            parts.append(f"{self.reason}: ")
        if self.field:
            parts.append(f"{self.field}: ")
        parts.append(self.message)
        return "".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code}, "
            f"field={self.field!r}, reason={self.reason!r})"
        )


class InvalidArgument(IamdError):
    """A request field is invalid (validation errors, MalformedPolicyDocument)."""


class NotFound(IamdError):
    """The named entity does not exist (NoSuchEntity)."""


class AlreadyExists(IamdError):
    """An entity with that name already exists (EntityAlreadyExists)."""


class FailedPrecondition(IamdError):
    """The entity's state forbids the call (DeleteConflict and the like)."""


class LimitExceeded(IamdError):
    """A quota would be exceeded (RESOURCE_EXHAUSTED)."""


class Unauthenticated(IamdError):
    """Credentials are missing, unknown, inactive, expired, or the signature does not verify."""


class PermissionDenied(IamdError):
    """The caller is authenticated but not allowed to make the call."""


class Unavailable(IamdError):
    """The server (or its database) cannot be reached right now."""

    retryable = True


class DeadlineExceeded(IamdError):
    """The call did not complete before its deadline."""

    retryable = True


class InternalError(IamdError):
    """Any other failure (INTERNAL, UNKNOWN, CANCELLED, ...)."""


class ConfigurationError(IamdError):
    """The client is misconfigured (no endpoint, unreadable credentials file, ...)."""


_BY_CODE: dict[grpc.StatusCode, type[IamdError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def _metadata_value(metadata: Iterable[Any] | None, key: str) -> str | None:
    if not metadata:
        return None
    for item in metadata:
        k, v = item[0], item[1]
        if k == key:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return None


def from_rpc_error(e: grpc.RpcError) -> IamdError:
    """Convert a gRPC error (sync ``grpc.Call`` or ``grpc.aio.AioRpcError``) to an IamdError."""
    # Sync errors implement grpc.Call; aio errors expose the same accessors.
    code_fn = getattr(e, "code", None)
    code: grpc.StatusCode = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    details_fn = getattr(e, "details", None)
    message = (details_fn() if callable(details_fn) else None) or str(code.name).lower()
    trailers_fn = getattr(e, "trailing_metadata", None)
    trailers = trailers_fn() if callable(trailers_fn) else None
    cls = _BY_CODE.get(code, InternalError)
    return cls(
        message,
        code=code,
        field=_metadata_value(trailers, TRAILER_FIELD) or None,
        reason=_metadata_value(trailers, TRAILER_REASON) or None,
    )


__all__ = [
    "TRAILER_FIELD",
    "TRAILER_REASON",
    "AlreadyExists",
    "ConfigurationError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "IamdError",
    "InternalError",
    "InvalidArgument",
    "LimitExceeded",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "from_rpc_error",
]
