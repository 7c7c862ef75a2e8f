"""The records a LocalAuthorizer decides from, followed over ReplicationService.Watch.

Principals and resources are added to the stream when first asked about and held whole
(each state replaces the last); service definitions and the resource index come with the
stream. Every batch is handed to a listener (the compiled entries) before its revision
counts as applied, so a decision taken at revision R rests on states that include every
change up to R. Memory is bounded per kind, least recently used first out: an evicted item
is dropped from the stream. After a disconnect the stream is re-opened from the last
revision with what is held; the upstream sends only what changed meanwhile (or everything).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from iamd.v1 import replication_pb2 as pb
from iamd_policy.inputs import LoadedResourcePolicy, PrincipalPolicies, ServiceDefinitionRecord

from iamd_client import replication_messages as messages
from iamd_client.errors import Unavailable
from iamd_client.local.stream import Item, Opener, WatchStream

PRINCIPAL = "p"
RESOURCE = "r"
# Items the upstream refuses to let us follow are refused locally this long (seconds).
REFUSED_TTL = 10.0
MAX_REFUSED = 10_000


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()  # the upstream says: no such principal / no policy on that resource
Held = PrincipalPolicies | LoadedResourcePolicy | _Absent
# (items whose state changed or left, whether the service definitions changed)
Listener = Callable[[list[Item], bool], None]


class Follower(WatchStream):
    """Follows one Watch stream (the connection: iamd_client.local.stream); see the module
    docstring. Runs on one event loop; other threads only read its attributes and add to
    ``used``."""

    def __init__(
        self,
        open_watch: Opener,
        listener: Listener,
        *,
        max_principals: int = 10_000,
        max_resources: int = 10_000,
        load_timeout: float = 5.0,
        silence_timeout: float = 6.0,
        resource_index: bool = True,
    ) -> None:
        super().__init__(
            open_watch,
            load_timeout=load_timeout,
            silence_timeout=silence_timeout,
            resource_index=resource_index,
        )
        self._listener = listener
        self._limits = {PRINCIPAL: max(1, max_principals), RESOURCE: max(1, max_resources)}
        self.held: dict[str, OrderedDict[str, Held]] = {
            PRINCIPAL: OrderedDict(),
            RESOURCE: OrderedDict(),
        }
        # ARNs decided from since the last eviction pass (second chance before eviction);
        # callers add to them from any thread.
        self.used: dict[str, set[str]] = {PRINCIPAL: set(), RESOURCE: set()}
        self.services: list[ServiceDefinitionRecord] = []
        self.index: set[str] | None = None  # ARNs with a resource policy; None: unknown
        self._refused: dict[Item, tuple[float, str]] = {}

    # -- items -------------------------------------------------------------------------

    async def load(self, item: Item) -> None:
        """Returns once ``item`` is held; raises Unavailable when the upstream refuses it,
        is unreachable, or does not answer within the load timeout (never guesses)."""
        kind, name = item
        if name in self.held[kind]:
            return
        refused = self._refused.get(item)
        if refused is not None:
            if refused[0] > time.monotonic():
                raise Unavailable(refused[1])
            del self._refused[item]
        await self._request(item, name[:256])

    def _refuse(self, item: Item, changed: list[Item]) -> None:
        why = f"this process may not follow {item[1][:256]} (iamd:Watch); ask iamd"
        if self.held[item[0]].pop(item[1], None) is not None:
            changed.append(item)
        now = time.monotonic()
        while self._refused and (
            len(self._refused) >= MAX_REFUSED or next(iter(self._refused.values()))[0] <= now
        ):
            del self._refused[next(iter(self._refused))]
        self._refused[item] = (now + REFUSED_TTL, why)
        self._resolve(item, error=why)

    def _hold(self, item: Item, value: Held, changed: list[Item]) -> None:
        held = self.held[item[0]]
        held[item[1]] = value
        held.move_to_end(item[1])
        changed.append(item)
        if item in self._waiting:
            self.used[item[0]].add(item[1])  # a caller is about to decide from it: keep it
            self._resolve(item)

    def _evict(self, changed: list[Item]) -> None:
        for kind, held in self.held.items():
            limit = self._limits[kind]
            used = self.used[kind]
            passes = len(held)
            while len(held) > limit:
                name, value = held.popitem(last=False)
                if name in used and passes > 0:
                    used.discard(name)  # decided from lately: a second chance
                    held[name] = value
                    passes -= 1
                    continue
                used.discard(name)
                changed.append((kind, name))
                self._to_remove.add((kind, name))
                self._outbox.set()

    # -- applying the stream -----------------------------------------------------------

    def apply(self, message: pb.WatchResponse) -> None:
        """One response: states replace what is held; the listener recompiles; then, when
        the message completes a batch, the revision advances."""
        changed: list[Item] = []
        for state in message.principals:
            item = (PRINCIPAL, state.arn)
            if state.denied:
                self._refuse(item, changed)
                continue
            if not self._expected(item):
                continue
            record = messages.principal_policies(state.record) if state.exists else None
            held = self.held[PRINCIPAL].get(state.arn)
            if (
                record is not None
                and isinstance(held, PrincipalPolicies)
                and held.revision > record.revision
            ):
                continue  # never back in time
            self._hold(item, ABSENT if record is None else record, changed)
        for resource_state in message.resources:
            item = (RESOURCE, resource_state.arn)
            if resource_state.denied:
                self._refuse(item, changed)
                continue
            if not self._expected(item):
                continue
            resource = messages.resource_policy(resource_state)
            self._hold(item, ABSENT if resource is None else resource, changed)
        services = message.HasField("services")
        if services:
            self.services = messages.service_records(message.services)
        if message.HasField("resource_index"):
            self._apply_index(message.resource_index, changed)
        self._evict(changed)
        if changed or services:
            self._listener(changed, services)
        if message.revision:
            self._advance(message.revision)

    def _expected(self, item: Item) -> bool:
        """Whether a state for ``item`` is wanted (not for an item dropped since)."""
        return item[1] in self.held[item[0]] or item in self._waiting

    def _apply_index(self, index: pb.ResourceIndex, changed: list[Item]) -> None:
        arns = set(index.arns)
        if index.complete or self.index is None:
            added = arns if self.index is None else arns - self.index
            self.index = arns
        else:
            added = arns - self.index
            self.index |= added
        # A resource that gained a policy: decisions about it are taken anew.
        changed.extend((RESOURCE, arn) for arn in added)

    # -- the connection (iamd_client.local.stream) -------------------------------------

    def _following(self) -> pb.Selection:
        return self._selection(
            [(PRINCIPAL, arn) for arn in self.held[PRINCIPAL]]
            + [(RESOURCE, arn) for arn in self.held[RESOURCE]]
        )

    def _selection(self, items: Iterable[Item]) -> pb.Selection:
        selection = pb.Selection()
        for kind, name in items:
            if kind == PRINCIPAL:
                selection.principal_arns.append(name)
            else:
                selection.resource_arns.append(name)
        return selection
