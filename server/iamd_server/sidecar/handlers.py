"""Authorize and AuthorizeBatch as the sidecar serves them: the server's own servicer
(api.authorization) over the followed state, behind a freshness check that fails closed.

Every call is refused (UNAVAILABLE) once the copy is older than --max-staleness. An Authorize
with an end-user proof (which only the end user's secret, or the master key for temporary
credentials, can verify) is answered by the upstream, unchanged. Simulations are not served
here (UNIMPLEMENTED): ask the upstream.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import grpc
from google.protobuf import message
from iamd.v1 import authorization_pb2 as pb

from iamd_server import errors
from iamd_server.api.authorization import AuthorizationServicer
from iamd_server.api.dispatch import Call, Handler, Observer
from iamd_server.api.errors import FIELD_KEY, REASON_KEY, abort_with, status_for
from iamd_server.sidecar.authentication import ScopedKeyAuthenticator
from iamd_server.sidecar.follower import Follower
from iamd_server.sidecar.upstream import Upstream

SERVICE = "iamd.v1.AuthorizationService"


class Freshness:
    """Whether the followed copy may still be used."""

    def __init__(self, follower: Follower, max_staleness: float) -> None:
        self._follower = follower
        self.max_staleness = max_staleness

    def check(self) -> None:
        staleness = self._follower.staleness()
        if staleness > self.max_staleness:
            if not self._follower.synced:
                raise errors.Unavailable("the sidecar has not reached its upstream yet; retry")
            raise errors.Unavailable(
                f"the sidecar's copy is {staleness:.0f} s old (upstream unreachable for longer"
                f" than --max-staleness {self.max_staleness:.0f} s); failing closed"
            )


def authorization_handler(
    servicer: AuthorizationServicer,
    authenticator: ScopedKeyAuthenticator,
    upstream: Upstream,
    freshness: Freshness,
    observe: Observer,
) -> grpc.GenericRpcHandler:
    methods = (
        ("Authorize", pb.AuthorizeRequest, servicer.Authorize),
        ("AuthorizeBatch", pb.AuthorizeBatchRequest, servicer.AuthorizeBatch),
    )
    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        name: grpc.unary_unary_rpc_method_handler(
            _behavior(
                name, request_class, implementation, authenticator, upstream, freshness, observe
            )
        )
        for name, request_class, implementation in methods
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def _behavior(
    name: str,
    request_class: type[message.Message],
    implementation: Handler,
    authenticator: ScopedKeyAuthenticator,
    upstream: Upstream,
    freshness: Freshness,
    observe: Observer,
) -> Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]:
    full_name = f"/{SERVICE}/{name}"

    async def behavior(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        started = time.perf_counter()
        code = "OK"
        try:
            freshness.check()
            metadata = cast(
                "Sequence[tuple[str, str | bytes]]", context.invocation_metadata() or ()
            )
            caller = await authenticator.authenticate(full_name, raw, metadata)
            try:
                request = request_class.FromString(raw)
            except message.DecodeError as exc:
                raise errors.InvalidArgument("request", "not a valid protobuf message") from exc
            if isinstance(request, pb.AuthorizeRequest) and request.HasField("end_user"):
                # Verifying an end user's proof needs its key's secret or a session token.
                code = "FORWARDED"
                return await _forward(upstream, full_name, raw, metadata, context)
            response = await implementation(request, Call(caller, name, context))
            return response if isinstance(response, bytes) else response.SerializeToString()
        except errors.IamdError as exc:
            code = status_for(exc)[0].name
            await abort_with(context, exc)
            raise AssertionError("unreachable") from exc
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            code = "INTERNAL"
            await abort_with(context, exc)
            raise AssertionError("unreachable") from exc
        finally:
            observe(name, code, time.perf_counter() - started)

    return behavior


async def _forward(
    upstream: Upstream,
    method: str,
    raw: bytes,
    metadata: Sequence[tuple[str, str | bytes]],
    context: grpc.aio.ServicerContext[bytes, bytes],
) -> bytes:
    try:
        return await upstream.forward(method, raw, metadata, context.time_remaining())
    except grpc.aio.AioRpcError as exc:
        trailers = tuple(
            (k, str(v)) for k, v in (exc.trailing_metadata() or ()) if k in (FIELD_KEY, REASON_KEY)
        )
        context.set_trailing_metadata(trailers)
        await context.abort(exc.code(), exc.details() or "")
        raise AssertionError("unreachable") from exc
