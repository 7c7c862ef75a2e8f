"""The forward-auth listener of a real `iamd serve --http-listen`, spoken to directly: Caddy's
and Traefik's headers, keep-alive, and clients that send too much, too slowly or garbage."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest
from iamd.v1 import management_pb2 as pb
from iamd_client.signing import SigningCredentials

from tests.api.management_support import credentials_of, document, unique
from tests.gateway.gateway_support import new_orders_service, signed
from tests.harness import ServerProcess, Stubs, start_server, stubs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


METRICS_PORT = _free_port()


@pytest.fixture(scope="module")
def listener(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    process = start_server(
        module_database_url,
        tmp_path_factory.mktemp("iamd"),
        extra_args=[
            "--http-listen", "127.0.0.1:0", "--http-timeout", "1",
            "--metrics-listen", f"127.0.0.1:{METRICS_PORT}",
        ],
    )  # fmt: skip
    try:
        line = next(x for x in process.output if x.startswith("iamd forward-auth listening on "))
        yield process, line.split()[-1]
    finally:
        process.stop()


@pytest.fixture(scope="module")
def root(listener: tuple[ServerProcess, str]) -> Iterator[Stubs]:
    client = stubs(listener[0].endpoint, listener[0].root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def service(root: Stubs) -> str:
    return new_orders_service(root)


@pytest.fixture(scope="module")
def user(root: Stubs, service: str) -> tuple[str, SigningCredentials]:
    name = unique("user")
    m = root.management
    arn = m.CreateUser(pb.CreateUserRequest(user_name=name)).user.arn
    m.PutUserPolicy(
        pb.PutUserPolicyRequest(
            user_name=name, policy_name="p", policy_document=document(f"{service}:GetOrder")
        )
    )
    key = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    return arn, credentials_of(key)


def _address(listener: tuple[ServerProcess, str]) -> tuple[str, int]:
    host, _, port = listener[1].rpartition(":")
    return host, int(port)


def _forwarded(
    service: str, credentials: SigningCredentials, method: str, uri: str
) -> dict[str, str]:
    """What Caddy's forward_auth and Traefik's forwardAuth send (plus the service header)."""
    return {
        **signed(credentials, method, uri, audience=service),
        "X-Forwarded-Method": method,
        "X-Forwarded-Uri": uri,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "orders.example.test",
        "X-Forwarded-For": "198.51.100.20",
        "X-Iamd-Service": service,
    }


def test_caddy_and_traefik_headers_and_keep_alive(
    listener: tuple[ServerProcess, str], service: str, user: tuple[str, SigningCredentials]
) -> None:
    arn, credentials = user
    connection = http.client.HTTPConnection(*_address(listener), timeout=5)
    try:
        # Two requests on one connection, as a proxy keeps it.
        for uri, expected in (("/orders/1", 200), ("/orders/1/cancel", 403)):
            method = "GET" if expected == 200 else "POST"
            connection.request(
                "GET", "/v1/forward-auth?region=eu-west-1",
                headers=_forwarded(service, credentials, method, uri),
            )  # fmt: skip
            response = connection.getresponse()
            body = response.read()
            assert response.status == expected, body
            if expected == 200:
                assert response.getheader("X-Iamd-Principal") == arn
                assert int(response.getheader("X-Iamd-Revision") or 0) > 0
            else:
                assert json.loads(body)["action"] == f"{service}:CancelOrder"
    finally:
        connection.close()
    # Outcomes are counted by kind, never by principal or path.
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5)
    text = metrics.read().decode()
    assert 'iamd_rpc_total{code="allowed",method="ForwardAuth"}' in text
    assert 'iamd_rpc_total{code="denied",method="ForwardAuth"}' in text
    assert arn not in text


def test_pipelined_requests_are_each_answered(
    listener: tuple[ServerProcess, str], service: str, user: tuple[str, SigningCredentials]
) -> None:
    _, credentials = user
    one = b"".join(
        f"{k}: {v}\r\n".encode()
        for k, v in _forwarded(service, credentials, "GET", "/orders/1").items()
    )
    request = b"GET /v1/forward-auth HTTP/1.1\r\nHost: iamd\r\n" + one + b"\r\n"
    with socket.create_connection(_address(listener), timeout=5) as sock:
        sock.sendall(request + request.replace(b"/v1/forward-auth", b"/elsewhere", 1))
        received = b""
        while received.count(b"HTTP/1.1 ") < 2:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    first, second = received.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"200") and second.startswith(b"404")


def _request(
    listener: tuple[ServerProcess, str], target: str, headers: dict[str, str], method: str = "GET"
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*_address(listener), timeout=5)
    try:
        connection.request(method, target, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_bad_proxy_configurations_are_denied_with_500(
    listener: tuple[ServerProcess, str], service: str, user: tuple[str, SigningCredentials]
) -> None:
    _, credentials = user
    good = _forwarded(service, credentials, "GET", "/orders/1")
    assert _request(listener, "/v1/forward-auth", good)[0] == 200
    assert _request(listener, "/v1/forward-auth/x", good)[0] == 404
    for target, headers in (
        ("/v1/forward-auth", {k: v for k, v in good.items() if k != "X-Forwarded-Uri"}),
        ("/v1/forward-auth", {k: v for k, v in good.items() if k != "X-Forwarded-For"}),
        ("/v1/forward-auth", {k: v for k, v in good.items() if k != "X-Iamd-Service"}),
        ("/v1/forward-auth?account=12", good),
        ("/v1/forward-auth?unbound=sometimes", good),
        ("/v1/forward-auth?" + "&".join(f"p{n}=1" for n in range(20)), good),
    ):
        status, body = _request(listener, target, headers)
        assert status == 500, (target, body)
    # Unbound and let through: the principal headers come back empty, so proxies that copy
    # them overwrite whatever the client sent.
    connection = http.client.HTTPConnection(*_address(listener), timeout=5)
    try:
        unbound = {**good, "X-Forwarded-Uri": "/public/logo.png", "X-Iamd-Principal": "x"}
        connection.request("GET", "/v1/forward-auth?unbound=allow", headers=unbound)
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("X-Iamd-Principal") == ""
        assert response.getheader("X-Iamd-Revision") == ""
    finally:
        connection.close()
    # The query names the service ahead of the header.
    status, _ = _request(listener, "/v1/forward-auth?service=no-such-service", good)
    assert status == 500


def test_oversized_and_malformed_requests(listener: tuple[ServerProcess, str]) -> None:
    status, _ = _request(listener, "/v1/forward-auth", {"X-Padding": "x" * 20_000})
    assert status == 431
    status, _ = _request(listener, "/v1/forward-auth", {"X-Original-Method": "GET"}, "POST")
    assert status in (401, 500)
    with socket.create_connection(_address(listener), timeout=5) as sock:
        sock.sendall(b"GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        sock.sendall(b"x" * 100_000)
        assert sock.recv(64).startswith(b"HTTP/1.1 413")
    with socket.create_connection(_address(listener), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 400")


def test_slow_clients_are_cut_off(listener: tuple[ServerProcess, str]) -> None:
    """--http-timeout 1: a request trickling in a byte at a time is dropped after about a
    second, long before its header block is complete."""
    with socket.create_connection(_address(listener), timeout=10) as sock:
        sock.sendall(b"GET /v1/forward-auth HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 15:
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        # Cut off while still sending (well before 15 s; a busy machine may take a few).
        assert closed
        assert time.monotonic() - started < 10
