"""End-user credentials forwarded to Authorize: a service lets iamd authenticate its own
callers too.

The end user signs its request to the service exactly as iamd's callers sign theirs
(iamd_client.signing: HMAC over the service's method, the date, the key id and the SHA-256
of the request body) and the service forwards that proof unchanged in
AuthorizeRequest.end_user. iamd verifies it like any call (long-term key or session token)
and decides for the principal it authenticates, with its session policies and tags.
"""

from __future__ import annotations

import re

from iamd.v1 import authorization_pb2 as pb

from iamd_server.api.auth import Authenticator, Caller
from iamd_server.entries import PrincipalEntry
from iamd_server.errors import InvalidArgument
from iamd_server.session_policies import SessionPolicies

_SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)


class EndUsers:
    """`EndUsers(authenticator, session_policies)`."""

    def __init__(self, authenticator: Authenticator, session_policies: SessionPolicies) -> None:
        self._authenticator = authenticator
        self._session_policies = session_policies

    async def authenticate(self, proof: pb.SignedCredential) -> Caller:
        """The principal behind the proof; Unauthenticated when it does not verify."""
        for name in ("access_key_id", "date", "signature", "method"):
            if not getattr(proof, name):
                raise InvalidArgument(f"end_user.{name}", f"end_user.{name} is required")
        if not _SHA256_HEX.fullmatch(proof.body_sha256):
            raise InvalidArgument(
                "end_user.body_sha256", "end_user.body_sha256 must be 64 lowercase hex digits"
            )
        return await self._authenticator.verify(
            proof.method,
            proof.date,
            proof.access_key_id,
            proof.body_sha256,
            proof.signature,
            proof.session_token,
        )

    async def entry(self, base: PrincipalEntry, end_user: Caller) -> PrincipalEntry:
        """The stored principal's entry, plus the session's policies and keys if any."""
        if end_user.session is None:
            return base
        return await self._session_policies.entry(base, end_user.session)
