"""The Envoy ext_authz example is a valid Envoy bootstrap (parsed into Envoy's own protos)
whose routes configure iamd with settings iamd reads. (The nginx example runs for real in
test_forward_auth_nginx.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import envoy.extensions.filters.http.router.v3.router_pb2
import envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2
import envoy.extensions.transport_sockets.tls.v3.tls_pb2
import envoy.extensions.upstreams.http.v3.http_protocol_options_pb2  # noqa: F401
import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from google.protobuf import json_format
from iamd_server.gateway.envoy import CONTEXT_EXTENSIONS, SERVICE

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "envoy" / "ext-authz.yaml"


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def _untyped(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "@type"}


def test_the_example_is_an_envoy_bootstrap() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    bootstrap = json_format.ParseDict(data, bootstrap_pb2.Bootstrap())
    assert bootstrap.static_resources.listeners[0].name == "orders"


def test_ext_authz_asks_iamd_and_fails_closed() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    filters = [n for n in _walk(data) if n.get("name") == "envoy.filters.http.ext_authz"]
    assert len(filters) == 1
    config = json_format.ParseDict(_untyped(filters[0]["typed_config"]), ext_authz_pb2.ExtAuthz())
    assert config.grpc_service.envoy_grpc.cluster_name == "iamd"
    assert not config.failure_mode_allow
    assert config.transport_api_version == 2  # V3: envoy.service.auth.v3, which iamd serves
    assert SERVICE == "envoy.service.auth.v3.Authorization"
    clusters = {c["name"]: c for c in data["static_resources"]["clusters"]}
    iamd = clusters["iamd"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert iamd["endpoint"]["address"]["socket_address"]["port_value"] == 50051
    assert "http2_protocol_options" in str(clusters["iamd"])


def test_every_route_names_the_service_with_settings_iamd_reads() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    routes = [n for n in _walk(data) if "match" in n and "route" in n]
    assert routes
    for route in routes:
        per_route = route["typed_per_filter_config"]["envoy.filters.http.ext_authz"]
        parsed = json_format.ParseDict(_untyped(per_route), ext_authz_pb2.ExtAuthzPerRoute())
        extensions = dict(parsed.check_settings.context_extensions)
        assert extensions["iamd_service"] == "orders"
        assert set(extensions) <= set(CONTEXT_EXTENSIONS)
        assert extensions.get("iamd_unbound", "allow") == "allow"
