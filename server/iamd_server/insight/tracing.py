"""OpenTelemetry traces, optional (the ``otel`` extra): one server span per RPC, decisions as
attributes.

Off unless ``iamd serve --otel`` (env ``IAMD_OTEL``). Then `start` builds a TracerProvider
whose BatchSpanProcessor sends spans to an OTLP/gRPC collector; the exporter reads the
standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers, TLS) and the resource's
``service.name`` is ``OTEL_SERVICE_NAME`` (default ``iamd``). Off, nothing of OpenTelemetry
is imported, no interceptor is installed and the decision hooks are None: the hot path pays
one ``is None`` test.

Spans carry the RPC (``rpc.system``, ``rpc.service``, ``rpc.method``,
``rpc.grpc.status_code``) and, for decisions, what the decision log records of them
(``iamd.decision``, ``iamd.action``, ``iamd.resource``, ``iamd.principal``,
``iamd.revision``; counts per decision for a batch); never metadata, a token, a signature or
a request context.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc
from iamd_policy import Decision, EvaluationResult
from iamd_policy.entries import UNKNOWN_PRINCIPAL

from iamd_server.startup import StartupError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
    Continuation = Callable[
        [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
    ]

MISSING_EXTRA = (
    "--otel needs the OpenTelemetry packages: pip install 'iamd[otel]'"
    " (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-grpc)"
)

# xds-protos (Envoy's protos, a dependency of iamd) ships an old copy of the
# opentelemetry.proto modules; installed after opentelemetry-proto, it replaces its files.
SHADOWED_PROTOS = (
    "--otel: the opentelemetry.proto modules were overwritten by xds-protos' older copy;"
    " reinstall them: pip install --force-reinstall --no-deps opentelemetry-proto"
)

# Not iamd's RPCs: probes and tooling would only add noise to the traces.
_UNTRACED = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"})

# The OpenTelemetry semantic conventions: these codes mark a server span as an error.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

_NAMES = {
    Decision.ALLOWED: "allowed",
    Decision.EXPLICIT_DENY: "explicit_deny",
    Decision.IMPLICIT_DENY: "implicit_deny",
}

_provider: TracerProvider | None = None

DecisionHook = Callable[[str, str, str, EvaluationResult, int], None]
BatchHook = Callable[[Sequence[tuple[EvaluationResult, str, int]], int], None]


def start(enabled: bool) -> tuple[grpc.aio.ServerInterceptor, ...]:
    """The server interceptors tracing needs (none when off); a StartupError naming the
    extra when it is on but not installed."""
    global _provider
    if not enabled:
        return ()
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        if "opentelemetry.proto" in str(exc):
            raise StartupError(SHADOWED_PROTOS) from exc
        raise StartupError(MISSING_EXTRA) from exc
    if _provider is None:
        name = os.environ.get("OTEL_SERVICE_NAME") or "iamd"
        _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    return (_Interceptor(_provider.get_tracer("iamd_server")),)


async def stop() -> None:
    """Sends the spans still queued (at most the exporter's timeout) and stops exporting."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        import asyncio

        await asyncio.to_thread(provider.shutdown)


def decision_hooks() -> tuple[DecisionHook | None, BatchHook | None]:
    """The decision hooks for `Insight`: None each while tracing is off."""
    if _provider is None:
        return None, None
    return on_decision, on_batch


def on_decision(
    principal: str, action: str, resource: str, result: EvaluationResult, revision: int
) -> None:
    """One decision, on the current RPC's span (none outside an RPC: forward-auth)."""
    from opentelemetry.trace import get_current_span

    span = get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(
        {
            "iamd.decision": _name(result),
            "iamd.action": action,
            "iamd.resource": resource,
            "iamd.principal": principal,
            "iamd.revision": revision,
        }
    )


def on_batch(results: Sequence[tuple[EvaluationResult, str, int]], revision: int) -> None:
    """An AuthorizeBatch: its size and how many checks ended in each decision."""
    from opentelemetry.trace import get_current_span

    span = get_current_span()
    if not span.is_recording():
        return
    counts = dict.fromkeys((*_NAMES.values(), "unknown_principal"), 0)
    for result, _principal, _code in results:
        counts[_name(result)] += 1
    attributes: dict[str, int] = {f"iamd.decisions.{k}": v for k, v in counts.items()}
    attributes["iamd.batch.size"] = len(results)
    attributes["iamd.revision"] = revision
    span.set_attributes(attributes)


def _name(result: EvaluationResult) -> str:
    return "unknown_principal" if result is UNKNOWN_PRINCIPAL else _NAMES[result.decision]


class _Interceptor(grpc.aio.ServerInterceptor):
    """Wraps each unary handler in a server span, the caller's trace context its parent."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        full_name = handler_call_details.method
        service, _, method = full_name.lstrip("/").rpartition("/")
        if handler is None or handler.unary_unary is None or service in _UNTRACED:
            return handler
        behavior: Behavior = handler.unary_unary  # type: ignore[assignment]  # an aio handler
        traced = _traced(self._tracer, behavior, service, method)
        return handler._replace(unary_unary=traced)  # type: ignore[attr-defined, no-any-return]


def _traced(tracer: Tracer, behavior: Behavior, service: str, method: str) -> Behavior:
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, Status, StatusCode

    name = f"{service}/{method}"
    static = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

    async def traced(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        # Only the W3C trace context and baggage keys are read from the metadata.
        parent = propagate.extract(dict(context.invocation_metadata() or ()))
        with tracer.start_as_current_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=static,
            record_exception=False,  # an exception's text may quote the request
            set_status_on_exception=False,
        ) as span:
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await behavior(request, context)
                code = _code(context.code()) or grpc.StatusCode.OK
                return response
            except grpc.aio.AbortError:
                code = _code(context.code()) or grpc.StatusCode.UNKNOWN
                raise
            finally:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in _SERVER_ERRORS:
                    span.set_status(Status(StatusCode.ERROR))

    return traced


def _code(value: Any) -> grpc.StatusCode | None:
    """The status a handler set, whether grpc reports it as a StatusCode or an int."""
    if value is None or isinstance(value, grpc.StatusCode):
        return value
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return None
