"""Forward-only SQL migrations, applied under an advisory lock.

Files are `migrations/NNNN_name.sql`; each runs in its own transaction and is recorded in
`iamd_schema_migrations`. Replicas that start together serialize on the advisory lock, so a
migration runs once. A database whose schema is newer than this code knows is refused.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# An arbitrary constant that names iamd's migration lock among other advisory locks.
_LOCK_ID = 0x1A3D_0001
_FILE_NAME = re.compile(r"([0-9]{4})_[a-z0-9_]+\.sql")


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer iamd; running older code against it is unsafe."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_dir() -> Path:
    """IAMD_MIGRATIONS_DIR, else the checkout's migrations/, else the installed copy."""
    configured = os.environ.get("IAMD_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "iamd" / "migrations"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted((directory or migrations_dir()).glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    exists = await conn.fetchval("SELECT to_regclass('iamd_schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version FROM iamd_schema_migrations ORDER BY version")
    return [int(row["version"]) for row in rows]


async def migrate(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Applies pending migrations; returns the names applied (empty when at head)."""
    migrations = load_migrations(directory)
    head = migrations[-1].version if migrations else 0
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS iamd_schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = set(await applied_versions(conn))
        newest = max(done, default=0)
        if newest > head:
            raise SchemaTooNew(
                f"database schema is at version {newest} but this iamd knows only up to {head};"
                " upgrade iamd before running it against this database"
            )
        applied: list[str] = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO iamd_schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def schema_is_current(conn: asyncpg.Connection, directory: Path | None = None) -> bool:
    migrations = load_migrations(directory)
    head = migrations[-1].version if migrations else 0
    done = await applied_versions(conn)
    return bool(done) and max(done) == head
