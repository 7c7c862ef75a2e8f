"""A worker's end of its control socket to the supervisor (`iamd serve --workers N`).

Each worker shares one Unix socket pair with the supervisor, carrying short text lines:

    worker -> supervisor   "ready"            serving gRPC (health still NOT_SERVING)
                           "failed REASON"    the start failed (REASON is one line)
    supervisor -> worker   "serving"          every worker is ready: health SERVING
                           "not-serving"      some worker is not (starting, restarting)

Health is pushed rather than read from a shared file: a worker learns a change the moment
it happens (gRPC health Watch streams follow it), nothing polls, and there is no state file
that a dead supervisor could leave saying SERVING. End of file means the supervisor is gone:
the worker drains and exits rather than serve on unsupervised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

READY = "ready"
FAILED = "failed"
SERVING = "serving"
NOT_SERVING = "not-serving"
MAX_LINE = 4096


class SupervisorLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, fd: int) -> SupervisorLink:
        """Takes over the inherited descriptor ``fd`` (one end of a socket pair)."""
        sock = socket.socket(fileno=fd)
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE)
        return cls(reader, writer)

    async def report_ready(self) -> None:
        await self._send(READY)

    async def report_failure(self, reason: str) -> None:
        await self._send(f"{FAILED} {' '.join(reason.split())}"[: MAX_LINE - 1])

    async def follow(
        self, set_serving: Callable[[bool], Awaitable[None]], on_lost: Callable[[], None]
    ) -> None:
        """Applies the supervisor's health verdicts until it goes away, then ``on_lost()``."""
        try:
            while line := await self._reader.readline():
                word = line.decode(errors="replace").strip()
                if word in (SERVING, NOT_SERVING):
                    await set_serving(word == SERVING)
        except (OSError, ValueError) as exc:  # ValueError: a line over the limit
            log.warning("control socket to the supervisor failed: %s", exc)
        log.warning("the supervisor is gone; stopping")
        on_lost()

    async def _send(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self._writer.write(line.encode() + b"\n")
            await self._writer.drain()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()
