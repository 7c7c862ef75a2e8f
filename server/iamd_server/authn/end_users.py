"""End-user credentials forwarded to Authorize: a service lets iamd authenticate its own
callers too.

The end user signs its request to the service exactly as iamd's callers sign theirs
(iamd_client.signing: HMAC over the audience, which is the service's name, the service's
method, the date, the key id and the SHA-256 of the request body) and the service forwards
that proof unchanged in AuthorizeRequest.end_user, naming itself as the audience. iamd
verifies it like any call (long-term key or session token) and decides for the principal it
authenticates, with its session policies and tags. A request signed for iamd itself is not
an end user's request to a service, and is refused as a proof.
"""

from __future__ import annotations

from iamd.v1 import authorization_pb2 as pb
from iamd_client import signing
from iamd_policy.entries import PrincipalEntry

from iamd_server.authn.authenticator import Authenticator, Caller, is_hex64
from iamd_server.authn.sessions import MAX_TOKEN_BYTES
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.errors import InvalidArgument

# Longest end_user.method accepted (a gRPC method or an HTTP request line).
MAX_METHOD = 512


def _printable(value: str, limit: int) -> bool:
    """1..limit characters of printable ASCII (no NUL or other control characters)."""
    return 0 < len(value) <= limit and value.isascii() and value.isprintable()


def check_proof(proof: pb.SignedCredential) -> None:
    """Every field as a signer produces it. Authorize skips the request-wide NUL scan (hot
    path), so this is where NULs and control characters stop: the method is recorded as the
    key's last-used RPC, and one bad value would fail the batched write for every key."""
    for name in ("access_key_id", "date", "signature", "method", "audience"):
        if not getattr(proof, name):
            raise InvalidArgument(f"end_user.{name}", f"end_user.{name} is required")
    key_id = proof.access_key_id
    if not (len(key_id) <= 128 and key_id.isascii() and key_id.isalnum()):
        raise InvalidArgument(
            "end_user.access_key_id", "end_user.access_key_id must be an access key id"
        )
    if not (len(proof.date) <= 12 and proof.date.isascii() and proof.date.isdigit()):
        raise InvalidArgument(
            "end_user.date", "end_user.date must be Unix seconds in decimal digits"
        )
    if not is_hex64(proof.signature):
        raise InvalidArgument(
            "end_user.signature", "end_user.signature must be 64 lowercase hex digits"
        )
    if not is_hex64(proof.body_sha256):
        raise InvalidArgument(
            "end_user.body_sha256", "end_user.body_sha256 must be 64 lowercase hex digits"
        )
    if not _printable(proof.method, MAX_METHOD):
        raise InvalidArgument(
            "end_user.method",
            f"end_user.method must be 1-{MAX_METHOD} printable ASCII characters",
        )
    if not signing.is_audience(proof.audience):
        raise InvalidArgument(
            "end_user.audience", "end_user.audience must be 1-64 characters of [A-Za-z0-9._-]"
        )
    token = proof.session_token
    if token and not _printable(token, 2 * MAX_TOKEN_BYTES):
        raise InvalidArgument("end_user.session_token", "end_user.session_token is malformed")


class EndUsers:
    """`EndUsers(authenticator, session_policies)`."""

    def __init__(self, authenticator: Authenticator, session_policies: SessionPolicies) -> None:
        self._authenticator = authenticator
        self._session_policies = session_policies

    async def authenticate(self, proof: pb.SignedCredential) -> Caller:
        """The principal behind the proof; InvalidArgument when a field is malformed (the
        service forwarded something no signer produces), Unauthenticated when it does not
        verify."""
        check_proof(proof)
        if proof.audience == self._authenticator.audience:
            raise InvalidArgument(
                "end_user.audience",
                "end_user.audience names this server: forward proofs made for your service",
            )
        return await self._authenticator.verify(
            proof.method,
            proof.date,
            proof.access_key_id,
            proof.body_sha256,
            proof.signature,
            proof.session_token,
            proof.audience,
        )

    async def entry(self, base: PrincipalEntry, end_user: Caller) -> PrincipalEntry:
        """The stored principal's entry, plus the session's policies and keys if any."""
        if end_user.session is None:
            return base
        return await self._session_policies.entry(base, end_user.session)
