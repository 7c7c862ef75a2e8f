"""Python SDK of iamd: identity and access management with AWS IAM semantics.

`Client` (blocking) and `AsyncClient` (asyncio) expose one keyword-only method per RPC of
iamd.v1 and return the generated response messages; failures raise `IamdError` subclasses.
`LocalAuthorizer` (and `AsyncLocalAuthorizer`) take Authorize's decisions in this process.
"""

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
from iamd_client.local import AsyncLocalAuthorizer, LocalAuthorizer, LocalDecision
from iamd_client.signing import http_signature_headers

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
