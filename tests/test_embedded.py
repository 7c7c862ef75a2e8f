"""The embedded PostgreSQL that `iamd serve` starts without --database-url: nobody else on the
machine can use it, one iamd at a time owns a data directory, and it works as root with a
private home. Every test runs real `iamd serve` processes and attacks the real cluster."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

import asyncpg
import pytest
from iamd.v1 import management_pb2 as mpb
from iamd_server.store.embedded import PASSWORD_FILE, find_pg_bin_dir, major_version

from tests.harness import read_profile, stubs
from tests.launch import Launched, assert_one_line_failure, launch, run_to_exit, serve_argv

NOBODY = 65534


def _postmaster(data_dir: Path) -> tuple[int, list[str]]:
    """The running cluster's postmaster pid and its postmaster.pid lines."""
    lines = (data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), lines


def _alive(pid: int) -> bool:
    """Running (an exited process waiting for its parent to reap it is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _dispose(data_dir: Path) -> None:
    """Stops a cluster a failed test left running and removes a relocated cluster."""
    link = data_dir / "pgdata"
    pgdata = link.resolve()
    if (pgdata / "postmaster.pid").exists():
        bin_dir = find_pg_bin_dir(int((pgdata / "PG_VERSION").read_text()))
        if bin_dir is not None:
            owner = pgdata.stat().st_uid
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                cwd="/",
                check=False,
                user=owner if owner != os.geteuid() else None,
            )
    if link.is_symlink():
        shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture
def data_dirs() -> Iterator[Callable[[Path], Path]]:
    """Registers data directories whose clusters are cleaned up after the test."""
    made: list[Path] = []

    def register(path: Path) -> Path:
        made.append(path)
        return path

    yield register
    for path in made:
        _dispose(path)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory the `postgres` user can reach (pytest's own are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="iamd-embedded-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _tcp_listeners(pid: int) -> list[str]:
    """Local addresses on which process ``pid`` listens for TCP connections."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with_target = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        if with_target:
            inodes.add(with_target.group(1))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1])
    return found


def _connect_as(uid: int, path: Path) -> int:
    """Connects to the Unix socket ``path`` as another user; 0 or the errno."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only reports through its exit code
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
            code = 0
        except OSError as exc:
            code = exc.errno or 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


async def _connect(socket_dir: Path, password: str | None) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=str(socket_dir), port=5432, user="postgres", database="postgres", password=password
    )


async def _settings(socket_dir: Path, password: str) -> tuple[str, str]:
    conn = await _connect(socket_dir, password)
    try:
        return await conn.fetchval("SHOW listen_addresses"), await conn.fetchval(
            "SHOW server_version_num"
        )
    finally:
        await conn.close()


def _refused(socket_dir: Path, password: str | None) -> str:
    """Why the cluster refused a connection with ``password`` (fails if it accepted)."""
    with pytest.raises(
        (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InterfaceError)
    ) as refusal:
        asyncio.run(_connect(socket_dir, password))
    return str(refusal.value)


def _create_user(server: Launched, credentials: Path, name: str) -> None:
    client = stubs(server.endpoint, read_profile(credentials))
    try:
        client.management.CreateUser(mpb.CreateUserRequest(user_name=name))
    finally:
        client.close()


def test_embedded_cluster_takes_no_tcp_and_no_connection_without_its_password(
    open_dir: Path, data_dirs: Callable[[Path], Path]
) -> None:
    data_dir = data_dirs(open_dir / "data")
    server = launch(serve_argv(open_dir, data_dir=data_dir))
    try:
        announced = [line for line in server.stdout if "embedded PostgreSQL" in line]
        assert len(announced) == 1 and "created and started" in announced[0]
        assert f"data in {data_dir / 'pgdata'}" in announced[0]
        postmaster, pid_file = _postmaster(data_dir)
        socket_dir = Path(pid_file[4])
        # No TCP listener at all (the check sees the gRPC listener of iamd itself).
        assert _tcp_listeners(postmaster) == []
        assert _tcp_listeners(server.process.pid) != []
        assert pid_file[5].strip() == ""  # listen_addresses of the running server

        # Only the cluster's user may enter the socket directory and the data.
        owner = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
        for directory in (socket_dir, data_dir / "pgdata"):
            mode = directory.stat()
            assert stat.S_IMODE(mode.st_mode) == 0o700, directory
            assert mode.st_uid == owner, directory
        password_file = data_dir / PASSWORD_FILE
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert password_file.stat().st_uid == os.geteuid()
        password = password_file.read_text().strip()
        if os.geteuid() == 0:
            # Another local user cannot even reach the socket.
            assert _connect_as(NOBODY, socket_dir / ".s.PGSQL.5432") == 13  # EACCES

        # Root passes the directory's permissions; the password still stops it.
        assert "password" in _refused(socket_dir, None).lower()
        assert "password authentication failed" in _refused(socket_dir, "0" * 48)
        listen_addresses, _ = asyncio.run(_settings(socket_dir, password))
        assert listen_addresses == ""
        _create_user(server, open_dir / "credentials", "embedded-works")
    finally:
        assert server.stop() == 0
    assert not _alive(postmaster)


def test_second_start_on_the_same_data_directory_touches_nothing(
    tmp_path: Path, data_dirs: Callable[[Path], Path]
) -> None:
    data_dir = data_dirs(tmp_path / "data")
    first = launch(serve_argv(tmp_path / "one", data_dir=data_dir))
    try:
        postmaster, _ = _postmaster(data_dir)
        expected = f"iamd is already running on this data directory (pid {first.process.pid})"
        second = run_to_exit(serve_argv(tmp_path / "two", data_dir=data_dir))
        assert_one_line_failure(second, expected)
        migrate = run_to_exit(
            [*serve_argv(tmp_path, data_dir=data_dir)[:3], "migrate", "--data-dir", str(data_dir)]
        )
        assert_one_line_failure(migrate, expected)
        # The first instance and its cluster are untouched and keep working.
        assert _alive(postmaster) and _postmaster(data_dir)[0] == postmaster
        assert first.process.poll() is None
        _create_user(first, tmp_path / "one" / "credentials", "still-served")
        assert not (tmp_path / "two" / "master.key").exists()
    finally:
        assert first.stop() == 0
    assert not _alive(postmaster)


def test_root_with_a_private_home_runs_the_quickstart(
    tmp_path: Path, data_dirs: Callable[[Path], Path]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    env = {"HOME": str(home)}
    serve = [*serve_argv(home)[:4], "--listen", "127.0.0.1:0"]
    elsewhere = home / "elsewhere" / "iamd-data"
    # The quickstart as written (everything under ~/.iamd), then --data-dir inside the home.
    cases = [
        (home / ".iamd" / "data", home / ".iamd" / "credentials", serve),
        (
            elsewhere,
            home / "c2",
            [
                *serve,
                *("--data-dir", str(elsewhere), "--credentials-file", str(home / "c2")),
                *("--master-key-file", str(home / "k2")),
            ],
        ),
    ]
    for data_dir, credentials, argv in cases:
        data_dirs(data_dir)
        server = launch(argv, env=env)
        try:
            announced = "".join(server.stdout)
            assert "created and started an embedded PostgreSQL" in announced
            assert "data in " in announced
            _create_user(server, credentials, "from-home")
        finally:
            assert server.stop() == 0
        # The next start finds the same cluster: the user created above is there.
        again = launch(argv, env=env)
        try:
            client = stubs(again.endpoint, read_profile(credentials))
            client.management.GetUser(mpb.GetUserRequest(user_name="from-home"))
            client.close()
        finally:
            assert again.stop() == 0
    # Nothing was opened up: the home is still its owner's alone.
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert home.stat().st_uid == os.geteuid()


def test_after_a_crash_and_a_lost_password_file_the_next_start_recovers(
    tmp_path: Path, data_dirs: Callable[[Path], Path]
) -> None:
    data_dir = data_dirs(tmp_path / "data")
    first = launch(serve_argv(tmp_path, data_dir=data_dir))
    orphan, pid_file = _postmaster(data_dir)
    socket_dir = Path(pid_file[4])
    old_password = (data_dir / PASSWORD_FILE).read_text().strip()
    first.stop(signal.SIGKILL)
    assert _alive(orphan)  # PostgreSQL outlives a killed iamd
    (data_dir / PASSWORD_FILE).unlink()

    second = launch(serve_argv(tmp_path, data_dir=data_dir))
    try:
        assert not _alive(orphan)
        restarted, _ = _postmaster(data_dir)
        assert restarted != orphan
        new_password = (data_dir / PASSWORD_FILE).read_text().strip()
        assert new_password != old_password
        assert "password authentication failed" in _refused(socket_dir, old_password)
        _create_user(second, tmp_path / "credentials", "after-crash")
    finally:
        assert second.stop() == 0


def _pgserver_bin_dir() -> Path:
    spec = find_spec("pgserver")
    assert spec is not None and spec.submodule_search_locations, "pgserver (dev extra) missing"
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def test_pgserver_binaries_run_the_same_locked_down_cluster(
    tmp_path: Path, data_dirs: Callable[[Path], Path]
) -> None:
    bin_dir = _pgserver_bin_dir()
    data_dir = data_dirs(tmp_path / "data")
    server = launch(
        serve_argv(tmp_path, data_dir=data_dir), env={"IAMD_POSTGRES_BIN_DIR": str(bin_dir)}
    )
    try:
        assert any(str(bin_dir) in line for line in server.stdout)
        postmaster, pid_file = _postmaster(data_dir)
        socket_dir = Path(pid_file[4])
        assert _tcp_listeners(postmaster) == []
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
        assert "password" in _refused(socket_dir, None).lower()
        password = (data_dir / PASSWORD_FILE).read_text().strip()
        _, version = asyncio.run(_settings(socket_dir, password))
        assert int(version) // 10000 == major_version(bin_dir)
        _create_user(server, tmp_path / "credentials", "on-pgserver")
    finally:
        assert server.stop() == 0


def test_missing_postgres_binaries_are_one_line(
    tmp_path: Path, data_dirs: Callable[[Path], Path]
) -> None:
    data_dirs(tmp_path / "data")
    nowhere = tmp_path / "nowhere"
    result = run_to_exit(serve_argv(tmp_path), env={"IAMD_POSTGRES_BIN_DIR": str(nowhere)})
    assert_one_line_failure(result, f"IAMD_POSTGRES_BIN_DIR={nowhere} does not hold initdb")
    assert not (tmp_path / "data" / "pgdata").exists()


def test_the_cluster_never_runs_as_root(tmp_path: Path, data_dirs: Callable[[Path], Path]) -> None:
    """As root, a system user is created to run the cluster when it does not exist yet."""
    name = f"iamd-test-{secrets.token_hex(4)}"
    data_dir = data_dirs(tmp_path / "data")
    server = None
    try:
        server = launch(serve_argv(tmp_path, data_dir=data_dir), env={"IAMD_POSTGRES_USER": name})
        postmaster, _ = _postmaster(data_dir)
        owner = Path(f"/proc/{postmaster}").stat().st_uid
        if os.geteuid() == 0:
            assert pwd.getpwnam(name).pw_shell == "/usr/sbin/nologin"
            assert owner == pwd.getpwnam(name).pw_uid != 0
            assert f"as user {name}" in "".join(server.stdout)
        else:
            assert owner == os.geteuid()
        assert (data_dir / "pgdata").resolve().stat().st_uid == owner
    finally:
        if server is not None:
            assert server.stop() == 0
        if os.geteuid() == 0:
            subprocess.run(["userdel", name], capture_output=True, check=False)


def test_a_cluster_that_trusted_every_local_connection_is_locked_down(
    open_dir: Path, data_dirs: Callable[[Path], Path]
) -> None:
    """A data directory from before: `initdb -A trust`, owned by the cluster's user."""
    data_dir = data_dirs(open_dir / "data")
    data_dir.mkdir()
    owner = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    os.chown(data_dir, owner, -1)
    bin_dir = find_pg_bin_dir()
    assert bin_dir is not None
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data_dir / "pgdata"), "-A", "trust", "-U", "postgres"],
        capture_output=True,
        cwd="/",
        check=True,
        user=owner if owner != os.geteuid() else None,
    )
    server = launch(serve_argv(open_dir, data_dir=data_dir))
    try:
        assert "created and started" not in "".join(server.stdout)
        postmaster, pid_file = _postmaster(data_dir)
        socket_dir = Path(pid_file[4])
        assert _tcp_listeners(postmaster) == []
        assert "password" in _refused(socket_dir, None).lower()
        assert stat.S_IMODE((data_dir / PASSWORD_FILE).stat().st_mode) == 0o600
        _create_user(server, open_dir / "credentials", "on-old-cluster")
    finally:
        assert server.stop() == 0
