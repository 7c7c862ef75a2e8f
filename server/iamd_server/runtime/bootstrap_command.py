"""`iamd bootstrap`: create the organization and the management account's root key once, and
hand the key over in the credentials-file format, as a step of its own.

For deployments whose replicas run with `serve --no-bootstrap` (Kubernetes: a Job stores the
output in a Secret). A second run finds the organization and creates nothing. The output file
is never overwritten: it is created exclusively (mode 0600) before anything is created in the
database, so a run that could not hand the key over creates none.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO


def add_arguments(parser: argparse.ArgumentParser, *, home: Path) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("IAMD_DATABASE_URL"),
        help="PostgreSQL DSN (env IAMD_DATABASE_URL); required",
    )
    parser.add_argument(
        "--master-key-file",
        type=Path,
        default=Path(os.environ.get("IAMD_MASTER_KEY_FILE", home / "master.key")),
        help="the deployment's master key (env IAMD_MASTER_KEY_FILE); must exist",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="new file for the root credentials (mode 0600), or - for stdout; an existing"
        " file is never overwritten",
    )
    parser.add_argument(
        "--endpoint",
        default="127.0.0.1:50051",
        help="host:port written into the profile: where the operator will reach iamd",
    )
    parser.add_argument("--tls", action="store_true", help="write tls = true into the profile")
    parser.add_argument(
        "--service-name",
        default=os.environ.get("IAMD_SERVICE_NAME", "iamd"),
        help="the server's --service-name (env IAMD_SERVICE_NAME), written as the profile's"
        " audience when not iamd",
    )
    parser.add_argument("--profile", default="default", help="name of the profile written")


class _Failure(Exception):
    """Why the run cannot go on, as one line for the operator."""


def _claim(output: str) -> tuple[TextIO, Path | None]:
    """The stream the credentials go to: stdout, or a file created now, exclusively."""
    if output == "-":
        return sys.stdout, None
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise _Failure(
            f"{path} already exists: refusing to overwrite it (give a new --output)"
        ) from None
    except OSError as exc:
        raise _Failure(f"cannot create {path}: {exc.strerror}") from exc
    os.fchmod(fd, 0o600)  # whatever the umask
    return os.fdopen(fd, "w", encoding="utf-8"), path


class _Delivery:
    """Where the key goes, and whether it went: a claimed file stays once it holds a key."""

    def __init__(self, stream: TextIO, path: Path | None) -> None:
        self.stream, self.path, self.done = stream, path, False

    def __call__(self, profile_text: str) -> None:
        self.stream.write(profile_text)
        self.stream.flush()
        with contextlib.suppress(OSError, ValueError):  # stdout may be a pipe
            os.fsync(self.stream.fileno())
        self.done = True

    def close(self) -> None:
        if self.path is not None:
            self.stream.close()
            if not self.done:  # nothing was created for it: leave no empty file behind
                self.path.unlink(missing_ok=True)


async def _run(args: argparse.Namespace, delivery: _Delivery) -> str | None:
    """Creates what is missing; the new root key's account id, or None if none was made."""
    from iamd_server.authn.crypto import MasterKey
    from iamd_server.authn.master_key import load_master_key
    from iamd_server.runtime.bootstrap import Profile, RootKey, create_root_key_once
    from iamd_server.startup import connect
    from iamd_server.store import Store
    from iamd_server.store.migrate import migrate
    from iamd_server.store.pool import create_pool

    if not args.master_key_file.exists():
        # Never create one here: a key made in a throwaway container would be lost with it,
        # and the secrets encrypted under it with the key.
        raise _Failure(
            f"the master key file {args.master_key_file} does not exist: create the"
            " deployment's key first (--master-key-file or IAMD_MASTER_KEY_FILE)"
        )
    conn = await connect(args.database_url)
    try:
        await migrate(conn)
        master_key = MasterKey(await load_master_key(conn, args.master_key_file))
    finally:
        await conn.close()
    profile = Profile(args.endpoint, args.tls, args.service_name, args.profile)

    def deliver(key: RootKey) -> None:
        delivery(profile.text(key))

    pool = await create_pool(args.database_url, min_size=1, max_size=2)
    try:
        store = Store(pool)
        key = await create_root_key_once(pool, store, master_key, deliver)
        if key is None:
            org = await store.get_organization()
            assert org is not None
            print(
                "iamd: the organization already exists (management account"
                f" {org.management_account_id}): no key created, nothing written",
                file=sys.stderr,
            )
            return None
    finally:
        await pool.close()
    return key.account_id


def run(args: argparse.Namespace) -> int:
    from iamd_server.startup import StartupError, one_line

    delivery: _Delivery | None = None
    made: str | None = None
    try:
        if not args.database_url:
            raise _Failure("--database-url (or IAMD_DATABASE_URL) is required")
        delivery = _Delivery(*_claim(args.output))
        made = asyncio.run(_run(args, delivery))
    except Exception as exc:
        reason = (
            str(exc)
            if isinstance(exc, _Failure | StartupError)
            else (f"bootstrap failed: {type(exc).__name__}: {one_line(exc)}")
        )
        print(f"iamd: {reason}", file=sys.stderr)
        if delivery is None or not delivery.done:
            return 1
        # The key was committed and handed over before this: the run did its job.
    finally:
        if delivery is not None:
            delivery.close()
    if delivery is not None and delivery.done:
        where = "stdout" if delivery.path is None else str(delivery.path)
        account = f" {made}" if made else ""
        print(
            f"iamd: created the management account{account}; its root credentials"
            f" (profile {args.profile!r}) are in {where}",
            file=sys.stderr,
        )
    return 0
