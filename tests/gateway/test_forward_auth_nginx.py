"""A real nginx, configured from deploy/nginx/orders.conf, in front of a small upstream
server, asking a real `iamd serve --http-listen` (auth_request -> /v1/forward-auth) before
each request: what reaches the upstream, and what the client gets."""

from __future__ import annotations

import http.client
import http.server
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from iamd.v1 import management_pb2 as pb
from iamd_client.signing import SigningCredentials

from tests.api.management_support import credentials_of, document, management_account, unique
from tests.api.sts_support import new_role, trust
from tests.api.test_federation import CLIENT, Issuer
from tests.gateway.gateway_support import REGION, new_orders_service, signed
from tests.harness import ServerProcess, Stubs, start_server, stubs

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "orders.conf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    assert found, "nginx is not installed (tests/run installs Debian's nginx package)"
    return found


@dataclass
class Upstream:
    """The service behind nginx: records what reaches it."""

    port: int = 0
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                seen.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                body = b"from the upstream"
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def gateway_server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    process = start_server(
        module_database_url,
        tmp_path_factory.mktemp("iamd"),
        extra_args=["--http-listen", "127.0.0.1:0"],
    )
    try:
        line = next(x for x in process.output if x.startswith("iamd forward-auth listening on "))
        yield process, line.split()[-1]
    finally:
        process.stop()


@pytest.fixture(scope="module")
def root(gateway_server: tuple[ServerProcess, str]) -> Iterator[Stubs]:
    client = stubs(gateway_server[0].endpoint, gateway_server[0].root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def service(root: Stubs) -> str:
    return new_orders_service(root)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    server.start()
    yield server
    server.stop()


def nginx_config(example: str, *, listen: int, iamd: str, upstream: int, service: str) -> str:
    """The example with this test's addresses, each replaced where the example has it."""
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "server 127.0.0.1:8081;": f"server {iamd};",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
        "X-Iamd-Service orders;": f"X-Iamd-Service {service};",
    }
    for old, new in replacements.items():
        assert example.count(old) == 1, f"the nginx example no longer has {old!r}"
        example = example.replace(old, new)
    return example


@pytest.fixture(scope="module")
def nginx(
    gateway_server: tuple[ServerProcess, str],
    service: str,
    upstream: Upstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[int]:
    prefix = tmp_path_factory.mktemp("nginx")
    port = _free_port()
    site = nginx_config(
        EXAMPLE.read_text(), listen=port, iamd=gateway_server[1], upstream=upstream.port,
        service=service,
    )  # fmt: skip
    temp = "\n".join(
        f"    {name}_temp_path {prefix / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp}\n{site}\n}}\n"
    )
    process = subprocess.Popen(
        [
            _nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log"),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.stdout.read().decode() if process.stdout else ""
                log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
                raise RuntimeError(f"nginx did not start:\n{output}\n{log}") from None
            time.sleep(0.05)
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Reply:
    status: int
    body: bytes
    reached: list[tuple[str, str, dict[str, str]]]  # what the upstream saw of it


def _send(
    nginx: int,
    upstream: Upstream,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Reply:
    before = len(upstream.seen)
    connection = http.client.HTTPConnection("127.0.0.1", nginx, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return Reply(response.status, data, upstream.seen[before:])


def _user(root: Stubs, policy: str) -> tuple[str, SigningCredentials]:
    name = unique("user")
    m = root.management
    arn = m.CreateUser(pb.CreateUserRequest(user_name=name)).user.arn
    m.PutUserPolicy(
        pb.PutUserPolicyRequest(user_name=name, policy_name="p", policy_document=policy)
    )
    return arn, credentials_of(
        m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    )


def test_allowed_requests_reach_the_upstream_with_the_principal(
    root: Stubs, service: str, nginx: int, upstream: Upstream
) -> None:
    arn, credentials = _user(root, document(f"{service}:GetOrder"))
    path = "/orders/1001?fields=total"
    headers = signed(credentials, "GET", path, audience=service)
    reply = _send(nginx, upstream, "GET", path, headers)
    assert reply.status == 200 and reply.body == b"from the upstream"
    [(method, seen_path, seen_headers)] = reply.reached
    assert (method, seen_path) == ("GET", path)
    assert seen_headers["x-iamd-principal"] == arn
    assert int(seen_headers["x-iamd-revision"]) > 0


def test_denied_unauthenticated_and_unbound_requests_stop_at_nginx(
    root: Stubs, service: str, nginx: int, upstream: Upstream
) -> None:
    _, credentials = _user(root, document(f"{service}:GetOrder"))

    def send(method: str, path: str, sign: bool = True, **extra: str) -> Reply:
        headers = signed(credentials, method, path, audience=service) if sign else {}
        extra_headers = {k.replace("_", "-"): v for k, v in extra.items()}
        return _send(nginx, upstream, method, path, {**headers, **extra_headers})

    denied = send("POST", "/orders/1001/cancel")
    assert denied.status == 403 and not denied.reached
    anonymous = send("GET", "/orders/1001", sign=False)
    assert anonymous.status == 401 and not anonymous.reached
    forged = send("GET", "/orders/1001", x_iamd_signature="0" * 64)
    assert forged.status == 401 and not forged.reached
    unbound = send("GET", "/admin/export")
    assert unbound.status == 403 and not unbound.reached
    # A client that names another request in Caddy's headers is refused, not believed.
    smuggled = send("POST", "/orders/1001/cancel", x_forwarded_uri="/orders/1001")
    assert smuggled.status == 401 and not smuggled.reached
    # Nor can it opt out of fail-closed, or pick the region, with headers of its own.
    tried = send("GET", "/admin/export", x_iamd_unbound="allow")
    assert tried.status == 403 and not tried.reached
    _, east = _user(root, document(f"{service}:GetOrder", f"arn:aws:{service}:us-east-1:*:*"))
    headers = signed(east, "GET", "/orders/1", audience=service)
    tried = _send(nginx, upstream, "GET", "/orders/1", {**headers, "x-iamd-region": "us-east-1"})
    assert tried.status == 403 and not tried.reached


def test_an_opted_out_location_passes_unbound_requests_without_a_principal(
    service: str, nginx: int, upstream: Upstream
) -> None:
    reply = _send(
        nginx, upstream, "GET", "/public/logo.png",
        {"x-iamd-principal": "arn:aws:iam::111122223333:root", "x-iamd-revision": "1"},
    )  # fmt: skip
    assert reply.status == 200
    [(_, path, headers)] = reply.reached
    assert path == "/public/logo.png"
    assert "x-iamd-principal" not in headers and "x-iamd-revision" not in headers


def test_source_ip_is_the_address_nginx_saw(
    root: Stubs, service: str, nginx: int, upstream: Upstream
) -> None:
    local = document(
        f"{service}:GetOrder", condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}
    )
    remote = document(
        f"{service}:GetOrder", condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    )
    spoof = {"x-forwarded-for": "203.0.113.9", "x-real-ip": "203.0.113.9"}
    for policy, expected in ((local, 200), (remote, 403)):
        _, credentials = _user(root, policy)
        headers = signed(credentials, "GET", "/orders/7", audience=service)
        assert _send(nginx, upstream, "GET", "/orders/7", {**headers, **spoof}).status == expected
    # Over plain http aws:SecureTransport is false.
    _, credentials = _user(
        root, document(f"{service}:GetOrder", condition={"Bool": {"aws:SecureTransport": "true"}})
    )
    headers = signed(credentials, "GET", "/orders/7", audience=service)
    spoofed = {**headers, "x-forwarded-proto": "https"}
    assert _send(nginx, upstream, "GET", "/orders/7", spoofed).status == 403


def test_a_bearer_token_through_nginx(
    root: Stubs, service: str, nginx: int, upstream: Upstream
) -> None:
    issuer = Issuer("nginx-idp.example.test")
    provider = root.management.CreateOpenIDConnectProvider(
        pb.CreateOpenIDConnectProviderRequest(
            url=issuer.url, client_ids=[CLIENT], jwks=issuer.jwks()
        )
    ).provider.arn
    role = new_role(
        root,
        trust({"Federated": provider}, "sts:AssumeRoleWithWebIdentity",
              StringEquals={f"{issuer.host}:aud": CLIENT}),
        policy=document(f"{service}:ListOrders"),
    )  # fmt: skip
    token = issuer.token(sub="svc-reporting")
    headers = {"authorization": f"Bearer {token}", "x-iamd-role-arn": role}
    reply = _send(nginx, upstream, "GET", "/orders", headers)
    assert reply.status == 200
    account = management_account(root)
    expected = f"arn:aws:sts::{account}:assumed-role/{role.rsplit('/', 1)[-1]}/svc-reporting"
    assert reply.reached[0][2]["x-iamd-principal"] == expected
    assert _send(nginx, upstream, "GET", "/orders/3", headers).status == 403
    assert REGION == "eu-west-1"  # the region the example's auth URL names
