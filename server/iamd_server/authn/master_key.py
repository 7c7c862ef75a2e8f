"""The master key at start-up: loaded from its file and checked against the database.

The database keeps a check value of the key (HMAC-SHA256 of a fixed label), so a replica
started with another key, or with none, refuses to start with a message naming the key file
instead of answering INTERNAL to every call that needs a stored secret. A database from before
the check value existed gets one at the first start whose key decrypts its stored secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import asyncpg

from iamd_server.authn.crypto import MasterKey
from iamd_server.startup import StartupError

_LABEL = b"iamd master key check v1"
_HINT = "(--master-key-file or IAMD_MASTER_KEY_FILE)"


def check_value(key: bytes) -> bytes:
    return hmac.new(key, _LABEL, hashlib.sha256).digest()


def read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise StartupError(f"cannot read the master key file {path}: {exc.strerror}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise StartupError(f"the master key file {path} does not hold 64 hexadecimal digits")
    return key


def _existing_key(path: Path) -> bytes | None:
    return read_key_file(path) if path.exists() else None


def _create_key_file(path: Path) -> bytes:
    """A fresh key in a new file (mode 0600); another replica's file if it won the race."""
    key = os.urandom(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(path)
    except OSError as exc:
        raise StartupError(f"cannot create the master key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


async def _holds_secrets(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM iamd_access_keys)"))


async def _decrypts_stored_secret(conn: asyncpg.Connection, key: bytes) -> bool:
    row = await conn.fetchrow("SELECT id, encrypted_secret FROM iamd_access_keys LIMIT 1")
    if row is None:
        return True
    try:
        MasterKey(key).decrypt(bytes(row["encrypted_secret"]), bound_to=row["id"])
    except ValueError:
        return False
    return True


async def load_master_key(conn: asyncpg.Connection, path: Path) -> bytes:
    """The deployment's master key from ``path``, once the database confirms it is the key
    its secrets are encrypted under; creates the file only for a database without secrets."""
    stored = await conn.fetchval("SELECT check_value FROM iamd_master_key_check")
    existing = _existing_key(path)
    if existing is not None:
        key = existing
    elif stored is None and not await _holds_secrets(conn):
        key = _create_key_file(path)
    else:
        raise StartupError(
            f"the master key file {path} does not exist, but this database holds secrets"
            f" encrypted under a master key: give iamd that key file {_HINT}"
        )
    mismatch = StartupError(
        f"the master key in {path} is not the key this database's secrets are encrypted"
        f" under: give iamd the deployment's key file {_HINT}"
    )
    if stored is None:
        if not await _decrypts_stored_secret(conn, key):
            raise mismatch
        await conn.execute(
            "INSERT INTO iamd_master_key_check (check_value) VALUES ($1) ON CONFLICT DO NOTHING",
            check_value(key),
        )
        # Replicas starting together with different keys: the first one recorded wins.
        stored = await conn.fetchval("SELECT check_value FROM iamd_master_key_check")
    if not hmac.compare_digest(bytes(stored), check_value(key)):
        raise mismatch
    return key
