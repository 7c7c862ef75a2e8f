"""A background task that writes what the hot path noted in memory every few seconds.

Access keys' last use and last-accessed data are noted with one dict assignment per
request and written in one statement per interval; a database outage is logged when writes
start failing and when they work again, not at every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class PeriodicFlush(ABC):
    """Calls ``flush`` every ``interval`` seconds from ``start`` to ``stop`` (and once more
    at stop, so a clean shutdown loses nothing)."""

    # What is written, for the log ("access key last-used times").
    what = "noted data"

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def flush(self) -> int:
        """Writes what was noted; the number of rows written."""

    def start(self) -> None:
        name = f"iamd-flush-{self.what.replace(' ', '-')}"
        self._task = asyncio.get_running_loop().create_task(self._run(), name=name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("writing %s at shutdown failed: %s", self.what, exc)

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:
                if not failing:
                    log.warning("writing %s failed (%s); will retry", self.what, exc)
                failing = True
                continue
            if failing:
                log.info("writing %s works again", self.what)
            failing = False
