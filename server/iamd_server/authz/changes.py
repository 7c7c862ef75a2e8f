"""Follows the database's change notifications so every replica's caches stay current, and
proves, several times a second, that it still does.

Each Manage write commits a `pg_notify('iamd_changes', {"revision", "keys"})`. Revisions are
taken from a one-row counter locked until commit (see store/writes.py), so they commit (and
are delivered) in increasing order: the highest revision received is the replica's applied
revision.

**Heartbeat.** Every `heartbeat_interval` the listening connection itself runs
`pg_notify(<this replica's own channel>, "<seq>:<newest committed revision>")`. PostgreSQL
delivers notifications in commit order, so when the heartbeat comes back on the listening
connection every write committed before it was sent has been delivered and applied: the
replica has proven itself current as of the heartbeat's send time (`proven_at`). The revision
read by the heartbeat also catches a notification that was lost: if it is above the applied
revision, everything is dropped and the replica advances to it.

**Staleness bound.** A replica answers decisions only while `now - proven_at <=
max_staleness`. Past that (say the process was starved of CPU for a second) a decision asks
for a proof at once and waits for it briefly (`ensure_fresh`); without one it fails closed
(UNAVAILABLE). A listening connection that hangs (backend stopped, socket open) is noticed
when no heartbeat has come back for `heartbeat_timeout` on two consecutive ticks (the second
tick lets a heartbeat that merely waited in the socket be read): it is dropped and reopened.

**Reconnects.** When the listening connection is lost the replica cannot know what it
missed: once LISTEN is back it drops every cached entry (handlers get keys ["*"]) before
advancing to the database's current revision, which proves it current again. If the
connection stays down longer than `max_disconnected`, everything is dropped anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from iamd_server.authz.revision_waiters import RevisionWaiters
from iamd_server.errors import Unavailable

log = logging.getLogger(__name__)

CHANNEL = "iamd_changes"
# pg_stat_activity.application_name of the listening connection (operators and tests find it).
APPLICATION_NAME = "iamd-change-feed"
ALL_KEYS = "*"

# The newest committed revision (the counter is updated by each write, under its row lock).
CURRENT_REVISION_SQL = "SELECT revision FROM iamd_revision_counter"
# A heartbeat: this replica's channel, payload "<sequence>:<newest committed revision>".
HEARTBEAT_SQL = "SELECT pg_notify($1, $2 || ':' || revision) FROM iamd_revision_counter"

DEFAULT_MAX_STALENESS = 1.0

ChangeHandler = Callable[[int, Sequence[str]], None]


class ChangeFeed:
    """LISTENs on a dedicated connection and fans notifications out to subscribers."""

    def __init__(
        self,
        dsn: str,
        *,
        heartbeat_interval: float = 0.25,
        heartbeat_timeout: float = 1.0,
        max_staleness: float = DEFAULT_MAX_STALENESS,
        max_disconnected: float = 60.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if max_staleness <= 0 or heartbeat_interval <= 0:
            raise ValueError("max_staleness and heartbeat_interval must be positive")
        self._dsn = dsn
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout
        self.max_staleness = max_staleness
        self._max_disconnected = max_disconnected
        self._connect_timeout = connect_timeout
        self._handlers: list[ChangeHandler] = []
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._waiters = RevisionWaiters()
        # This replica's heartbeat channel (random: replicas never hear each other's).
        self._channel = f"iamd_heartbeat_{secrets.token_hex(8)}"
        self._sequence = 0
        self._sent: dict[int, float] = {}  # heartbeat sequence -> monotonic send time
        self._silent_ticks = 0
        self._proofs: list[asyncio.Future[None]] = []  # decisions waiting for a proof
        self.applied_revision = 0
        self.database_revision = 0  # last read by a heartbeat
        self.connected = False
        self.resets = 0
        self.notifications = 0
        self.heartbeats = 0
        # Monotonic time as of which every committed write has been applied here, and the
        # time until which decisions may be answered (proven_at + max_staleness).
        self.proven_at = 0.0
        self.fresh_until = 0.0

    def subscribe(self, handler: ChangeHandler) -> None:
        """``handler(revision, keys)``, called before ``revision`` counts as applied;
        keys == ["*"] means drop everything."""
        self._handlers.append(handler)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._supervise(), name="iamd-change-feed")

    async def stop(self) -> None:
        for task in (self._task, self._beat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._beat_task = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        self._waiters.cancel_all()

    @property
    def backend_pid(self) -> int | None:
        """Server process id of the listening connection (tests terminate it)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else int(conn.get_server_pid())

    @property
    def staleness(self) -> float:
        """Seconds since the replica last proved every committed write applied."""
        return max(0.0, time.monotonic() - self.proven_at)

    async def ensure_fresh(self, wait: float = 1.0) -> None:
        """Returns while this replica is proven current within the bound; otherwise sends a
        heartbeat now and waits up to ``wait`` for it, then raises Unavailable (decisions
        fail closed rather than answer from what may be an old snapshot)."""
        deadline = time.monotonic() + wait
        while time.monotonic() > self.fresh_until:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            proof: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._proofs.append(proof)
            conn = self._conn
            if conn is not None:
                self._send_heartbeat(conn)
            try:
                await asyncio.wait_for(asyncio.shield(proof), remaining)
            except TimeoutError:
                break
            finally:
                with contextlib.suppress(ValueError):
                    self._proofs.remove(proof)
        self.check_fresh()

    def check_fresh(self) -> None:
        """Raises Unavailable when this replica cannot prove it is current within the bound
        (no I/O: `ensure_fresh` is the variant that first asks for a proof)."""
        if time.monotonic() > self.fresh_until:
            raise Unavailable(
                "this replica cannot confirm its policy snapshot is current"
                f" (last confirmed {self.staleness:.1f} s ago, bound {self.max_staleness:g} s);"
                " retry"
            )

    async def wait_for(self, revision: int, timeout: float | None) -> bool:
        """Waits until ``revision`` has been applied here; False when ``timeout`` ran out."""
        return await self._waiters.wait(lambda: self.applied_revision, revision, timeout)

    async def _connect(self, *, flush: bool = False) -> None:
        """Opens the listening connection and advances to the database's revision; with
        ``flush`` (after a loss) every entry is dropped first, since changes may be missed."""
        conn = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            # Heartbeats commit a notification 4 times a second: no need to wait for a flush.
            server_settings={"application_name": APPLICATION_NAME, "synchronous_commit": "off"},
        )
        try:
            conn.add_termination_listener(self._on_terminated)
            await conn.add_listener(CHANNEL, self._on_notification)
            await conn.add_listener(self._channel, self._on_notification)
            # Read the revision only once LISTEN is active: nothing committed in between is lost.
            current = int(
                await conn.fetchval(CURRENT_REVISION_SQL, timeout=self._connect_timeout) or 0
            )
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self._lost.clear()
        self._sent.clear()
        self._silent_ticks = 0
        self.database_revision = max(self.database_revision, current)
        if flush:
            self._dispatch(max(current, self.applied_revision), (ALL_KEYS,))
        self.connected = True
        self._advance(current)
        # Writes committed before now are in what later loads read (nothing older is cached);
        # later ones will be notified on this connection.
        self._prove(time.monotonic())

    async def _supervise(self) -> None:
        while True:
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await asyncio.wait_for(asyncio.shield(lost), self._heartbeat_interval)
            except TimeoutError:
                self._beat()
                continue
            finally:
                lost.cancel()
            await self._reconnect()

    def _beat(self) -> None:
        """Sends the next heartbeat, or declares the connection lost when they stopped
        coming back."""
        silent = time.monotonic() - self.proven_at
        if silent > self._heartbeat_timeout:
            self._silent_ticks += 1
            if self._silent_ticks >= 2:
                log.warning(
                    "no heartbeat came back on the listening connection for %.2f s; reconnecting",
                    silent,
                )
                self._lost.set()
                return
        else:
            self._silent_ticks = 0
        conn = self._conn
        if conn is not None:
            self._send_heartbeat(conn)

    def _send_heartbeat(self, conn: asyncpg.Connection) -> None:
        if self._beat_task is not None and not self._beat_task.done():
            return  # the previous heartbeat is still on its way (a hang shows as silence)
        self._sequence += 1
        self._sent[self._sequence] = time.monotonic()
        self._beat_task = asyncio.create_task(self._heartbeat(conn, self._sequence))

    async def _heartbeat(self, conn: asyncpg.Connection, sequence: int) -> None:
        try:
            await conn.execute(HEARTBEAT_SQL, self._channel, str(sequence))
        except Exception as exc:
            if conn is self._conn:
                log.debug("heartbeat failed (%s); reconnecting", exc)
                self._lost.set()

    def _on_heartbeat(self, payload: str) -> None:
        sequence, _, revision_text = payload.partition(":")
        try:
            sent = self._sent.get(int(sequence))
            revision = int(revision_text)
        except ValueError:
            return
        if sent is None:
            return  # from before a reconnect (or not ours)
        for old in [s for s in self._sent if s <= int(sequence)]:
            del self._sent[old]
        self.heartbeats += 1
        self.database_revision = max(self.database_revision, revision)
        if revision > self.applied_revision:
            # `revision` committed before this heartbeat, so its notification had to come
            # first: it was lost.
            log.error("revision %d was never announced; dropping all cached entries", revision)
            self._dispatch(revision, (ALL_KEYS,))
            self._advance(revision)
        self._prove(sent)

    def _prove(self, at: float) -> None:
        if at > self.proven_at:
            self.proven_at = at
            self.fresh_until = at + self.max_staleness
        for proof in self._proofs:
            if not proof.done():
                proof.set_result(None)

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

    def _on_notification(self, conn: Any, _pid: int, channel: str, payload: str) -> None:
        if conn is not self._conn:
            return
        if channel == self._channel:
            self._on_heartbeat(payload)
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
                try:
                    handler(revision, (ALL_KEYS,))
                except Exception:
                    # Its cache may still answer from before the change: fail closed until a
                    # reconnect has flushed everything (and proved this replica current).
                    log.exception("dropping everything failed too; failing closed")
                    self.fresh_until = 0.0
                    self._lost.set()

    def _advance(self, revision: int) -> None:
        if revision <= self.applied_revision:
            return
        self.applied_revision = revision
        if revision > self.database_revision:
            self.database_revision = revision
        self._waiters.advance(revision)
