"""Authenticates each call: the access key's signature over the exact request bytes.

The hot path is a dict lookup, one SHA-256 of the request and one HMAC; PostgreSQL is read
only the first time a key is seen (and again after a change notification drops it).
Temporary credentials ("ASIA" key id + x-iamd-security-token) are verified by
`iamd_server.sessions` from the token itself, without a database read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from iamd_client import signing

from iamd_server.crypto import MasterKey
from iamd_server.errors import Unauthenticated
from iamd_server.key_usage import KeyUsage
from iamd_server.sessions import SessionAuthority, SessionClaims

_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z2-7]{16}", re.ASCII)
_ROOT_ARN = re.compile(r"arn:aws:iam::(\d{12}):root", re.ASCII)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the principal behind a verified access key."""

    arn: str
    account_id: str
    access_key_id: str
    # Set for temporary credentials: the session's claims (policies, tags, issue time).
    session: SessionClaims | None = None

    @property
    def is_root(self) -> bool:
        return _ROOT_ARN.fullmatch(self.arn) is not None


class StoredKey(Protocol):
    @property
    def access_key_id(self) -> str: ...
    @property
    def owner_arn(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def encrypted_secret(self) -> bytes: ...


class KeySource(Protocol):
    async def load_access_key(self, *, access_key_id: str) -> StoredKey | None: ...


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    signing_key: bytes
    caller: Caller
    active: bool


class Authenticator:
    """Verifies request signatures against access keys cached in memory."""

    def __init__(
        self,
        keys: KeySource,
        master_key: MasterKey,
        *,
        sessions: SessionAuthority | None = None,
        usage: KeyUsage | None = None,
    ) -> None:
        self._source = keys
        self._master_key = master_key
        self.sessions = sessions  # None: temporary credentials are refused
        self.usage = usage  # None: last-used times are not recorded
        self._entries: dict[str, _KeyEntry] = {}
        self._loading: dict[str, asyncio.Future[_KeyEntry | None]] = {}
        self._generation = 0

    def invalidate(self, access_key_id: str) -> None:
        self._entries.pop(access_key_id, None)
        self._generation += 1

    def invalidate_all(self) -> None:
        self._entries.clear()
        self._generation += 1

    async def authenticate(
        self, method: str, request_bytes: bytes, metadata: Iterable[tuple[str, str | bytes]]
    ) -> Caller:
        key_id = date = signature = token = ""
        for name, value in metadata:
            if name == signing.HEADER_KEY_ID:
                key_id = str(value)
            elif name == signing.HEADER_DATE:
                date = str(value)
            elif name == signing.HEADER_SIGNATURE:
                signature = str(value)
            elif name == signing.HEADER_TOKEN:
                token = str(value)
        if not key_id or not date or not signature:
            raise Unauthenticated("missing request signature (x-iamd-access-key-id/date/signature)")
        digest = hashlib.sha256(request_bytes).hexdigest()
        return await self.verify(method, date, key_id, digest, signature, token)

    async def verify(
        self,
        method: str,
        date: str,
        key_id: str,
        body_sha256_hex: str,
        signature: str,
        session_token: str = "",
    ) -> Caller:
        """The principal behind one signature: iamd's own callers, and end-user proofs
        forwarded to Authorize (same string to sign, see iamd_client.signing)."""
        if not signing.timestamp_is_fresh(date):
            raise Unauthenticated("request timestamp is outside the accepted 5 minute window")
        if session_token or key_id.startswith("ASIA"):
            return await self._verify_session(
                method, date, key_id, body_sha256_hex, signature, session_token
            )
        entry = self._entries.get(key_id)
        if entry is None:
            entry = await self._load(key_id)
        if entry is None or not entry.active:
            # One message for unknown and inactive keys: do not help enumerate key ids.
            raise Unauthenticated("the access key is unknown or inactive")
        # Same check as signing.verify_signature, through the one-shot C HMAC (hot path).
        message = signing.string_to_sign(method, date, key_id, body_sha256_hex)
        expected = hmac.digest(entry.signing_key, message, "sha256").hex()
        if not hmac.compare_digest(expected, signature):
            raise Unauthenticated("the request signature does not match")
        if self.usage is not None:
            self.usage.record(key_id, method)
        return entry.caller

    async def _verify_session(
        self,
        method: str,
        date: str,
        key_id: str,
        body_sha256_hex: str,
        signature: str,
        token: str,
    ) -> Caller:
        if not key_id.startswith("ASIA") or not token:
            raise Unauthenticated("temporary credentials need an ASIA key id and a security token")
        if self.sessions is None:
            raise Unauthenticated("temporary credentials are not accepted by this server")
        claims = await self.sessions.verify(
            key_id=key_id,
            token=token,
            method=method,
            date=date,
            body_sha256_hex=body_sha256_hex,
            signature=signature,
        )
        return Caller(
            arn=claims.arn, account_id=claims.account_id, access_key_id=key_id, session=claims
        )

    async def _load(self, key_id: str) -> _KeyEntry | None:
        if _KEY_ID.fullmatch(key_id) is None:
            return None
        pending = self._loading.get(key_id)
        if pending is not None:  # another call is loading this key: share its result
            return await asyncio.shield(pending)
        future: asyncio.Future[_KeyEntry | None] = asyncio.get_running_loop().create_future()
        self._loading[key_id] = future
        generation = self._generation
        try:
            entry = await self._fetch(key_id)
            # A change notification during the load may have made the row stale: use it for
            # this call only, do not cache it.
            if entry is not None and generation == self._generation:
                self._entries[key_id] = entry
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._loading[key_id]

    async def _fetch(self, key_id: str) -> _KeyEntry | None:
        stored = await self._source.load_access_key(access_key_id=key_id)
        if stored is None:
            return None
        secret = self._master_key.decrypt(stored.encrypted_secret, bound_to=stored.access_key_id)
        return _KeyEntry(
            signing_key=signing.derive_signing_key(secret),
            caller=Caller(arn=stored.owner_arn, account_id=stored.account_id, access_key_id=key_id),
            active=stored.status == "Active",
        )
