"""The records a LocalAuthorizer decides from, followed over ReplicationService.Watch.

Principals and resources are added to the stream when first asked about and held whole
(each state replaces the last); service definitions and the resource index come with the
stream. Every batch is handed to a listener (the compiled entries) before its revision
counts as applied, so a decision taken at revision R rests on states that include every
change up to R. Memory is bounded per kind, least recently used first out: an evicted item
is dropped from the stream. After a disconnect the stream is re-opened from the last
revision with what is held; the upstream sends only what changed meanwhile (or everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import grpc
from iamd.v1 import replication_pb2 as pb
from iamd_policy.inputs import LoadedResourcePolicy, PrincipalPolicies, ServiceDefinitionRecord

from iamd_client import replication_messages as messages
from iamd_client.errors import Unavailable

log = logging.getLogger(__name__)

PRINCIPAL = "p"
RESOURCE = "r"
Item = tuple[str, str]  # (kind, ARN)

MAX_PER_REQUEST = 10_000
# Items the upstream refuses to let us follow are refused locally this long (seconds).
REFUSED_TTL = 10.0
MAX_REFUSED = 10_000


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()  # the upstream says: no such principal / no policy on that resource
Held = PrincipalPolicies | LoadedResourcePolicy | _Absent


class WatchCall(Protocol):
    async def write(self, request: bytes) -> None: ...
    async def read(self) -> bytes | None: ...
    def cancel(self) -> None: ...


Opener = Callable[[bytes], Awaitable[WatchCall]]
# (items whose state changed or left, whether the service definitions changed)
Listener = Callable[[list[Item], bool], None]


class Follower:
    """Follows one Watch stream; see the module docstring. Runs on one event loop; other
    threads only read its attributes and add to ``used``."""

    def __init__(
        self,
        open_watch: Opener,
        listener: Listener,
        *,
        max_principals: int = 10_000,
        max_resources: int = 10_000,
        load_timeout: float = 5.0,
        silence_timeout: float = 6.0,
        resource_index: bool = True,
    ) -> None:
        self._open = open_watch
        self._listener = listener
        self._limits = {PRINCIPAL: max(1, max_principals), RESOURCE: max(1, max_resources)}
        self.load_timeout = load_timeout
        self._silence_timeout = silence_timeout
        self._want_index = resource_index
        self.held: dict[str, OrderedDict[str, Held]] = {
            PRINCIPAL: OrderedDict(),
            RESOURCE: OrderedDict(),
        }
        # ARNs decided from since the last eviction pass (second chance before eviction);
        # callers add to them from any thread.
        self.used: dict[str, set[str]] = {PRINCIPAL: set(), RESOURCE: set()}
        self.services: list[ServiceDefinitionRecord] = []
        self.index: set[str] | None = None  # ARNs with a resource policy; None: unknown
        self.applied_revision = 0
        self.heard_at = -math.inf  # monotonic time of the last completed batch
        self.synced = False
        self.connected = False
        self.resets = 0
        self._waiting: dict[Item, asyncio.Future[None]] = {}
        self._refused: dict[Item, tuple[float, str]] = {}
        self._to_add: set[Item] = set()
        self._to_remove: set[Item] = set()
        self._outbox = asyncio.Event()
        self._ready = asyncio.Event()
        self._revision_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._call: WatchCall | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="iamd-local-watch")

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
        """Seconds since the upstream last confirmed the copy current (inf: never)."""
        return time.monotonic() - self.heard_at

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """Waits until ``revision`` is applied; False when ``timeout`` ran out."""
        if self.applied_revision >= revision:
            return True
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

    async def load(self, item: Item) -> None:
        """Returns once ``item`` is held; raises Unavailable when the upstream refuses it,
        is unreachable, or does not answer within the load timeout (never guesses)."""
        kind, name = item
        if name in self.held[kind]:
            return
        refused = self._refused.get(item)
        if refused is not None:
            if refused[0] > time.monotonic():
                raise Unavailable(refused[1])
            del self._refused[item]
        if self._call is None:
            raise Unavailable(
                f"{name[:256]} is not loaded and the upstream is unreachable; retry later"
            )
        future = self._waiting.get(item)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[item] = future
            self._to_add.add(item)
            self._to_remove.discard(item)
            self._outbox.set()
        try:
            await asyncio.wait_for(asyncio.shield(future), self.load_timeout)
        except TimeoutError:
            raise Unavailable(f"{name[:256]} is not loaded yet; retry") from None

    def _resolve(self, item: Item, error: str | None = None) -> None:
        future = self._waiting.pop(item, None)
        if future is None or future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(Unavailable(error))
            future.exception()  # retrieved by its waiters; nobody else should report it

    def _refuse(self, item: Item, changed: list[Item]) -> None:
        why = f"this process may not follow {item[1][:256]} (iamd:Watch); ask iamd"
        if self.held[item[0]].pop(item[1], None) is not None:
            changed.append(item)
        now = time.monotonic()
        while self._refused and (
            len(self._refused) >= MAX_REFUSED or next(iter(self._refused.values()))[0] <= now
        ):
            del self._refused[next(iter(self._refused))]
        self._refused[item] = (now + REFUSED_TTL, why)
        self._resolve(item, why)

    def _hold(self, item: Item, value: Held, changed: list[Item]) -> None:
        held = self.held[item[0]]
        held[item[1]] = value
        held.move_to_end(item[1])
        changed.append(item)
        if item in self._waiting:
            self.used[item[0]].add(item[1])  # a caller is about to decide from it: keep it
            self._resolve(item)

    def _evict(self, changed: list[Item]) -> None:
        for kind, held in self.held.items():
            limit = self._limits[kind]
            used = self.used[kind]
            passes = len(held)
            while len(held) > limit:
                name, value = held.popitem(last=False)
                if name in used and passes > 0:
                    used.discard(name)  # decided from lately: a second chance
                    held[name] = value
                    passes -= 1
                    continue
                used.discard(name)
                changed.append((kind, name))
                self._to_remove.add((kind, name))
                self._outbox.set()

    # -- applying the stream -----------------------------------------------------------

    def apply(self, message: pb.WatchResponse) -> None:
        """One response: states replace what is held; the listener recompiles; then, when
        the message completes a batch, the revision advances."""
        changed: list[Item] = []
        for state in message.principals:
            item = (PRINCIPAL, state.arn)
            if state.denied:
                self._refuse(item, changed)
                continue
            if not self._expected(item):
                continue
            record = messages.principal_policies(state.record) if state.exists else None
            held = self.held[PRINCIPAL].get(state.arn)
            if (
                record is not None
                and isinstance(held, PrincipalPolicies)
                and held.revision > record.revision
            ):
                continue  # never back in time
            self._hold(item, ABSENT if record is None else record, changed)
        for resource_state in message.resources:
            item = (RESOURCE, resource_state.arn)
            if resource_state.denied:
                self._refuse(item, changed)
                continue
            if not self._expected(item):
                continue
            resource = messages.resource_policy(resource_state)
            self._hold(item, ABSENT if resource is None else resource, changed)
        services = message.HasField("services")
        if services:
            self.services = messages.service_records(message.services)
        if message.HasField("resource_index"):
            self._apply_index(message.resource_index, changed)
        self._evict(changed)
        if changed or services:
            self._listener(changed, services)
        if message.revision:
            self._advance(message.revision)

    def _expected(self, item: Item) -> bool:
        """Whether a state for ``item`` is wanted (not for an item dropped since)."""
        return item[1] in self.held[item[0]] or item in self._waiting

    def _apply_index(self, index: pb.ResourceIndex, changed: list[Item]) -> None:
        arns = set(index.arns)
        if index.complete or self.index is None:
            added = arns if self.index is None else arns - self.index
            self.index = arns
        else:
            added = arns - self.index
            self.index |= added
        # A resource that gained a policy: decisions about it are taken anew.
        changed.extend((RESOURCE, arn) for arn in added)

    def _advance(self, revision: int) -> None:
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
                        "iamd refuses the resource index (%s); asking per resource", exc.details()
                    )
                    self._want_index = False
                    continue
                (log.warning if delay == 0.05 else log.debug)(
                    "watching iamd failed: %s %s; retrying", exc.code().name, exc.details()
                )
            except Exception as exc:
                (log.warning if delay == 0.05 else log.debug)(
                    "watching iamd failed: %r; retrying", exc
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
            follow=_selection(
                [(PRINCIPAL, arn) for arn in self.held[PRINCIPAL]]
                + [(RESOURCE, arn) for arn in self.held[RESOURCE]]
            ),
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
                received = True
                self.apply(pb.WatchResponse.FromString(raw))
        except TimeoutError:
            log.warning("iamd sent nothing for %.0f s; reconnecting", self._silence_timeout)
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
                request = pb.WatchRequest(add=_selection(add), remove=_selection(remove))
                await call.write(request.SerializeToString())

    def _lost(self) -> None:
        """The stream is gone: whoever waits for an item is answered now (fail closed)."""
        if self.connected:
            self.resets += 1
        self._drop_call()
        self._to_add.clear()
        self._to_remove.clear()
        for item in list(self._waiting):
            self._resolve(item, f"{item[1][:256]} could not be loaded: iamd unreachable")

    def _drop_call(self) -> None:
        self.connected = False
        call, self._call = self._call, None
        if call is not None:
            call.cancel()


def _selection(items: Iterable[Item]) -> pb.Selection:
    selection = pb.Selection()
    for kind, name in items:
        if kind == PRINCIPAL:
            selection.principal_arns.append(name)
        else:
            selection.resource_arns.append(name)
    return selection
