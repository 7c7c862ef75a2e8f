"""Authenticates each call: the access key's signature over the exact request bytes.

The hot path is a dict lookup, one SHA-256 of the request and one HMAC (under the key scoped
to the request's day, audience and method, derived once a day and kept: see
iamd_client.signing); PostgreSQL is read only the first time a key is seen (and again after a
change notification drops it). A cached key names its owner by ARN and by unique id: a change
to the owner ("user:<arn>", e.g. a rename) drops it, and decisions check the id, so a key
never speaks for whoever takes its owner's old name. Unknown key ids are remembered briefly,
so guessing them costs no query. Temporary credentials ("ASIA" key id +
x-iamd-security-token) are verified by `iamd_server.authn.sessions` from the token itself, without
a database read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from iamd_client import signing

from iamd_server.authn.crypto import MasterKey
from iamd_server.authn.key_usage import KeyUsage
from iamd_server.authn.sessions import SessionAuthority, SessionClaims
from iamd_server.errors import Unauthenticated

_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z2-7]{16}", re.ASCII)
_ROOT_ARN = re.compile(r"arn:aws:iam::(\d{12}):root", re.ASCII)
_HEX = frozenset("0123456789abcdef")

# One answer for an unknown key, an inactive key and a wrong signature: a caller that cannot
# sign learns nothing about which key ids exist.
REFUSED = "the access key is unknown or inactive, or the request signature does not match"
# Unknown key ids are remembered this long (seconds), at most this many.
UNKNOWN_TTL = 10.0
MAX_UNKNOWN = 10_000
# Signatures verified recently, at most this many (all dropped when full), by request bytes.
MAX_VERIFIED = 4096


def is_hex64(value: str) -> bool:
    """64 lowercase hex digits (a SHA-256 or an HMAC-SHA256), checked without a regex."""
    return len(value) == 64 and all(c in _HEX for c in value)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the principal behind a verified access key."""

    arn: str
    account_id: str
    access_key_id: str
    # The stable unique id of the user or role (root: the account id): identity follows it,
    # never the name in ``arn``.
    principal_id: str
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
    def user_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def encrypted_secret(self) -> bytes: ...


class KeySource(Protocol):
    async def load_access_key(self, *, access_key_id: str) -> StoredKey | None: ...


def signature_headers(metadata: Iterable[tuple[str, str | bytes]]) -> tuple[str, str, str, str]:
    """(key id, date, signature, session token or "") of a signed call's metadata;
    Unauthenticated when the call is not signed."""
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
    return key_id, date, signature, token


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    keys: signing.SigningKeys
    caller: Caller
    active: bool


@dataclass(frozen=True, slots=True)
class _Verified:
    """A call whose signature matched: the same bytes and headers need no second HMAC while
    the clock stays inside [not_before, not_after] (the date's accepted window)."""

    signature: str
    date: str
    method: str
    entry: _KeyEntry
    not_before: int
    not_after: int


_time = time.time


class Authenticator:
    """Verifies request signatures against access keys cached in memory."""

    def __init__(
        self,
        keys: KeySource,
        master_key: MasterKey,
        *,
        sessions: SessionAuthority | None = None,
        usage: KeyUsage | None = None,
        max_unknown: int = MAX_UNKNOWN,
        audience: str = signing.DEFAULT_AUDIENCE,
    ) -> None:
        self._source = keys
        # The service name signatures must be made for (--service-name): a request signed
        # for another internal service is not a call to iamd.
        self.audience = signing.check_audience(audience)
        self._master_key = master_key
        self.sessions = sessions  # None: temporary credentials are refused
        self.usage = usage  # None: last-used times are not recorded
        self._entries: dict[str, _KeyEntry] = {}
        # Owner ARN -> ids of its cached keys, to drop them when the owner changes.
        self._by_owner: dict[str, set[str]] = {}
        self._loading: dict[str, asyncio.Future[_KeyEntry | None]] = {}
        self._generation = 0
        # Key id -> monotonic time until which it is known not to exist (oldest first).
        self._unknown: dict[str, float] = {}
        self._max_unknown = max_unknown
        # Request bytes -> the last call with those bytes whose signature matched: a client
        # repeating a request within the same second sends the same signature again, which
        # needs no second HMAC.
        self._verified: dict[bytes, _Verified] = {}

    @property
    def unknown_cached(self) -> int:
        return len(self._unknown)

    def invalidate(self, access_key_id: str) -> None:
        self._drop(access_key_id)
        self._unknown.pop(access_key_id, None)
        self._changed()

    def invalidate_owner(self, owner_arn: str) -> None:
        """Drops the keys of a user that changed (renamed, moved, deleted)."""
        for key_id in self._by_owner.pop(owner_arn, ()):
            self._entries.pop(key_id, None)
        self._changed()

    def invalidate_all(self) -> None:
        self._entries.clear()
        self._by_owner.clear()
        self._unknown.clear()
        self._changed()

    def _changed(self) -> None:
        # Loads in flight may have read the row before the change: later calls must not
        # join them (they still answer the calls already waiting, uncached).
        self._generation += 1
        self._loading.clear()
        self._verified.clear()

    def _drop(self, access_key_id: str) -> None:
        entry = self._entries.pop(access_key_id, None)
        if entry is not None:
            owned = self._by_owner.get(entry.caller.arn)
            if owned is not None:
                owned.discard(access_key_id)
                if not owned:
                    del self._by_owner[entry.caller.arn]

    def _keep(self, key_id: str, entry: _KeyEntry) -> None:
        self._drop(key_id)
        self._entries[key_id] = entry
        self._by_owner.setdefault(entry.caller.arn, set()).add(key_id)

    async def authenticate(
        self, method: str, request_bytes: bytes, metadata: Iterable[tuple[str, str | bytes]]
    ) -> Caller:
        key_id, date, signature, token = signature_headers(metadata)
        digest = hashlib.sha256(request_bytes).hexdigest()
        return await self.verify(method, date, key_id, digest, signature, token)

    def cached_caller(
        self, method: str, request_bytes: bytes, metadata: Iterable[tuple[str, str | bytes]]
    ) -> Caller | None:
        """The caller of a call signed for this audience with a cached, active long-term
        key, checked as `authenticate` checks it (timestamp window, signature over the exact
        bytes) without a coroutine; None for anything else (temporary credentials, a key not
        cached yet, any failure), which `authenticate` then decides and explains."""
        headers = dict(metadata)
        key_id = headers.get(signing.HEADER_KEY_ID)
        date = headers.get(signing.HEADER_DATE)
        signature = headers.get(signing.HEADER_SIGNATURE)
        if signing.HEADER_TOKEN in headers or not isinstance(key_id, str):
            return None
        entry = self._entries.get(key_id)
        if entry is None or not entry.active:
            return None
        seen = self._verified.get(request_bytes)
        if (
            seen is not None
            and seen.entry is entry  # the key's current entry (so also the same key id)
            and seen.date == date
            and seen.method == method
            and isinstance(signature, str)
            and len(signature) == 64
            and signature.isascii()
            and hmac.compare_digest(seen.signature, signature)
            and seen.not_before <= _time() <= seen.not_after
        ):
            # The same signed call as one verified before, still inside its window.
            if self.usage is not None:
                self.usage.record(key_id, method)
            return entry.caller
        if (
            not isinstance(date, str)
            or not isinstance(signature, str)
            or len(signature) != 64
            or not signature.isascii()
            or not signing.timestamp_is_fresh(date)
        ):
            return None
        digest = hashlib.sha256(request_bytes).hexdigest()
        message = signing.string_to_sign(method, date, key_id, digest, self.audience)
        signing_key = entry.keys.for_request(date, self.audience, method)
        if not hmac.compare_digest(hmac.digest(signing_key, message, "sha256").hex(), signature):
            return None
        verified = self._verified
        if len(verified) >= MAX_VERIFIED:
            verified.clear()
        # timestamp_is_fresh accepted the date: it is digits, so int() cannot fail.
        at = int(date)
        verified[request_bytes] = _Verified(
            signature, date, method, entry, at - signing.MAX_SKEW_SECONDS,
            at + signing.MAX_SKEW_SECONDS,
        )  # fmt: skip
        if self.usage is not None:
            self.usage.record(key_id, method)
        return entry.caller

    async def verify(
        self,
        method: str,
        date: str,
        key_id: str,
        body_sha256_hex: str,
        signature: str,
        session_token: str = "",
        audience: str | None = None,
        used_for: str | None = None,
        scope: str | None = None,
    ) -> Caller:
        """The principal behind one signature: iamd's own callers (audience: this server's
        service name), and end-user proofs forwarded to Authorize (audience: the service the
        end user called); same string to sign, see iamd_client.signing. ``used_for`` is
        what the key's last use records instead of ``method`` (HTTP gateways: the action,
        not a path that may carry identifiers). ``scope`` is what the signing key is scoped to
        when not ``method`` (HTTP requests: signing.HTTP_SCOPE, so a key is not derived per
        path)."""
        if audience is None:
            audience = self.audience
        if not signing.timestamp_is_fresh(date):
            raise Unauthenticated("request timestamp is outside the accepted 5 minute window")
        # compare_digest refuses non-ASCII text; anything else of this length just mismatches.
        if len(signature) != 64 or not signature.isascii():
            raise Unauthenticated("the request signature is not 64 lowercase hex digits")
        if session_token or key_id.startswith("ASIA"):
            return await self._verify_session(
                method, date, key_id, body_sha256_hex, signature, session_token, audience, scope
            )
        entry = self._entries.get(key_id)
        if entry is None:
            if self._known_unknown(key_id):
                raise Unauthenticated(REFUSED)
            entry = await self._load(key_id)
            if entry is None:
                raise Unauthenticated(REFUSED)
        # Same check as signing.verify_signature, through the one-shot C HMAC (hot path).
        message = signing.string_to_sign(method, date, key_id, body_sha256_hex, audience)
        # The key is scoped to the request's day, audience and method (derived once, kept).
        signing_key = entry.keys.for_request(date, audience, scope or method)
        expected = hmac.digest(signing_key, message, "sha256").hex()
        if not hmac.compare_digest(expected, signature):
            raise Unauthenticated(REFUSED)
        if not entry.active:
            # Only the key's holder gets here: telling it the key is inactive reveals nothing.
            raise Unauthenticated("the access key is inactive")
        if self.usage is not None:
            self.usage.record(key_id, used_for or method)
        return entry.caller

    async def _verify_session(
        self,
        method: str,
        date: str,
        key_id: str,
        body_sha256_hex: str,
        signature: str,
        token: str,
        audience: str,
        scope: str | None = None,
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
            audience=audience,
            scope=scope,
        )
        return Caller(
            arn=claims.arn,
            account_id=claims.account_id,
            access_key_id=key_id,
            principal_id=claims.principal_id,
            session=claims,
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
            if generation == self._generation:
                if entry is not None:
                    self._keep(key_id, entry)
                else:
                    self._remember_unknown(key_id)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters get it, nobody else must
            raise
        finally:
            if self._loading.get(key_id) is future:
                del self._loading[key_id]

    def _known_unknown(self, key_id: str) -> bool:
        until = self._unknown.get(key_id)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._unknown[key_id]
        return False

    def _remember_unknown(self, key_id: str) -> None:
        """Bounded: expired and then oldest ids make room (insertion order = expiry order)."""
        now = time.monotonic()
        unknown = self._unknown
        unknown.pop(key_id, None)
        while unknown and (
            len(unknown) >= self._max_unknown or next(iter(unknown.values())) <= now
        ):
            del unknown[next(iter(unknown))]
        unknown[key_id] = now + UNKNOWN_TTL

    async def _fetch(self, key_id: str) -> _KeyEntry | None:
        stored = await self._source.load_access_key(access_key_id=key_id)
        if stored is None:
            return None
        secret = self._master_key.decrypt(stored.encrypted_secret, bound_to=stored.access_key_id)
        return _KeyEntry(
            keys=signing.SigningKeys(secret),
            caller=Caller(
                arn=stored.owner_arn,
                account_id=stored.account_id,
                access_key_id=key_id,
                principal_id=stored.user_id or stored.account_id,
            ),
            active=stored.status == "Active",
        )
