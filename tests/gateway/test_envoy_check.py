"""Envoy's ext_authz Check against a real `iamd serve`: the CheckRequests Envoy sends for
allowed, denied, unauthenticated, unbound and malformed requests, signed with iamd access keys
(long-term and temporary). Bearer tokens are in test_envoy_bearer.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2
from iamd_client.signing import SigningCredentials

from tests.api.management_support import (
    credentials_of,
    document,
    eventually,
    management_account,
    new_user,
    unique,
)
from tests.api.sts_support import new_role, session_credentials, trust
from tests.gateway.gateway_support import (
    CLIENT_ADDRESS,
    REGION,
    Envoy,
    check_request,
    new_orders_service,
    orders_definition,
    put_definition,
    signed,
)
from tests.harness import ServerProcess, Stubs, stubs


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def envoy(server: ServerProcess) -> Iterator[Envoy]:
    client = Envoy(server.endpoint)
    yield client
    client.close()


@pytest.fixture(scope="module")
def service(root: Stubs) -> str:
    return new_orders_service(root)


@pytest.fixture(scope="module")
def account(root: Stubs) -> str:
    return management_account(root)


def _user(root: Stubs, policy: str) -> tuple[str, SigningCredentials]:
    name = unique("user")
    m = root.management
    user = m.CreateUser(pb.CreateUserRequest(user_name=name)).user
    m.PutUserPolicy(
        pb.PutUserPolicyRequest(user_name=name, policy_name="p", policy_document=policy)
    )
    key = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    return str(user.arn), credentials_of(key)


@pytest.fixture(scope="module")
def reader(root: Stubs, service: str) -> tuple[str, SigningCredentials]:
    """May get and list orders; an explicit deny (with a telling Sid) on cancelling."""
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [f"{service}:GetOrder", f"{service}:ListOrders"],
                    "Resource": "*",
                },
                {
                    "Sid": "NoCancellingForTheSupportTeam",
                    "Effect": "Deny",
                    "Action": f"{service}:CancelOrder",
                    "Resource": "*",
                },
            ],
        }
    )
    return _user(root, policy)


def _route(service: str, **extra: str) -> dict[str, str]:
    return {"iamd_service": service, "iamd_region": REGION, **extra}


def test_allowed_request_reaches_the_upstream_with_its_principal(
    envoy: Envoy, service: str, reader: tuple[str, SigningCredentials]
) -> None:
    arn, credentials = reader
    answer = envoy.check(
        check_request(
            "GET",
            "/orders/1001?fields=total",
            headers=signed(credentials, "GET", "/orders/1001?fields=total", audience=service),
            extensions=_route(service),
        )
    )
    assert answer.allowed, answer
    assert answer.principal == arn
    assert int(answer.upstream_headers["x-iamd-revision"]) > 0
    listed = envoy.check(
        check_request(
            "GET",
            "/orders",
            headers=signed(credentials, "GET", "/orders", audience=service),
            extensions=_route(service),
        )
    )
    assert listed.allowed and listed.principal == arn


def test_denied_request_names_action_and_resource_not_the_statement(
    envoy: Envoy, service: str, account: str, reader: tuple[str, SigningCredentials]
) -> None:
    _, credentials = reader
    for method, path in (("POST", "/orders/1001/cancel"), ("DELETE", "/orders/1001")):
        answer = envoy.check(
            check_request(
                method,
                path,
                headers=signed(credentials, method, path, audience=service),
                extensions=_route(service),
            )
        )
        assert not answer.allowed and answer.status == 403
        assert answer.rpc_code == grpc.StatusCode.PERMISSION_DENIED.value[0]
        assert answer.body["action"] == f"{service}:CancelOrder"
        assert answer.body["resource"] == f"arn:aws:{service}:{REGION}:{account}:order/1001"
        assert "NoCancelling" not in json.dumps(answer.body)


def test_resource_arn_follows_path_region_and_account(
    root: Stubs, envoy: Envoy, service: str, account: str
) -> None:
    only_1001 = document(f"{service}:GetOrder", f"arn:aws:{service}:{REGION}:{account}:order/1001")
    _, credentials = _user(root, only_1001)

    def get(path: str, **route: str) -> bool:
        headers = signed(credentials, "GET", path, audience=service)
        extensions = {"iamd_service": service, **route}
        return envoy.check(
            check_request("GET", path, headers=headers, extensions=extensions)
        ).allowed

    assert get("/orders/1001", iamd_region=REGION)
    assert not get("/orders/1002", iamd_region=REGION)
    assert not get("/orders/1001", iamd_region="us-east-1")
    assert not get("/orders/1001")  # no region: arn:aws:SERVICE::ACCOUNT:order/1001
    # The route may name the account; another account's order needs a grant there.
    other = root.management.CreateAccount(pb.CreateAccountRequest(name=unique("acct")))
    other_account = other.account.account_id
    assert get("/orders/1001", iamd_region=REGION, iamd_account=account)
    assert not get("/orders/1001", iamd_region=REGION, iamd_account=other_account)
    # Percent-encoded segments are decoded before they fill the ARN.
    assert get("/orders/%31001", iamd_region=REGION)


def test_unauthenticated_requests_get_401(
    envoy: Envoy, service: str, reader: tuple[str, SigningCredentials]
) -> None:
    arn, credentials = reader
    path = "/orders/1001"
    good = signed(credentials, "GET", path, audience=service)

    def status(headers: dict[str, str], method: str = "GET", target: str = path) -> int:
        answer = envoy.check(
            check_request(method, target, headers=headers, extensions=_route(service))
        )
        assert not answer.allowed
        if answer.status == 401:
            assert answer.rpc_code == grpc.StatusCode.UNAUTHENTICATED.value[0]
            assert answer.body["error"] == "Unauthenticated"
        return answer.status

    assert status({}) == 401  # no credentials at all
    wrong_secret = SigningCredentials(credentials.access_key_id, "x" * 40)
    assert status(signed(wrong_secret, "GET", path, audience=service)) == 401
    # A signature for another audience (iamd itself, another service) is not for this one.
    assert status(signed(credentials, "GET", path, audience="iamd")) == 401
    assert status(signed(credentials, "GET", path, audience="billing")) == 401
    # Replayed on another path, with another method or query string: the signature covers
    # the request line.
    assert status(good, target="/orders/1002") == 401
    assert status(good, method="DELETE") == 401
    assert status(good, target=path + "?all=1") == 401
    # Too old.
    assert status(signed(credentials, "GET", path, audience=service, now=time.time() - 600)) == 401
    # Every header is needed, well formed.
    for name in ("x-iamd-date", "x-iamd-signature", "x-iamd-content-sha256"):
        assert status({k: v for k, v in good.items() if k != name}) == 401
    assert status({**good, "x-iamd-signature": good["x-iamd-signature"].upper()}) == 401
    assert status({**good, "x-iamd-access-key-id": "AKIA\x00"}) == 401
    # Not a bearer token.
    assert status({"authorization": "Basic YWxpY2U6c2VjcmV0"}) == 401
    # An unknown key and a known one with a bad signature get the same answer.
    unknown = SigningCredentials("AKIA" + "Q" * 16, credentials.secret_access_key)
    first = envoy.check(
        check_request(
            "GET", path, headers=signed(unknown, "GET", path, audience=service),
            extensions=_route(service),
        )
    )  # fmt: skip
    second = envoy.check(
        check_request(
            "GET", path, headers=signed(wrong_secret, "GET", path, audience=service),
            extensions=_route(service),
        )
    )  # fmt: skip
    assert first.body == second.body and first.status == second.status == 401
    assert arn not in json.dumps(second.body)


def test_the_body_is_covered_when_envoy_forwards_it(
    envoy: Envoy, service: str, root: Stubs
) -> None:
    _, credentials = _user(root, document(f"{service}:CancelOrder"))
    path = "/orders/7/cancel"
    body = b'{"reason":"duplicate"}'
    headers = signed(credentials, "POST", path, audience=service, body=body)
    ok = envoy.check(
        check_request("POST", path, headers=headers, body=body, extensions=_route(service))
    )
    assert ok.allowed
    tampered = envoy.check(
        check_request(
            "POST", path, headers=headers, body=b'{"reason":"fraud"}', extensions=_route(service)
        )
    )
    assert not tampered.allowed and tampered.status == 401
    # A body Envoy cut at max_request_bytes is not the body: the signed hash stands.
    partial = envoy.check(
        check_request(
            "POST",
            path,
            headers={**headers, "x-envoy-auth-partial-body": "true"},
            body=body[:5],
            extensions=_route(service),
        )
    )
    assert partial.allowed


def test_unbound_requests_fail_closed_unless_the_route_opts_out(
    envoy: Envoy, service: str, reader: tuple[str, SigningCredentials]
) -> None:
    _, credentials = reader
    for method, path in (("GET", "/health"), ("PUT", "/orders/1001"), ("GET", "/orders/1/x")):
        headers = signed(credentials, method, path, audience=service)
        answer = envoy.check(
            check_request(method, path, headers=headers, extensions=_route(service))
        )
        assert not answer.allowed and answer.status == 403, (method, path)
        # Without credentials an unbound path is answered like any other: 401.
        anonymous = envoy.check(check_request(method, path, extensions=_route(service)))
        assert anonymous.status == 401
    # Opted out: through without credentials, and a principal header the client made up is
    # removed from the upstream request.
    opted = _route(service, iamd_unbound="allow")
    answer = envoy.check(
        check_request(
            "GET", "/health", headers={"x-iamd-principal": "arn:aws:iam::1:root"}, extensions=opted
        )
    )
    assert answer.allowed and answer.principal is None
    assert set(answer.removed) == {"x-iamd-principal", "x-iamd-revision"}
    # Bound paths still need credentials on that route.
    assert envoy.check(check_request("GET", "/orders/1", extensions=opted)).status == 401


def test_malformed_requests_get_401_and_bad_routes_500(envoy: Envoy, service: str) -> None:
    for target in (
        "/orders/..",
        "/orders/%2e%2e",
        "/orders/a%2Fb",
        "/orders/a%5Cb",
        "/orders/%zz",
        "/orders/%ff",
        "/orders/a%00",
        "/orders/1;jsessionid=2",
        "orders/1",
        "http://orders.example.test/orders/1",
        "/orders/" + "x" * 9000,
        "/orders/\u00e9",
    ):
        answer = envoy.check(check_request("GET", target, extensions=_route(service)))
        assert not answer.allowed and answer.status == 401, target
        assert answer.body["error"] == "MalformedRequest", target
    bad_method = envoy.check(check_request("G T", "/orders/1", extensions=_route(service)))
    assert bad_method.status == 401
    # A CheckRequest that is not one, and routes iamd cannot serve.
    assert envoy.check_raw(b"\xff\xff\xff").status == 401
    for extensions in (
        {},
        {"iamd_service": "no-such-service"},
        {"iamd_service": "iamd"},
        {"iamd_service": service, "iamd_account": "12"},
        {"iamd_service": service, "iamd_region": "EU WEST"},
    ):
        answer = envoy.check(check_request("GET", "/orders/1", extensions=extensions))
        assert not answer.allowed and answer.status == 500, extensions
    # No downstream address (a pipe): aws:SourceIp cannot be known, so nothing is allowed.
    answer = envoy.check(check_request("GET", "/orders/1", source="", extensions=_route(service)))
    assert not answer.allowed and answer.status == 500


def test_conditions_see_source_ip_transport_and_user_agent(
    root: Stubs, envoy: Envoy, service: str
) -> None:
    policy = document(
        f"{service}:GetOrder",
        condition={
            "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
            "Bool": {"aws:SecureTransport": "true"},
            "StringLike": {"aws:UserAgent": "curl/*"},
        },
    )
    _, credentials = _user(root, policy)
    path = "/orders/5"

    def allowed(source: str = CLIENT_ADDRESS, scheme: str = "https", agent: str = "") -> bool:
        headers = signed(credentials, "GET", path, audience=service)
        if agent:
            headers["user-agent"] = agent
        request = check_request(
            "GET", path, headers=headers, extensions=_route(service), source=source, scheme=scheme
        )
        return envoy.check(request).allowed

    assert allowed()
    assert not allowed(source="198.51.100.1")
    assert allowed(source="203.0.113.200")
    assert allowed(source="::ffff:203.0.113.200")  # IPv4 on a dual-stack listener
    assert not allowed(scheme="http")
    assert not allowed(agent="python-requests/2.32")


def test_temporary_credentials_and_session_policies(
    root: Stubs, envoy: Envoy, service: str, account: str, server: ServerProcess
) -> None:
    user_name, user = new_user(root, server.endpoint)
    user_arn = f"arn:aws:iam::{account}:user/{user_name}"
    role = new_role(
        root,
        trust({"AWS": user_arn}),
        policy=document([f"{service}:GetOrder", f"{service}:CancelOrder"]),
    )
    assumed = user.sts.AssumeRole(
        sts_pb2.AssumeRoleRequest(
            role_arn=role,
            role_session_name="gateway-test",
            policy=document(f"{service}:GetOrder"),
        )
    )
    user.close()
    credentials = session_credentials(assumed.credentials)
    get = envoy.check(
        check_request(
            "GET", "/orders/9", headers=signed(credentials, "GET", "/orders/9", audience=service),
            extensions=_route(service),
        )
    )  # fmt: skip
    assert get.allowed
    assert get.principal == assumed.assumed_role_user.arn
    # The session policy narrows the role: cancelling is denied.
    cancel = envoy.check(
        check_request(
            "DELETE", "/orders/9",
            headers=signed(credentials, "DELETE", "/orders/9", audience=service),
            extensions=_route(service),
        )
    )  # fmt: skip
    assert not cancel.allowed and cancel.status == 403
    # Revoked sessions stop at once.
    role_name = role.rsplit("/", 1)[-1]
    root.management.RevokeRoleSessions(pb.RevokeRoleSessionsRequest(role_name=role_name))

    def refused() -> None:
        answer = envoy.check(
            check_request(
                "GET", "/orders/9",
                headers=signed(credentials, "GET", "/orders/9", audience=service),
                extensions=_route(service),
            )
        )  # fmt: skip
        assert answer.status == 401

    eventually(refused)


def test_policy_and_binding_changes_apply_without_a_restart(
    root: Stubs, envoy: Envoy, account: str
) -> None:
    service = new_orders_service(root)
    name = unique("user")
    m = root.management
    m.CreateUser(pb.CreateUserRequest(user_name=name))
    credentials = credentials_of(
        m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    )

    def get(path: str) -> int:
        headers = signed(credentials, "GET", path, audience=service)
        return envoy.check(
            check_request("GET", path, headers=headers, extensions=_route(service))
        ).status

    assert get("/orders/1") == 403
    m.PutUserPolicy(
        pb.PutUserPolicyRequest(
            user_name=name, policy_name="p", policy_document=document(f"{service}:*")
        )
    )
    eventually(lambda: _expect(get("/orders/1"), 200))
    assert get("/v2/orders/1") == 403  # unbound
    # A new binding in a new version of the definition: the route table is rebuilt.
    definition = orders_definition(service)
    definition["Actions"][0]["Http"].append({"Method": "GET", "Path": "/v2/orders/{OrderId}"})
    put_definition(root, definition)
    eventually(lambda: _expect(get("/v2/orders/1"), 200))
    # Deleting the definition leaves the route without a service: denied, never allowed.
    m.DeleteServiceDefinition(pb.DeleteServiceDefinitionRequest(service_prefix=service))
    eventually(lambda: _expect(get("/orders/1"), 500))


def _expect(actual: int, expected: int) -> None:
    assert actual == expected, actual


def test_a_reused_user_name_does_not_inherit_the_old_key(
    root: Stubs, envoy: Envoy, service: str
) -> None:
    name = unique("user")
    m = root.management
    m.CreateUser(pb.CreateUserRequest(user_name=name))
    key = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    credentials = credentials_of(key)
    m.DeleteAccessKey(pb.DeleteAccessKeyRequest(user_name=name, access_key_id=key.access_key_id))
    m.DeleteUser(pb.DeleteUserRequest(user_name=name))
    m.CreateUser(pb.CreateUserRequest(user_name=name))
    m.PutUserPolicy(
        pb.PutUserPolicyRequest(
            user_name=name, policy_name="p", policy_document=document(f"{service}:*")
        )
    )

    def refused() -> None:
        headers = signed(credentials, "GET", "/orders/1", audience=service)
        answer = envoy.check(
            check_request("GET", "/orders/1", headers=headers, extensions=_route(service))
        )
        assert answer.status == 401

    eventually(refused)
