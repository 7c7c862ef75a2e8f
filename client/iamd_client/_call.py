"""A prepared RPC (`Call`) and how it is sent: retried after UNAVAILABLE or not, signed or not.

Whether a call may be retried is declared by the API itself, as protobuf's own
`idempotency_level` method option: NO_SIDE_EFFECTS (reads) and IDEMPOTENT (writes whose
repetition leaves the same state) are retried, anything else is sent once. It is read from
the method descriptors at run time, so every RPC of the API (the generated builders of
`_calls` and the generic `make_call` of iamctl alike) follows the protos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
from google.protobuf.message import Message

R = TypeVar("R", bound=Message)

RETRYABLE_LEVELS = frozenset({MethodOptions.NO_SIDE_EFFECTS, MethodOptions.IDEMPOTENT})
# Calls the server authenticates by their content (a token, a password), never signed; the
# server keeps the same list (iamd_server.runtime.app).
UNSIGNED = frozenset({"/iamd.v1.StsService/AssumeRoleWithWebIdentity", "/iamd.v1.StsService/Login"})


@dataclass(frozen=True, slots=True)
class Call(Generic[R]):
    """A prepared RPC: full method name, request message and response type."""

    method: str
    """Full gRPC method name, e.g. "/iamd.v1.ManagementService/CreateUser" (what is signed)."""
    request: Message
    """The request message."""
    response_type: type[R]
    """The response message class."""
    idempotent: bool
    """Whether UNAVAILABLE may be retried."""
    signed: bool = True
    """Whether the call carries a signature (all but AssumeRoleWithWebIdentity and Login)."""

    @property
    def rpc(self) -> str:
        """The short RPC name, e.g. "CreateUser"."""
        return self.method.rsplit("/", 1)[-1]


def is_retryable(method: MethodDescriptor) -> bool:
    """Whether the API declares `method` safe to repeat (idempotency_level option)."""
    return method.GetOptions().idempotency_level in RETRYABLE_LEVELS


_retryable: dict[str, bool] = {}


def is_idempotent(method: str) -> bool:
    """Whether a call of `method` ("/iamd.v1.ManagementService/GetUser") may be retried after
    UNAVAILABLE. An RPC the loaded descriptors do not know is never retried."""
    known = _retryable.get(method)
    if known is not None:
        return known
    service, _, rpc = method.lstrip("/").partition("/")
    try:
        found = descriptor_pool.Default().FindServiceByName(service).methods_by_name.get(rpc)
    except KeyError:
        return False
    if found is None:
        return False
    _retryable[method] = is_retryable(found)
    return _retryable[method]


def make_call(service: str, rpc: str, request: Message, response_type: type[R]) -> Call[R]:
    """Build a Call for any RPC of the API (the generated builders and the generic CLI)."""
    method = f"/{service}/{rpc}"
    return Call(
        method=method,
        request=request,
        response_type=response_type,
        idempotent=is_idempotent(method),
        signed=method not in UNSIGNED,
    )
