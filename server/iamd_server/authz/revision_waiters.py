"""Callers waiting for a revision to be applied (`at_least_revision`), woken as it is.

Used by the server's change feed (authz.changes), which applies revisions in order and
lets Authorize wait, within its deadline, for one (Watch followers have their own, in
iamd_client.local.stream).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class RevisionWaiters:
    """Futures keyed by the revision they wait for."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    async def wait(self, applied: Callable[[], int], revision: int, timeout: float | None) -> bool:
        """Waits until ``applied()`` reaches ``revision``; False when ``timeout`` ran out."""
        if applied() >= revision:
            return True
        if timeout is not None and timeout <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, future)
        self._waiting.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return applied() >= revision
        finally:
            with contextlib.suppress(ValueError):
                self._waiting.remove(entry)

    def advance(self, revision: int) -> None:
        """Wakes everyone waiting for ``revision`` or an earlier one."""
        for wanted, future in self._waiting:
            if wanted <= revision and not future.done():
                future.set_result(None)

    def cancel_all(self) -> None:
        for _, future in self._waiting:
            if not future.done():
                future.cancel()
        self._waiting.clear()
