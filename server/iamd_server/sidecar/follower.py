"""The state a sidecar follows from its upstream over ReplicationService.Watch.

The Follower is the sidecar Decider's PolicySource (principal and resource records, service
definitions, the resource index) and its RevisionFeed: states arrive whole, and each one
that replaces a state the Decider may have compiled is announced to it as the change keys
the Decider's entries depend on ("user:<arn>", "role:<arn>", "resource:<arn>",
"service:*"), before the batch's revision counts as applied, exactly as the server's change
feed does. An item the sidecar does not hold yet is added to the stream and waited for
(bounded); with the upstream unreachable it is refused at once (Unavailable), never guessed.

Memory is bounded: at most `max_items` items and about `max_bytes` of documents, least
recently used first out (an evicted item is dropped from the stream and from the Decider).
After a disconnect the stream is re-opened from the last revision received, holding what it
holds: the upstream sends only what changed meanwhile (or everything, when it cannot tell).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from iamd.v1 import replication_pb2 as pb
from iamd_client import replication_messages as messages
from iamd_client.local.stream import Item, Opener, WatchStream

from iamd_server.authn.sessions import SessionClaims
from iamd_server.authz.sources import ChangeHandler
from iamd_server.errors import NotFound, Unavailable
from iamd_server.replication.sessions import token_hash
from iamd_server.store.records import (
    LoadedPolicy,
    LoadedResourcePolicy,
    PrincipalPolicies,
    ServiceDefinitionRecord,
)

log = logging.getLogger(__name__)

PRINCIPAL = "p"
ACCESS_KEY = "k"
RESOURCE = "r"
SESSION = "s"
# Items are (kind, ARN, key id, or the hash naming temporary credentials).

# Keys the upstream says do not exist, and items it says we may not follow, are remembered
# this long (seconds) so that repeating them costs the upstream nothing.
NEGATIVE_TTL = 10.0
MAX_NEGATIVE = 10_000


@dataclass(frozen=True, slots=True)
class HeldKey:
    """An access key as the upstream describes it (never its secret)."""

    access_key_id: str
    owner_arn: str
    account_id: str
    principal_id: str
    active: bool
    # (day "YYYYMMDD", audience, method) -> signing key scoped to them.
    signing_keys: Mapping[tuple[str, str, str], bytes]


@dataclass(frozen=True, slots=True)
class HeldSession:
    """Temporary credentials as the upstream describes them (never their secret)."""

    valid: bool
    reason: str  # why not valid
    claims: SessionClaims | None = None
    # (day "YYYYMMDD", audience, method) -> signing key scoped to them.
    signing_keys: Mapping[tuple[str, str, str], bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Version:
    default_version_id: str = "v1"


@dataclass(frozen=True, slots=True)
class _Document:
    document: str


class _Absent:
    __slots__ = ()


ABSENT = _Absent()  # the upstream says: no such principal / resource


def _decider_keys(item: Item) -> tuple[str, ...]:
    """The change keys under which the Decider caches what it compiled from ``item``."""
    kind, name = item
    if kind == PRINCIPAL:
        return (f"user:{name}", f"role:{name}")
    if kind == RESOURCE:
        return (f"resource:{name}", f"role:{name}")
    return ()


class Follower(WatchStream):
    """Follows the upstream's Watch stream; see the module docstring (the connection itself
    is iamd_client.local.stream's, shared with the SDK's LocalAuthorizer)."""

    unavailable = Unavailable

    def __init__(
        self,
        open_watch: Opener,
        *,
        max_items: int = 50_000,
        max_bytes: int = 256 * 1024 * 1024,
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
        self._max_items = max_items
        self._max_bytes = max_bytes
        # Held item -> (value, approximate size); value is a record, a HeldKey or ABSENT.
        self._held: OrderedDict[Item, tuple[object, int]] = OrderedDict()
        self.bytes = 0
        # item -> (until, why it is refused; None: it does not exist)
        self._negative: dict[Item, tuple[float, str | None]] = {}
        self._removed_tokens: dict[str, tuple[str, str]] = {}
        # Temporary credentials followed: item name -> (key id, token).
        self._tokens: dict[str, tuple[str, str]] = {}
        # Managed session policy ARN -> its current document (None: gone).
        self._managed: dict[str, str | None] = {}
        self.services: list[ServiceDefinitionRecord] = []
        self._index: set[str] | None = None
        self._handlers: list[ChangeHandler] = []
        self.database_revision = 0  # metrics.FeedView: the newest the upstream confirmed
        self.notifications = 0

    # -- lifecycle ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._held)

    # -- RevisionFeed ------------------------------------------------------------------

    # The sidecar bounds staleness before every call (sidecar.handlers.Freshness, with its
    # own --max-staleness), so the Decider's per-decision proof has nothing to add here.
    fresh_until = math.inf

    def check_fresh(self) -> None:
        return None

    async def ensure_fresh(self) -> None:
        return None

    def subscribe(self, handler: ChangeHandler) -> None:
        self._handlers.append(handler)

    # -- PolicySource ------------------------------------------------------------------

    async def load_principal_policies(self, *, principal_arn: str) -> PrincipalPolicies | None:
        value = await self._get((PRINCIPAL, principal_arn))
        return value if isinstance(value, PrincipalPolicies) else None

    async def load_resource_policy(self, *, resource_arn: str) -> LoadedResourcePolicy | None:
        value = await self._get((RESOURCE, resource_arn))
        return value if isinstance(value, LoadedResourcePolicy) else None

    async def load_service_definitions(self) -> list[ServiceDefinitionRecord]:
        return list(self.services)

    async def load_resource_arns(self) -> set[str] | None:
        return set(self._index) if self._index is not None else None

    async def load_group_policies(
        self, *, group_arn: str
    ) -> tuple[str, tuple[LoadedPolicy, ...]] | None:
        raise Unavailable("a sidecar does not simulate policies: ask the upstream")

    async def resolve_principal_ids(self, *, document: str) -> dict[str, str]:
        raise Unavailable("a sidecar does not simulate policies: ask the upstream")

    # -- access keys -------------------------------------------------------------------

    def held_key(self, key_id: str) -> HeldKey | None:
        """The key if held now (no I/O: the per-call fast path), else None."""
        held = self._held.get((ACCESS_KEY, key_id))
        if held is None or not isinstance(held[0], HeldKey):
            return None
        self._held.move_to_end((ACCESS_KEY, key_id))
        return held[0]

    async def access_key(self, key_id: str) -> HeldKey | None:
        """The key as the upstream describes it; None when it does not exist."""
        value = await self._get((ACCESS_KEY, key_id))
        return value if isinstance(value, HeldKey) else None

    # -- temporary credentials -----------------------------------------------------------

    async def session(self, key_id: str, token: str) -> HeldSession:
        """Temporary credentials as the upstream describes them."""
        name = token_hash(key_id, token)
        item = (SESSION, name)
        if item not in self._held:
            self._tokens[name] = (key_id, token)
        try:
            value = await self._get(item)
        except Unavailable:
            if item not in self._held and item not in self._waiting:
                self._tokens.pop(name, None)  # not followed: nothing to keep the token for
            raise
        if isinstance(value, HeldSession):
            return value
        return HeldSession(valid=False, reason="the security token is invalid")

    # SessionPolicies' ManagedPolicies: managed session policies from the followed sessions.
    async def get_policy(self, *, policy_arn: str) -> _Version:
        if self._managed.get(policy_arn) is None:
            raise NotFound(f"policy {policy_arn} does not exist")
        return _Version()

    async def get_policy_version(self, *, policy_arn: str, version_id: str) -> _Document:
        document = self._managed.get(policy_arn)
        if document is None:
            raise NotFound(f"policy {policy_arn} does not exist")
        return _Document(document)

    # -- items -------------------------------------------------------------------------

    async def _get(self, item: Item) -> object:
        held = self._held.get(item)
        if held is not None:
            self._held.move_to_end(item)
            return held[0]
        negative = self._negative.get(item)
        if negative is not None:
            until, why = negative
            if until > time.monotonic():
                if why is None:
                    return ABSENT
                raise Unavailable(why)
            del self._negative[item]
        return await self._request(item, item[1][:256])

    def _remember(self, item: Item, why: str | None) -> None:
        now = time.monotonic()
        negative = self._negative
        while negative and (
            len(negative) >= MAX_NEGATIVE or next(iter(negative.values()))[0] <= now
        ):
            del negative[next(iter(negative))]
        negative[item] = (now + NEGATIVE_TTL, why)

    def _hold(self, item: Item, value: object, size: int, changed: list[str]) -> None:
        previous = self._held.pop(item, None)
        if previous is not None:
            self.bytes -= previous[1]
            changed.extend(_decider_keys(item))
        self._held[item] = (value, size)
        self.bytes += size
        self._resolve(item, value)

    def _drop(self, item: Item, changed: list[str]) -> None:
        previous = self._held.pop(item, None)
        if previous is not None:
            self.bytes -= previous[1]
            changed.extend(_decider_keys(item))
        if item[0] == SESSION and item not in self._waiting:
            self._tokens.pop(item[1], None)

    def _evict(self, changed: list[str]) -> None:
        while len(self._held) > self._max_items or (
            self.bytes > self._max_bytes and len(self._held) > 1
        ):
            item, (_, size) = self._held.popitem(last=False)
            self.bytes -= size
            changed.extend(_decider_keys(item))
            if item[0] == SESSION:
                # Removing needs the token: send the removal before forgetting it.
                self._removed_tokens[item[1]] = self._tokens.pop(item[1], ("", ""))
            self._to_remove.add(item)
            self._outbox.set()

    # -- applying the stream -----------------------------------------------------------

    def apply(self, message: pb.WatchResponse) -> None:
        """One response: states replace what is held; then, when the message completes a
        batch, the revision advances (after the Decider has dropped what changed)."""
        self.notifications += 1
        changed: list[str] = []
        for state in message.principals:
            item = (PRINCIPAL, state.arn)
            if state.denied:
                self._denied(item, changed)
                continue
            if not self._expected(item):
                continue
            record = messages.principal_policies(state.record) if state.exists else None
            held = self._held.get(item)
            if (
                record is not None
                and held is not None
                and isinstance(held[0], PrincipalPolicies)
                and held[0].revision > record.revision
            ):
                continue  # never back in time
            size = state.ByteSize() + 128
            self._hold(item, record if record is not None else ABSENT, size, changed)
        for key_state in message.access_keys:
            item = (ACCESS_KEY, key_state.access_key_id)
            if key_state.denied:
                self._denied(item, changed)
                continue
            if not key_state.exists:
                # Deleted, or never was: stop following it, refuse it for a while.
                self._drop(item, changed)
                self._to_remove.add(item)
                self._outbox.set()
                self._remember(item, None)
                self._resolve(item, ABSENT)
                continue
            if not self._expected(item):
                continue
            key = HeldKey(
                access_key_id=key_state.access_key_id,
                owner_arn=key_state.owner_arn,
                account_id=key_state.account_id,
                principal_id=key_state.principal_id,
                active=key_state.active,
                signing_keys={
                    (k.day, k.audience, k.method): bytes(k.key) for k in key_state.signing_keys
                },
            )
            self._hold(item, key, 512, changed)
        for resource_state in message.resources:
            item = (RESOURCE, resource_state.arn)
            if resource_state.denied:
                self._denied(item, changed)
                continue
            if not self._expected(item):
                continue
            resource = messages.resource_policy(resource_state)
            self._hold(
                item,
                resource if resource is not None else ABSENT,
                resource_state.ByteSize() + 128,
                changed,
            )
        for session_state in message.sessions:
            self._apply_session(session_state, changed)
        if message.HasField("services"):
            self.services = messages.service_records(message.services)
            changed.append("service:*")
        if message.HasField("resource_index"):
            self._apply_index(message.resource_index, changed)
        self._evict(changed)
        if changed:
            self._dispatch(changed)
        if message.revision:
            self._advance(message.revision)

    def _apply_session(self, state: pb.SessionState, changed: list[str]) -> None:
        item = (SESSION, state.token_sha256)
        if state.denied:
            self._denied(item, changed)
            return
        if not self._expected(item):
            return
        if not state.valid:
            # Expired, revoked, its role or user gone, or not a token of this deployment:
            # none of these is ever undone. Held (refused at once), no longer followed.
            held = HeldSession(valid=False, reason=state.reason or "the security token is invalid")
            self._hold(item, held, 256, changed)
            self._to_remove.discard(item)
            return
        try:
            claims = SessionClaims.from_json(json.loads(state.claims_json))
        except (ValueError, KeyError, TypeError):
            held = HeldSession(valid=False, reason="the security token is invalid")
            self._hold(item, held, 256, changed)
            return
        present = {p.policy_id: p.document for p in state.managed_policies}
        for arn in claims.policy_arns:
            document = present.get(arn)
            if self._managed.get(arn, "") != document:
                self._managed[arn] = document
                changed.append(f"policy:{arn}")
        if len(self._managed) > 10 * MAX_NEGATIVE:
            self._managed.clear()
            changed.append("*")
        session = HeldSession(
            valid=True,
            reason="",
            claims=claims,
            signing_keys={(k.day, k.audience, k.method): bytes(k.key) for k in state.signing_keys},
        )
        self._hold(item, session, state.ByteSize() + 256, changed)

    def _expected(self, item: Item) -> bool:
        """Whether a state for ``item`` is wanted (a late answer for an item dropped since
        is not kept)."""
        return item in self._held or item in self._waiting

    def _denied(self, item: Item, changed: list[str]) -> None:
        what = "these temporary credentials" if item[0] == SESSION else item[1][:256]
        why = f"the sidecar may not follow {what} (iamd:Watch); ask the upstream"
        self._drop(item, changed)
        if item[0] == SESSION:
            self._tokens.pop(item[1], None)
        self._remember(item, why)
        self._resolve(item, None, why)

    def _apply_index(self, index: pb.ResourceIndex, changed: list[str]) -> None:
        arns = set(index.arns)
        if index.complete or self._index is None:
            if self._index is None:
                self._index = arns
                changed.append("*")  # the Decider loads the index anew
                return
            # Only additions matter: an ARN that lost its policy just costs a lookup.
            added = arns - self._index
            self._index = arns
        else:
            added = arns - self._index
            self._index |= added
        changed.extend(f"resource:{arn}" for arn in added)

    def _dispatch(self, keys: Sequence[str]) -> None:
        if "*" in keys:
            keys = ("*",)
        for handler in self._handlers:
            try:
                handler(self.applied_revision, keys)
            except Exception:
                log.exception("change handler failed; dropping everything to stay correct")
                with contextlib.suppress(Exception):
                    handler(self.applied_revision, ("*",))

    def _advance(self, revision: int) -> None:
        super()._advance(revision)
        self.database_revision = self.applied_revision

    # -- the connection (iamd_client.local.stream) -------------------------------------

    def _following(self) -> pb.Selection:
        return self._selection(
            item
            for item, (value, _) in self._held.items()
            if not (isinstance(value, HeldSession) and not value.valid)
        )

    def _selection(self, items: Iterable[Item]) -> pb.Selection:
        tokens = {**self._tokens, **self._removed_tokens}
        selection = pb.Selection()
        for kind, name in items:
            if kind == PRINCIPAL:
                selection.principal_arns.append(name)
            elif kind == ACCESS_KEY:
                selection.access_key_ids.append(name)
            elif kind == SESSION:
                reference = tokens.get(name)
                if reference is not None:
                    selection.sessions.add(access_key_id=reference[0], session_token=reference[1])
            else:
                selection.resource_arns.append(name)
        return selection

    def _sent(self, removed: list[Item]) -> None:
        for kind, name in removed:
            if kind == SESSION:
                self._removed_tokens.pop(name, None)

    def _lost(self) -> None:
        super()._lost()
        self._removed_tokens.clear()

    def _abandoned(self, item: Item) -> None:
        if item[0] == SESSION and item not in self._held:
            self._tokens.pop(item[1], None)  # not followed: nothing to keep the token for
