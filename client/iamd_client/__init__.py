"""Python SDK of iamd: identity and access management with AWS IAM semantics.

`Client` (blocking) and `AsyncClient` (asyncio) expose one keyword-only method per RPC of
iamd.v1 and return the generated response messages; failures raise `IamdError` subclasses.
`LocalAuthorizer` (and `AsyncLocalAuthorizer`) take Authorize's decisions in this process.
"""

from typing import TYPE_CHECKING, Any

from iamd_client._args import authorize_check, context_entry
from iamd_client._call import Call, make_call
from iamd_client._transport import VERSION
from iamd_client.aio import AsyncClient
from iamd_client.client import Client
from iamd_client.credentials import ClientConfig, resolve, write_profile
from iamd_client.errors import (
    AlreadyExists,
    ConfigurationError,
    DeadlineExceeded,
    FailedPrecondition,
    IamdError,
    InternalError,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from iamd_client.signing import http_signature_headers

if TYPE_CHECKING:
    from iamd_client.local import AsyncLocalAuthorizer, LocalAuthorizer, LocalDecision

# Imported on first use: the engine and grpc.aio are not needed by iamctl or a plain Client.
_LOCAL = frozenset({"AsyncLocalAuthorizer", "LocalAuthorizer", "LocalDecision"})


def __getattr__(name: str) -> Any:
    if name in _LOCAL:
        from iamd_client import local

        return getattr(local, name)
    raise AttributeError(f"module 'iamd_client' has no attribute {name!r}")


__version__ = VERSION

__all__ = [
    "AlreadyExists",
    "AsyncClient",
    "AsyncLocalAuthorizer",
    "Call",
    "Client",
    "ClientConfig",
    "ConfigurationError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "IamdError",
    "InternalError",
    "InvalidArgument",
    "LimitExceeded",
    "LocalAuthorizer",
    "LocalDecision",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "__version__",
    "authorize_check",
    "context_entry",
    "http_signature_headers",
    "make_call",
    "resolve",
    "write_profile",
]
