"""The asyncpg connection pool, with codecs set once per connection."""

from __future__ import annotations

import json
import logging

import asyncpg


class _QuietFloorRetries(logging.Filter):
    """asyncpg retries its minimum of connections while the database is down, logging a
    traceback each time; the change feed already says once that the database is lost and
    once that it is back."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to restore the pool connection floor")


logging.getLogger("asyncpg.pool").addFilter(_QuietFloorRetries())


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB columns come back as Python objects, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )
    assert pool is not None
    return pool
