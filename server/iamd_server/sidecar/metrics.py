"""The sidecar's own Prometheus metrics, next to iamd's (RPCs, decisions, caches, revision):
how old its copy is, against --max-staleness, whether the upstream stream is up, and what
it follows."""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from iamd_server.sidecar.follower import Follower


class SidecarCollector(Collector):
    def __init__(self, follower: Follower, max_staleness: float) -> None:
        self._follower = follower
        self._max_staleness = max_staleness

    def collect(self) -> Iterator[Metric]:
        follower = self._follower
        staleness = follower.staleness()
        yield GaugeMetricFamily(
            "iamd_sidecar_staleness_seconds",
            "Seconds since the upstream last confirmed the sidecar's copy current"
            " (+Inf before the first confirmation).",
            staleness if math.isfinite(staleness) else math.inf,
        )
        yield GaugeMetricFamily(
            "iamd_sidecar_max_staleness_seconds",
            "Beyond this staleness every call is refused (--max-staleness).",
            self._max_staleness,
        )
        yield GaugeMetricFamily(
            "iamd_sidecar_upstream_connected",
            "1 while the Watch stream to the upstream is open.",
            1.0 if follower.connected else 0.0,
        )
        yield GaugeMetricFamily(
            "iamd_sidecar_followed_items",
            "Principals, access keys and resources followed.",
            float(len(follower)),
        )
        yield GaugeMetricFamily(
            "iamd_sidecar_followed_bytes", "Approximate bytes of followed state.", follower.bytes
        )
        yield CounterMetricFamily(
            "iamd_sidecar_upstream_reconnects",
            "Times the Watch stream was lost and re-opened.",
            follower.resets,
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())


def watch_follower(follower: Follower, max_staleness: float) -> None:
    REGISTRY.register(SidecarCollector(follower, max_staleness))
