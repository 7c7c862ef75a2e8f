"""Every Prometheus metric iamd exports, declared in one place.

Names follow `iamd_<area>_<name>_{total,seconds}`; labels are bounded (method, code, outcome,
cache), never a principal or a resource.

The hot path only bumps plain integers (`RpcStats.observe`, `DecisionStats`, the caches'
own counters); a collector turns them into metric families when /metrics is scraped, so
recording costs well under a microsecond per call instead of a locked client-library update.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

RPC_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
)  # fmt: skip


class _Series:
    """Bucket counts (non-cumulative; the last slot is +Inf), count and sum of one series."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * (size + 1)
        self.count = 0
        self.total = 0.0


class RpcStats:
    """Latency histograms and counts per (method, code)."""

    def __init__(self, buckets: tuple[float, ...] = RPC_BUCKETS) -> None:
        self.bucket_bounds = buckets
        self.series: dict[tuple[str, str], _Series] = {}

    def observe(self, method: str, code: str, seconds: float) -> None:
        series = self.series.get((method, code))
        if series is None:
            series = self.series_of(method, code)
        series.buckets[bisect_left(self.bucket_bounds, seconds)] += 1
        series.count += 1
        series.total += seconds

    def series_of(self, method: str, code: str) -> _Series:
        """The series of (method, code), created empty if new: a caller that records one
        series per call can keep it and bump it as `observe` does."""
        return self.series.setdefault((method, code), _Series(len(self.bucket_bounds)))

    def collect(self) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(
            "iamd_rpc_seconds",
            "Server-side latency of each RPC, by method and status code.",
            labels=("method", "code"),
        )
        total = CounterMetricFamily(
            "iamd_rpc", "RPCs handled, by method and status code.", labels=("method", "code")
        )
        for (method, code), series in list(self.series.items()):
            cumulative = 0
            points: list[tuple[str, float]] = []
            for bound, count in zip(self.bucket_bounds, series.buckets, strict=False):
                cumulative += count
                points.append((_float_label(bound), float(cumulative)))
            points.append(("+Inf", float(series.count)))
            histogram.add_metric((method, code), points, series.total)
            total.add_metric((method, code), float(series.count))
        yield histogram
        yield total


def _float_label(value: float) -> str:
    return repr(float(value))


@dataclass(slots=True)
class DecisionStats:
    """Decisions by outcome: allowed, explicit_deny, implicit_deny, unknown_principal, error."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + n


class CacheView(Protocol):
    """What the collector reads from a cache (see iamd_server.authz.cache.DependencyCache)."""

    bytes: int

    def __len__(self) -> int: ...

    @property
    def stats(self) -> Any: ...


class DecisionLogView(Protocol):
    written: int
    dropped: int
    reopened: int


class FeedView(Protocol):
    @property
    def applied_revision(self) -> int: ...

    @property
    def database_revision(self) -> int: ...

    @property
    def connected(self) -> bool: ...

    @property
    def resets(self) -> int: ...

    @property
    def notifications(self) -> int: ...

    @property
    def heartbeats(self) -> int: ...

    @property
    def max_staleness(self) -> float: ...

    @property
    def staleness(self) -> float: ...


@dataclass
class _Sources:
    rpc: RpcStats = field(default_factory=RpcStats)
    decisions: DecisionStats = field(default_factory=DecisionStats)
    caches: dict[str, CacheView] = field(default_factory=dict)
    feed: FeedView | None = None
    pool: Any = None
    decision_log: DecisionLogView | None = None


class IamdCollector(Collector):
    """Builds every iamd metric family from the live objects at scrape time."""

    def __init__(self) -> None:
        self.sources = _Sources()

    def collect(self) -> Iterator[Metric]:
        sources = self.sources
        yield from sources.rpc.collect()
        decisions = CounterMetricFamily(
            "iamd_decisions", "Authorization decisions, by outcome.", labels=("outcome",)
        )
        for outcome, count in sorted(sources.decisions.counts.items()):
            decisions.add_metric((outcome,), float(count))
        yield decisions
        yield from _cache_families(sources.caches)
        yield from _feed_families(sources.feed)
        yield from _pool_families(sources.pool)
        yield from _decision_log_families(sources.decision_log)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _cache_families(caches: dict[str, CacheView]) -> Iterator[Metric]:
    counters = {
        "hits": CounterMetricFamily("iamd_cache_hits", "Cache hits.", labels=("cache",)),
        "misses": CounterMetricFamily("iamd_cache_misses", "Cache misses.", labels=("cache",)),
        "evictions": CounterMetricFamily(
            "iamd_cache_evictions", "Entries evicted to stay within bounds.", labels=("cache",)
        ),
        "invalidations": CounterMetricFamily(
            "iamd_cache_invalidations",
            "Entries dropped by change notifications.",
            labels=("cache",),
        ),
        "builds": CounterMetricFamily(
            "iamd_cache_builds", "Entries built from the database.", labels=("cache",)
        ),
        "build_failures": CounterMetricFamily(
            "iamd_cache_build_failures",
            "Entry builds that failed (database unavailable).",
            labels=("cache",),
        ),
    }
    entries = GaugeMetricFamily("iamd_cache_entries", "Entries held.", labels=("cache",))
    size = GaugeMetricFamily(
        "iamd_cache_bytes",
        "Approximate bytes held, remembered decisions and bookkeeping included.",
        labels=("cache",),
    )
    bound = GaugeMetricFamily(
        "iamd_cache_max_bytes", "The byte bound of each cache.", labels=("cache",)
    )
    for name, cache in sorted(caches.items()):
        stats = cache.stats
        for attribute, family in counters.items():
            family.add_metric((name,), float(getattr(stats, attribute)))
        entries.add_metric((name,), float(len(cache)))
        size.add_metric((name,), float(cache.bytes))
        limit = getattr(cache, "max_bytes", None)
        if limit is not None:
            bound.add_metric((name,), float(limit))
    yield from counters.values()
    yield entries
    yield size
    yield bound


def _feed_families(feed: FeedView | None) -> Iterator[Metric]:
    if feed is None:
        return
    yield GaugeMetricFamily(
        "iamd_revision_applied", "Newest revision this replica has applied.", feed.applied_revision
    )
    yield GaugeMetricFamily(
        "iamd_revision_lag",
        "Revisions committed in the database but not yet applied here (sampled).",
        max(0, feed.database_revision - feed.applied_revision),
    )
    yield GaugeMetricFamily(
        "iamd_change_feed_connected",
        "1 while the change notification connection is up.",
        1.0 if feed.connected else 0.0,
    )
    yield CounterMetricFamily(
        "iamd_change_feed_resets",
        "Times the notification connection was lost and every entry dropped.",
        feed.resets,
    )
    yield CounterMetricFamily(
        "iamd_change_notifications", "Change notifications received.", feed.notifications
    )
    yield CounterMetricFamily(
        "iamd_change_feed_heartbeats",
        "Heartbeats heard back on the listening connection (each proves it current).",
        feed.heartbeats,
    )
    yield GaugeMetricFamily(
        "iamd_feed_staleness_seconds",
        "Seconds since this replica last proved every committed change applied; decisions"
        " fail closed (UNAVAILABLE) while it exceeds iamd_feed_max_staleness_seconds.",
        feed.staleness,
    )
    yield GaugeMetricFamily(
        "iamd_feed_max_staleness_seconds",
        "The staleness bound (--max-staleness).",
        feed.max_staleness,
    )


def _decision_log_families(view: DecisionLogView | None) -> Iterator[Metric]:
    if view is None:
        return
    yield CounterMetricFamily(
        "iamd_decision_log_written", "Decision log lines written.", view.written
    )
    yield CounterMetricFamily(
        "iamd_decision_log_dropped",
        "Decision log lines dropped: the queue was full (the file or pipe stalled) or a"
        " write failed. Decisions never wait for the log.",
        view.dropped,
    )
    yield CounterMetricFamily(
        "iamd_decision_log_reopened", "Times the decision log was reopened (SIGHUP).", view.reopened
    )


def _pool_families(pool: Any) -> Iterator[Metric]:
    if pool is None:
        return
    size = int(pool.get_size())
    idle = int(pool.get_idle_size())
    yield GaugeMetricFamily(
        "iamd_db_pool_connections", "Open connections in the PostgreSQL pool.", size
    )
    yield GaugeMetricFamily(
        "iamd_db_pool_idle_connections", "Idle connections in the PostgreSQL pool.", idle
    )
    yield GaugeMetricFamily(
        "iamd_db_pool_in_use_connections", "Connections of the pool in use.", size - idle
    )
    yield GaugeMetricFamily(
        "iamd_db_pool_max_connections", "Maximum size of the pool.", int(pool.get_max_size())
    )


COLLECTOR = IamdCollector()
_registered = threading.Lock()
_is_registered = False


def _register() -> None:
    global _is_registered
    with _registered:
        if not _is_registered:
            REGISTRY.register(COLLECTOR)
            _is_registered = True


_register()

Observer = Callable[[str, str, float], None]

# The hot-path entry points (bound methods: no extra call frame).
observe_rpc: Observer = COLLECTOR.sources.rpc.observe
DECISIONS = COLLECTOR.sources.decisions


def watch_pool(pool: Any) -> None:
    """Reports the size of ``pool`` (an asyncpg pool) through the pool gauges."""
    COLLECTOR.sources.pool = pool


def watch_cache(name: str, cache: CacheView) -> None:
    COLLECTOR.sources.caches[name] = cache


def watch_decision_log(view: DecisionLogView) -> None:
    COLLECTOR.sources.decision_log = view


def watch_feed(feed: FeedView) -> None:
    COLLECTOR.sources.feed = feed


def serve_http(listen: str, registry: CollectorRegistry = REGISTRY) -> None:
    """Starts the /metrics HTTP endpoint on HOST:PORT in a background thread."""
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
