"""Request signing shared by the SDK and the server.

A caller proves that it holds an access key's secret without sending it: every RPC carries
the key id, a timestamp and an HMAC-SHA256 over the audience, the method, the timestamp, the
key id and the SHA-256 of the exact request bytes. The server holds the secret only encrypted
at rest and derives the same signing key when it loads the access key into memory, so
verifying a call is one HMAC (a few microseconds).

The signing key is scoped the way AWS SigV4 scopes its keys (date, region, service):

    k_date    = HMAC("IAMD1" + secret, day)          day: "YYYYMMDD" (UTC) of x-iamd-date
    k_scope   = HMAC(k_date, audience + "/" + method)
    k_signing = HMAC(k_scope, "iamd1_request")

so a key derived for one day, one audience and one method verifies (and can make) only
signatures of that method to that audience on that day. That is what a sidecar is given in
place of the secret: keys for Authorize and AuthorizeBatch, day by day.

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
from datetime import UTC, datetime, timedelta
from functools import lru_cache

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


KEY_PREFIX = b"IAMD1"
SCOPE_TERMINATOR = b"iamd1_request"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_DAY = 86400


@lru_cache(maxsize=64)
def _day_text(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).strftime("%Y%m%d")


def signing_day(date: str) -> str:
    """The UTC day ("YYYYMMDD") of a request's x-iamd-date (Unix seconds, decimal digits)."""
    return _day_text(int(date) // _SECONDS_PER_DAY)


def credential_scope(audience: str, method: str) -> bytes:
    """What a key is scoped to besides its day. An audience holds no "/", so no two
    (audience, method) pairs make the same scope."""
    return f"{audience}/{method}".encode()


def date_key(secret_access_key: str, day: str) -> bytes:
    return hmac.digest(KEY_PREFIX + secret_access_key.encode(), day.encode(), "sha256")


def scoped_signing_key(k_date: bytes, audience: str, method: str) -> bytes:
    """k_signing from k_date: valid for one audience and one method on k_date's day."""
    k_scope = hmac.digest(k_date, credential_scope(audience, method), "sha256")
    return hmac.digest(k_scope, SCOPE_TERMINATOR, "sha256")


def derive_signing_key(secret_access_key: str, day: str, audience: str, method: str) -> bytes:
    """The HMAC key of requests to ``audience``'s ``method`` dated on ``day`` (see above)."""
    return scoped_signing_key(date_key(secret_access_key, day), audience, method)


class SigningKeys:
    """The signing keys of one secret, derived once per (day, audience, method) and kept
    (a handful per day), so signing or verifying a call costs one HMAC."""

    __slots__ = ("_days", "_keys", "_secret")

    # More distinct scopes than this (end-user methods are caller-supplied) restart the cache.
    MAX_KEYS = 256

    def __init__(self, secret_access_key: str) -> None:
        self._secret = secret_access_key
        self._days: dict[int, bytes] = {}
        self._keys: dict[tuple[int, str, str], bytes] = {}

    def __repr__(self) -> str:  # never show the secret
        return "SigningKeys(<hidden>)"

    def for_request(self, date: str, audience: str, method: str) -> bytes:
        """The key for a request dated ``date`` (Unix seconds as decimal digits)."""
        day = int(date) // _SECONDS_PER_DAY
        key = self._keys.get((day, audience, method))
        if key is None:
            k_date = self._days.get(day)
            if k_date is None:
                if len(self._days) >= 4:
                    self._days.clear()
                k_date = self._days[day] = date_key(self._secret, _day_text(day))
            if len(self._keys) >= self.MAX_KEYS:
                self._keys.clear()
            key = self._keys[(day, audience, method)] = scoped_signing_key(k_date, audience, method)
        return key


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
    keys: SigningKeys | None = None,
    audience: str = DEFAULT_AUDIENCE,
) -> tuple[tuple[str, str], ...]:
    """gRPC metadata that authenticates one call of ``method`` carrying ``request_bytes`` to
    the service named ``audience`` (iamd by default; an end user signing a request to an
    internal service names that service).

    ``keys`` (the credentials' SigningKeys) may be passed in by callers that keep it (the
    per-request hot path).
    """
    date = str(int(time.time() if now is None else now))
    if keys is None:
        keys = SigningKeys(credentials.secret_access_key)
    key = keys.for_request(date, audience, method)
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


# What the signing key of an HTTP request is scoped to besides its day and audience: one
# scope for every path (a key per path would be derived per request), and none that a
# gRPC method can take, so a key scoped to Authorize never signs an HTTP request.
HTTP_SCOPE = "http"


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
        derive_signing_key(secret_access_key, signing_day(date), audience, HTTP_SCOPE),
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
