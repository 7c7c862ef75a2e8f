"""Follows the database's change notifications so every replica's caches stay current.

Each Manage write commits a `pg_notify('iamd_changes', {"revision", "keys"})`. Revisions are
allocated under a transaction-scoped lock at the end of each write, so they commit (and are
delivered) in increasing order: the highest revision received is the replica's applied
revision.

When the listening connection drops, the replica cannot know what it missed. It keeps
serving what it has while it reconnects (when the database itself is down nothing can change,
and cached entries keep answering; uncached ones cannot be built and fail closed), and once
LISTEN is back it drops every cached entry (handlers get keys ["*"]) before advancing to the
database's current revision. If the connection stays down longer than `max_disconnected`,
everything is dropped anyway so a partitioned replica cannot serve stale entries forever.

A probe reads the database's revision every `probe_interval` seconds on the same connection:
it feeds the revision-lag metric, detects a silently dead connection, and, should a committed
revision never be announced (a lost notification), drops everything and catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "iamd_changes"
# pg_stat_activity.application_name of the listening connection (operators and tests find it).
APPLICATION_NAME = "iamd-change-feed"
ALL_KEYS = "*"

# The newest committed revision. Writes take their revision under a lock held until commit,
# so the audit table's maximum is exactly the newest committed write.
CURRENT_REVISION_SQL = "SELECT coalesce(max(revision), 0) FROM iamd_audit"

ChangeHandler = Callable[[int, Sequence[str]], None]


class ChangeFeed:
    """LISTENs on a dedicated connection and fans notifications out to subscribers."""

    def __init__(
        self,
        dsn: str,
        *,
        probe_interval: float = 2.0,
        max_disconnected: float = 60.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._probe_interval = probe_interval
        self._max_disconnected = max_disconnected
        self._connect_timeout = connect_timeout
        self._handlers: list[ChangeHandler] = []
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.applied_revision = 0
        self.database_revision = 0  # last sampled by the probe
        self.connected = False
        self.resets = 0
        self.notifications = 0

    def subscribe(self, handler: ChangeHandler) -> None:
        """``handler(revision, keys)``, called before ``revision`` counts as applied;
        keys == ["*"] means drop everything."""
        self._handlers.append(handler)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._supervise(), name="iamd-change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        for _, future in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters.clear()

    @property
    def backend_pid(self) -> int | None:
        """Server process id of the listening connection (tests terminate it)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else int(conn.get_server_pid())

    async def wait_for(self, revision: int, timeout: float | None) -> bool:
        """Waits until ``revision`` has been applied here; False when ``timeout`` ran out."""
        if self.applied_revision >= revision:
            return True
        if timeout is not None and timeout <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return self.applied_revision >= revision
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    async def _connect(self, *, flush: bool = False) -> None:
        """Opens the listening connection and advances to the database's revision; with
        ``flush`` (after a loss) every entry is dropped first, since changes may be missed."""
        conn = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
        try:
            conn.add_termination_listener(self._on_terminated)
            await conn.add_listener(CHANNEL, self._on_notification)
            # Read the revision only once LISTEN is active: nothing committed in between is lost.
            current = int(await conn.fetchval(CURRENT_REVISION_SQL) or 0)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self._lost.clear()
        self.database_revision = current
        if flush:
            self._dispatch(max(current, self.applied_revision), (ALL_KEYS,))
        self.connected = True
        self._advance(current)

    async def _supervise(self) -> None:
        while True:
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await asyncio.wait_for(asyncio.shield(lost), self._probe_interval)
            except TimeoutError:
                await self._probe()
                continue
            finally:
                lost.cancel()
            await self._reconnect()

    async def _probe(self) -> None:
        """Samples the database's revision; a revision left unannounced for a whole probe
        interval means a notification was lost."""
        conn = self._conn
        if conn is None:
            return
        before = self.applied_revision
        try:
            current = int(
                await conn.fetchval(CURRENT_REVISION_SQL, timeout=self._connect_timeout) or 0
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("change feed probe failed (%s); reconnecting", exc)
            self._lost.set()
            conn.terminate()
            return
        previous, self.database_revision = self.database_revision, current
        if current > self.applied_revision and previous >= current and before < current:
            log.error("revision %d was never announced; dropping all cached entries", current)
            self._dispatch(current, (ALL_KEYS,))
            self._advance(current)

    async def _reconnect(self) -> None:
        self.connected = False
        self.resets += 1
        lost_at = time.monotonic()
        flushed = False
        log.warning("change notifications lost; reconnecting (entries dropped once back)")
        old, self._conn = self._conn, None
        if old is not None and not old.is_closed():
            old.terminate()
        delay = 0.05
        while True:
            if not flushed and time.monotonic() - lost_at > self._max_disconnected:
                log.error(
                    "change feed down for %.0f s; dropping all cached entries",
                    self._max_disconnected,
                )
                self._dispatch(self.applied_revision, (ALL_KEYS,))
                flushed = True
            try:
                await self._connect(flush=True)
                log.info("change feed reconnected at revision %d", self.applied_revision)
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Once per outage: the database may stay down for long.
                (log.warning if delay == 0.05 else log.debug)(
                    "reconnecting the change feed failed: %s; retrying until it is back", exc
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _on_terminated(self, conn: Any) -> None:
        if conn is self._conn:
            self._lost.set()

    def _on_notification(self, conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if conn is not self._conn:
            return
        self.notifications += 1
        try:
            message = json.loads(payload)
            revision = int(message["revision"])
            keys = [str(k) for k in message.get("keys", [ALL_KEYS])]
        except (ValueError, KeyError, TypeError):
            log.error("unreadable change notification; dropping all cached entries")
            revision, keys = self.applied_revision, [ALL_KEYS]
        self._dispatch(revision, keys)
        self._advance(revision)

    def _dispatch(self, revision: int, keys: Sequence[str]) -> None:
        for handler in self._handlers:
            try:
                handler(revision, keys)
            except Exception:
                log.exception("change handler failed; dropping everything to stay correct")
                with contextlib.suppress(Exception):
                    handler(revision, (ALL_KEYS,))

    def _advance(self, revision: int) -> None:
        if revision <= self.applied_revision:
            return
        self.applied_revision = revision
        if revision > self.database_revision:
            self.database_revision = revision
        for wanted, future in self._waiters:
            if wanted <= revision and not future.done():
                future.set_result(None)
