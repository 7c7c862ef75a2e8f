"""Pieces shared by the sync and async clients: endpoints, TLS, signing, retry timing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import grpc

from iamd_client.errors import ConfigurationError
from iamd_client.signing import (
    DEFAULT_AUDIENCE,
    SigningCredentials,
    SigningKeys,
    is_audience,
    sign_metadata,
)

VERSION = "0.1.0"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_ATTEMPTS = 4
# Full-jitter exponential backoff between attempts of an idempotent call.
BACKOFF_BASE = 0.05
BACKOFF_CAP = 1.0

Metadata = tuple[tuple[str, str], ...]


def identity(payload: bytes) -> bytes:
    """Request "serializer": requests are serialized once, before signing."""
    return payload


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    return random.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1))))


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect."""

    address: str
    """host:port (or any gRPC target such as unix:///path)."""
    tls: bool
    """Whether to use TLS."""


def parse_endpoint(endpoint: str, *, tls: bool) -> Target:
    """Accept "host:port", "https://host:port" (TLS) or "http://host:port" (plaintext)."""
    value = endpoint.strip()
    if not value:
        raise ConfigurationError("no endpoint configured")
    lowered = value.lower()
    if lowered.startswith("https://"):
        return Target(value[len("https://") :].rstrip("/"), True)
    if lowered.startswith("http://"):
        return Target(value[len("http://") :].rstrip("/"), tls)
    return Target(value, tls)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {what} {path}: {e}") from e


def channel_credentials(
    *, ca_file: str | None, client_cert_file: str | None, client_key_file: str | None
) -> grpc.ChannelCredentials:
    """TLS credentials: custom CA bundle (else system roots) and optional client certificate."""
    if bool(client_cert_file) != bool(client_key_file):
        raise ConfigurationError("client_cert_file and client_key_file must be given together")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "CA file") if ca_file else None,
        private_key=_read(client_key_file, "client key") if client_key_file else None,
        certificate_chain=_read(client_cert_file, "client certificate")
        if client_cert_file
        else None,
    )


def channel_options() -> list[tuple[str, str | int]]:
    return [("grpc.primary_user_agent", f"iamd-client/{VERSION}")]


class Signer:
    """Signs calls with one set of credentials for one audience; the derived signing keys
    (one per day and method) are computed once."""

    __slots__ = ("_audience", "_credentials", "_keys")

    def __init__(
        self, credentials: SigningCredentials | None, audience: str = DEFAULT_AUDIENCE
    ) -> None:
        self._credentials = credentials
        self._keys = SigningKeys(credentials.secret_access_key) if credentials else None
        self._audience = audience

    @property
    def access_key_id(self) -> str | None:
        return self._credentials.access_key_id if self._credentials else None

    def metadata(self, method: str, payload: bytes) -> Metadata:
        """Metadata for one attempt (fresh timestamp each time); empty when unsigned."""
        if self._credentials is None:
            return ()
        return sign_metadata(
            method, payload, self._credentials, keys=self._keys, audience=self._audience
        )


def make_signer(
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    audience: str = DEFAULT_AUDIENCE,
) -> Signer:
    if bool(access_key_id) != bool(secret_access_key):
        raise ConfigurationError("access_key_id and secret_access_key must be given together")
    if not is_audience(audience):
        raise ConfigurationError(
            f"audience {audience[:80]!r} must be 1-64 characters of [A-Za-z0-9._-]"
        )
    if access_key_id and secret_access_key:
        credentials = SigningCredentials(access_key_id, secret_access_key, session_token or None)
        return Signer(credentials, audience)
    return Signer(None, audience)
