"""ChangeFeed against a real PostgreSQL: notifications, waiting for a revision, reconnects."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import asyncpg
import pytest
from iamd_server.authz.changes import CHANNEL, ChangeFeed
from iamd_server.errors import Unavailable


async def _write(conn: asyncpg.Connection, keys: list[str]) -> int:
    """What a Manage write does at commit: a revision, an audit row and the notification."""
    async with conn.transaction():
        revision = int(
            await conn.fetchval(
                "UPDATE iamd_revision_counter SET revision = revision + 1 RETURNING revision"
            )
        )
        await conn.execute(
            "INSERT INTO iamd_audit (revision, principal_arn, rpc, target_arn)"
            " VALUES ($1, 'test', 'Test', 'test')",
            revision,
        )
        await conn.execute(
            "SELECT pg_notify($1, $2)", CHANNEL, json.dumps({"revision": revision, "keys": keys})
        )
    return revision


async def test_notifications_reach_handlers_in_order(database_url: str) -> None:
    seen: list[tuple[int, tuple[str, ...]]] = []
    feed = ChangeFeed(database_url)

    def handler(revision: int, keys: Sequence[str]) -> None:
        seen.append((revision, tuple(keys)))

    feed.subscribe(handler)
    await feed.start()
    conn = await asyncpg.connect(database_url)
    try:
        first = await _write(conn, ["user:a"])
        second = await _write(conn, ["group:g", "policy:p"])
        assert await feed.wait_for(second, 2.0)
        assert seen == [(first, ("user:a",)), (second, ("group:g", "policy:p"))]
        assert feed.applied_revision == second
        assert not await feed.wait_for(second + 5, 0.1)
    finally:
        await conn.close()
        await feed.stop()


async def test_lost_connection_flushes_on_reconnect(database_url: str) -> None:
    seen: list[tuple[str, ...]] = []
    feed = ChangeFeed(database_url)
    feed.subscribe(lambda _revision, keys: seen.append(tuple(keys)))
    await feed.start()
    conn = await asyncpg.connect(database_url)
    try:
        pid = feed.backend_pid
        assert pid is not None
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
        # A write while the replica is not listening: it cannot be announced to it.
        missed = await _write(conn, ["user:missed"])
        for _ in range(200):
            if feed.connected and feed.resets == 1 and ("*",) in seen:
                break
            await asyncio.sleep(0.02)
        assert feed.resets == 1 and ("*",) in seen
        assert await feed.wait_for(missed, 2.0)
        after = await _write(conn, ["user:after"])
        assert await feed.wait_for(after, 2.0)
        assert seen[-1] == ("user:after",)
    finally:
        await conn.close()
        await feed.stop()


async def test_heartbeats_prove_the_feed_current(database_url: str) -> None:
    feed = ChangeFeed(database_url, heartbeat_interval=0.05, max_staleness=0.5)
    await feed.start()
    try:
        feed.check_fresh()
        first = feed.proven_at
        for _ in range(100):
            if feed.heartbeats >= 3:
                break
            await asyncio.sleep(0.02)
        assert feed.heartbeats >= 3
        assert feed.proven_at > first  # each heartbeat heard back moves the proof forward
        assert feed.fresh_until == feed.proven_at + 0.5
        assert feed.staleness < 0.5
        feed.check_fresh()
    finally:
        await feed.stop()


async def test_a_lost_notification_is_caught_by_the_next_heartbeat(database_url: str) -> None:
    seen: list[tuple[int, tuple[str, ...]]] = []
    feed = ChangeFeed(database_url, heartbeat_interval=0.05)
    feed.subscribe(lambda revision, keys: seen.append((revision, tuple(keys))))
    await feed.start()
    conn = await asyncpg.connect(database_url)
    try:
        # A revision committed without its notification.
        silent = int(
            await conn.fetchval(
                "UPDATE iamd_revision_counter SET revision = revision + 1 RETURNING revision"
            )
        )
        assert await feed.wait_for(silent, 2.0)
        assert (silent, ("*",)) in seen  # everything was dropped: the change is unknown
        assert feed.resets == 0  # the connection itself was fine
    finally:
        await conn.close()
        await feed.stop()


async def test_a_stalled_process_proves_itself_again_instead_of_failing(
    database_url: str,
) -> None:
    feed = ChangeFeed(database_url, max_staleness=0.5)
    await feed.start()
    try:
        await asyncio.sleep(0.3)
        time.sleep(1.3)  # noqa: ASYNC251 - the whole process stalls (starved of CPU)
        with pytest.raises(Unavailable):
            feed.check_fresh()  # past the bound, nothing proves the snapshot current
        await feed.ensure_fresh()  # a proof is asked for at once and comes back
        assert feed.staleness < 0.5
        await asyncio.sleep(0.8)  # heartbeat ticks that saw the silence, then heard again
        assert feed.resets == 0  # the connection was fine: not reopened, nothing dropped
        feed.check_fresh()
    finally:
        await feed.stop()


async def test_a_handler_that_cannot_apply_a_change_fails_closed(database_url: str) -> None:
    """A cache whose invalidation fails (even the drop-everything fallback) could answer from
    before the change: the feed stops proving itself current until a reconnect flushed it."""
    feed = ChangeFeed(database_url, heartbeat_interval=0.05, max_staleness=0.5)
    broken = True
    flushed: list[tuple[str, ...]] = []

    def handler(_revision: int, keys: Sequence[str]) -> None:
        if broken:
            raise RuntimeError("cannot invalidate")
        flushed.append(tuple(keys))

    feed.subscribe(handler)
    await feed.start()
    conn = await asyncpg.connect(database_url)
    try:
        feed.check_fresh()
        revision = await _write(conn, ["user:a"])
        assert await feed.wait_for(revision, 2.0)
        with pytest.raises(Unavailable):
            feed.check_fresh()
        broken = False  # the reconnect's flush succeeds: current again
        for _ in range(200):
            if flushed:
                break
            await asyncio.sleep(0.02)
        assert ("*",) in flushed
        await feed.ensure_fresh()
    finally:
        await conn.close()
        await feed.stop()
