"""The background JWKS refresh of a real server against local JWKS servers: it follows no
redirect, bounds each fetch by a total deadline, and fetches providers concurrently. Plain
http is accepted only with `--oidc-allow-http` (the local servers speak no TLS)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from joserfc.jwk import ECKey

from tests.api.management_support import eventually, expect_error, unique
from tests.harness import ServerProcess, Stubs, start_server, stubs

REFRESH_SECONDS = 1.0


def jwks(kid: str) -> str:
    key = ECKey.generate_key("P-256", parameters={"kid": kid}, private=False)
    return json.dumps({"keys": [key.as_dict(private=False)]})


@dataclass
class Recorder:
    """What a local JWKS server saw: per path, (start, end) of each request."""

    visits: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, path: str) -> int:
        with self.lock:
            entries = self.visits.setdefault(path, [])
            entries.append((time.monotonic(), None))
            return len(entries) - 1

    def end(self, path: str, index: int) -> None:
        with self.lock:
            start, _ = self.visits[path][index]
            self.visits[path][index] = (start, time.monotonic())

    def of(self, path: str) -> list[tuple[float, float | None]]:
        with self.lock:
            return list(self.visits.get(path, []))


def serve(recorder: Recorder, routes: dict[str, str]) -> ThreadingHTTPServer:
    """A local JWKS server: "/jwks*" answer their document, "/redirect" sends elsewhere,
    "/drip*" answer one byte every 0.1 s for as long as the client stays."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            index = recorder.begin(self.path)
            try:
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", routes["redirect"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/drip"):
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    for _ in range(100000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                else:
                    body = routes[self.path].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
            except OSError:
                pass  # the client hung up
            finally:
                recorder.end(self.path, index)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def root(database_url: str, tmp_path: Path) -> Iterator[Stubs]:
    """Root stubs of a server that accepts plain http JWKS URLs and refreshes every second."""
    process = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=["--oidc-allow-http", "--oidc-jwks-refresh-seconds", str(REFRESH_SECONDS)],
    )
    client = stubs(process.endpoint, process.root)
    try:
        yield client
    finally:
        client.close()
        process.stop()


def provider(root: Stubs, jwks_url: str, initial: str) -> str:
    response = root.management.CreateOpenIDConnectProvider(
        pb.CreateOpenIDConnectProviderRequest(
            url=f"https://{unique('idp')}.example.test",
            client_ids=["client-1"],
            jwks=initial,
            jwks_url=jwks_url,
        )
    )
    return str(response.provider.arn)


def stored_kid(root: Stubs, arn: str) -> str:
    got = root.management.GetOpenIDConnectProvider(
        pb.GetOpenIDConnectProviderRequest(open_id_connect_provider_arn=arn)
    ).provider
    return str(json.loads(got.jwks)["keys"][0]["kid"])


def test_refresh_follows_no_redirect_keeps_a_deadline_and_runs_concurrently(root: Stubs) -> None:
    recorder = Recorder()
    elsewhere = serve(recorder, {"/jwks-elsewhere": jwks("elsewhere")})
    routes = {"/jwks": jwks("fresh")}
    local = serve(recorder, routes)
    # The redirect goes to another host name (and port): the refresher must not follow it.
    routes["redirect"] = f"http://localhost:{elsewhere.server_port}/jwks-elsewhere"
    base = f"http://127.0.0.1:{local.server_port}"
    try:
        refreshed = provider(root, f"{base}/jwks", jwks("initial"))
        redirected = provider(root, f"{base}/redirect", jwks("initial"))
        provider(root, f"{base}/drip-1", jwks("initial"))
        provider(root, f"{base}/drip-2", jwks("initial"))

        # The refresh works: the plain provider gets the served keys.
        def refreshed_keys() -> None:
            assert stored_kid(root, refreshed) == "fresh"

        eventually(refreshed_keys, timeout=15)

        def two_cycles_done() -> None:
            for path in ("/redirect", "/drip-1", "/drip-2"):
                assert len([v for v in recorder.of(path) if v[1] is not None]) >= 2, path

        eventually(two_cycles_done, timeout=20)

        # No redirect was followed: the other host was never asked, the keys stayed.
        assert recorder.of("/jwks-elsewhere") == []
        assert stored_kid(root, redirected) == "initial"

        # Each fetch of a provider that never finishes answering was cut at the deadline
        # (the refresh interval here), not left to run on byte by byte.
        for path in ("/drip-1", "/drip-2"):
            for start, end in recorder.of(path):
                assert (end if end is not None else time.monotonic()) - start < 4, path

        # Both slow providers were fetched at the same time, not one after the other.
        starts = [[s for s, _ in recorder.of(p)] for p in ("/drip-1", "/drip-2")]
        assert min(abs(a - b) for a in starts[0] for b in starts[1]) < 0.5, starts
    finally:
        local.shutdown()
        elsewhere.shutdown()


def test_http_jwks_urls_need_the_flag(server: ServerProcess) -> None:
    strict = stubs(server.endpoint, server.root)
    try:
        for bad in (
            "http://127.0.0.1:1/jwks",  # plain http without --oidc-allow-http
            "ftp://example.test/jwks",
            "https:///jwks",
            "https://example.test/a b",
            "https://user@example.test/jwks",
        ):
            expect_error(
                partial(provider, strict, bad, jwks("k")),
                grpc.StatusCode.INVALID_ARGUMENT,
                field="jwks_url",
            )
    finally:
        strict.close()
