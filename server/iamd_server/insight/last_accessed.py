"""Last-accessed data (AWS's access advisor) without a database write per request.

An allowed decision notes (principal unique id, action) -> time in a dict: one assignment
on the hot path. A background task folds what was noted into rows per principal and
service, and per action for iam, sts and every service registered with a definition, and
writes them every few seconds with one upsert that only ever moves times forward (so every
worker flushes its own, in any order). `stop()` flushes what is left. A role session's
principal id is its role's, so sessions count toward the role.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import asyncpg

from iamd_server.periodic_flush import PeriodicFlush

log = logging.getLogger(__name__)

# Services tracked per service only: the other built-in ones (AWS tracks actions for a few
# services; iamd does for iam, sts and the services its users define).
SERVICE_LEVEL_ONLY = frozenset({"kms", "organizations", "iamd"})

_FLUSH_SQL = (
    "INSERT INTO iamd_last_accessed (principal_id, service, action, last_at)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
    " ON CONFLICT (principal_id, service, action)"
    " DO UPDATE SET last_at = greatest(iamd_last_accessed.last_at, EXCLUDED.last_at)"
)

_time = time.time


def rows_of(pending: dict[tuple[str, str], float]) -> dict[tuple[str, str, str], float]:
    """(principal id, action) -> time, folded into (principal id, service, action-or-"")
    rows with the newest time each; services and actions lower-case (as IAM compares them)."""
    rows: dict[tuple[str, str, str], float] = {}
    for (principal_id, action), at in pending.items():
        if not principal_id or principal_id.isdigit():  # unknown, or an account root
            continue
        service, _, name = action.lower().partition(":")
        if not service or not name:
            continue
        keys = [(principal_id, service, "")]
        if service not in SERVICE_LEVEL_ONLY:
            keys.append((principal_id, service, name))
        for key in keys:
            if rows.get(key, 0.0) < at:
                rows[key] = at
    return rows


class LastAccessed(PeriodicFlush):
    """Batches last-accessed times of users and roles."""

    what = "last-accessed times"

    def __init__(self, pool: asyncpg.Pool, *, interval: float = 5.0) -> None:
        super().__init__(interval=interval)
        self._pool = pool
        # (principal id, action) -> time of the last allowed decision, not yet written. The
        # same dict for the whole life of the object: hot paths may keep it and assign to it
        # as `note` does.
        self.pending: dict[tuple[str, str], float] = {}
        self.flushes = 0

    def note(self, principal_id: str, action: str) -> None:
        """An allowed decision for the user or role ``principal_id`` (hot path)."""
        self.pending[(principal_id, action)] = _time()

    async def flush(self) -> int:
        pending = self.pending
        if not pending:
            return 0
        batch = pending.copy()
        pending.clear()
        rows = rows_of(batch)
        if not rows:
            return 0
        keys = list(rows)
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    _FLUSH_SQL,
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                    [datetime.fromtimestamp(rows[k], UTC) for k in keys],
                )
        except asyncpg.DataError as exc:
            log.error("dropping %d last-accessed times: %s", len(keys), exc)
            return 0
        except BaseException:
            for key, at in batch.items():  # retried with the next flush; newer notes win
                if pending.get(key, 0.0) < at:
                    pending[key] = at
            raise
        self.flushes += 1
        return len(keys)
