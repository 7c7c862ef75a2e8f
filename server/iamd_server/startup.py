"""Start-up failures told in one line: the operator gets the reason, not a traceback.

Whatever stops iamd from starting (the port is taken, the database cannot be reached, the
master key is wrong, another iamd holds the data directory) is raised as `StartupError`, whose
message is printed to stderr as is.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import asyncpg
import grpc


class StartupError(Exception):
    """Why iamd cannot start, as one line for the operator."""


def one_line(error: BaseException) -> str:
    """An exception as one line: its message (or type) with whitespace runs collapsed."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def describe_dsn(dsn: str) -> str:
    """Where a DSN points, without its password: ``user@host:port/database``."""
    try:
        parts = urlsplit(dsn)
        host = unquote(parts.hostname or "")
        port = f":{parts.port}" if parts.port else ""
        user = f"{unquote(parts.username)}@" if parts.username else ""
    except ValueError:
        return "the configured database"
    query_host = re.search(r"(?:^|&)host=([^&]*)", parts.query)
    if not host and query_host:
        host = unquote(query_host.group(1))
    return f"{user}{host or 'localhost'}{port}{parts.path or '/'}"


async def connect(dsn: str, *, timeout: float = 10.0) -> asyncpg.Connection:
    """Connects, turning every way it can fail into a StartupError naming the database."""
    try:
        return await asyncpg.connect(dsn, timeout=timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StartupError(
            f"cannot connect to the database at {describe_dsn(dsn)}: {one_line(exc)}"
        ) from exc
    except ValueError as exc:  # a DSN asyncpg cannot parse
        raise StartupError(f"the database URL is not valid: {one_line(exc)}") from exc


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Collects what native code writes to file descriptor 2 meanwhile (gRPC logs a bind
    failure there itself); the caller decides whether to show it."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


_BIND_REASON = re.compile(r"Error in bind for address '[^']*': ([^)\n]*)")


def bind(server: grpc.aio.Server, listen: str, credentials: grpc.ServerCredentials | None) -> int:
    """Binds ``listen`` (HOST:PORT); the bound port, or a StartupError saying why not."""
    failure: Exception | None = None
    port = 0
    with _stderr_captured() as captured:
        try:
            if credentials is None:
                port = server.add_insecure_port(listen)
            else:
                port = server.add_secure_port(listen, credentials)
        except RuntimeError as exc:
            failure = exc
    output = "".join(captured)
    if failure is None and port != 0:
        if output:
            sys.stderr.write(output)
        return port
    reason = _BIND_REASON.search(output)
    why = reason.group(1).strip().lower() if reason else "the address is not available here"
    raise StartupError(f"cannot listen on {listen}: {why}") from failure
