"""Envoy Check decisions in the decision log: source, principal, request id, no credentials."""

from __future__ import annotations

import json
from pathlib import Path

from iamd.v1 import management_pb2 as pb

from tests.api.management_support import credentials_of, document, eventually, unique
from tests.gateway.gateway_support import REGION, Envoy, check_request, new_orders_service, signed
from tests.harness import start_server, stubs


def test_gateway_decisions_are_logged_without_credentials(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "decisions.log"
    server = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=["--decision-log", str(path), "--decision-log-sample-allows", "1"],
    )
    root = stubs(server.endpoint, server.root)
    envoy = Envoy(server.endpoint)
    try:
        service = new_orders_service(root)
        name = unique("reader")
        arn = root.management.CreateUser(pb.CreateUserRequest(user_name=name)).user.arn
        root.management.PutUserPolicy(
            pb.PutUserPolicyRequest(
                user_name=name, policy_name="p", policy_document=document(f"{service}:GetOrder")
            )
        )
        key = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name))
        credentials = credentials_of(key.access_key)
        route = {"iamd_service": service, "iamd_region": REGION}
        sent: list[dict[str, str]] = []
        for method, target in (("GET", "/orders/1001"), ("DELETE", "/orders/1001")):
            headers = signed(credentials, method, target, audience=service)
            sent.append(headers)
            envoy.check(check_request(method, target, headers=headers, extensions=route))

        def logged() -> list[dict[str, object]]:
            found = [json.loads(x) for x in path.read_text().splitlines()]
            mine = [e for e in found if e["principal"] == arn]
            assert len(mine) == 2
            return mine

        entries = eventually(logged)
        by_action = {e["action"]: e for e in entries}
        allowed = by_action[f"{service}:GetOrder"]
        assert allowed["source"] == "gateway" and allowed["decision"] == "allowed"
        resource = str(allowed["resource"])
        assert resource.startswith(f"arn:aws:{service}:{REGION}:")
        assert resource.endswith(":order/1001")
        assert allowed["request_id"] == "3f1c7a4e-6b55-4f4e-9d0c-7c2a1d9e0b11"
        assert isinstance(allowed["statement"], dict)
        assert by_action[f"{service}:CancelOrder"]["decision"] == "implicit_deny"
        text = path.read_text()
        assert credentials.secret_access_key not in text
        for headers in sent:
            for value in headers.values():
                if len(value) >= 16:  # signatures and key ids: none is logged
                    assert value not in text
    finally:
        envoy.close()
        root.close()
        server.stop()
