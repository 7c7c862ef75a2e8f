"""OpenID Connect identity tokens: provider URLs, JWKS documents, token verification and the
condition keys a role's trust policy sees (iam-semantics 6.8).

Signing keys are given through the API as a JWKS document, so verification never needs the
network; a provider may also name a JWKS URL that is refreshed in the background when the
network allows it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import http.client
import json
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from iamd_server.errors import InvalidArgument, Unauthenticated

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_TOKEN_LENGTH = 20_000
MAX_CLIENT_IDS = 100
# Tolerated clock difference with the identity provider for exp / nbf / iat.
LEEWAY_SECONDS = 60
# One answer for every token whose signature is not checked good, whatever the reason (no
# provider for its issuer, unknown key, bad signature, undecodable): until then the caller
# is nobody and must not learn which providers or keys exist.
NOT_VERIFIED = "the web identity token does not verify"


def normalize_url(url: str, field: str = "url") -> tuple[str, str]:
    """(issuer URL, host/path used in the provider ARN and condition keys)."""
    if not url or len(url) > 255:
        raise InvalidArgument(field, "the provider URL must be 1 to 255 characters")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise InvalidArgument(field, "the provider URL must start with https:// and name a host")
    if parsed.query or parsed.fragment or parsed.username or parsed.password:
        raise InvalidArgument(field, "the provider URL must not have a query, fragment or user")
    if any(c.isspace() for c in url):
        raise InvalidArgument(field, "the provider URL must not contain spaces")
    trimmed = url.rstrip("/")
    host, _, path = trimmed.removeprefix("https://").partition("/")
    # Host names are case-insensitive; paths are not.
    return trimmed, f"{host.lower()}/{path}" if path else host.lower()


def check_client_ids(client_ids: list[str], field: str = "client_ids") -> list[str]:
    if not 1 <= len(client_ids) <= MAX_CLIENT_IDS:
        raise InvalidArgument(field, f"between 1 and {MAX_CLIENT_IDS} client ids are required")
    for n, client_id in enumerate(client_ids):
        if not 1 <= len(client_id) <= 255:
            raise InvalidArgument(f"{field}[{n}]", "a client id must be 1 to 255 characters")
    return list(dict.fromkeys(client_ids))


def parse_jwks(text: str | Mapping[str, Any], field: str = "jwks") -> dict[str, Any]:
    """A JWKS document of public keys, checked by importing it."""
    try:
        document = json.loads(text) if isinstance(text, str) else dict(text)
    except RecursionError as exc:
        raise InvalidArgument(field, "the JWKS document is nested too deeply") from exc
    except ValueError as exc:
        raise InvalidArgument(field, "the JWKS document is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidArgument(field, 'the JWKS document must be {"keys": [...]}')
    if not document["keys"] or len(document["keys"]) > 100:
        raise InvalidArgument(field, "the JWKS document must hold 1 to 100 keys")
    for n, key in enumerate(document["keys"]):
        if not isinstance(key, dict):
            raise InvalidArgument(f"{field}.keys[{n}]", "a key must be a JSON object")
        if "d" in key or "k" in key:
            raise InvalidArgument(f"{field}.keys[{n}]", "only public keys are accepted")
    try:
        KeySet.import_key_set(cast(Any, document))
    except (JoseError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise InvalidArgument(field, f"the JWKS document has an unusable key: {exc}") from exc
    return {"keys": document["keys"]}


def _b64_json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def unverified_issuer(token: str) -> str:
    """The token's "iss" claim, read before verification only to find its provider."""
    if not 4 <= len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidArgument(
            "web_identity_token", f"the token must be 4 to {MAX_TOKEN_LENGTH} characters"
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated("the web identity token is not a signed JWT")
    try:
        claims = _b64_json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise Unauthenticated("the web identity token cannot be decoded") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise Unauthenticated("the web identity token has no issuer")
    return issuer


def issuer_host_path(issuer: str) -> str | None:
    try:
        return normalize_url(issuer, "web_identity_token")[1]
    except InvalidArgument:
        return None


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    claims: Mapping[str, Any]
    subject: str
    audience: str  # the audience that matched one of the provider's client ids


def verify_token(
    token: str,
    *,
    url: str,
    client_ids: tuple[str, ...],
    jwks: Mapping[str, Any],
    now: float | None = None,
) -> VerifiedToken:
    """Checks signature, issuer, audience (aud or azp), expiry and not-before."""
    try:
        keys = KeySet.import_key_set(cast(Any, dict(jwks)))
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError, TypeError, KeyError, RecursionError) as exc:
        # RecursionError: a header or claims set nested too deeply for the JSON parser.
        raise Unauthenticated(NOT_VERIFIED) from exc
    claims = decoded.claims
    current = time.time() if now is None else now
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer.rstrip("/") != url.rstrip("/"):
        raise Unauthenticated("the web identity token's issuer is not the provider's URL")
    audiences = claims.get("aud")
    listed = [audiences] if isinstance(audiences, str) else list(audiences or [])
    azp = claims.get("azp")
    if isinstance(azp, str):
        listed.append(azp)
    audience = next((a for a in listed if isinstance(a, str) and a in client_ids), None)
    if audience is None:
        raise Unauthenticated(
            "the web identity token's audience is not a client id of the provider"
        )
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise Unauthenticated("the web identity token has no expiry")
    if exp + LEEWAY_SECONDS <= current:
        raise Unauthenticated("the web identity token has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - LEEWAY_SECONDS > current:
        raise Unauthenticated("the web identity token is not valid yet")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat - LEEWAY_SECONDS > current:
        raise Unauthenticated("the web identity token was issued in the future")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the web identity token has no subject")
    return VerifiedToken(claims, subject, audience)


def condition_keys(host_path: str, token: VerifiedToken) -> dict[str, str | list[str]]:
    """The trust policy's view of the token: HOST/PATH:aud, :sub, :azp, :amr."""
    keys: dict[str, str | list[str]] = {
        f"{host_path}:aud": token.audience,
        f"{host_path}:sub": token.subject,
    }
    azp = token.claims.get("azp")
    if isinstance(azp, str):
        keys[f"{host_path}:azp"] = azp
    amr = token.claims.get("amr")
    if isinstance(amr, str):
        keys[f"{host_path}:amr"] = [amr]
    elif isinstance(amr, list):
        keys[f"{host_path}:amr"] = [str(a) for a in amr]
    email = token.claims.get("email")
    if isinstance(email, str):
        keys[f"{host_path}:email"] = email
    return keys


class JwksSource(Protocol):
    async def providers_with_jwks_url(self) -> list[Any]: ...
    async def refresh_oidc_provider_jwks(
        self, *, account_id: str, host_path: str, jwks: Mapping[str, Any]
    ) -> None: ...


# A JWKS document larger than this is refused (real ones are a few kilobytes).
JWKS_MAX_BYTES = 1 << 20
# Fetches of providers' JWKS URLs at the same time.
JWKS_CONCURRENT_FETCHES = 8
_TLS = ssl.create_default_context()


def jwks_url_scheme_allowed(url: str, *, allow_http: bool) -> bool:
    scheme = urllib.parse.urlsplit(url).scheme
    return scheme == "https" or (allow_http and scheme == "http")


class _Fetch:
    """One GET of a JWKS URL, run in a worker thread. Redirects are never followed (a 3xx
    answer is a failure), so a provider cannot send the server to plain http or to an
    internal address; ``abort()`` cuts the connection from outside, so the caller's
    deadline bounds the whole fetch, however slowly the other side answers."""

    def __init__(self, url: str, *, timeout: float, allow_http: bool) -> None:
        self._url = url
        self._timeout = timeout
        self._allow_http = allow_http
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._aborted = False

    def run(self) -> bytes:
        if not jwks_url_scheme_allowed(self._url, allow_http=self._allow_http):
            raise ValueError("the JWKS URL must be https://")
        parts = urllib.parse.urlsplit(self._url)
        host = parts.hostname
        if not host:
            raise ValueError("the JWKS URL names no host")
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        sock = socket.create_connection((host, port), timeout=self._timeout)
        try:
            if https:
                # The handshake comes after the socket is held, so abort() can cut it too.
                sock = _TLS.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
            with self._lock:
                if self._aborted:
                    raise TimeoutError("the JWKS fetch ran out of time")
                self._sock = sock
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
            kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
            conn = kind(host, port, timeout=self._timeout)
            conn.sock = sock
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", target, headers={"Accept": "application/json"})
            response = conn.getresponse()
            if response.status != 200:
                raise OSError(f"HTTP {response.status} (redirects are not followed)")
            body = response.read(JWKS_MAX_BYTES + 1)
            if len(body) > JWKS_MAX_BYTES:
                raise ValueError(f"the JWKS document is larger than {JWKS_MAX_BYTES} bytes")
            return body
        finally:
            sock.close()

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sock = self._sock
        if sock is not None:
            # The plain socket's shutdown, even under TLS: it wakes a read blocked in the
            # worker thread without touching the TLS state that thread is using.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


async def fetch_jwks(
    url: str, *, deadline: float, allow_http: bool = False, executor: Executor | None = None
) -> bytes:
    """The body at ``url``, fetched within ``deadline`` seconds in all."""
    fetch = _Fetch(url, timeout=deadline, allow_http=allow_http)
    running = asyncio.get_running_loop().run_in_executor(executor, fetch.run)
    try:
        return await asyncio.wait_for(running, deadline)
    except BaseException:
        fetch.abort()
        raise


class JwksRefresher:
    """Fetches providers' JWKS URLs every ``interval`` seconds, all providers at once, each
    fetch within ``timeout`` seconds (and never longer than the interval); failures (no
    network) only leave the stored keys in place. Plain http URLs are fetched only with
    ``allow_http`` (tests and development)."""

    def __init__(
        self,
        store: JwksSource,
        *,
        interval: float = 3600.0,
        timeout: float = 10.0,
        allow_http: bool = False,
    ) -> None:
        self._store = store
        self._interval = interval
        self._deadline = min(timeout, interval)
        self._allow_http = allow_http
        self._task: asyncio.Task[None] | None = None
        # Threads of its own: a slow provider never holds up the default executor's
        # threads (password hashing runs there).
        self._executor = ThreadPoolExecutor(JWKS_CONCURRENT_FETCHES, "iamd-jwks")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="iamd-jwks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            with contextlib.suppress(Exception):
                await self.refresh_once()

    async def refresh_once(self) -> int:
        providers = [
            p
            for p in await self._store.providers_with_jwks_url()
            if p.jwks_url and jwks_url_scheme_allowed(p.jwks_url, allow_http=self._allow_http)
        ]
        slots = asyncio.Semaphore(JWKS_CONCURRENT_FETCHES)

        async def refresh(provider: Any) -> bool:
            async with slots:
                url = provider.jwks_url
                try:
                    raw = await fetch_jwks(
                        url,
                        deadline=self._deadline,
                        allow_http=self._allow_http,
                        executor=self._executor,
                    )
                    jwks = parse_jwks(raw.decode())
                except Exception as exc:
                    log.info(
                        "cannot refresh the JWKS of %s (%r); keeping the stored keys", url, exc
                    )
                    return False
                await self._store.refresh_oidc_provider_jwks(
                    account_id=provider.account_id, host_path=provider.host_path, jwks=jwks
                )
                return True

        return sum(await asyncio.gather(*(refresh(p) for p in providers)))
