"""An embedded PostgreSQL: a cluster under iamd's data directory that iamd starts and stops.

Nobody else on the machine can use it. The server listens on no TCP address, only on a Unix
socket in a directory that only the cluster's owner may enter (0700), and every connection
must give the superuser's password (scram-sha-256). The password is generated at `initdb` and
kept in `postgres.password` (0600, owned by the user running iamd) in the data directory.

Binaries: those in IAMD_POSTGRES_BIN_DIR, else the machine's PostgreSQL, else the `pgserver`
wheel's. Only the wheel's binaries are used, not its start-up code, which trusts every local
connection. An existing cluster is started with binaries of its own major version.

As root, the cluster runs as the `postgres` system user, or IAMD_POSTGRES_USER (PostgreSQL
refuses to run as root; the user is created when missing). That user must reach the cluster,
so the data directory becomes root:postgres 0710. When it lies under a directory that user
cannot enter (root's private home, say), no permissions are loosened: the cluster lives in
/var/lib/iamd/clusters/<name> instead and `pgdata` in the data directory is a symbolic link
to it.

The data directory holds:

    iamd.lock           held by the running iamd (see dirlock.py)
    postgres.password   the superuser's password
    pgdata/             the cluster, owned by the cluster's user (0700); postgres.log inside
    run/                the socket directory, owned by the cluster's user (0700)
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import quote

from iamd_server.startup import StartupError
from iamd_server.store.dirlock import DirectoryLock

SUPERUSER = "postgres"
# Runs the cluster when iamd runs as root (IAMD_POSTGRES_USER names another).
CLUSTER_OS_USER = "postgres"
RELOCATED_ROOT = Path("/var/lib/iamd/clusters")
PASSWORD_FILE = "postgres.password"
# Only names the socket file: nothing listens on TCP.
_PORT = 5432
# A socket path must fit sun_path (108 bytes on Linux, 104 on macOS, with the NUL).
_MAX_SOCKET_PATH = 103
_HBA = (
    "# Written by iamd at every start: the Unix socket only, and only with the password.\n"
    "local all all scram-sha-256\n"
)
_PASSWORD = re.compile(r"[0-9a-f]{48}")


class EmbeddedPostgresError(StartupError):
    pass


@dataclass(frozen=True, slots=True)
class OsUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def current(cls) -> OsUser:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return cls(name, uid, os.getegid(), ())

    @classmethod
    def named(cls, name: str) -> OsUser:
        entry = pwd.getpwnam(name)
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
        return cls(name, entry.pw_uid, entry.pw_gid, groups)

    @property
    def is_me(self) -> bool:
        return self.uid == os.geteuid()

    def popen_options(self) -> dict[str, Any]:
        if self.is_me:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def own(self, path: Path, mode: int) -> None:
        """Makes ``path`` this user's, with ``mode``."""
        if not self.is_me:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)
        os.chmod(path, mode)


def _cluster_user() -> OsUser:
    if os.geteuid() != 0:
        return OsUser.current()
    name = os.environ.get("IAMD_POSTGRES_USER") or CLUSTER_OS_USER
    try:
        return OsUser.named(name)
    except KeyError:
        pass
    # As PostgreSQL's own packages do: a system user without a login shell.
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise EmbeddedPostgresError(
            f"running as root, the embedded PostgreSQL needs a system user {name!r} to run as,"
            f" and creating it failed ({_last_line(result.stderr)}); create it, run iamd as an"
            " ordinary user, or pass --database-url"
        )
    return OsUser.named(name)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _has_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _debian_bin_dirs() -> list[str]:
    return [str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")]


def _candidate_bin_dirs() -> list[Path]:
    configured = os.environ.get("IAMD_POSTGRES_BIN_DIR")
    if configured:
        return [Path(configured)] if _has_binaries(Path(configured)) else []
    found: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", Path(path).parent.name))

    found += [Path(p) for p in sorted(_debian_bin_dirs(), key=version, reverse=True)]
    spec = find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        found += [Path(p) / "pginstall" / "bin" for p in spec.submodule_search_locations]
    return [d for d in dict.fromkeys(found) if _has_binaries(d)]


def major_version(bin_dir: Path) -> int:
    output = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"\)\s*(\d+)", output)
    if match is None:
        raise EmbeddedPostgresError(f"cannot tell the version of {bin_dir / 'postgres'}")
    return int(match.group(1))


def find_pg_bin_dir(major: int | None = None) -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (of ``major`` when given)."""
    for directory in _candidate_bin_dirs():
        if major is None or major_version(directory) == major:
            return directory
    return None


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster for ``data_dir``; ``throwaway`` trades durability for speed (tests).

    ``lock()`` claims the data directory (``start()`` does it when not done yet); ``stop()``
    stops the cluster only when this object started it, and releases the claim.
    """

    data_dir: Path
    throwaway: bool = False
    created: bool = field(default=False, init=False)  # initdb ran in this start
    relocated: bool = field(default=False, init=False)
    _lock: DirectoryLock | None = field(default=None, init=False)
    _user: OsUser | None = field(default=None, init=False)
    _bin_dir: Path | None = field(default=None, init=False)
    _cluster_dir: Path | None = field(default=None, init=False)
    _socket_dir: Path | None = field(default=None, init=False)
    _temporary_socket_dir: bool = field(default=False, init=False)
    _started: bool = field(default=False, init=False)
    _uri: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(os.path.abspath(self.data_dir.expanduser()))

    @property
    def dsn(self) -> str:
        if not self._uri:
            raise EmbeddedPostgresError("embedded PostgreSQL is not running")
        return self._uri

    @property
    def pgdata(self) -> Path:
        if self._cluster_dir is None:
            raise EmbeddedPostgresError("embedded PostgreSQL is not placed yet")
        return self._cluster_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise EmbeddedPostgresError("embedded PostgreSQL is not running")
        return self._socket_dir

    def describe(self) -> str:
        """One line for the operator: which PostgreSQL runs and where its data lives."""
        assert self._bin_dir is not None and self._user is not None
        where = f"data in {self.pgdata}"
        if self.relocated:
            where += f" (linked from {self.data_dir / 'pgdata'})"
        return (
            f"PostgreSQL {major_version(self._bin_dir)} from {self._bin_dir} as user"
            f" {self._user.name}, on a Unix socket only; {where}"
        )

    def lock(self) -> None:
        """Claims the data directory for this process (AlreadyRunning if another has it)."""
        if self._lock is not None and self._lock.held:
            return
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise EmbeddedPostgresError(f"cannot create {self.data_dir}: {exc.strerror}") from exc
        lock = DirectoryLock(self.data_dir)
        lock.acquire()
        self._lock = lock

    def start(self) -> str:
        self.lock()
        self._user = _cluster_user()
        # Through the link when the cluster was placed elsewhere.
        version_file = self.data_dir / "pgdata" / "PG_VERSION"
        existing = int(version_file.read_text().strip()) if version_file.exists() else None
        self._bin_dir = self._binaries(existing)
        if not self._user_can_enter(self._bin_dir / "postgres"):
            raise EmbeddedPostgresError(
                f"user {self._user.name} cannot run {self._bin_dir / 'postgres'} (a parent"
                " directory is closed to it); install PostgreSQL's packages, install iamd"
                " where that user can read it, or pass --database-url"
            )
        self._cluster_dir = self._place()
        pgdata = self.pgdata
        self._socket_dir = self._prepare_socket_dir()
        if self._status() == 0:
            # We hold the data directory's lock, so this server was left by an iamd that
            # died without stopping it: restart it with our settings.
            self._pg_ctl("stop", "-m", "fast", "-w")
        password, new = self._read_password()
        if existing is None:
            self._initdb(password)
            self.created = True
        elif new:
            self._set_password(password)
        if new:
            self._write_password(password)
        self._write_hba()
        options = [
            "-c", "listen_addresses=",
            "-k", str(self._socket_dir),
            "-p", str(_PORT),
            "-c", "unix_socket_permissions=0700",
            "-c", "password_encryption=scram-sha-256",
        ]  # fmt: skip
        if self.throwaway:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            options += ["-c", "full_page_writes=off"]
        self._pg_ctl(
            "-l", str(pgdata / "postgres.log"), "-o", shlex.join(options), "-w", "-t", "60", "start"
        )
        self._started = True
        host = quote(str(self._socket_dir), safe="")
        self._uri = f"postgresql://{SUPERUSER}:{password}@{host}:{_PORT}/postgres"
        return self._uri

    def stop(self) -> None:
        """Stops the cluster if this object started it; releases the data directory."""
        try:
            if self._started:
                self._pg_ctl("-m", "fast", "-w", "stop", check=False)
                self._started = False
            if self._temporary_socket_dir and self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
                self._temporary_socket_dir = False
        finally:
            self._uri = ""
            if self._lock is not None:
                self._lock.release()

    def _binaries(self, major: int | None) -> Path:
        found = find_pg_bin_dir(major)
        if found is not None:
            return found
        configured = os.environ.get("IAMD_POSTGRES_BIN_DIR")
        if configured:
            raise EmbeddedPostgresError(
                f"IAMD_POSTGRES_BIN_DIR={configured} does not hold initdb, pg_ctl and postgres"
                + ("" if major is None else f" of PostgreSQL {major}")
            )
        if major is not None:
            raise EmbeddedPostgresError(
                f"the cluster in {self.data_dir / 'pgdata'} needs PostgreSQL {major}, whose"
                " binaries are not installed; install them or set IAMD_POSTGRES_BIN_DIR"
            )
        raise EmbeddedPostgresError(
            "no PostgreSQL binaries found and the pgserver wheel is not installed; install"
            " PostgreSQL, `pip install 'iamd[embedded]'`, or pass --database-url"
        )

    # -- placement -----------------------------------------------------------------------

    def _place(self) -> Path:
        """The directory holding pgdata/ and run/, owned so that the cluster's user reaches
        them and nobody else does."""
        user = self._user
        assert user is not None
        link = self.data_dir / "pgdata"
        if user.is_me:
            os.chmod(self.data_dir, 0o700)
            return self.data_dir
        if link.is_symlink():
            cluster_dir = link.resolve().parent
            if not cluster_dir.is_dir():
                raise EmbeddedPostgresError(
                    f"{link} points to {link.resolve()}, whose directory is missing"
                )
            self.relocated = True
            return cluster_dir
        if link.exists() or self._user_can_enter(self.data_dir.parent):
            os.chown(self.data_dir, os.geteuid(), user.gid)
            os.chmod(self.data_dir, 0o710)
            if not self._user_can_enter(self.data_dir):
                raise EmbeddedPostgresError(
                    f"user {user.name} cannot reach {self.data_dir}; pass a --data-dir it can"
                    " reach, or --database-url"
                )
            return self.data_dir
        # Under a directory the cluster's user cannot enter: keep the cluster elsewhere
        # rather than open up the operator's directories.
        try:
            RELOCATED_ROOT.mkdir(parents=True, exist_ok=True, mode=0o755)
            slug = re.sub(r"[^A-Za-z0-9]+", "-", str(self.data_dir)).strip("-")[-40:]
            cluster_dir = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=RELOCATED_ROOT))
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"user {user.name} cannot reach {self.data_dir} and {RELOCATED_ROOT} cannot be"
                f" created ({exc.strerror}); pass a --data-dir that user can reach"
            ) from exc
        os.chown(cluster_dir, os.geteuid(), user.gid)
        os.chmod(cluster_dir, 0o710)
        if not self._user_can_enter(cluster_dir):
            os.rmdir(cluster_dir)
            raise EmbeddedPostgresError(
                f"user {user.name} can reach neither {self.data_dir} nor {RELOCATED_ROOT};"
                " pass a --data-dir that user can reach"
            )
        os.symlink(cluster_dir / "pgdata", link)
        self.relocated = True
        return cluster_dir

    def _user_can_enter(self, path: Path) -> bool:
        """Whether the cluster's user may search (or run) ``path``, through every parent."""
        assert self._user is not None
        if self._user.is_me:
            return True
        result = subprocess.run(
            ["test", "-x", str(path)], cwd="/", check=False, **self._user.popen_options()
        )
        return result.returncode == 0

    def _prepare_socket_dir(self) -> Path:
        assert self._user is not None and self._cluster_dir is not None
        directory = self._cluster_dir / "run"
        if len(str(directory / f".s.PGSQL.{_PORT}.lock")) > _MAX_SOCKET_PATH:
            # Too long for a socket address: a fresh private directory (random name, so
            # nobody can prepare it in advance).
            directory = Path(tempfile.mkdtemp(prefix="iamd-pg-", dir="/tmp"))
            self._temporary_socket_dir = True
        directory.mkdir(mode=0o700, exist_ok=True)
        self._user.own(directory, 0o700)
        return directory

    # -- password ------------------------------------------------------------------------

    def _read_password(self) -> tuple[str, bool]:
        """The stored password, or a new one (True) that is stored once the cluster has it."""
        path = self.data_dir / PASSWORD_FILE
        if not path.exists():
            return secrets.token_hex(24), True
        os.chmod(path, 0o600)
        password = path.read_text().strip()
        if not _PASSWORD.fullmatch(password):
            raise EmbeddedPostgresError(f"{path} does not hold a password iamd generated")
        return password, False

    def _write_password(self, password: str) -> None:
        path = self.data_dir / PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")

    def _initdb(self, password: str) -> None:
        assert self._user is not None and self._socket_dir is not None
        pgdata = self.pgdata
        pgdata.mkdir(mode=0o700, exist_ok=True)
        self._user.own(pgdata, 0o700)
        # initdb reads the password from a file: one only the cluster's user can read,
        # removed right after.
        pwfile = self._socket_dir / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        self._user.own(pwfile, 0o600)
        try:
            self._run(
                [
                    "initdb", "-D", str(pgdata), "-U", SUPERUSER, "-E", "UTF8",
                    "--auth-local=scram-sha-256", "--auth-host=reject",
                    f"--pwfile={pwfile}", "--no-instructions",
                ]
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def _set_password(self, password: str) -> None:
        """Gives an existing cluster (one whose password file is gone, or made by an older
        iamd that trusted local connections) a new password, in single-user mode: no
        connection is possible meanwhile."""
        self._run(
            ["postgres", "--single", "-D", str(self.pgdata),
             "-c", "password_encryption=scram-sha-256", SUPERUSER],
            input=f"ALTER ROLE {SUPERUSER} WITH PASSWORD '{password}';\n",
        )  # fmt: skip

    def _write_hba(self) -> None:
        assert self._user is not None
        path = self.pgdata / "pg_hba.conf"
        path.write_text(_HBA)
        self._user.own(path, 0o600)

    # -- commands ------------------------------------------------------------------------

    def _status(self) -> int:
        if not (self.pgdata / "postmaster.pid").exists():
            return 3
        return self._pg_ctl("status", check=False)

    def _pg_ctl(self, *args: str, check: bool = True) -> int:
        return self._run(["pg_ctl", "-D", str(self.pgdata), *args], check=check)

    def _run(self, argv: list[str], *, input: str | None = None, check: bool = True) -> int:
        """Runs a PostgreSQL binary as the cluster's user."""
        assert self._bin_dir is not None and self._user is not None
        command = [str(self._bin_dir / argv[0]), *argv[1:]]
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
            check=False,
            **self._user.popen_options(),
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{argv[0]} failed ({result.returncode}): {_last_line(result.stderr)}"
                f" (see {self.pgdata / 'postgres.log'})"
            )
        return result.returncode
