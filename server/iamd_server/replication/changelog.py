"""The recent change notifications of this replica, and their fan-out to Watch streams.

A stream that resumes from revision R needs to know which items changed after R: the log
keeps the last notifications (revision and keys) this replica applied. It covers R when it
holds every notification after R, i.e. R is at least its `base` (the revision it started
from, or the newest one it has forgotten) and no "*" (everything changed) came after R.
Otherwise the stream sends every item whole.

Notifications are handed to the change feed's subscribers before the feed counts the
revision as applied, so `feed.applied_revision`, read outside a handler, is always the
revision of the newest entry the log has seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

ALL = "*"
MAX_ENTRIES = 10_000
MAX_KEYS = 200_000


class Subscriber(Protocol):
    def notify(self, revision: int, keys: Sequence[str]) -> None: ...


class ChangeLog:
    """Bounded log of (revision, keys), oldest first."""

    def __init__(
        self, base: int, *, max_entries: int = MAX_ENTRIES, max_keys: int = MAX_KEYS
    ) -> None:
        self.base = base
        self._entries: deque[tuple[int, tuple[str, ...]]] = deque()
        self._keys = 0
        self._max_entries = max_entries
        self._max_keys = max_keys
        self._subscribers: set[Subscriber] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def on_change(self, revision: int, keys: Sequence[str]) -> None:
        """The change feed's handler."""
        entry = (revision, tuple(keys))
        self._entries.append(entry)
        self._keys += len(entry[1])
        while len(self._entries) > self._max_entries or (
            self._keys > self._max_keys and len(self._entries) > 1
        ):
            old_revision, old_keys = self._entries.popleft()
            self._keys -= len(old_keys)
            self.base = max(self.base, old_revision)
        for subscriber in list(self._subscribers):
            subscriber.notify(revision, entry[1])

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def keys_since(self, revision: int) -> set[str] | None:
        """Every key notified after ``revision``; None when the log cannot tell (it does not
        reach back that far, or everything changed since)."""
        if revision < self.base:
            return None
        keys: set[str] = set()
        for entry_revision, entry_keys in reversed(self._entries):
            if entry_revision <= revision:
                break
            if ALL in entry_keys:
                return None
            keys.update(entry_keys)
        return keys
