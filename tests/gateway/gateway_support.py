"""Helpers for the gateway tests (no tests here): a service with HTTP bindings, and Envoy's
CheckRequest built as Envoy's ext_authz filter builds it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.config.core.v3 import address_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from iamd.v1 import authorization_pb2, types_pb2
from iamd.v1 import management_pb2 as pb
from iamd_client import http_signature_headers
from iamd_client._convert import fill
from iamd_client.signing import SigningCredentials

from tests.api.management_support import eventually, unique
from tests.harness import Stubs

CLIENT_ADDRESS = "203.0.113.7"
REGION = "eu-west-1"


def orders_definition(prefix: str) -> dict[str, Any]:
    """The README's orders service, with HTTP bindings (the shape iamctl reads)."""
    return {
        "ServicePrefix": prefix,
        "Actions": [
            {
                "Name": "GetOrder",
                "ResourceTypes": ["order"],
                "Http": [{"Method": "GET", "Path": "/orders/{OrderId}"}],
            },
            {
                "Name": "CancelOrder",
                "ResourceTypes": ["order"],
                "Http": [
                    {"Method": "POST", "Path": "/orders/{OrderId}/cancel"},
                    {"Method": "DELETE", "Path": "/orders/{OrderId}"},
                ],
            },
            {"Name": "ListOrders", "Http": [{"Method": "GET", "Path": "/orders"}]},
        ],
        "ResourceTypes": [
            {
                "Name": "order",
                "ArnPattern": (
                    f"arn:${{Partition}}:{prefix}:${{Region}}:${{Account}}:order/${{OrderId}}"
                ),
            }
        ],
    }


def put_definition(root: Stubs, data: Mapping[str, Any]) -> int:
    """Puts the definition and waits until the replica's registry has it (it reloads in the
    background after the write's notification)."""
    definition = fill(types_pb2.ServiceDefinition(), data)
    response = root.management.PutServiceDefinition(
        pb.PutServiceDefinitionRequest(definition=definition)
    )
    action = f"{definition.service_prefix}:{definition.actions[-1].name}"
    eventually(
        lambda: root.authorization.Authorize(
            authorization_pb2.AuthorizeRequest(action=action, resource_arn="*")
        )
    )
    return int(response.revision)


def new_orders_service(root: Stubs) -> str:
    prefix = unique("orders")
    put_definition(root, orders_definition(prefix))
    return prefix


def signed(
    credentials: SigningCredentials,
    method: str,
    path: str,
    *,
    audience: str,
    body: bytes = b"",
    now: float | None = None,
) -> dict[str, str]:
    return http_signature_headers(
        method=method,
        path=path,
        body=body,
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
        audience=audience,
        now=now,
    )


def check_request(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, str] | None = None,
    source: str = CLIENT_ADDRESS,
    scheme: str = "https",
    body: bytes = b"",
    host: str = "orders.example.test",
) -> Any:
    """A CheckRequest as Envoy's ext_authz HTTP filter sends it: the downstream peer, the
    request's pseudo-headers and headers (lower-case), its path with the query string, the
    body when with_request_body is on, and the route's context_extensions."""
    all_headers = {
        ":authority": host,
        ":method": method,
        ":path": path,
        ":scheme": scheme,
        "user-agent": "curl/8.5.0",
        "x-forwarded-proto": scheme,
        "x-request-id": "3f1c7a4e-6b55-4f4e-9d0c-7c2a1d9e0b11",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    if body:
        all_headers["content-length"] = str(len(body))
    attributes = attribute_context_pb2.AttributeContext(
        source=attribute_context_pb2.AttributeContext.Peer(
            address=address_pb2.Address(
                socket_address=address_pb2.SocketAddress(address=source, port_value=53012)
            )
        ),
        destination=attribute_context_pb2.AttributeContext.Peer(
            address=address_pb2.Address(
                socket_address=address_pb2.SocketAddress(address="10.1.2.3", port_value=8443)
            )
        ),
        request=attribute_context_pb2.AttributeContext.Request(
            http=attribute_context_pb2.AttributeContext.HttpRequest(
                id="14532938721349876",
                method=method,
                headers=all_headers,
                path=path,
                host=host,
                scheme=scheme,
                protocol="HTTP/1.1",
                size=len(body) if body else -1 if method in ("POST", "PUT") else 0,
                body=body.decode() if body else "",
            )
        ),
        context_extensions=dict(extensions or {}),
    )
    attributes.request.time.GetCurrentTime()
    return external_auth_pb2.CheckRequest(attributes=attributes)


@dataclass
class Checked:
    """What Envoy makes of a CheckResponse."""

    allowed: bool
    status: int  # 200 when allowed, else the denied response's HTTP status
    rpc_code: int
    upstream_headers: dict[str, str]  # added to the upstream request (allowed)
    removed: list[str]
    body: dict[str, Any]  # the denied response's JSON body

    @property
    def principal(self) -> str | None:
        return self.upstream_headers.get("x-iamd-principal")


class Envoy:
    """Sends Check calls to iamd's gRPC port, unsigned, as Envoy does."""

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.insecure_channel(endpoint)
        self.stub = external_auth_pb2_grpc.AuthorizationStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def check(self, request: Any) -> Checked:
        return self.answer(self.stub.Check(request, timeout=10))

    def check_raw(self, raw: bytes) -> Checked:
        call: grpc.UnaryUnaryMultiCallable[bytes, Any] = self.channel.unary_unary(
            "/envoy.service.auth.v3.Authorization/Check",
            request_serializer=None,
            response_deserializer=external_auth_pb2.CheckResponse.FromString,
        )
        return self.answer(call(raw, timeout=10))

    @staticmethod
    def answer(response: Any) -> Checked:
        if response.HasField("ok_response"):
            ok = response.ok_response
            assert response.status.code == 0
            return Checked(
                True,
                200,
                0,
                {h.header.key: h.header.value for h in ok.headers},
                list(ok.headers_to_remove),
                {},
            )
        denied = response.denied_response
        assert response.status.code != 0
        body = json.loads(denied.body) if denied.body else {}
        return Checked(False, denied.status.code, response.status.code, {}, [], body)
