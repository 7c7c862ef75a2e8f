"""The Watch stream as a gRPC handler: authenticated like every call, by the signature over
the exact bytes of its first request (later requests ride on that authenticated stream)."""

from __future__ import annotations

import logging
import time

import grpc
from google.protobuf import message
from iamd.v1 import replication_pb2 as pb

from iamd_server import errors
from iamd_server.api.dispatch import Observer, find_nul
from iamd_server.api.errors import abort_with, status_for
from iamd_server.authn.authenticator import Authenticator
from iamd_server.replication.watch import ReplicationServicer

log = logging.getLogger(__name__)

SERVICE = "iamd.v1.ReplicationService"
WATCH_METHOD = f"/{SERVICE}/Watch"


def _parse(raw: bytes, field: str) -> pb.WatchRequest:
    try:
        request = pb.WatchRequest.FromString(raw)
    except message.DecodeError as exc:
        raise errors.InvalidArgument(field, "not a valid WatchRequest") from exc
    nul = find_nul(request)
    if nul is not None:
        raise errors.InvalidArgument(nul, "must not contain NUL characters")
    return request


def watch_handler(
    servicer: ReplicationServicer, authenticator: Authenticator, observe: Observer
) -> grpc.GenericRpcHandler:
    async def behavior(_requests: object, context: grpc.aio.ServicerContext[bytes, bytes]) -> None:
        started = time.perf_counter()
        code = "OK"
        try:
            first = await context.read()
            if not isinstance(first, bytes):
                raise errors.InvalidArgument("request", "a first WatchRequest is required")
            caller = await authenticator.authenticate(
                WATCH_METHOD, first, context.invocation_metadata() or ()
            )
            request = _parse(first, "request")

            async def read() -> pb.WatchRequest | None:
                raw = await context.read()
                return _parse(raw, "request") if isinstance(raw, bytes) else None

            await servicer.watch(caller, request, read, context.write)
        except errors.IamdError as exc:
            code = status_for(exc)[0].name
            await abort_with(context, exc)
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            code = "INTERNAL"
            await abort_with(context, exc)
        finally:
            observe("Watch", code, time.perf_counter() - started)

    return grpc.method_handlers_generic_handler(
        SERVICE, {"Watch": grpc.stream_stream_rpc_method_handler(behavior)}
    )
