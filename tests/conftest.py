"""Test PostgreSQL: a throwaway cluster started once per run (or IAMD_TEST_DATABASE_URL).

The schema is migrated once into a template database; every test that asks for
`database_url` gets a fresh copy of it, which is much faster than migrating again.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from iamd_server.store.embedded import EmbeddedPostgres
from iamd_server.store.migrate import migrate
from iamd_server.store.pool import create_pool

from tests.harness import ServerProcess, start_server

_TEMPLATE = "iamd_test_template"
_counter = itertools.count()


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate_template(admin_dsn: str) -> None:
    await _admin(
        admin_dsn,
        f"DROP DATABASE IF EXISTS {_TEMPLATE}",
        f"CREATE DATABASE {_TEMPLATE}",
    )
    conn = await asyncpg.connect(_with_database(admin_dsn, _TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    """DSN of a maintenance database on a PostgreSQL server owned by this test run."""
    external = os.environ.get("IAMD_TEST_DATABASE_URL")
    if external:
        yield external
        return
    directory = Path(tempfile.mkdtemp(prefix="iamd-test-pg-"))
    cluster = EmbeddedPostgres(directory, throwaway=True)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def template_ready(postgres_admin_dsn: str) -> str:
    asyncio.run(_migrate_template(postgres_admin_dsn))
    return postgres_admin_dsn


def new_database(admin_dsn: str) -> str:
    """Creates a fresh, migrated database and returns its DSN."""
    name = f"iamd_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin(admin_dsn, f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}"))
    return _with_database(admin_dsn, name)


@pytest.fixture
def database_url(template_ready: str) -> str:
    """A fresh, migrated, empty database for one test."""
    return new_database(template_ready)


@pytest.fixture(scope="module")
def module_database_url(template_ready: str) -> str:
    """A fresh, migrated database shared by the tests of one module."""
    return new_database(template_ready)


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=25)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A real `iamd serve` process on its own database, shared by one test module."""
    process = start_server(module_database_url, tmp_path_factory.mktemp("iamd"))
    try:
        yield process
    finally:
        process.stop()
