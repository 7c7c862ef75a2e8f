"""Access key last-used bookkeeping without a database write per request.

Authenticated calls note (key id -> time, RPC) in a dict (one assignment on the hot path);
a background task writes everything noted every few seconds with a single UPDATE ... FROM
unnest(...). Losing a few seconds of last-used data on a crash is acceptable.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import asyncpg

from iamd_server.periodic_flush import PeriodicFlush

log = logging.getLogger(__name__)

_FLUSH_SQL = (
    "UPDATE iamd_access_keys AS k SET last_used_at = u.at, last_used_rpc = u.rpc"
    " FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS u(id, at, rpc)"
    " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)"
)


class KeyUsage(PeriodicFlush):
    """Batches last-used updates of long-term access keys."""

    what = "access key last-used times"

    def __init__(self, pool: asyncpg.Pool, *, interval: float = 2.0) -> None:
        super().__init__(interval=interval)
        self._pool = pool
        self._pending: dict[str, tuple[float, str]] = {}
        self.flushes = 0

    def record(self, access_key_id: str, rpc: str) -> None:
        self._pending[access_key_id] = (time.time(), rpc)

    async def flush(self) -> int:
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        ids = list(batch)
        times = [datetime.fromtimestamp(batch[k][0], UTC) for k in ids]
        rpcs = [batch[k][1] for k in ids]
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(_FLUSH_SQL, ids, times, rpcs)
        except asyncpg.DataError as exc:
            # A value PostgreSQL refuses would fail every retry, and every key's update with
            # it: drop this batch rather than lose all last-used times from now on.
            log.error("dropping %d access key last-used times: %s", len(ids), exc)
            return 0
        except BaseException:
            # Put the batch back (newer notes win) so the next flush retries it.
            for key, value in batch.items():
                self._pending.setdefault(key, value)
            raise
        self.flushes += 1
        return len(ids)
