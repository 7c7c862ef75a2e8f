"""The write transaction: every Manage write takes a revision, leaves an audit row and
notifies the caches, all in the transaction that makes the change.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

NOTIFY_CHANNEL = "iamd_changes"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; past this we ask for a full flush.
_MAX_PAYLOAD = 7900
# The revision is taken last: incrementing the one-row counter locks its row until commit, so
# revisions commit in increasing order (a cache that has seen revision N has seen every change
# up to N) and writes wait for each other only for the commit itself.
_NEXT_REVISION = "UPDATE iamd_revision_counter SET revision = revision + 1 RETURNING revision"
# The newest committed revision (in a snapshot: the newest the snapshot reflects).
CURRENT_REVISION = "SELECT revision FROM iamd_revision_counter"


@dataclass(slots=True)
class WriteTx:
    """The open transaction of one write; the body calls `record` once it knows its target."""

    conn: asyncpg.Connection
    target_arn: str | None = None
    account_id: str | None = None
    keys: list[str] = field(default_factory=list)
    revision: int = 0

    def record(self, target_arn: str, account_id: str | None, *keys: str) -> None:
        self.target_arn = target_arn
        self.account_id = account_id
        self.invalidate(*keys)

    def invalidate(self, *keys: str) -> None:
        for key in keys:
            if key not in self.keys:
                self.keys.append(key)


def notify_payload(revision: int, keys: list[str]) -> str:
    payload = json.dumps({"revision": revision, "keys": keys}, separators=(",", ":"))
    if len(payload.encode()) > _MAX_PAYLOAD:
        payload = json.dumps({"revision": revision, "keys": ["*"]}, separators=(",", ":"))
    return payload


async def finish(tx: WriteTx, actor: str, rpc: str) -> int:
    if tx.target_arn is None:
        raise RuntimeError(f"{rpc}: write finished without recording its target")
    conn = tx.conn
    revision = int(await conn.fetchval(_NEXT_REVISION))
    await conn.execute(
        "INSERT INTO iamd_audit (revision, principal_arn, rpc, target_arn, account_id)"
        " VALUES ($1, $2, $3, $4, $5)",
        revision,
        actor,
        rpc,
        tx.target_arn,
        tx.account_id,
    )
    await conn.execute(
        "SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, notify_payload(revision, tx.keys)
    )
    tx.revision = revision
    return revision


@asynccontextmanager
async def write_tx(pool: asyncpg.Pool, *, actor: str, rpc: str) -> AsyncIterator[WriteTx]:
    """`async with write_tx(pool, actor=..., rpc=...) as tx:`; tx.revision is set on exit."""
    async with pool.acquire() as conn, conn.transaction():
        tx = WriteTx(conn)
        yield tx
        await finish(tx, actor, rpc)
