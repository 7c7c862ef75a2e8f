"""Request signing shared by the SDK and the server.

A caller proves that it holds an access key's secret without sending it: every RPC carries
the key id, a timestamp and an HMAC-SHA256 over the audience, the method, the timestamp, the
key id and the SHA-256 of the exact request bytes. The server holds the secret only encrypted
at rest and derives the same signing key when it loads the access key into memory, so
verifying a call is one HMAC (a few microseconds).

The audience is the name of the service the request is for ("iamd" for iamd itself, the
service's name when an end user signs a request to an internal service): a signature made for
one service is never a valid call to another. Within its 5 minute window a signed request
could still be replayed to its own audience by whoever sees it, which TLS prevents.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

ALGORITHM = "IAMD1-HMAC-SHA256"
HEADER_KEY_ID = "x-iamd-access-key-id"
HEADER_DATE = "x-iamd-date"
HEADER_TOKEN = "x-iamd-security-token"
HEADER_SIGNATURE = "x-iamd-signature"
# HTTP requests (gateways): the SHA-256 of the body, which the signature covers.
HEADER_CONTENT_SHA256 = "x-iamd-content-sha256"
# A signed request is accepted this long before or after its timestamp (clock skew, retries).
MAX_SKEW_SECONDS = 300
# The audience of calls to iamd itself (the server's --service-name).
DEFAULT_AUDIENCE = "iamd"
MAX_AUDIENCE_LENGTH = 64
_AUDIENCE_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
)


def is_audience(value: str) -> bool:
    """1-64 characters of [A-Za-z0-9._-]: no separator can make two strings to sign alike."""
    return 0 < len(value) <= MAX_AUDIENCE_LENGTH and all(c in _AUDIENCE_CHARACTERS for c in value)


def check_audience(value: str) -> str:
    """``value`` when it is a valid audience, else ValueError."""
    if not is_audience(value):
        raise ValueError(
            f"audience {value[:80]!r} must be 1-{MAX_AUDIENCE_LENGTH} characters of [A-Za-z0-9._-]"
        )
    return value


@dataclass(frozen=True, slots=True, repr=False)
class SigningCredentials:
    """An access key id with its secret (and a session token for temporary credentials)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never show the secret or the token
        return f"SigningCredentials(access_key_id={self.access_key_id!r})"


def derive_signing_key(secret_access_key: str) -> bytes:
    """The HMAC key both sides use; derived so the raw secret is never used as a MAC key."""
    return hmac.new(b"IAMD1" + secret_access_key.encode(), b"iamd_request", hashlib.sha256).digest()


def string_to_sign(
    method: str,
    date: str,
    access_key_id: str,
    body_sha256_hex: str,
    audience: str = DEFAULT_AUDIENCE,
) -> bytes:
    return (
        f"{ALGORITHM}\n{audience}\n{method}\n{date}\n{access_key_id}\n{body_sha256_hex}"
    ).encode()


def compute_signature(
    signing_key: bytes,
    method: str,
    date: str,
    access_key_id: str,
    body_sha256_hex: str,
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    message = string_to_sign(method, date, access_key_id, body_sha256_hex, audience)
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def sign_metadata(
    method: str,
    request_bytes: bytes,
    credentials: SigningCredentials,
    *,
    now: float | None = None,
    signing_key: bytes | None = None,
    audience: str = DEFAULT_AUDIENCE,
) -> tuple[tuple[str, str], ...]:
    """gRPC metadata that authenticates one call of ``method`` carrying ``request_bytes`` to
    the service named ``audience`` (iamd by default; an end user signing a request to an
    internal service names that service).

    ``signing_key`` may be passed in by callers that cache it (the per-request hot path).
    """
    date = str(int(time.time() if now is None else now))
    key = (
        signing_key
        if signing_key is not None
        else derive_signing_key(credentials.secret_access_key)
    )
    digest = hashlib.sha256(request_bytes).hexdigest()
    signature = compute_signature(key, method, date, credentials.access_key_id, digest, audience)
    metadata: list[tuple[str, str]] = [
        (HEADER_KEY_ID, credentials.access_key_id),
        (HEADER_DATE, date),
        (HEADER_SIGNATURE, signature),
    ]
    if credentials.session_token:
        metadata.append((HEADER_TOKEN, credentials.session_token))
    return tuple(metadata)


def verify_signature(
    signing_key: bytes,
    method: str,
    date: str,
    access_key_id: str,
    body_sha256_hex: str,
    signature: str,
    audience: str = DEFAULT_AUDIENCE,
) -> bool:
    """Constant-time check of a request signature (False, never an error, for any text)."""
    expected = compute_signature(
        signing_key, method, date, access_key_id, body_sha256_hex, audience
    )
    return hmac.compare_digest(expected.encode(), signature.encode())


def timestamp_is_fresh(date: str, *, now: float | None = None) -> bool:
    """Whether a request's timestamp is within the accepted skew of the server clock."""
    # isdigit alone accepts other scripts' digits and superscripts, which int() may refuse.
    if not date.isascii() or not date.isdigit() or len(date) > 12:
        return False
    current = time.time() if now is None else now
    return abs(current - int(date)) <= MAX_SKEW_SECONDS


def http_method_line(method: str, path: str) -> str:
    """What an HTTP request signs where a gRPC call signs its method: the method and the
    request target exactly as sent, query string included ("GET /orders/1001?full=1")."""
    return f"{method} {path}"


def http_signature_headers(
    *,
    method: str,
    path: str,
    body: bytes = b"",
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    audience: str,
    now: float | None = None,
) -> dict[str, str]:
    """Headers that authenticate one HTTP request to a service behind an iamd gateway
    (Envoy ext_authz or forward-auth).

    ``audience`` is the service's name (its service prefix, the route's ``iamd_service``);
    ``method`` and ``path`` are the request line's method and target exactly as sent (path
    and query string, percent-encoded as on the wire); ``body`` the exact body bytes. The
    signature covers them all and is good for 5 minutes around ``now``.
    """
    check_audience(audience)
    date = str(int(time.time() if now is None else now))
    digest = hashlib.sha256(body).hexdigest()
    signature = compute_signature(
        derive_signing_key(secret_access_key),
        http_method_line(method, path),
        date,
        access_key_id,
        digest,
        audience,
    )
    headers = {
        HEADER_KEY_ID: access_key_id,
        HEADER_DATE: date,
        HEADER_CONTENT_SHA256: digest,
        HEADER_SIGNATURE: signature,
    }
    if session_token:
        headers[HEADER_TOKEN] = session_token
    return headers
