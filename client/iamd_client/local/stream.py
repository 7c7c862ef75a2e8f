"""The connection side of a ReplicationService.Watch follower, shared by the SDK's
LocalAuthorizer (iamd_client.local.follower) and `iamd sidecar` (iamd_server.sidecar).

One stream at a time: opened with what the follower holds and the last revision it applied
(the upstream then sends only what changed since, or everything whole), kept open while
messages (at least heartbeats) arrive, re-opened after a failure with a short backoff.
Items a caller needs are added to the stream and waited for (bounded); with no stream they
are refused at once, and a stream lost answers every waiting caller: never a guess.
Subclasses say what they hold (`_following`, `_selection`) and apply what arrives (`apply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import grpc
from iamd.v1 import replication_pb2 as pb

from iamd_client.errors import Unavailable

log = logging.getLogger(__name__)

Item = tuple[str, str]  # (kind, name)
MAX_PER_REQUEST = 10_000


class WatchCall(Protocol):
    """One open Watch stream (see iamd_client.local.upstream)."""

    async def write(self, request: bytes) -> None: ...
    async def read(self) -> bytes | None: ...
    def cancel(self) -> None: ...


Opener = Callable[[bytes], Awaitable[WatchCall]]


class WatchStream:
    """See the module docstring. Runs on one event loop."""

    # What refusals raise (the sidecar raises its server's own Unavailable).
    unavailable: Callable[[str], Exception] = Unavailable

    def __init__(
        self,
        open_watch: Opener,
        *,
        load_timeout: float,
        silence_timeout: float,
        resource_index: bool,
    ) -> None:
        self._open = open_watch
        self.load_timeout = load_timeout
        self._silence_timeout = silence_timeout
        self._want_index = resource_index
        self._waiting: dict[Item, asyncio.Future[object]] = {}
        self._to_add: set[Item] = set()
        self._to_remove: set[Item] = set()
        self._outbox = asyncio.Event()
        self._ready = asyncio.Event()
        self._revision_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.applied_revision = 0
        self.heard_at = -math.inf  # monotonic time of the last completed batch
        self.synced = False  # a first batch has completed
        self.connected = False
        self.resets = 0
        self._call: WatchCall | None = None
        self._task: asyncio.Task[None] | None = None

    # -- what subclasses provide -------------------------------------------------------

    def apply(self, message: pb.WatchResponse) -> None:
        raise NotImplementedError

    def _following(self) -> pb.Selection:
        """What is held: followed from the last revision when a stream (re-)opens."""
        raise NotImplementedError

    def _selection(self, items: Iterable[Item]) -> pb.Selection:
        raise NotImplementedError

    def _sent(self, removed: list[Item]) -> None:
        """Called once a request removing ``removed`` is written."""

    def _abandoned(self, item: Item) -> None:
        """Called for an item nobody waits for any more (the stream was lost)."""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="iamd-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._drop_call()

    async def wait_ready(self, timeout: float) -> bool:
        """Waits for the first completed batch; False when ``timeout`` ran out."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def staleness(self) -> float:
        """Seconds since the upstream last confirmed this copy current (inf: never)."""
        return time.monotonic() - self.heard_at

    async def wait_for(self, revision: int, timeout: float | None) -> bool:
        """Waits until ``revision`` is applied; False when ``timeout`` ran out."""
        if self.applied_revision >= revision:
            return True
        if timeout is not None and timeout <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (revision, future)
        self._revision_waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._revision_waiters.remove(waiter)
        return self.applied_revision >= revision

    # -- items -------------------------------------------------------------------------

    async def _request(self, item: Item, what: str) -> object:
        """Adds ``item`` to the stream and waits (bounded) for its state."""
        if self._call is None:
            raise self.unavailable(
                f"{what} is not loaded and the upstream is unreachable; retry later"
            )
        future = self._waiting.get(item)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[item] = future
            self._to_add.add(item)
            self._to_remove.discard(item)
            self._outbox.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.load_timeout)
        except TimeoutError:
            raise self.unavailable(f"{what} is not loaded yet; retry") from None

    def _resolve(self, item: Item, value: object = None, error: str | None = None) -> None:
        future = self._waiting.pop(item, None)
        if future is None or future.done():
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(self.unavailable(error))
            future.exception()  # retrieved by its waiters; nobody else should report it

    def _advance(self, revision: int) -> None:
        """A batch completed at ``revision`` (after its states were applied)."""
        self.heard_at = time.monotonic()
        if not self.synced:
            self.synced = True
            self._ready.set()
        if revision <= self.applied_revision:
            return
        self.applied_revision = revision
        for wanted, future in self._revision_waiters:
            if wanted <= revision and not future.done():
                future.set_result(None)

    # -- the connection ----------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.05
        while True:
            established = False
            try:
                established = await self._session()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.PERMISSION_DENIED and self._want_index:
                    log.warning(
                        "the upstream refuses the resource index (%s); asking per resource",
                        exc.details(),
                    )
                    self._want_index = False
                    continue
                (log.warning if delay == 0.05 else log.debug)(
                    "watching the upstream failed: %s %s; retrying", exc.code().name, exc.details()
                )
            except Exception as exc:
                (log.warning if delay == 0.05 else log.debug)(
                    "watching the upstream failed: %r; retrying", exc
                )
            finally:
                self._lost()
            if established:
                delay = 0.05
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _session(self) -> bool:
        """One Watch stream, until it fails; True when it got at least one message."""
        first = pb.WatchRequest(
            follow=self._following(),
            since_revision=self.applied_revision if self.synced else 0,
            resource_index=self._want_index,
        )
        call = await self._open(first.SerializeToString())
        self._call = call
        self.connected = True
        writer = asyncio.get_running_loop().create_task(self._write_requests(call))
        received = False
        try:
            while True:
                raw = await asyncio.wait_for(call.read(), self._silence_timeout)
                if raw is None:
                    return received
                if not received:
                    received = True
                    log.info("following the upstream from revision %d", self.applied_revision)
                self.apply(pb.WatchResponse.FromString(raw))
        except TimeoutError:
            log.warning("the upstream sent nothing for %.0f s; reconnecting", self._silence_timeout)
            return received
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _write_requests(self, call: WatchCall) -> None:
        while True:
            await self._outbox.wait()
            self._outbox.clear()
            while self._to_add or self._to_remove:
                add = [self._to_add.pop() for _ in range(min(len(self._to_add), MAX_PER_REQUEST))]
                remove = [
                    self._to_remove.pop() for _ in range(min(len(self._to_remove), MAX_PER_REQUEST))
                ]
                request = pb.WatchRequest(add=self._selection(add), remove=self._selection(remove))
                self._sent(remove)
                await call.write(request.SerializeToString())

    def _lost(self) -> None:
        """The stream is gone: whoever waits for an item is answered now (fail closed)."""
        if self.connected:
            self.resets += 1
        self._drop_call()
        self._to_add.clear()
        self._to_remove.clear()
        for item in list(self._waiting):
            self._resolve(item, error=f"{item[1][:256]} could not be loaded: upstream lost")
            self._abandoned(item)

    def _drop_call(self) -> None:
        self.connected = False
        call, self._call = self._call, None
        if call is not None:
            call.cancel()
