"""The migration runner: ordered, recorded, idempotent, race-free, refuses newer schemas."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import asyncpg
import pytest
from iamd_server.store.migrate import (
    SchemaTooNew,
    applied_versions,
    load_migrations,
    migrate,
    schema_is_current,
)

_names = itertools.count()


async def _empty_database(admin_dsn: str) -> str:
    name = f"iamd_migrate_{next(_names)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_dsn.rpartition("/")[0] + "/" + name


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def test_applies_in_order_once(postgres_admin_dsn: str, tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE a (x int);",
            "0002_second.sql": "ALTER TABLE a ADD COLUMN y int;",
        },
    )
    conn = await asyncpg.connect(await _empty_database(postgres_admin_dsn))
    try:
        assert await migrate(conn, folder) == ["0001_first", "0002_second"]
        assert await migrate(conn, folder) == []
        assert await applied_versions(conn) == [1, 2]
        assert await schema_is_current(conn, folder)
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing_half_applied(
    postgres_admin_dsn: str, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path / "m",
        {
            "0001_ok.sql": "CREATE TABLE a (x int);",
            "0002_bad.sql": "CREATE TABLE b (x int); BOGUS;",
        },
    )
    conn = await asyncpg.connect(await _empty_database(postgres_admin_dsn))
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrate(conn, folder)
        assert await applied_versions(conn) == [1]
        assert await conn.fetchval("SELECT to_regclass('b')") is None
    finally:
        await conn.close()


async def test_concurrent_replicas_migrate_once(postgres_admin_dsn: str, tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "m",
        {"0001_slow.sql": "SELECT pg_sleep(0.2); CREATE TABLE once_only (x int);"},
    )
    dsn = await _empty_database(postgres_admin_dsn)
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c, folder) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    finally:
        for conn in conns:
            await conn.close()


async def test_newer_schema_is_refused(postgres_admin_dsn: str, tmp_path: Path) -> None:
    newer = _write(tmp_path / "new", {"0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 1;"})
    older = _write(tmp_path / "old", {"0001_a.sql": "SELECT 1;"})
    conn = await asyncpg.connect(await _empty_database(postgres_admin_dsn))
    try:
        await migrate(conn, newer)
        with pytest.raises(SchemaTooNew, match="version 2"):
            await migrate(conn, older)
    finally:
        await conn.close()


def test_bad_file_names_and_repeats_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NNNN_name"):
        load_migrations(_write(tmp_path / "a", {"1_x.sql": ""}))
    with pytest.raises(ValueError, match="without repeats"):
        load_migrations(_write(tmp_path / "b", {"0001_x.sql": "", "0001_y.sql": ""}))
    with pytest.raises(ValueError, match="from 1"):
        load_migrations(_write(tmp_path / "c", {"0002_x.sql": ""}))
    # A number reserved by work not merged yet may be missing.
    found = load_migrations(_write(tmp_path / "d", {"0001_x.sql": "", "0003_y.sql": ""}))
    assert [m.version for m in found] == [1, 3]
