"""A bounded, single-flight cache of compiled entries, invalidated by dependency keys.

Each entry names the change keys it was built from ("user:<arn>", "group:<arn>",
"policy:<arn>", "account:<id>", "org", ...). A change notification drops exactly the entries
that depend on one of its keys; "*" drops everything. A burst of misses for one key builds the
entry once. A build that overlapped an invalidation serves its caller but is not kept, so a
stale entry can never outlive the notification that should have removed it.

Sizes count everything an entry costs: what its loader reports, the cache's own bookkeeping
(the key, the dependency keys and their reverse index), and whatever the entry accumulates
later (`charge`: remembered decisions), so the byte bound holds for what is really held.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

ALL = "*"

# Bytes of bookkeeping per entry (dict slots, the key object, the slot) and per dependency key
# (its string and its place in the reverse index), measured with tracemalloc.
ENTRY_OVERHEAD = 400
DEPENDENCY_OVERHEAD = 200


@dataclass(frozen=True, slots=True)
class Built(Generic[V]):
    """What a loader returns: the value, the keys it depends on and its approximate size."""

    value: V
    depends_on: tuple[str, ...]
    size: int = 1


@dataclass(slots=True)
class _Slot(Generic[V]):
    value: V
    depends_on: tuple[str, ...]
    size: int


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    invalidations: int = 0
    builds: int = 0
    build_failures: int = 0


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class DependencyCache(Generic[V]):
    """LRU bounded by entry count and by the sum of entry sizes (bytes, approximately)."""

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        max_bytes: int = 512 * 1024 * 1024,
        on_drop: Callable[[V], None] | None = None,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        # Called with each value that leaves the cache (evicted, invalidated, cleared): what
        # it accumulated was charged here, so it must not outlive its place in the cache.
        self._on_drop = on_drop
        self._entries: OrderedDict[str, _Slot[V]] = OrderedDict()
        self._dependents: dict[str, set[str]] = {}
        self._loading: dict[str, asyncio.Future[Built[V]]] = {}
        # Sequence numbers of invalidations, to spot one that raced with a build.
        self._sequence = 0
        self._invalidated_at: dict[str, int] = {}
        self._cleared_at = 0
        self.bytes = 0
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def lookup(self, key: str) -> V | _Missing:
        """The cached value (counted as a hit, marked recently used) or MISSING.

        Synchronous, so the hot path pays no coroutine for a hit; a miss is not counted
        here but by the `get` that follows it.
        """
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry.value

    async def get(self, key: str, load: Callable[[], Awaitable[Built[V]]]) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.value
        self.stats.misses += 1
        pending = self._loading.get(key)
        if pending is not None:
            return (await asyncio.shield(pending)).value
        future: asyncio.Future[Built[V]] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        started = self._sequence
        try:
            built = await load()
            self.stats.builds += 1
            if self._unchanged_since(started, built.depends_on):
                self._insert(key, built)
            future.set_result(built)
            return built.value
        except BaseException as exc:
            self.stats.build_failures += 1
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; nobody else should see it unretrieved
            raise
        finally:
            # An invalidation may have detached this build already (see `invalidate`).
            if self._loading.get(key) is future:
                del self._loading[key]

    def invalidate(self, keys: Sequence[str]) -> int:
        """Drops the entries depending on any of ``keys``; returns how many were dropped.

        Builds in flight are detached: they still answer the calls already waiting on them,
        but a call arriving after the invalidation starts a fresh build instead of joining
        one that may have read the data from before the change (read-your-writes).
        """
        self._sequence += 1
        if self._loading:
            self._loading.clear()
        if ALL in keys:
            dropped = len(self._entries)
            self.clear()
            return dropped
        dropped = 0
        for dependency in keys:
            self._invalidated_at[dependency] = self._sequence
            for key in self._dependents.pop(dependency, ()):
                if self._remove(key):
                    dropped += 1
        self.stats.invalidations += dropped
        if len(self._invalidated_at) > 4 * self._max_entries + 1024:
            # Forget old invalidations; builds in flight now cannot prove they are unaffected,
            # so they are not kept (they still answer their callers).
            self._invalidated_at.clear()
            self._cleared_at = self._sequence
        return dropped

    def clear(self) -> None:
        self._sequence += 1
        self._cleared_at = self._sequence
        self._loading.clear()
        self.stats.invalidations += len(self._entries)
        if self._on_drop is not None:
            for slot in self._entries.values():
                self._on_drop(slot.value)
        self._entries.clear()
        self._dependents.clear()
        self.bytes = 0

    def _unchanged_since(self, started: int, depends_on: Iterable[str]) -> bool:
        if self._cleared_at > started:
            return False
        return all(self._invalidated_at.get(d, 0) <= started for d in depends_on)

    def charge(self, key: str, value: V, delta: int) -> bool:
        """Adds ``delta`` bytes to the entry ``key`` while it still holds ``value`` (what it
        accumulated since it was built), evicting least recently used entries to stay within
        the bound. False, with nothing charged, when the entry is gone or replaced, or would
        alone exceed the bound: the caller must then not keep what it meant to add."""
        slot = self._entries.get(key)
        if slot is None or slot.value is not value:
            return False
        if delta > 0 and slot.size + delta > self._max_bytes:
            return False
        slot.size += delta
        self.bytes += delta
        if delta > 0 and self.bytes > self._max_bytes:
            self._evict(keep=key)
        return True

    def _insert(self, key: str, built: Built[V]) -> None:
        self._remove(key)
        size = built.size + ENTRY_OVERHEAD + len(key)
        for dependency in built.depends_on:
            size += DEPENDENCY_OVERHEAD + len(dependency)
        self._entries[key] = _Slot(built.value, built.depends_on, size)
        self.bytes += size
        for dependency in built.depends_on:
            self._dependents.setdefault(dependency, set()).add(key)
        self._evict(keep=key)

    def _evict(self, keep: str) -> None:
        """Drops least recently used entries other than ``keep`` until within bounds."""
        entries = self._entries
        while len(entries) > self._max_entries or self.bytes > self._max_bytes:
            victim = None
            for candidate in entries:
                if candidate != keep:
                    victim = candidate
                    break
            if victim is None:
                return
            self._remove(victim)
            self.stats.evictions += 1

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= entry.size
        if self._on_drop is not None:
            self._on_drop(entry.value)
        for dependency in entry.depends_on:
            dependents = self._dependents.get(dependency)
            if dependents is not None:
                dependents.discard(key)
                if not dependents:
                    del self._dependents[dependency]
        return True
