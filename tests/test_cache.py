"""DependencyCache: bounds, single flight, dependency invalidation, races with builds; the
grant memo's bound."""

from __future__ import annotations

import asyncio

import pytest
from iamd_server.authz.cache import (
    DEPENDENCY_OVERHEAD,
    ENTRY_OVERHEAD,
    MISSING,
    Built,
    DependencyCache,
)
from iamd_server.authz.memos import GrantMemo


async def test_single_flight_builds_once() -> None:
    cache: DependencyCache[int] = DependencyCache()
    calls = 0
    release = asyncio.Event()

    async def load() -> Built[int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return Built(7, ("user:a",))

    waiters = [asyncio.create_task(cache.get("a", load)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [7] * 50
    assert calls == 1
    assert cache.lookup("a") == 7
    assert cache.stats.hits == 1 and cache.stats.builds == 1


async def test_invalidation_drops_exactly_the_dependents() -> None:
    cache: DependencyCache[str] = DependencyCache()
    for key, deps in (("a", ("group:g", "user:a")), ("b", ("group:g",)), ("c", ("user:c",))):

        async def load(deps: tuple[str, ...] = deps, key: str = key) -> Built[str]:
            return Built(key, deps)

        await cache.get(key, load)
    assert cache.invalidate(["group:g"]) == 2
    assert cache.lookup("a") is MISSING and cache.lookup("b") is MISSING
    assert cache.lookup("c") == "c"
    assert cache.invalidate(["*"]) == 1
    assert len(cache) == 0 and cache.bytes == 0


async def test_build_overlapping_an_invalidation_is_not_kept_and_not_joined() -> None:
    cache: DependencyCache[int] = DependencyCache()
    started = asyncio.Event()
    release = asyncio.Event()
    versions = iter((1, 2))

    async def load() -> Built[int]:
        version = next(versions)
        if version == 1:
            started.set()
            await release.wait()
        return Built(version, ("user:a",))

    first = asyncio.create_task(cache.get("a", load))
    await started.wait()
    cache.invalidate(["user:a"])  # a write committed while the first build was reading
    # A call after the invalidation must not join the stale build: it builds anew.
    second = await cache.get("a", load)
    release.set()
    assert await first == 1  # the early caller still gets its answer
    assert second == 2
    assert cache.lookup("a") == 2


async def test_failed_builds_are_not_cached() -> None:
    cache: DependencyCache[int] = DependencyCache()

    async def broken() -> Built[int]:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        await cache.get("a", broken)
    assert cache.lookup("a") is MISSING
    assert cache.stats.build_failures == 1


def _cost(key: str, size: int, *deps: str) -> int:
    """What the cache charges for an entry: its size plus its own bookkeeping."""
    return size + ENTRY_OVERHEAD + len(key) + sum(DEPENDENCY_OVERHEAD + len(d) for d in deps)


async def test_bounded_by_entries_and_bytes() -> None:
    one = _cost("0", 100, "user:0")
    cache: DependencyCache[int] = DependencyCache(max_entries=3, max_bytes=3 * one + 100)
    for i in range(5):

        async def load(i: int = i) -> Built[int]:
            return Built(i, (f"user:{i}",), 100)

        await cache.get(str(i), load)
    assert len(cache) == 3 and cache.stats.evictions == 2
    assert cache.bytes == 3 * one
    assert cache.lookup("0") is MISSING and cache.lookup("4") == 4

    async def big() -> Built[int]:
        return Built(9, ("user:big",), 2 * one)

    await cache.get("big", big)
    assert cache.bytes <= cache.max_bytes
    assert cache.lookup("big") == 9


async def test_charges_count_against_the_bound_and_evict_others() -> None:
    one = _cost("0", 100, "user:0")
    cache: DependencyCache[object] = DependencyCache(max_entries=100, max_bytes=4 * one)
    values = [object() for _ in range(4)]
    for i, value in enumerate(values):

        async def load(value: object = value, i: int = i) -> Built[object]:
            return Built(value, (f"user:{i}",), 100)

        await cache.get(str(i), load)
    assert cache.bytes == 4 * one and len(cache) == 4
    # Growing entry "3" (the most recently used) pushes out the least recently used.
    assert cache.charge("3", values[3], one // 2)
    assert cache.lookup("0") is MISSING and len(cache) == 3
    assert cache.bytes == 3 * one + one // 2 <= cache.max_bytes
    # Charges for entries that are gone, or hold another value now, are refused.
    assert not cache.charge("0", values[0], 10)
    assert not cache.charge("3", values[2], 10)
    # A charge that could never fit is refused without evicting anything.
    assert not cache.charge("3", values[3], 10 * one)
    assert len(cache) == 3
    # Releasing is always accepted.
    assert cache.charge("3", values[3], -(one // 2))
    assert cache.bytes == 3 * one
    cache.invalidate(["user:3"])
    assert cache.bytes == 2 * one


async def test_values_leaving_the_cache_are_handed_to_on_drop() -> None:
    dropped: list[str] = []
    one = _cost("a", 100, "user:a")
    cache: DependencyCache[str] = DependencyCache(
        max_entries=2, max_bytes=10 * one, on_drop=dropped.append
    )
    for key in ("a", "b", "c"):

        async def load(key: str = key) -> Built[str]:
            return Built(key, (f"user:{key}",), 100)

        await cache.get(key, load)
    assert dropped == ["a"]  # evicted
    cache.invalidate(["user:b"])
    assert dropped == ["a", "b"]  # invalidated
    cache.clear()
    assert dropped == ["a", "b", "c"]  # cleared


def test_the_grant_memo_is_bounded_by_its_bytes() -> None:
    grants = GrantMemo(max_bytes=10_000)
    for i in range(100):
        grants.put(("arn:aws:iam::111122223333:user/caller", f"principal-{i}"), True)
        assert grants.bytes <= grants.max_bytes
    assert grants.stats.evictions > 0 and 0 < len(grants) < 100
    held = grants.bytes
    grants.put(next(iter(grants)), False)  # replacing an answer costs nothing more
    assert grants.bytes == held
    grants.clear()
    assert len(grants) == 0 and grants.bytes == 0
