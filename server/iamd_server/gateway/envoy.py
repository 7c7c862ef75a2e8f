"""Envoy's external authorization API (`envoy.service.auth.v3.Authorization/Check`) on iamd's
gRPC port, for Envoy's ext_authz HTTP filter.

Envoy does not sign its calls: Check is served without an iamd signature, and the principal
is authenticated from the HTTP request Envoy describes. The route's `context_extensions`
configure it: `iamd_service` (required: the service prefix, also the audience of signed
requests), `iamd_region`, `iamd_account` (default: the principal's account),
`iamd_role_arn` (the role bearer tokens act as; default: the `x-iamd-role-arn` header) and
`iamd_unbound: allow` (let requests that match no binding through, without a principal).

Check always answers OK at the gRPC level with a CheckResponse that allows (adding
`x-iamd-principal` and `x-iamd-revision` to the upstream request) or denies (401, 403 or
500 with a JSON body): a gRPC error would leave the outcome to Envoy's failure_mode_allow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.type.v3 import http_status_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2

from iamd_server.gateway.check import Answer, Gateway, HttpRequest
from iamd_server.runtime import metrics

log = logging.getLogger(__name__)

SERVICE = "envoy.service.auth.v3.Authorization"
SERVICE_DESCRIPTOR = pb.DESCRIPTOR.services_by_name["Authorization"]
# Envoy marks a body it cut at max_request_bytes (allow_partial_message): not the body.
PARTIAL_BODY = "x-envoy-auth-partial-body"
# The route settings Check reads from context_extensions.
CONTEXT_EXTENSIONS = (
    "iamd_service",
    "iamd_region",
    "iamd_account",
    "iamd_role_arn",
    "iamd_unbound",
)
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_RPC_CODE = {200: code_pb2.OK, 401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED}
_MALFORMED = Answer(
    401,
    "malformed",
    (("content-type", "application/json"),),
    b'{"error":"MalformedRequest","message":"the CheckRequest is malformed"}',
)


def _headers(http: Any) -> dict[str, str]:
    """Envoy sends `headers` (a map, repeated headers joined with ","), or `header_map` when
    encode_raw_headers is set."""
    headers: dict[str, str] = {k.lower(): v for k, v in http.headers.items()}
    for header in http.header_map.headers:
        name = header.key.lower()
        value = header.raw_value.decode("utf-8", "replace") if header.raw_value else header.value
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def http_request(check: Any) -> HttpRequest:
    """A CheckRequest (as Envoy builds it) -> the gateway's request."""
    attributes = check.attributes
    http = attributes.request.http
    extensions: Mapping[str, str] = attributes.context_extensions
    headers = _headers(http)
    body: bytes | None = None
    if (http.raw_body or http.body) and headers.get(PARTIAL_BODY) != "true":
        body = http.raw_body or http.body.encode()
    unbound = extensions.get("iamd_unbound", "")
    return HttpRequest(
        method=http.method,
        target=http.path,
        headers=headers,
        service=extensions.get("iamd_service", ""),
        source_ip=attributes.source.address.socket_address.address,
        secure=http.scheme == "https",
        region=extensions.get("iamd_region", ""),
        account=extensions.get("iamd_account", ""),
        role_arn=extensions.get("iamd_role_arn", ""),
        allow_unbound=unbound == "allow",
        body=body,
    )


def check_response(answer: Answer) -> Any:
    if answer.allowed:
        return pb.CheckResponse(
            status=status_pb2.Status(code=code_pb2.OK),
            ok_response=pb.OkHttpResponse(
                headers=[
                    base_pb2.HeaderValueOption(
                        header=base_pb2.HeaderValue(key=name, value=value), append_action=_OVERWRITE
                    )
                    for name, value in answer.headers
                ],
                headers_to_remove=list(answer.remove),
            ),
        )
    return pb.CheckResponse(
        status=status_pb2.Status(code=_RPC_CODE.get(answer.status, code_pb2.INTERNAL)),
        denied_response=pb.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=answer.status),
            headers=[
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(key=name, value=value), append_action=_OVERWRITE
                )
                for name, value in answer.headers
            ],
            body=answer.body.decode(),
        ),
    )


def check_handler(gateway: Gateway) -> grpc.GenericRpcHandler:
    """The Authorization service's generic handler (no signature needed, see above)."""

    async def check(raw: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        started = time.perf_counter()
        try:
            request = pb.CheckRequest.FromString(raw)
        except DecodeError:
            answer = _MALFORMED
        else:
            try:
                converted = http_request(request)
            except Exception:  # a request no Envoy builds: deny
                log.info("unusable CheckRequest", exc_info=True)
                answer = _MALFORMED
            else:
                answer = await gateway.check(converted)
        metrics.observe_rpc("envoy.Check", answer.outcome, time.perf_counter() - started)
        response: bytes = check_response(answer).SerializeToString()
        return response

    return grpc.method_handlers_generic_handler(
        SERVICE, {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )
