"""The one place where domain errors become gRPC statuses.

The status message is the human-readable reason; the field and a machine-readable reason are
also sent as trailing metadata (`iamd-error-field`, `iamd-error-reason`), which the SDK reads.
Unexpected exceptions are logged with their traceback and reported as INTERNAL without detail,
so database or programming errors never leak to callers.
"""

from __future__ import annotations

import logging

import grpc

from iamd_server import errors

log = logging.getLogger(__name__)

FIELD_KEY = "iamd-error-field"
REASON_KEY = "iamd-error-reason"

_CODES: tuple[tuple[type[errors.IamdError], grpc.StatusCode, str], ...] = (
    (errors.MalformedPolicyDocument, grpc.StatusCode.INVALID_ARGUMENT, "MalformedPolicyDocument"),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument"),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND, "NoSuchEntity"),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS, "EntityAlreadyExists"),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION, "DeleteConflict"),
    (errors.LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED, "LimitExceeded"),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, "Unauthenticated"),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, "AccessDenied"),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE, "ServiceUnavailable"),
)


def status_for(error: errors.IamdError) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and the machine-readable reason name for a domain error."""
    for kind, code, name in _CODES:
        if isinstance(error, kind):
            return code, name
    return grpc.StatusCode.INTERNAL, "InternalError"


async def abort_with(context: grpc.aio.ServicerContext[bytes, bytes], error: BaseException) -> None:
    """Ends the call with the status that ``error`` maps to (never returns normally)."""
    if isinstance(error, errors.IamdError):
        code, name = status_for(error)
        field = getattr(error, "field", "")
        context.set_trailing_metadata(((FIELD_KEY, field), (REASON_KEY, name)))
        await context.abort(code, str(error))
    log.exception("internal error", exc_info=error)
    context.set_trailing_metadata(((REASON_KEY, "InternalError"),))
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
