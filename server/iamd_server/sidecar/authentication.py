"""The sidecar's callers sign as they sign calls to iamd; the sidecar verifies them with the
signing keys its upstream derived for each access key, one UTC day, the upstream's audience
and one Authorize method (iamd_client.signing), never with the secret, which it never sees.

Deactivating or deleting a key reaches the sidecar on the Watch stream (its state loses its
signing keys, or the key is dropped). Temporary credentials (a session token) can only be
opened with the master key: the sidecar follows the token instead, and the upstream sends
what it says (claims), whether it is still valid (revocations, a deleted role) and its
scoped signing keys.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable

from iamd_client import signing

from iamd_server.authn.authenticator import REFUSED, Caller, signature_headers
from iamd_server.errors import Unauthenticated
from iamd_server.replication.sessions import is_session_key_id, is_token
from iamd_server.sidecar.follower import Follower

_KEY_ID = re.compile(r"AKIA[A-Z2-7]{16}", re.ASCII)


class ScopedKeyAuthenticator:
    """Verifies request signatures with scoped keys held by the Follower."""

    def __init__(self, follower: Follower, audience: str) -> None:
        self._follower = follower
        self.audience = signing.check_audience(audience)

    async def authenticate(
        self, method: str, request_bytes: bytes, metadata: Iterable[tuple[str, str | bytes]]
    ) -> Caller:
        key_id, date, signature, token = signature_headers(metadata)
        if not signing.timestamp_is_fresh(date):
            raise Unauthenticated("request timestamp is outside the accepted 5 minute window")
        if len(signature) != 64 or not signature.isascii():
            raise Unauthenticated("the request signature is not 64 lowercase hex digits")
        if token or key_id.startswith("ASIA"):
            return await self._session(method, request_bytes, date, key_id, signature, token)
        held = self._follower.held_key(key_id)
        if held is None:
            if _KEY_ID.fullmatch(key_id) is None:
                raise Unauthenticated(REFUSED)
            # Not held yet: followed now (Unavailable while the upstream is unreachable).
            held = await self._follower.access_key(key_id)
            if held is None:
                raise Unauthenticated(REFUSED)
        key = held.signing_keys.get((signing.signing_day(date), self.audience, method))
        if key is None:  # inactive (no keys), or a day or method the key is not scoped to
            raise Unauthenticated(REFUSED)
        digest = hashlib.sha256(request_bytes).hexdigest()
        message = signing.string_to_sign(method, date, key_id, digest, self.audience)
        if not hmac.compare_digest(hmac.digest(key, message, "sha256").hex(), signature):
            raise Unauthenticated(REFUSED)
        if not held.active:
            raise Unauthenticated("the access key is inactive")
        return Caller(
            arn=held.owner_arn,
            account_id=held.account_id,
            access_key_id=key_id,
            principal_id=held.principal_id,
        )

    async def _session(
        self, method: str, request_bytes: bytes, date: str, key_id: str, signature: str, token: str
    ) -> Caller:
        """Temporary credentials, verified from what the upstream says of the token."""
        if not token or not is_session_key_id(key_id):
            raise Unauthenticated("temporary credentials need an ASIA key id and a security token")
        if not is_token(token):
            raise Unauthenticated("the security token is invalid")
        held = await self._follower.session(key_id, token)
        claims = held.claims
        if not held.valid or claims is None:
            raise Unauthenticated(held.reason or "the security token is invalid")
        key = held.signing_keys.get((signing.signing_day(date), self.audience, method))
        digest = hashlib.sha256(request_bytes).hexdigest()
        message = signing.string_to_sign(method, date, key_id, digest, self.audience)
        if key is None or not hmac.compare_digest(
            hmac.digest(key, message, "sha256").hex(), signature
        ):
            raise Unauthenticated("the request signature does not match")
        # Revocations and a deleted role arrive as a new state; expiry is checked here.
        if time.time() >= claims.expires_at:
            raise Unauthenticated("the security token has expired")
        return Caller(
            arn=claims.arn,
            account_id=claims.account_id,
            access_key_id=key_id,
            principal_id=claims.principal_id,
            session=claims,
        )
