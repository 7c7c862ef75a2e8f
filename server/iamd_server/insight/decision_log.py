"""The decision log: one JSON line per sampled decision, written off the hot path.

A decision costs the log one call: it draws a random number against the sampling rate of
its outcome (by default every denial and 1 % of allows) and returns for unsampled ones. A
sampled decision becomes a small tuple put on a bounded queue without waiting; a writer
thread turns queued records into JSON lines and appends them with one write() per batch
(whole lines, so workers appending to one file never interleave a line). When the queue is
full (the file or pipe stalled) the record is dropped and counted
(`iamd_decision_log_dropped_total`): a decision never waits for the log.

The deciding statement needs an explained evaluation; a decision taken without explain
data is evaluated again with explain, for sampled lines only, in a loop callback after the
answer has gone out. No line holds a secret, a token, a signature or a request context.
Rotation is the platform's: `reopen()` (SIGHUP) makes the writer reopen the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from iamd_policy import Decision, EvaluationResult
from iamd_policy.compile import MatchedStatement
from iamd_policy.entries import UNKNOWN_PRINCIPAL

from iamd_server.authz.requests import reason_code

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_ALLOWS = 0.01
DEFAULT_SAMPLE_DENIALS = 1.0
QUEUE_SIZE = 10_000
_BATCH = 4096  # records per write() at most
_GATHER_SECONDS = 0.05
_STOP = object()

_monotonic = time.monotonic
_random = random.random

# An explained result for a sampled line, computed on the event loop (see module doc).
Explainer = Callable[[], EvaluationResult | None]


def request_id(source: Any) -> str:
    """The caller's x-request-id (gRPC metadata or HTTP header), else a fresh id."""
    if isinstance(source, str):
        return source
    value = ""
    try:
        if isinstance(source, Mapping):
            value = str(source.get("x-request-id", ""))
        elif source is not None:
            for key, item in source.context.invocation_metadata() or ():
                if key == "x-request-id":
                    value = item if isinstance(item, str) else ""
                    break
    except Exception:  # metadata is best effort; the decision is what matters
        value = ""
    if value and len(value) <= 128 and value.isascii() and value.isprintable():
        return value
    return os.urandom(8).hex()


def _statement(result: EvaluationResult) -> dict[str, Any] | None:
    """The statement that decided: the first explicit Deny, or the first Allow."""
    matched: tuple[MatchedStatement, ...] = result.matched_statements
    if not matched or result.decision is Decision.IMPLICIT_DENY:
        return None
    first = matched[0]
    out: dict[str, Any] = {
        "policy": first.policy_id,
        "policy_type": first.source_type,
        "kind": first.kind.value,
        "index": first.statement_index,
    }
    if first.sid:
        out["sid"] = first.sid
    return out


class DecisionLog:
    """`DecisionLog(path)`; `path` "-" is standard output. `start()` opens the path (so a
    bad path fails start-up) and starts the writer thread; `stop()` drains and closes."""

    def __init__(
        self,
        path: str,
        *,
        sample_allows: float = DEFAULT_SAMPLE_ALLOWS,
        sample_denials: float = DEFAULT_SAMPLE_DENIALS,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        for name, rate in (("allows", sample_allows), ("denials", sample_denials)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"the {name} sampling rate must be 0-1, not {rate}")
        self.path = path
        self.sample_allows = sample_allows
        self.sample_denials = sample_denials
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._put = self._queue.put_nowait
        self._fd = -1
        self._reopen = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0  # records lost to a full queue or a failed write
        self.written = 0  # lines written
        self.reopened = 0

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._fd = self._open()
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="iamd-decision-log", daemon=True)
        self._thread.start()

    async def stop(self, timeout: float = 2.0) -> None:
        """Writes what is queued (within ``timeout``; a stalled file loses it) and closes."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        await asyncio.to_thread(thread.join, timeout)
        if not thread.is_alive():
            self._close()

    def reopen(self) -> None:
        """Reopen the path before the next write (after the platform rotated it)."""
        self._reopen.set()
        with contextlib.suppress(queue.Full):
            self._put(None)  # wake the writer even when nothing is being decided

    def _open(self) -> int:
        if self.path == "-":
            return 1
        # Non-blocking so opening a FIFO without a reader fails instead of hanging; writes
        # then block as usual (the queue absorbs, then drops).
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o600)
        os.set_blocking(fd, True)
        return fd

    def _close(self) -> None:
        if self._fd > 2:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = -1

    # -- the hot path ------------------------------------------------------------------

    def sample(self, result: EvaluationResult) -> float:
        """The sampling rate when this decision is to be logged, else 0.0 (one draw)."""
        rate = self.sample_allows if result.decision is Decision.ALLOWED else self.sample_denials
        if rate >= 1.0 or (rate > 0.0 and _random() < rate):
            return rate
        return 0.0

    def record(
        self,
        rate: float,
        source: str,
        caller: str,
        principal: str,
        action: str,
        resource: str,
        result: EvaluationResult,
        revision: int,
        started: float,
        request: Any = None,
        explain: Explainer | None = None,
        check: int | None = None,
    ) -> None:
        """Queues one sampled decision. ``request`` is the Call or the HTTP headers (for
        x-request-id); ``explain`` evaluates again with explain data when ``result`` has
        none (allows and explicit denies only: an implicit deny has no deciding statement)."""
        record = (
            time.time(),
            source,
            caller,
            principal,
            action,
            resource,
            result,
            revision,
            _monotonic() - started,
            request_id(request),
            check,
            rate,
        )
        if (
            explain is not None
            and self._loop is not None
            and not result.matched_statements
            and result.decision is not Decision.IMPLICIT_DENY
        ):
            self._loop.call_soon(self._explained, record, explain)
            return
        self._enqueue(record)

    def _explained(self, record: tuple[Any, ...], explain: Explainer) -> None:
        try:
            result = explain()
        except Exception:  # the line still goes out, without its statement
            result = None
        if result is not None:
            record = (*record[:6], result, *record[7:])
        self._enqueue(record)

    def _enqueue(self, record: tuple[Any, ...]) -> None:
        try:
            self._put(record)
        except queue.Full:
            self.dropped += 1

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        stopping = False
        while not stopping:
            records = [get()]
            # Let lines gather: one wake-up and one write() per batch, not per decision
            # (a thread switch per line would cost the event loop more than the line).
            time.sleep(_GATHER_SECONDS)
            while len(records) < _BATCH:
                try:
                    records.append(get_nowait())
                except queue.Empty:
                    break
            lines: list[bytes] = []
            for record in records:
                if record is _STOP:
                    stopping = True
                elif record is not None:
                    lines.append(line(record))
            if self._reopen.is_set():
                self._reopen.clear()
                self._do_reopen()
            if lines:
                self._write(b"".join(lines), len(lines))

    def _do_reopen(self) -> None:
        if self.path == "-":
            return
        try:
            fd = self._open()
        except OSError as exc:
            log.error("cannot reopen the decision log %s: %s", self.path, exc)
            return
        old, self._fd = self._fd, fd
        if old > 2:
            with contextlib.suppress(OSError):
                os.close(old)
        self.reopened += 1

    def _write(self, data: bytes, count: int) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            log.warning("writing the decision log %s failed: %s", self.path, exc)
            self.dropped += count
            return
        self.written += count


_DECISION_NAMES = {
    Decision.ALLOWED: "allowed",
    Decision.EXPLICIT_DENY: "explicit_deny",
    Decision.IMPLICIT_DENY: "implicit_deny",
}
_encode = json.JSONEncoder(separators=(",", ":")).encode
_second: tuple[int, str] = (-1, "")


def _time_text(at: float) -> str:
    """ISO 8601 UTC with milliseconds; the seconds part formatted once per second."""
    global _second
    whole = int(at)
    if whole != _second[0]:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((at - whole) * 1000):03d}+00:00"


def line(record: tuple[Any, ...]) -> bytes:
    """One JSON line from a queued record (the writer thread's work)."""
    (at, source, caller, principal, action, resource, result, revision, latency, request_id,
     check, rate) = record  # fmt: skip
    entry: dict[str, Any] = {
        "time": _time_text(at),
        "source": source,
        "caller": caller,
        "principal": principal,
        "action": action,
        "resource": resource,
        "decision": "unknown_principal"
        if result is UNKNOWN_PRINCIPAL
        else _DECISION_NAMES[result.decision],
        "reason": reason_code(result),
        "decided_by": result.decided_by.value,
        "statement": _statement(result),
        "revision": revision,
        "request_id": request_id,
        "latency_ms": round(latency * 1000.0, 3),
        "sample_rate": rate,
    }
    if check is not None:
        entry["check"] = check
    return _encode(entry).encode() + b"\n"
