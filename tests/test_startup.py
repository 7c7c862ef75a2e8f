"""Start-up failures end the process with one clear line on stderr, never a traceback; a wrong
or missing master key is one of them; a database lost at runtime is reported once, not once
per retry. Every case runs a real `iamd serve`."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import sts_pb2
from iamd_server.store.embedded import EmbeddedPostgres

from tests.harness import read_profile, start_server, stubs
from tests.launch import assert_one_line_failure, launch, run_to_exit, serve_argv


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_in_use_is_one_line(database_url: str, tmp_path: Path) -> None:
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        result = run_to_exit(
            serve_argv(tmp_path, database_url=database_url, listen=f"127.0.0.1:{port}")
        )
    assert_one_line_failure(result, f"cannot listen on 127.0.0.1:{port}: address already in use")


def test_metrics_port_in_use_is_one_line(database_url: str, tmp_path: Path) -> None:
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        result = run_to_exit(
            serve_argv(
                tmp_path,
                database_url=database_url,
                extra=["--metrics-listen", f"127.0.0.1:{port}"],
            )
        )
    assert_one_line_failure(result, f"cannot serve metrics on 127.0.0.1:{port}")


def test_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    dsn = f"postgresql://iamd:s3cret-pw@127.0.0.1:{_closed_port()}/iamd"
    result = run_to_exit(serve_argv(tmp_path, database_url=dsn))
    line = assert_one_line_failure(result, "cannot connect to the database at iamd@127.0.0.1:")
    assert "s3cret-pw" not in line
    assert not (tmp_path / "master.key").exists()


async def _execute(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _fetchval(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def _started_once(database_url: str, directory: Path) -> None:
    """A first start: bootstrap stores the root key's secret under the key in ``directory``."""
    first = start_server(database_url, directory)
    assert first.stop() == 0


def test_wrong_master_key_refuses_to_start_naming_the_key_file(
    database_url: str, tmp_path: Path
) -> None:
    _started_once(database_url, tmp_path / "first")
    other = tmp_path / "other"
    other.mkdir()
    (other / "master.key").write_text("ab" * 32 + "\n")
    result = run_to_exit(serve_argv(other, database_url=database_url))
    line = assert_one_line_failure(result, str(other / "master.key"))
    assert "not the key this database's secrets are encrypted under" in line
    # The right key still starts.
    again = start_server(database_url, tmp_path / "first")
    assert again.stop() == 0


def test_missing_master_key_refuses_to_start_and_creates_no_key(
    database_url: str, tmp_path: Path
) -> None:
    _started_once(database_url, tmp_path / "first")
    fresh = tmp_path / "fresh"
    result = run_to_exit(serve_argv(fresh, database_url=database_url))
    assert_one_line_failure(result, f"the master key file {fresh / 'master.key'} does not exist")
    assert not (fresh / "master.key").exists()


def test_malformed_master_key_file_is_one_line(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("not hex\n")
    result = run_to_exit(serve_argv(tmp_path, database_url=database_url))
    assert_one_line_failure(result, f"the master key file {tmp_path / 'master.key'} does not")


def test_database_without_a_check_value_takes_only_the_key_that_decrypts_its_secrets(
    database_url: str, tmp_path: Path
) -> None:
    # As a database migrated before the check value existed: secrets, and no check value.
    _started_once(database_url, tmp_path / "first")
    asyncio.run(_execute(database_url, "DELETE FROM iamd_master_key_check"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "master.key").write_text("cd" * 32 + "\n")
    result = run_to_exit(serve_argv(other, database_url=database_url))
    assert_one_line_failure(result, str(other / "master.key"))
    assert asyncio.run(_fetchval(database_url, "SELECT count(*) FROM iamd_master_key_check")) == 0

    right = start_server(database_url, tmp_path / "first")
    try:
        client = stubs(right.endpoint, right.root)
        client.management.CreateUser(mpb.CreateUserRequest(user_name="after-check"))
        client.close()
    finally:
        assert right.stop() == 0
    assert asyncio.run(_fetchval(database_url, "SELECT count(*) FROM iamd_master_key_check")) == 1
    # From now on the check value alone refuses the wrong key.
    result = run_to_exit(serve_argv(other, database_url=database_url))
    assert_one_line_failure(result, str(other / "master.key"))


@pytest.fixture
def own_cluster() -> Iterator[EmbeddedPostgres]:
    """A throwaway cluster of this test's own: the test stops and restarts it."""
    directory = Path(tempfile.mkdtemp(prefix="iamd-outage-"))
    cluster = EmbeddedPostgres(directory, throwaway=True)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_lost_database_is_reported_once_and_its_return_once(
    own_cluster: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = own_cluster.start()
    server = launch(serve_argv(tmp_path, database_url=dsn))
    client = stubs(server.endpoint, read_profile(tmp_path / "credentials"))
    try:
        identity = sts_pb2.GetCallerIdentityRequest()
        client.sts.GetCallerIdentity(identity)
        before = len(server.stderr)
        own_cluster.stop()
        # Signed calls go on (their key is cached) and leave last-used times to write.
        for _ in range(6):
            client.sts.GetCallerIdentity(identity)
            time.sleep(1)
        during = len(server.stderr)
        for _ in range(5):
            client.sts.GetCallerIdentity(identity)
            time.sleep(1)
        assert len(server.stderr) == during, "".join(server.stderr[during:])
        assert during - before <= 4, "".join(server.stderr[before:])

        own_cluster.start()
        assert server.wait_for_stderr("change feed reconnected", 15), "".join(server.stderr)
        client.management.CreateUser(mpb.CreateUserRequest(user_name="after-outage"))
    finally:
        client.close()
        assert server.stop() == 0
    assert "Traceback" not in "".join(server.stderr), "".join(server.stderr)
