"""Temporary credentials on a Watch stream.

A follower cannot open a session token (it is sealed under a key derived from the master
key), so it names the token and the server sends what the token says (its claims), whether
it is still valid (not expired, not revoked by RevokeRoleSessions / RevokeUserSessions, its
role or user still the one it was issued for) and, while it is, the session's signing keys
scoped like an access key's, with the current documents of its managed session policies. A
revocation, a deleted role or a changed session policy re-sends the state.
"""

from __future__ import annotations

import hashlib
import json
import time

from iamd.v1 import replication_pb2 as pb
from iamd_client import replication_messages as messages

from iamd_server.authn.sessions import MAX_TOKEN_BYTES, SessionAuthority, SessionClaims
from iamd_server.errors import Unauthenticated
from iamd_server.replication.keys import SCOPED_METHODS, dates_around
from iamd_server.replication.records import RecordCache
from iamd_server.store.records import LoadedPolicy

_KEY_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def token_hash(key_id: str, token: str) -> str:
    """Names one (key id, token) pair: a token presented with a key id it does not belong
    to is another item (refused), and cannot spoil the state of the right pair."""
    return hashlib.sha256(f"{key_id}\n{token}".encode()).hexdigest()


def is_session_key_id(key_id: str) -> bool:
    return (
        len(key_id) == 20
        and key_id.startswith("ASIA")
        and all(c in _KEY_ID_CHARACTERS for c in key_id[4:])
    )


def is_token(token: str) -> bool:
    return 0 < len(token) <= 2 * MAX_TOKEN_BYTES and token.isascii() and token.isprintable()


def session_dependencies(claims: SessionClaims) -> tuple[str, ...]:
    """Revocations ("sessions:<id>", see watch.revocation_keys), the role or user being
    deleted, and its managed session policies changing."""
    keys = [
        f"sessions:{claims.principal_id}",
        f"role:{claims.base_arn}",
        f"user:{claims.base_arn}",
    ]
    keys.extend(f"policy:{arn}" for arn in claims.policy_arns)
    return tuple(keys)


async def session_state(
    authority: SessionAuthority,
    records: RecordCache,
    token_sha256: str,
    key_id: str,
    token: str,
    audience: str,
) -> tuple[pb.SessionState, SessionClaims | None]:
    """The state of one session, and its claims when the token is one of ours."""
    try:
        claims, keys = authority.open(key_id, token)
    except Unauthenticated as exc:
        return pb.SessionState(token_sha256=token_sha256, valid=False, reason=str(exc)), None
    try:
        await authority.check_valid(claims)
    except Unauthenticated as exc:
        state = pb.SessionState(token_sha256=token_sha256, valid=False, reason=str(exc))
        return state, claims
    state = pb.SessionState(
        token_sha256=token_sha256,
        valid=True,
        claims_json=json.dumps(claims.to_json(), separators=(",", ":")),
    )
    for day, date in dates_around(time.time()):
        for method in SCOPED_METHODS:
            state.signing_keys.add(
                day=day,
                audience=audience,
                method=method,
                key=keys.for_request(date, audience, method),
            )
    for arn in claims.policy_arns:
        document = await records.managed_policy(arn)
        if document is not None:
            state.managed_policies.append(
                messages.policy_document(LoadedPolicy(arn, "session-managed", arn, document))
            )
    return state, claims
