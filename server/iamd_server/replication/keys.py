"""Scoped signing keys handed to followers in place of access-key secrets.

A follower verifies Authorize calls signed with an access key by holding, per UTC day, the
key derived for that day, this server's audience and one of the Authorize methods
(iamd_client.signing). Such a key verifies, and could only make, Authorize calls of that
key on that day: it is no use for any other call, to any other service, on any other day.
Yesterday, today and tomorrow are sent (requests are accepted 5 minutes either side of
their date, across midnight), and the stream re-sends them after each UTC midnight.
"""

from __future__ import annotations

import time

from iamd.v1 import replication_pb2 as pb
from iamd_client import signing

from iamd_server.authn.crypto import MasterKey
from iamd_server.store.records import LoadedAccessKey

# The only methods a follower serves for signed callers.
SCOPED_METHODS = (
    "/iamd.v1.AuthorizationService/Authorize",
    "/iamd.v1.AuthorizationService/AuthorizeBatch",
)
DAY_SECONDS = 86_400


def dates_around(now: float) -> tuple[tuple[str, str], ...]:
    """Yesterday, today and tomorrow (UTC): ("YYYYMMDD", its first second in decimal)."""
    today = int(now) // DAY_SECONDS
    dates = (str(d * DAY_SECONDS) for d in (today - 1, today, today + 1))
    return tuple((signing.signing_day(date), date) for date in dates)


def days_around(now: float) -> tuple[str, ...]:
    """Yesterday, today and tomorrow (UTC), "YYYYMMDD"."""
    return tuple(day for day, _ in dates_around(now))


def seconds_to_midnight(now: float) -> float:
    return DAY_SECONDS - (now % DAY_SECONDS)


def key_state(
    key_id: str,
    record: LoadedAccessKey | None,
    master_key: MasterKey,
    audience: str,
    now: float | None = None,
) -> pb.AccessKeyState:
    """The state of an access key for a follower: owner and status, and while it is active
    its scoped signing keys (the secret is decrypted here and goes no further)."""
    if record is None:
        return pb.AccessKeyState(access_key_id=key_id, exists=False)
    state = pb.AccessKeyState(
        access_key_id=key_id,
        exists=True,
        owner_arn=record.owner_arn,
        account_id=record.account_id,
        principal_id=record.user_id or record.account_id,
        active=record.status == "Active",
    )
    if state.active:
        secret = master_key.decrypt(record.encrypted_secret, bound_to=record.access_key_id)
        for day in days_around(time.time() if now is None else now):
            k_date = signing.date_key(secret, day)
            for method in SCOPED_METHODS:
                state.signing_keys.add(
                    day=day,
                    audience=audience,
                    method=method,
                    key=signing.scoped_signing_key(k_date, audience, method),
                )
    return state
