"""Authorization decisions inside the caller's process, equal to the server's Authorize.

    from iamd_client import LocalAuthorizer

    with LocalAuthorizer.from_environment() as authz:
        answer = authz.authorize(principal_arn=arn, action="s3:GetObject", resource_arn=obj)
        if answer.allowed: ...

A LocalAuthorizer follows ReplicationService.Watch for the principals (and resources with a
resource policy) it is asked about and decides with the server's engine and compiled
entries (iamd_policy). A principal held answers in microseconds with no RPC; one not held
yet is added to the stream and that call waits (bounded) for it. It fails closed: with iamd
unreachable, what is held answers until `max_staleness` seconds have passed without news
from the stream, then every call raises Unavailable; what is not held raises at once.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from iamd_client._args import ContextArg
from iamd_client.credentials import ClientConfig, CredentialsError, resolve
from iamd_client.errors import ConfigurationError, Unavailable
from iamd_client.local.decide import Changed, Decider, LocalDecision, Missing
from iamd_client.local.entries import Entries
from iamd_client.local.follower import PRINCIPAL, RESOURCE, Follower
from iamd_client.local.stream import Item
from iamd_client.local.upstream import WatchUpstream

T = TypeVar("T")

# Items a call may load one after the other (its principal, then its resource).
LOAD_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class Options:
    """How a LocalAuthorizer follows iamd."""

    max_staleness: float = 300.0
    """Seconds without news from iamd after which every call raises Unavailable."""
    load_timeout: float = 5.0
    """Longest wait of a call for a principal or resource not held yet."""
    max_principals: int = 10_000
    """Principals held at most (least recently used first out)."""
    max_resources: int = 10_000
    """Resources with a resource policy held at most."""
    revision_timeout: float = 10.0
    """Longest wait of a call for `at_least_revision` to be applied."""
    start_timeout: float = 10.0
    """Longest wait of the constructor for the first batch (it does not fail: calls then
    wait for it, bounded by `load_timeout`)."""
    resource_index: bool = True
    """Ask for the index of resources with a policy (needs iamd:Watch on "*"); without it
    each resource asked about is followed."""


class _Core:
    """The follower, its stream and the decider, living on one event loop."""

    def __init__(self, config: ClientConfig, options: Options) -> None:
        self.upstream = WatchUpstream(config)
        self.entries = Entries()
        self.follower = Follower(
            self.upstream.open_watch,
            self.entries.changed,
            max_principals=options.max_principals,
            max_resources=options.max_resources,
            load_timeout=options.load_timeout,
            resource_index=options.resource_index,
        )
        self.entries.follower = self.follower
        self.decider = Decider(self.follower, self.entries, options.max_staleness)
        self.options = options
        self.follower.start()

    async def load(self, item: Item | None) -> None:
        if item is not None:
            await self.follower.load(item)
        elif not await self.follower.wait_ready(self.options.load_timeout):
            raise Unavailable("iamd has not answered the Watch stream yet; retry later")

    async def wait_for(self, revision: int) -> None:
        if not await self.follower.wait_for(revision, self.options.revision_timeout):
            raise Unavailable(
                f"revision {revision} is not applied here yet"
                f" (applied: {self.follower.applied_revision}); retry"
            )

    def followed(self) -> tuple[int, int]:
        held = self.follower.held
        return len(held[PRINCIPAL]), len(held[RESOURCE])

    async def close(self) -> None:
        await self.follower.stop()
        await self.upstream.close()


def _config(profile: str | None, endpoint: str | None) -> ClientConfig:
    try:
        return resolve(profile=profile, endpoint=endpoint)
    except CredentialsError as e:
        raise ConfigurationError(str(e)) from e


class LocalAuthorizer:
    """Blocking decisions in this process (thread-safe); the Watch stream runs on a daemon
    thread of its own. See the module docstring."""

    def __init__(self, config: ClientConfig, **options: Any) -> None:
        """Follow the iamd of ``config`` (its credentials need iamd:Watch on the principals
        asked about, and on "*" for the resource index); ``options``: see `Options`."""
        self._options = Options(**options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="iamd-local-authorizer", daemon=True
        )
        self._thread.start()
        self._closed = False

        async def build() -> _Core:
            return _Core(config, self._options)

        try:
            self._core = asyncio.run_coroutine_threadsafe(build(), self._loop).result()
        except BaseException:
            self._stop_loop()
            raise
        self._decide = self._core.decider.decide
        atexit.register(self.close)
        # Not an error when it times out: calls then wait for the first batch themselves.
        with contextlib.suppress(Unavailable):
            ready = self._core.follower.wait_ready(self._options.start_timeout)
            self._run(ready, self._options.start_timeout + 1)

    @classmethod
    def from_environment(
        cls, profile: str | None = None, *, endpoint: str | None = None, **options: Any
    ) -> LocalAuthorizer:
        """Endpoint and credentials resolved like the SDK's clients (iamd_client.credentials)."""
        return cls(_config(profile, endpoint), **options)

    @property
    def revision(self) -> int:
        """The newest revision applied here."""
        return self._core.follower.applied_revision

    @property
    def followed(self) -> tuple[int, int]:
        """(principals, resources) held and followed now."""
        return self._core.followed()

    def authorize(
        self,
        *,
        principal_arn: str,
        action: str,
        resource_arn: str = "",
        context: ContextArg = None,
        resource_owner_account: str | None = None,
        at_least_revision: int = 0,
        explain: bool = False,
    ) -> LocalDecision:
        """The decision Authorize would give (InvalidArgument for what it refuses;
        Unavailable when this copy cannot be proven current, never a guess).

        ``at_least_revision``: wait (bounded) until changes up to that revision (a write's
        response carries it) are applied here. ``explain``: a reason naming the statement
        that decided (slower)."""
        if self._closed:
            raise Unavailable("the LocalAuthorizer is closed")
        core = self._core
        if at_least_revision and core.follower.applied_revision < at_least_revision:
            self._run(core.wait_for(at_least_revision), self._options.revision_timeout + 1)
        for _ in range(LOAD_ROUNDS):
            try:
                return self._decide(
                    principal_arn, action, resource_arn, context, resource_owner_account, explain
                )
            except Changed:
                # The follower's loop runs this once the change it is applying is complete.
                self._run(_settled(), self._options.load_timeout + 1)
            except Missing as missing:
                self._run(core.load(missing.item), self._options.load_timeout + 1)
        raise Unavailable(f"the policies of {principal_arn[:256]} kept changing; retry")

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Unavailable("iamd did not answer in time; retry") from None

    def close(self) -> None:
        """Stops following iamd (also at interpreter exit)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with contextlib.suppress(Exception):  # best effort: the thread is a daemon
            asyncio.run_coroutine_threadsafe(self._core.close(), self._loop).result(5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> LocalAuthorizer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncLocalAuthorizer:
    """Decisions in this process for asyncio code: the Watch stream runs on the caller's
    event loop, and a decision from what is held returns without awaiting anything."""

    def __init__(self, config: ClientConfig, **options: Any) -> None:
        """As LocalAuthorizer; the stream starts with `start()` (or `async with`, or the
        first call) on the running loop."""
        self._config = config
        self._options = Options(**options)
        self._core: _Core | None = None
        self._closed = False

    @classmethod
    def from_environment(
        cls, profile: str | None = None, *, endpoint: str | None = None, **options: Any
    ) -> AsyncLocalAuthorizer:
        return cls(_config(profile, endpoint), **options)

    async def start(self) -> None:
        """Opens the stream and waits (bounded by `start_timeout`) for the first batch."""
        if self._core is not None:
            return
        self._core = _Core(self._config, self._options)
        await self._core.follower.wait_ready(self._options.start_timeout)

    @property
    def revision(self) -> int:
        return 0 if self._core is None else self._core.follower.applied_revision

    async def authorize(
        self,
        *,
        principal_arn: str,
        action: str,
        resource_arn: str = "",
        context: ContextArg = None,
        resource_owner_account: str | None = None,
        at_least_revision: int = 0,
        explain: bool = False,
    ) -> LocalDecision:
        """As LocalAuthorizer.authorize."""
        core = self._core
        if core is None:
            if self._closed:
                raise Unavailable("the LocalAuthorizer is closed")
            await self.start()
            core = self._core
            assert core is not None
        if at_least_revision and core.follower.applied_revision < at_least_revision:
            await core.wait_for(at_least_revision)
        decide = core.decider.decide
        for _ in range(LOAD_ROUNDS):
            try:
                return decide(
                    principal_arn, action, resource_arn, context, resource_owner_account, explain
                )
            except Changed:
                await _settled()
            except Missing as missing:
                await core.load(missing.item)
        raise Unavailable(f"the policies of {principal_arn[:256]} kept changing; retry")

    async def close(self) -> None:
        self._closed = True
        core, self._core = self._core, None
        if core is not None:
            await core.close()

    async def __aenter__(self) -> AsyncLocalAuthorizer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _settled() -> None:
    """Returns on the follower's loop: after the change it was applying (if any)."""
