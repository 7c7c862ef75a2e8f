"""Temporary credentials: minted without storing anything, verified without a lookup.

A session is an "ASIA" key id, a secret and a session token. The token is the session's
claims (principal, role unique id, times, tags, session policies...) compressed and sealed
with AES-GCM under a key derived from the master key, so only iamd can make or read one and
every replica can verify it. The key id is "ASIA" + the session id inside the token, and the
secret is HMAC(derived key, session id), so nothing needs to be stored: verifying a call is
opening the token once (then a cache hit by token) and one HMAC of the request.

Revocation without a lookup per call: every replica holds the per-role and per-user "revoked
before" instants in memory (loaded at start, then carried by change notifications
"sessions:<role or user id>:<epoch ms>"), and the unique id of each session's role or user
(dropped on "role:<arn>" / "user:<arn>" notifications, so a deleted or recreated role's
sessions fail on the next call).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import string
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from iamd_client import signing

from iamd_server.errors import InvalidArgument, Unauthenticated

log = logging.getLogger(__name__)

KEY_ID_PREFIX = "ASIA"
TOKEN_PREFIX = "IQD1"
# Sealed tokens stay below this (AWS's packed-size limit plays the same role).
MAX_TOKEN_BYTES = 6144
_AAD = b"iamd-session-token-v1"
_NONCE = 12
_BASE32 = string.ascii_uppercase + "234567"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClaims:
    """What a session token carries. ``kind`` is "role" (AssumeRole*) or "user"
    (GetSessionToken, Login: same identity as the user or root)."""

    session_id: str
    kind: str
    arn: str  # the caller's ARN: the role session ARN, or the user / root ARN
    base_arn: str  # the role ARN (with path), or the user / root ARN
    principal_id: str  # the role's or user's unique id (root: the account id)
    account_id: str
    issued_at: float
    expires_at: float
    session_name: str = ""
    source_identity: str = ""
    federated_provider: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    mfa: bool = False
    chained: bool = False
    policy: str = ""
    policy_arns: tuple[str, ...] = ()
    # Derived: "ASIA" + session id.
    key_id: str = field(init=False, default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", KEY_ID_PREFIX + self.session_id)

    @property
    def is_role_session(self) -> bool:
        return self.kind == "role"

    @property
    def has_session_policies(self) -> bool:
        return bool(self.policy) or bool(self.policy_arns)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "i": self.session_id,
            "k": self.kind,
            "a": self.arn,
            "b": self.base_arn,
            "p": self.principal_id,
            "c": self.account_id,
            "t": round(self.issued_at, 3),
            "e": round(self.expires_at, 3),
        }
        optional: dict[str, Any] = {
            "n": self.session_name,
            "s": self.source_identity,
            "f": self.federated_provider,
            "g": [list(t) for t in self.tags],
            "x": list(self.transitive_tag_keys),
            "m": self.mfa,
            "h": self.chained,
            "y": self.policy,
            "r": list(self.policy_arns),
        }
        data.update({k: v for k, v in optional.items() if v})
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionClaims:
        return cls(
            session_id=str(data["i"]),
            kind=str(data["k"]),
            arn=str(data["a"]),
            base_arn=str(data["b"]),
            principal_id=str(data["p"]),
            account_id=str(data["c"]),
            issued_at=float(data["t"]),
            expires_at=float(data["e"]),
            session_name=str(data.get("n", "")),
            source_identity=str(data.get("s", "")),
            federated_provider=str(data.get("f", "")),
            tags=tuple((str(k), str(v)) for k, v in data.get("g", ())),
            transitive_tag_keys=tuple(str(k) for k in data.get("x", ())),
            mfa=bool(data.get("m", False)),
            chained=bool(data.get("h", False)),
            policy=str(data.get("y", "")),
            policy_arns=tuple(str(a) for a in data.get("r", ())),
        )


def new_session_id() -> str:
    return "".join(secrets.choice(_BASE32) for _ in range(16))


@dataclass(frozen=True, slots=True, repr=False)
class Minted:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float
    packed_percent: int


class SessionKeys:
    """The token sealing key and the secret-derivation key, both derived (HKDF) from the
    deployment's master key, so every replica derives the same ones."""

    __slots__ = ("_aead", "_secret_key")

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(_derive(master_key, b"iamd session token sealing"))
        self._secret_key = _derive(master_key, b"iamd session secret")

    def __repr__(self) -> str:
        return "SessionKeys(<hidden>)"

    @classmethod
    def from_master_key_file(cls, path: Path) -> SessionKeys:
        return cls(bytes.fromhex(path.read_text().strip()))

    def secret_for(self, session_id: str) -> str:
        """40 characters [A-Za-z0-9+/], like a long-term secret."""
        digest = hmac.new(self._secret_key, session_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest[:30]).decode()

    def seal(self, claims: SessionClaims) -> str:
        body = zlib.compress(json.dumps(claims.to_json(), separators=(",", ":")).encode(), 9)
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, body, _AAD)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, token: str) -> SessionClaims:
        """Raises Unauthenticated unless this deployment sealed the token."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 2 * MAX_TOKEN_BYTES:
            raise Unauthenticated("the security token is invalid")
        text = token[len(TOKEN_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            body = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AAD)
            return SessionClaims.from_json(json.loads(zlib.decompress(body)))
        except (InvalidTag, ValueError, KeyError, TypeError, zlib.error) as exc:
            raise Unauthenticated("the security token is invalid") from exc


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


class PrincipalIds(Protocol):
    async def current_unique_id(self, *, arn: str) -> str | None: ...
    async def load_session_revocations(self) -> dict[str, float]: ...


@dataclass(slots=True)
class _Verified:
    claims: SessionClaims
    keys: signing.SigningKeys


class SessionAuthority:
    """Mints and verifies temporary credentials; holds the revocation state of a replica."""

    def __init__(
        self, keys: SessionKeys, principals: PrincipalIds, *, max_cached: int = 50_000
    ) -> None:
        self._keys = keys
        self._principals = principals
        self._max_cached = max_cached
        self._verified: dict[str, _Verified] = {}  # sha256(token) -> opened claims
        self._revoked: dict[str, float] = {}  # role / user id -> revoked-before epoch s
        self._ids: dict[str, str | None] = {}  # user / role ARN -> current unique id
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.loaded = False

    # ---- minting ----

    def mint(self, claims: SessionClaims) -> Minted:
        token = self._keys.seal(claims)
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidArgument(
                "policy",
                "PackedPolicyTooLarge: the session policies and tags are too large"
                f" ({len(token)} of {MAX_TOKEN_BYTES} bytes once packed)",
            )
        return Minted(
            access_key_id=claims.key_id,
            secret_access_key=self._keys.secret_for(claims.session_id),
            session_token=token,
            expires_at=claims.expires_at,
            packed_percent=min(100, (len(token) * 100) // MAX_TOKEN_BYTES),
        )

    # ---- verification ----

    def open(self, key_id: str, token: str) -> tuple[SessionClaims, signing.SigningKeys]:
        """The token's claims and the session's signing keys (cached by token hash)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        entry = self._verified.get(digest)
        if entry is None:
            claims = self._keys.open(token)
            secret = self._keys.secret_for(claims.session_id)
            entry = _Verified(claims, signing.SigningKeys(secret))
            if len(self._verified) >= self._max_cached:
                self._verified.clear()
            self._verified[digest] = entry
        if entry.claims.key_id != key_id:
            raise Unauthenticated("the security token does not belong to this access key")
        return entry.claims, entry.keys

    async def verify(
        self,
        *,
        key_id: str,
        token: str,
        method: str,
        date: str,
        body_sha256_hex: str,
        signature: str,
        now: float | None = None,
        audience: str = signing.DEFAULT_AUDIENCE,
        scope: str | None = None,
    ) -> SessionClaims:
        """The session behind a signed call; Unauthenticated when the token is invalid,
        expired or revoked, its principal is gone, or the signature does not match.
        ``scope``: what the signing key is scoped to, when not the method (HTTP requests)."""
        claims, keys = self.open(key_id, token)
        signing_key = keys.for_request(date, audience, scope or method)
        if not signing.verify_signature(
            signing_key, method, date, key_id, body_sha256_hex, signature, audience
        ):
            raise Unauthenticated("the request signature does not match")
        await self.check_valid(claims, now=now)
        return claims

    async def check_valid(self, claims: SessionClaims, *, now: float | None = None) -> None:
        current = time.time() if now is None else now
        if current >= claims.expires_at:
            raise Unauthenticated("the security token has expired")
        # Role sessions (RevokeRoleSessions) and user sessions (RevokeUserSessions) alike.
        revoked = self._revoked.get(claims.principal_id)
        if revoked is not None and claims.issued_at < revoked:
            raise Unauthenticated("the session has been revoked")
        if claims.base_arn.endswith(":root"):
            return
        if await self.unique_id(claims.base_arn) != claims.principal_id:
            what = "role" if claims.is_role_session else "user"
            raise Unauthenticated(f"the session's {what} no longer exists")

    async def unique_id(self, arn: str) -> str | None:
        if arn in self._ids:
            return self._ids[arn]
        generation = self._generation
        found = await self._principals.current_unique_id(arn=arn)
        # A change notification during the load may have made it stale: use it only once.
        if generation == self._generation:
            if len(self._ids) >= self._max_cached:
                self._ids.clear()
            self._ids[arn] = found
        return found

    # ---- revocation state ----

    async def start(self) -> None:
        """Loads the revocation instants (subscribe to changes before calling this)."""
        revoked = await self._principals.load_session_revocations()
        for principal_id, instant in revoked.items():
            self._note_revoked(principal_id, instant)
        self.loaded = True

    def _note_revoked(self, principal_id: str, instant: float) -> None:
        if instant > self._revoked.get(principal_id, 0.0):
            self._revoked[principal_id] = instant

    def on_change(self, _revision: int, keys: Sequence[str]) -> None:
        for key in keys:
            if key == "*":
                self._ids.clear()
                self._generation += 1
                # Notifications may have been missed: reload (revocations only move forward).
                self._spawn_reload()
                continue
            kind, _, rest = key.partition(":")
            if kind in ("role", "user"):
                self._ids.pop(rest, None)
                self._generation += 1
            elif kind == "sessions":
                principal_id, _, millis = rest.rpartition(":")
                try:
                    self._note_revoked(principal_id, int(millis) / 1000.0)
                except ValueError:
                    log.warning("ignoring malformed revocation key %r", key)

    def _spawn_reload(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload(self) -> None:
        try:
            await self.start()
        except Exception as exc:
            log.warning("reloading session revocations failed (%s); will retry on change", exc)


def session_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
