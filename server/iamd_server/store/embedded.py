"""An embedded PostgreSQL: a cluster under a data directory that iamd starts and stops itself.

Uses the machine's PostgreSQL binaries when found (as the `postgres` user when running as
root, since PostgreSQL refuses to run as root), otherwise the `pgserver` wheel.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class EmbeddedPostgresError(RuntimeError):
    pass


def find_pg_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir``; ``throwaway`` trades durability for speed (tests)."""

    data_dir: Path
    port: int = 0
    throwaway: bool = False
    _bin_dir: Path | None = field(default=None, init=False)
    _pgserver: Any = field(default=None, init=False)
    _uri: str = field(default="", init=False)

    @property
    def dsn(self) -> str:
        if not self._uri:
            raise EmbeddedPostgresError("embedded PostgreSQL is not running")
        return self._uri

    def start(self) -> str:
        self._bin_dir = find_pg_bin_dir()
        if self._bin_dir is None:
            return self._start_pgserver()
        return self._start_system()

    def stop(self) -> None:
        if self._pgserver is not None:
            with contextlib.suppress(Exception):
                self._pgserver.cleanup()
            self._pgserver = None
        elif self._bin_dir is not None and (self.data_dir / "pgdata" / "postmaster.pid").exists():
            self._run(
                [
                    str(self._bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir / "pgdata"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                check=False,
            )
        self._uri = ""

    def _as_postgres_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def _run(self, argv: list[str], *, check: bool = True) -> None:
        result = subprocess.run(
            self._as_postgres_user(argv), capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}"
            )

    def _start_system(self) -> str:
        assert self._bin_dir is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, user="postgres")
        if not (pgdata / "PG_VERSION").exists():
            self._run(
                [
                    str(self._bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            )
        port = self.port or free_port()
        options = f"-k {self.data_dir} -c listen_addresses=127.0.0.1 -p {port}"
        if self.throwaway:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            [
                str(self._bin_dir / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self.port = port
        self._uri = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._wait_ready()
        return self._uri

    def _start_pgserver(self) -> str:
        try:
            import pgserver
        except ImportError as exc:
            raise EmbeddedPostgresError(
                "no PostgreSQL binaries found and the pgserver wheel is not installed;"
                " install PostgreSQL, `pip install 'iamd[embedded]'`, or pass --database-url"
            ) from exc
        self._pgserver = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        self._uri = str(self._pgserver.get_uri())
        return self._uri

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise EmbeddedPostgresError(f"PostgreSQL did not accept connections on port {self.port}")
