"""`GET /v1/forward-auth`: the gateway decision for nginx's auth_request, Caddy's
forward_auth and Traefik's forwardAuth, on a small HTTP/1.1 listener (`--http-listen`).

The proxy asks before passing a request on, describing it in headers:

- the original method and target: `X-Original-Method` / `X-Original-URI` (nginx, set in its
  configuration) or `X-Forwarded-Method` / `X-Forwarded-Uri` (Caddy, Traefik); when both
  kinds are present they must agree, so a client cannot smuggle one past a proxy that sets
  the other;
- the client's address: the last entry of `X-Forwarded-For`, the one the proxy itself adds;
- the scheme: `X-Forwarded-Proto` (https: aws:SecureTransport is true);
- the client's own headers (credentials, user agent), which proxies copy to the auth request.

Route settings are query parameters of the auth URL in the proxy's configuration
(`?service=orders&region=eu-west-1&account=...&role_arn=...&unbound=allow`), which clients
cannot reach; the service may instead come from an `X-Iamd-Service` header the proxy sets.
The other settings are never read from headers: proxies pass the client's headers on, and a
client must not be able to choose its region or let itself through.

Answers: 200 (allowed; `X-Iamd-Principal` and `X-Iamd-Revision` for the proxy to pass
upstream), 401, 403 (with a JSON body), 500. The listener is HTTP/1.1 via h11: header
blocks are bounded, a request must arrive within a deadline, idle keep-alive connections
are closed, and connections beyond a limit are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Mapping

import h11

from iamd_server.gateway.check import Answer, Gateway, HttpRequest
from iamd_server.runtime import metrics

log = logging.getLogger(__name__)

PATH = "/v1/forward-auth"
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024  # auth requests carry no body; a small one is read and dropped
REQUEST_SECONDS = 10.0  # to receive one whole request once its first byte arrived
IDLE_SECONDS = 60.0  # between requests on a keep-alive connection
MAX_CONNECTIONS = 1024
_READ = 65536


def _answer(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()
    outcome = {401: "malformed", 404: "not_found", 500: "error"}.get(status, "bad_request")
    return Answer(status, outcome, (("content-type", "application/json"),), body)


_NOT_FOUND = _answer(404, "NotFound", f"the forward-auth endpoint is {PATH}")
_TOO_LARGE = _answer(413, "TooLarge", "auth requests carry no body")


def _agreeing(headers: Mapping[str, str], *names: str) -> str | None:
    """The value of whichever of ``names`` is present; None when two present disagree."""
    values = {headers[n] for n in names if n in headers}
    if len(values) > 1:
        return None
    return next(iter(values), "")


def http_request(target: bytes, headers: Mapping[str, str]) -> HttpRequest | Answer:
    """The forward-auth request -> the gateway's request, or the answer to give at once."""
    query = urllib.parse.urlsplit(target.decode("latin-1")).query
    try:
        settings = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=16))
    except ValueError:
        return _answer(500, "GatewayMisconfigured", "the auth URL has too many parameters")
    method = _agreeing(headers, "x-original-method", "x-forwarded-method")
    original = _agreeing(headers, "x-original-uri", "x-forwarded-uri")
    if method is None or original is None:
        return _answer(
            401, "MalformedRequest", "X-Original-* and X-Forwarded-* name different requests"
        )
    if not method or not original:
        return _answer(
            500,
            "GatewayMisconfigured",
            "the proxy must send X-Original-Method and X-Original-URI"
            " (or X-Forwarded-Method and X-Forwarded-Uri)",
        )
    forwarded_for = headers.get("x-forwarded-for", "")
    unbound = settings.get("unbound", "")
    if unbound not in ("", "allow", "deny"):
        return _answer(500, "GatewayMisconfigured", "unbound must be allow or deny")
    return HttpRequest(
        method=method,
        target=original,
        headers=headers,
        service=settings.get("service") or headers.get("x-iamd-service", ""),
        source_ip=forwarded_for.rsplit(",", 1)[-1].strip(),
        secure=headers.get("x-forwarded-proto", "").lower() == "https",
        region=settings.get("region", ""),
        account=settings.get("account", ""),
        role_arn=settings.get("role_arn", ""),
        allow_unbound=unbound == "allow",
    )


def bind(listen: str, *, reuse_port: bool = False) -> tuple[socket.socket, str]:
    """A listening socket for HOST:PORT (port 0 picks a free one) and its address; OSError or
    ValueError when it cannot be had. ``reuse_port``: a worker's, sharing the port that its
    supervisor reserved."""
    host, separator, port = listen.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError("must be HOST:PORT")
    address = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.create_server(
        (address, int(port)), family=family, backlog=1024, reuse_port=reuse_port
    )
    sock.setblocking(False)
    return sock, f"{host or address}:{sock.getsockname()[1]}"


class ForwardAuthServer:
    """The listener; ``start()`` returns the bound address (port 0 picks a free port)."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        max_connections: int = MAX_CONNECTIONS,
        request_seconds: float = REQUEST_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._gateway = gateway
        self._max_connections = max_connections
        self._request_seconds = request_seconds
        self._idle_seconds = idle_seconds
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> None:
        """Serves on a socket bound by `bind` (at start-up, before anything else)."""
        self._server = await asyncio.start_server(
            self._connection, sock=sock, limit=MAX_HEADER_BYTES
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self._max_connections:
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("forward-auth connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        while True:
            # Idle until a request starts, then the whole request within the deadline.
            buffered, closed = connection.trailing_data
            fed = len(buffered)
            if not buffered and not closed:
                async with asyncio.timeout(self._idle_seconds):
                    data = await reader.read(_READ)
                connection.receive_data(data)
                fed += len(data)
            try:
                async with asyncio.timeout(self._request_seconds):
                    request, oversized = await self._receive(connection, reader, fed)
            except h11.RemoteProtocolError as exc:
                if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = exc.error_status_hint
                    await self._send(writer, connection, _answer(status, "BadRequest", "bad HTTP"))
                return
            if request is None:
                return
            started = time.perf_counter()
            answer = await self._respond(request, oversized)
            metrics.observe_rpc("ForwardAuth", answer.outcome, time.perf_counter() - started)
            await self._send(writer, connection, answer, head=request.method == b"HEAD")
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()

    async def _receive(
        self, connection: h11.Connection, reader: asyncio.StreamReader, fed: int
    ) -> tuple[h11.Request | None, bool]:
        """The next request (None when the client closed), its body read and dropped;
        True when the body was too large. ``fed``: bytes of it already given to h11."""
        request: h11.Request | None = None
        size = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ)
                connection.receive_data(data)
                if request is None:
                    fed += len(data)
            elif isinstance(event, h11.Request):
                # h11 bounds an incomplete header block; one that arrived whole in a read
                # is measured here.
                if fed - len(connection.trailing_data[0]) > MAX_HEADER_BYTES:
                    raise h11.RemoteProtocolError("header block too large", 431)
                request = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY_BYTES:
                    return request, True
            elif isinstance(event, h11.EndOfMessage):
                return request, False
            else:  # ConnectionClosed, PAUSED
                return None, False

    async def _respond(self, request: h11.Request, oversized: bool) -> Answer:
        if oversized:
            return _TOO_LARGE
        if bytes(request.target).split(b"?", 1)[0] != PATH.encode():
            return _NOT_FOUND
        headers: dict[str, str] = {}
        for raw_name, raw_value in request.headers:
            name = bytes(raw_name).decode("latin-1")
            value = bytes(raw_value).decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        converted = http_request(bytes(request.target), headers)
        if isinstance(converted, Answer):
            return converted
        return await self._gateway.check(converted)

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        connection: h11.Connection,
        answer: Answer,
        *,
        head: bool = False,
    ) -> None:
        headers = [*answer.headers, ("content-length", str(len(answer.body)))]
        # Headers only iamd may set, sent empty: proxies that copy them to the upstream
        # request (Caddy's copy_headers, Traefik's authResponseHeaders) overwrite a client's.
        headers += [(name, "") for name in answer.remove]
        if connection.their_state is not h11.DONE:  # a body left unread, or a bad request
            headers.append(("connection", "close"))
        data = connection.send(h11.Response(status_code=answer.status, headers=headers)) or b""
        if not head:
            data += connection.send(h11.Data(data=answer.body)) or b""
        data += connection.send(h11.EndOfMessage()) or b""
        writer.write(data)
        async with asyncio.timeout(self._request_seconds):
            await writer.drain()
