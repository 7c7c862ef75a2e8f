"""Turns a servicer object into gRPC handlers that authenticate every call first.

Handlers receive the raw request bytes (no deserializer), so the signature is checked over
exactly the bytes the client signed; only then is the message parsed and the servicer's
`async def Method(request, call)` run. Every outcome leaves through `abort_with`.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor

from iamd_server import errors
from iamd_server.api.errors import abort_with, status_for
from iamd_server.authn.authenticator import Authenticator, Caller
from iamd_server.runtime import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    """What a servicer method gets besides its request."""

    caller: Caller | None  # None only for methods that authenticate by other means
    method: str  # the RPC name, e.g. "CreateUser"
    context: grpc.aio.ServicerContext[bytes, bytes]
    request_bytes: bytes = b""  # the request exactly as received (and signed)

    def deadline_seconds(self) -> float | None:
        remaining = self.context.time_remaining()
        return None if remaining is None else max(0.0, remaining)

    def require_caller(self) -> Caller:
        if self.caller is None:
            raise errors.Unauthenticated("this call needs a signed request")
        return self.caller


# A servicer method returns its response message, or the message already serialized (the
# Authorize hot path encodes its small replies directly).
Handler = Callable[[Any, Call], Awaitable[message.Message | bytes]]

# A servicer's shortcut for one method (its `fast_paths`, by method name): the serialized
# reply for a request (raw bytes) from a caller already authenticated, or None to take the
# full path. It must not await, and answers only what the full path answered before.
FastPath = Callable[[bytes, Caller], bytes | None]

# Methods whose strings never reach PostgreSQL unchecked and that run once per request of
# every internal service: they skip the NUL scan below.
_HOT_METHODS = frozenset({"Authorize", "AuthorizeBatch"})


def find_nul(msg: message.Message, prefix: str = "") -> str | None:
    """The path of the first string field holding a NUL character, which PostgreSQL text
    cannot store (and no identifier or document of ours may contain)."""
    for field, value in msg.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if field.is_repeated else (value,)
            for index, text in enumerate(values):
                if "\x00" in text:
                    return f"{path}[{index}]" if field.is_repeated else path
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if "\x00" in str(key) or (isinstance(item, str) and "\x00" in item):
                        return f"{path}[{key!r}]"
                continue
            items = value if field.is_repeated else (value,)
            for index, item in enumerate(items):
                inner = f"{path}[{index}]." if field.is_repeated else f"{path}."
                found = find_nul(item, inner)
                if found is not None:
                    return found
    return None


Observer = Callable[[str, str, float], None]  # (method, code name, seconds)
# Waits until this replica has applied a revision (its caches reflect that write).
Settle = Callable[[int, float | None], Awaitable[None]]


def _ignore(_method: str, _code: str, _seconds: float) -> None:
    return None


def service_handler(
    service: ServiceDescriptor,
    servicers: Sequence[object],
    authenticator: Authenticator,
    *,
    unauthenticated: Collection[str] = (),
    observe: Observer = _ignore,
    settle: Settle | None = None,
) -> grpc.GenericRpcHandler:
    """A generic handler for the methods of ``service``.

    A service may be implemented by several servicer objects (one per area); the first one
    that has a method serves it. Methods nobody implements answer UNIMPLEMENTED.
    With ``settle``, a response that carries a write's ``revision`` is sent only once this
    replica has applied that revision, so a caller's next call here sees its own write.
    """
    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {}
    for method in service.methods:
        owner = next((s for s in servicers if hasattr(s, method.name)), None)
        if owner is None:
            continue
        fast_paths: dict[str, FastPath] = getattr(owner, "fast_paths", {})
        handlers[method.name] = _unary_handler(
            service,
            method,
            getattr(owner, method.name),
            authenticator,
            method.name in unauthenticated,
            observe,
            settle if "revision" in method.output_type.fields_by_name else None,
            fast_paths.get(method.name),
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _unary_handler(
    service: ServiceDescriptor,
    method: MethodDescriptor,
    implementation: Handler,
    authenticator: Authenticator,
    anonymous: bool,
    observe: Observer,
    settle: Settle | None,
    fast: FastPath | None = None,
) -> grpc.RpcMethodHandler[bytes, bytes]:
    request_class = message_factory.GetMessageClass(method.input_type)
    full_name = f"/{service.full_name}/{method.name}"
    name = method.name
    scan_nul = name not in _HOT_METHODS
    perf_counter = time.perf_counter

    cached_caller = authenticator.cached_caller
    stats = getattr(observe, "__self__", None)
    if fast is not None and isinstance(stats, metrics.RpcStats):
        # Recorded here as RpcStats.observe records it, without its call; the series is
        # made at the first call (a method never called exports no series).
        all_series = stats.series
        ok_key = (name, "OK")
        bounds = stats.bucket_bounds

        async def shortcut(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            # A signed call from a cached key whose reply the servicer remembers: no
            # coroutine, parsing or Call; anything else takes the full path (the caller, if
            # verified here, is not verified twice).
            started = perf_counter()
            caller = cached_caller(full_name, raw, context.invocation_metadata() or ())
            if caller is not None:
                reply = fast(raw, caller)
                if reply is not None:
                    seconds = perf_counter() - started
                    ok = all_series.get(ok_key)
                    if ok is None:
                        ok = stats.series_of(name, "OK")
                    ok.buckets[bisect_left(bounds, seconds)] += 1
                    ok.count += 1
                    ok.total += seconds
                    return reply
            return await serve(raw, context, caller, started)

    else:

        async def shortcut(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            started = perf_counter()
            caller = cached_caller(full_name, raw, context.invocation_metadata() or ())
            if caller is not None:
                reply = fast(raw, caller)  # type: ignore[misc]
                if reply is not None:
                    observe(name, "OK", perf_counter() - started)
                    return reply
            return await serve(raw, context, caller, started)

    async def serve(
        raw: bytes,
        context: grpc.aio.ServicerContext[bytes, bytes],
        caller: Caller | None = None,
        started: float | None = None,
    ) -> bytes:
        if started is None:
            started = perf_counter()
        code = "OK"
        try:
            if caller is None and not anonymous:
                caller = await authenticator.authenticate(
                    full_name, raw, context.invocation_metadata() or ()
                )
            try:
                request = request_class.FromString(raw)
            except message.DecodeError as exc:
                raise errors.InvalidArgument("request", "not a valid protobuf message") from exc
            if scan_nul:
                field = find_nul(request)
                if field is not None:
                    raise errors.InvalidArgument(field, "must not contain NUL characters")
            response = await implementation(request, Call(caller, name, context, raw))
            if isinstance(response, bytes):
                return response
            if settle is not None:
                revision = getattr(response, "revision", 0)
                if revision:
                    await settle(revision, context.time_remaining())
            return response.SerializeToString()
        except errors.IamdError as exc:
            code = status_for(exc)[0].name
            await abort_with(context, exc)
            raise AssertionError("unreachable") from exc
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            if _is_bad_data(exc):
                code = "INVALID_ARGUMENT"
                log.info("%s: value refused by PostgreSQL: %s", name, exc)
                await abort_with(
                    context, errors.InvalidArgument("request", "a value is not storable")
                )
            code = _infrastructure_code(exc)
            if code == "UNAVAILABLE":
                await abort_with(context, errors.Unavailable("the database is unavailable; retry"))
            await abort_with(context, exc)
            raise AssertionError("unreachable") from exc
        finally:
            observe(name, code, perf_counter() - started)

    if fast is not None and not anonymous:
        return grpc.unary_unary_rpc_method_handler(shortcut)
    return grpc.unary_unary_rpc_method_handler(serve)


def _infrastructure_code(exc: BaseException) -> str:
    """UNAVAILABLE for a lost or unreachable database, INTERNAL for anything else."""
    import asyncpg

    unavailable = (
        OSError,
        TimeoutError,
        asyncpg.exceptions.ConnectionDoesNotExistError,
        asyncpg.exceptions.CannotConnectNowError,
        asyncpg.exceptions.InterfaceError,
        asyncpg.exceptions.PostgresConnectionError,
    )
    return "UNAVAILABLE" if isinstance(exc, unavailable) else "INTERNAL"


def _is_bad_data(exc: BaseException) -> bool:
    """PostgreSQL refused a value (encoding, range): the request was bad, nothing was written."""
    import asyncpg

    return isinstance(exc, asyncpg.exceptions.DataError)
