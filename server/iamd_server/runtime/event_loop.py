"""The event loop `iamd serve` runs on: uvloop when installed (`pip install iamd[uvloop]`),
else asyncio's own. grpc.aio polls its completion queue from its own thread and only hands
results to the loop, so it runs on either; uvloop's cheaper callbacks and socket wake-ups
lower the CPU each call costs (bench/authorize.py --event-loop compares them)."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHOICES = ("auto", "asyncio", "uvloop")


class EventLoopUnavailable(RuntimeError):
    pass


def resolve(choice: str) -> str:
    """ "asyncio" or "uvloop" for a --event-loop choice; "uvloop" must be installed."""
    if choice not in CHOICES:
        raise ValueError(f"--event-loop must be one of {', '.join(CHOICES)}")
    installed = importlib.util.find_spec("uvloop") is not None
    if choice == "uvloop" and not installed:
        raise EventLoopUnavailable(
            "--event-loop uvloop: uvloop is not installed (pip install 'iamd[uvloop]')"
        )
    if choice == "auto":
        return "uvloop" if installed else "asyncio"
    return choice


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What asyncio.Runner makes its loop with (None: asyncio's default)."""
    if resolve(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """asyncio.run(main) on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
