"""`iamd bootstrap` as a Kubernetes Job runs it: against a database served by replicas started
with bootstrap off, it creates the organization and one root key, written once to a new file
(0600) that works as a credentials file; later runs create nothing and overwrite nothing."""

from __future__ import annotations

import asyncio
import configparser
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
from iamd_client import Client
from iamd_client.credentials import resolve

from tests.harness import start_server
from tests.launch import run_to_exit

KEY_HEX = "5a" * 32


def _bootstrap(
    database_url: str, master_key: Path, output: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "iamd_server.runtime.cli",
        "bootstrap",
        "--database-url",
        database_url,
    ]
    argv += ["--master-key-file", str(master_key), "--output", output, *extra]
    return run_to_exit(argv)


async def _fetchval(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def _count(dsn: str, table: str) -> int:
    value = asyncio.run(_fetchval(dsn, f"SELECT count(*) FROM {table}"))
    assert isinstance(value, int)
    return value


def _caller_arn(credentials_file: Path) -> str:
    with Client.from_config(resolve(credentials_file=credentials_file)) as client:
        return client.get_caller_identity().arn


def test_bootstrap_writes_working_root_credentials_once(database_url: str, tmp_path: Path) -> None:
    server_dir = tmp_path / "replica"
    server_dir.mkdir()
    master_key = server_dir / "master.key"
    master_key.write_text(KEY_HEX + "\n")
    server = start_server(database_url, server_dir, env={"IAMD_BOOTSTRAP": "false"})
    try:
        # The replica created nothing and wrote no secret to its disk.
        assert not (server_dir / "credentials").exists()
        assert _count(database_url, "iamd_organization") == 0
        assert any("iamd bootstrap" in line for line in server.output)

        first = tmp_path / "job" / "credentials"
        result = _bootstrap(database_url, master_key, str(first), "--endpoint", server.endpoint)
        assert result.returncode == 0, result.stderr
        assert "created the management account" in result.stderr
        assert stat.S_IMODE(first.stat().st_mode) == 0o600
        profile = configparser.ConfigParser()
        profile.read(first)
        assert profile["default"]["endpoint"] == server.endpoint
        assert profile["default"]["secret_access_key"] not in result.stderr + result.stdout
        account = _count(database_url, "iamd_organization")
        assert account == 1
        arn = _caller_arn(first)
        assert arn.startswith("arn:aws:iam::") and arn.endswith(":root")

        # Again, as a re-run Job would: nothing created, nothing written.
        content = first.read_text()
        second = tmp_path / "again" / "credentials"
        result = _bootstrap(database_url, master_key, str(second), "--endpoint", server.endpoint)
        assert result.returncode == 0, result.stderr
        assert "already exists" in result.stderr
        assert not second.exists()
        assert _count(database_url, "iamd_access_keys") == 1

        # Asked to write over a file: refused before anything else, the file untouched.
        result = _bootstrap(database_url, master_key, str(first))
        assert result.returncode == 1
        assert "refusing to overwrite" in result.stderr
        assert first.read_text() == content
        assert _caller_arn(first) == arn
    finally:
        server.stop()


def test_concurrent_runs_create_one_key(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "replica").mkdir()
    master_key = tmp_path / "replica" / "master.key"
    master_key.write_text(KEY_HEX + "\n")
    outputs = [tmp_path / f"run{i}" / "credentials" for i in range(3)]
    argv = [
        sys.executable,
        "-m",
        "iamd_server.runtime.cli",
        "bootstrap",
        "--database-url",
        database_url,
    ]
    argv += ["--master-key-file", str(master_key)]
    runs = [
        subprocess.Popen([*argv, "--output", str(out)], stderr=subprocess.PIPE, text=True)
        for out in outputs
    ]
    codes = [run.wait(60) for run in runs]
    for run in runs:
        assert run.stderr is not None
        run.stderr.close()
    assert codes == [0, 0, 0]
    assert sum(out.exists() for out in outputs) == 1
    assert _count(database_url, "iamd_access_keys") == 1
    # The key is the one the database holds, and a server started now accepts it.
    written = next(out for out in outputs if out.exists())
    server = start_server(database_url, tmp_path / "replica", extra_args=["--no-bootstrap"])
    try:
        (tmp_path / "replica" / "credentials").write_text(
            written.read_text().replace("127.0.0.1:50051", server.endpoint)
        )
        assert _caller_arn(tmp_path / "replica" / "credentials").endswith(":root")
    finally:
        server.stop()


def test_without_the_master_key_nothing_is_created(database_url: str, tmp_path: Path) -> None:
    output = tmp_path / "credentials"
    result = _bootstrap(database_url, tmp_path / "absent.key", str(output))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "absent.key does not exist" in lines[0], result.stderr
    assert not output.exists()
    assert not (tmp_path / "absent.key").exists()
    assert _count(database_url, "iamd_organization") == 0


def test_a_wrong_master_key_is_refused(database_url: str, tmp_path: Path) -> None:
    right = tmp_path / "right.key"
    right.write_text(KEY_HEX + "\n")
    assert _bootstrap(database_url, right, str(tmp_path / "first")).returncode == 0
    wrong = tmp_path / "wrong.key"
    wrong.write_text("a5" * 32 + "\n")
    result = _bootstrap(database_url, wrong, str(tmp_path / "second"))
    assert result.returncode == 1
    assert "is not the key this database's secrets are encrypted under" in result.stderr
    assert not (tmp_path / "second").exists()


def test_output_to_stdout(database_url: str, tmp_path: Path) -> None:
    master_key = tmp_path / "master.key"
    master_key.write_text(KEY_HEX + "\n")
    result = _bootstrap(
        database_url, master_key, "-", "--endpoint", "iamd.example:8443", "--tls", "--profile", "x"
    )
    assert result.returncode == 0, result.stderr
    profile = configparser.ConfigParser()
    profile.read_string(result.stdout)
    assert profile["x"]["endpoint"] == "iamd.example:8443"
    assert profile["x"]["tls"] == "true"
    assert profile["x"]["access_key_id"].startswith("AKIA")
    assert profile["x"]["secret_access_key"] not in result.stderr


def test_unreachable_database_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    master_key = tmp_path / "master.key"
    master_key.write_text(KEY_HEX + "\n")
    output = tmp_path / "credentials"
    result = _bootstrap("postgresql://iamd:pw-secret@127.0.0.1:1/iamd", master_key, str(output))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect to the database" in lines[0], result.stderr
    assert "pw-secret" not in result.stderr
    assert not output.exists()
