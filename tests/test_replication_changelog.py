"""The change log Watch streams resume from, and the day-scoped keys they hand out."""

from __future__ import annotations

from collections.abc import Sequence

from iamd_server.replication.changelog import ChangeLog
from iamd_server.replication.keys import days_around, seconds_to_midnight


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[int, tuple[str, ...]]] = []

    def notify(self, revision: int, keys: Sequence[str]) -> None:
        self.seen.append((revision, tuple(keys)))


def test_keys_since_a_revision_the_log_covers() -> None:
    log = ChangeLog(10)
    log.on_change(11, ["user:a"])
    log.on_change(12, ["group:g", "user:b"])
    log.on_change(13, ["policy:p"])
    assert log.keys_since(13) == set()
    assert log.keys_since(12) == {"policy:p"}
    assert log.keys_since(10) == {"user:a", "group:g", "user:b", "policy:p"}


def test_it_cannot_tell_from_before_its_start_or_across_a_reset() -> None:
    log = ChangeLog(10)
    assert log.keys_since(9) is None  # from before this replica started listening
    log.on_change(11, ["user:a"])
    log.on_change(12, ["*"])  # lost notifications: everything may have changed
    log.on_change(13, ["user:b"])
    assert log.keys_since(11) is None
    assert log.keys_since(12) == {"user:b"}


def test_it_stays_bounded_and_forgets_from_the_oldest() -> None:
    log = ChangeLog(0, max_entries=3, max_keys=100)
    for revision in range(1, 8):
        log.on_change(revision, [f"user:{revision}"])
    assert len(log) == 3 and log.base == 4
    assert log.keys_since(3) is None
    assert log.keys_since(4) == {"user:5", "user:6", "user:7"}
    many = ChangeLog(0, max_entries=100, max_keys=5)
    many.on_change(1, ["a", "b", "c"])
    many.on_change(2, ["d", "e", "f"])
    assert len(many) == 1 and many.base == 1


def test_subscribers_get_every_notification_until_they_leave() -> None:
    log = ChangeLog(0)
    recorder = Recorder()
    log.subscribe(recorder)
    log.on_change(1, ["user:a"])
    log.unsubscribe(recorder)
    log.on_change(2, ["user:b"])
    assert recorder.seen == [(1, ("user:a",))]


def test_keys_are_sent_for_yesterday_today_and_tomorrow() -> None:
    just_before_midnight = 1709251199.5  # 2024-02-29 23:59:59.5 UTC
    assert days_around(just_before_midnight) == ("20240228", "20240229", "20240301")
    assert days_around(just_before_midnight + 1) == ("20240229", "20240301", "20240302")
    assert 0 < seconds_to_midnight(just_before_midnight) <= 1
