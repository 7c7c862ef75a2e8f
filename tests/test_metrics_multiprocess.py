"""The supervisor's merged /metrics while workers create their multiprocess files."""

from __future__ import annotations

from pathlib import Path

from iamd_server.runtime.metrics_multiprocess import aggregate_registry
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key


def test_a_file_a_worker_is_creating_does_not_fail_the_scrape(tmp_path: Path) -> None:
    # A worker's counter file with one value, and another worker's file caught between its
    # creation (empty) and its sizing: the scrape used to fail with HTTP 500 there.
    written = MmapedDict(str(tmp_path / "counter_101.db"))  # type: ignore[no-untyped-call]
    key = mmap_key("iamd_rpcs", "iamd_rpcs_total", ["method"], ["Authorize"], "RPCs.")
    written.write_value(key, 7.0, 0.0)  # type: ignore[no-untyped-call]
    written.close()  # type: ignore[no-untyped-call]
    (tmp_path / "counter_102.db").touch()

    text = generate_latest(aggregate_registry(str(tmp_path))).decode()

    assert 'iamd_rpcs_total{method="Authorize"} 7.0' in text
