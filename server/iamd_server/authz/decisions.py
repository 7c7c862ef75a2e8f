"""Decisions from memory: compiled per-principal and per-resource policy entries, kept
current by change notifications, fed to the pure engine.

A cache hit touches no database. An entry that cannot be built (database down) raises
`Unavailable`, so callers fail closed; entries already cached keep serving.

Authorize and AuthorizeBatch enter through one door: `authorize_now` and
`authorize_batch_now` decide without I/O when everything is in memory (None otherwise), and
`authorize` and `authorize_batch` take the awaits they could not; `replied` and
`remember_reply` keep whole replies. The front doors only translate requests and replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from iamd_policy import (
    AuthorizationRequest,
    CompiledPolicy,
    Context,
    Decision,
    EvaluationResult,
    PolicyKind,
    PolicySet,
    PolicySets,
    Principal,
    PrincipalKind,
    ServiceRegistry,
    builtin_registry,
    evaluate,
)
from iamd_policy.entries import (
    MEMO_EXPLAIN_BYTES,
    MEMO_ITEM_BYTES,
    MEMO_LIMIT,
    ROLE_ARN,
    UNKNOWN_PRINCIPAL,
    PrincipalEntry,
    ResourceEntry,
    RoleBase,
    account_of,
    compile_loaded,
    compile_principal,
    compile_resource,
    compile_trust,
    dependencies,
    entry_size,
    name_key,
    resource_entry_size,
    session_parts,
    timeless,
    valid_account,
)
from iamd_policy.entries import (
    OwnerMismatch as EngineOwnerMismatch,
)
from iamd_policy.entries import (
    resource_owner as owner_of,
)
from iamd_policy.requests import declares, is_resource, registry_of, undeclared

from iamd_server.authn.authenticator import Caller
from iamd_server.authz.cache import MISSING, Built, CacheStats, DependencyCache
from iamd_server.authz.requests import request_context
from iamd_server.authz.sources import PolicySource, RevisionFeed
from iamd_server.errors import InvalidArgument, PermissionDenied, Unavailable
from iamd_server.store.records import PrincipalPolicies

if TYPE_CHECKING:
    from iamd_server.authn.sessions import SessionClaims

log = logging.getLogger(__name__)

T = TypeVar("T")

# Times a decision re-reads its entries when changes keep arriving while they load.
SETTLE_ATTEMPTS = 5

_monotonic = time.monotonic

# What a caller of Authorize needs on the principal it asks about.
AUTHORIZE_ACTION = "iamd:Authorize"


@dataclass(frozen=True, slots=True)
class Outcome:
    result: EvaluationResult
    principal_known: bool
    revision: int
    # True when the decision cannot change without a write: no caller-supplied context and
    # no policy involved reads the clock (a DateLessThan grant expires by itself).
    timeless: bool = False


class OwnerMismatch(InvalidArgument):
    """The request names a resource owner other than the resource's own (its ARN's account,
    or the account that claimed an ARN without one)."""

    def __init__(self) -> None:
        super().__init__(
            "resource_owner_account", "does not match the account that owns the resource"
        )


def resource_owner(
    entry: PrincipalEntry,
    resource: str,
    requested: str | None,
    resource_entry: ResourceEntry | None,
) -> str | None:
    """entries.resource_owner, its refusal as the request's INVALID_ARGUMENT."""
    try:
        return owner_of(entry, resource, requested, resource_entry)
    except EngineOwnerMismatch:
        raise OwnerMismatch() from None


def _drop_memo(entry: PrincipalEntry | None) -> None:
    """An entry leaving the principal cache forgets its remembered decisions (whoever still
    holds the entry, they were charged to the cache)."""
    if entry is not None and entry.memo:
        entry.memo = {}
        entry.memo_bytes = 0


# Remembered "may this caller ask about that principal" answers: bytes of one besides its
# strings, and at most this many (any change clears them all).
GRANT_BYTES = 250
GRANTS_LIMIT = 100_000
KNOWN_ACTIONS_LIMIT = 10_000


class GrantMemo(dict[tuple[str, ...], bool]):
    """(caller ARN or session key id, principal ARN) -> allowed; sized like the caches, for
    the metrics. Reads are plain dict reads (the hot path)."""

    def __init__(self, max_bytes: int, limit: int = GRANTS_LIMIT) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.limit = limit
        self.bytes = 0
        self.stats = CacheStats()

    def put(self, key: tuple[str, ...], allowed: bool) -> None:
        if key in self:
            self[key] = allowed
            return
        size = GRANT_BYTES + sum(len(part) for part in key)
        if len(self) >= self.limit or self.bytes + size > self.max_bytes:
            self.stats.evictions += len(self)
            super().clear()
            self.bytes = 0
        self.bytes += size
        self[key] = allowed

    def clear(self) -> None:
        self.stats.invalidations += len(self)
        super().clear()
        self.bytes = 0


# Decision codes, numbered as the wire enum iamd.v1.Decision (api/ checks that they match):
# a decision is counted and encoded by its code. UNKNOWN: the principal does not exist (it
# is denied implicitly, and counted apart).
UNKNOWN = 0
ALLOWED = 1
EXPLICIT_DENY = 2
IMPLICIT_DENY = 3


def decision_code(result: EvaluationResult) -> int:
    decision = result.decision
    return (
        ALLOWED
        if decision is Decision.ALLOWED
        else EXPLICIT_DENY
        if decision is Decision.EXPLICIT_DENY
        else IMPLICIT_DENY
    )


def _same_identity(entry: PrincipalEntry | None, caller: Caller) -> PrincipalEntry | None:
    """The entry of the ARN a caller speaks for, or None when that ARN now belongs to another
    user or role than the caller's credentials (a reused name): identity follows unique ids."""
    if entry is not None and entry.unique_id != caller.principal_id:
        return None
    return entry


@dataclass(slots=True)
class Decided:
    """One Authorize decision and what it rests on: ``code`` (UNKNOWN when the principal
    does not exist), the entries read (``resource_entry`` None: not looked up) and the
    revision and generation they are current at."""

    result: EvaluationResult
    code: int
    entry: PrincipalEntry | None
    resource_entry: ResourceEntry | None
    revision: int
    generation: int


class Check(Protocol):
    """One check of AuthorizeBatch as received (an iamd.v1.AuthorizeCheck): its fields are
    read where the decision needs them, so a batch costs no record per check."""

    @property
    def action(self) -> str: ...
    @property
    def resource_arn(self) -> str: ...
    @property
    def resource_owner_account(self) -> str: ...
    @property
    def principal_arn(self) -> str: ...
    @property
    def context(self) -> Sequence[Any]: ...


@dataclass(slots=True)
class BatchDecided:
    """The decisions of one batch, in the order of its checks: (result, principal ARN,
    decision code; IMPLICIT_DENY for an unknown principal), their count by code (UNKNOWN
    apart), and the entries they rest on by principal and resource ARN."""

    results: list[tuple[EvaluationResult, str, int]]
    counts: list[int]
    entries: dict[str, PrincipalEntry | None]
    resources: dict[str, ResourceEntry | None]
    revision: int


class _Missing:
    """What a batch's decisions wait for: a pending reload for an action, entries to load."""

    __slots__ = ("action", "principals", "resources")

    def __init__(self) -> None:
        self.action: tuple[str, str] | None = None  # (action, field)
        self.principals: list[str] = []
        self.resources: list[str] = []


# Marks a principal or resource of a batch whose entry is being loaded.
_PENDING: Any = object()


@dataclass(slots=True)
class RememberedReply:
    """Authorize's reply to a request and what it rests on (see Decider.replied)."""

    caller: Caller
    generation: int
    revision: int
    principal_arn: str
    entry: PrincipalEntry | None
    code: int
    reply: bytes
    action: str
    resource: str
    owner: str | None
    resource_entry: ResourceEntry | None
    result: EvaluationResult


# Bytes a remembered reply costs besides its request and reply (dict slot, record,
# bytes headers), and the longest request remembered.
REPLY_BYTES = 360
MAX_REPLY_REQUEST = 1024


class ReplyMemo(dict[bytes, RememberedReply]):
    """Serialized request -> the reply Authorize gave it with what that reply rests on
    (see Decider.replied); only replies of the current generation are kept. Bounded by bytes
    like the caches (all dropped when full); reads are dict reads."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.bytes = 0
        self.generation = -1
        self.stats = CacheStats()

    def put(self, request: bytes, record: RememberedReply, generation: int) -> None:
        if generation != self.generation:
            self.clear()
            self.generation = generation
        if len(request) > MAX_REPLY_REQUEST:
            return
        if request in self:  # same request, newer record (another caller, a later revision)
            self[request] = record
            return
        size = REPLY_BYTES + len(request) + len(record.reply)
        if self.bytes + size > self.max_bytes:
            self.stats.evictions += len(self)
            super().clear()
            self.bytes = 0
        self.bytes += size
        self[request] = record
        self.stats.builds += 1

    def clear(self) -> None:
        self.stats.invalidations += len(self)
        super().clear()
        self.bytes = 0


class Decider:
    """Answers authorization questions from compiled, cached policy entries."""

    def __init__(
        self,
        store: PolicySource,
        feed: RevisionFeed,
        *,
        max_entries: int = 100_000,
        max_bytes: int = 512 * 1024 * 1024,
        load_timeout: float = 2.0,
    ) -> None:
        self._store = store
        self._feed = feed
        # A cache miss waits for locks and statements at most `load_timeout` (PostgreSQL ends
        # them, see store/loader.py) and fails closed. This process's own timer is only a
        # backstop for a connection that hangs: a pause of this process (a collection, a
        # starved CPU) must not cut short a load the database is answering in time.
        self.load_timeout = load_timeout
        self.load_backstop = 2 * load_timeout + 1.0
        # ``max_bytes`` (--cache-max-bytes) is shared out: principals with their remembered
        # decisions 7/16, grants to ask about them and remembered replies 1/32 each, the roles
        # that sessions share 1/8,
        # resource policies 1/4 (and the session policies of callers with temporary
        # credentials 1/8, see app.py).
        self.principals: DependencyCache[PrincipalEntry | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes * 7 // 16, on_drop=_drop_memo
        )
        self.roles: DependencyCache[RoleBase | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes // 8
        )
        self.resources: DependencyCache[ResourceEntry | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes // 4
        )
        self.registry: ServiceRegistry = builtin_registry()
        # Actions known to be declared (unknown ones are not remembered: any string could be).
        self.known_actions: dict[str, bool] = {}
        # (caller ARN or session key id, caller's unique id, principal ARN) -> may the caller
        # ask about that principal.
        self.grants = GrantMemo(max_bytes // 32)
        # Authorize's replies by request bytes (see `replied`).
        self.replies = ReplyMemo(max_bytes // 32)
        # Bumped by every change notification, registry reload and resource-ARN reload: a
        # memoized decision or grant taken at generation g is current while it is still g.
        self.generation = 0
        # ARNs that have a resource policy or ACL; None while unknown (then ask the database).
        self._resource_arns: set[str] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # The reload of service definitions a change started, if any: an action that looks
        # undeclared waits for it (the change may be what declares it).
        self._registry_reload: asyncio.Task[None] | None = None
        # Set by the app (session_policies.SessionPolicies.decide bound to this decider):
        # decides for callers with temporary credentials. None = as the stored principal.
        self.session_decide: Callable[..., Awaitable[Outcome]] | None = None
        # Set by the app (SessionPolicies.entry): the entry of a caller with temporary
        # credentials asking Authorize about itself. None = refused.
        self.session_entry: (
            Callable[[PrincipalEntry, SessionClaims], Awaitable[PrincipalEntry]] | None
        ) = None
        # Set by the app: told (principal unique id, action) of each call `require` allows,
        # for last-accessed data.
        self.on_allowed: Callable[[str, str], None] | None = None

    async def start(self) -> None:
        self._feed.subscribe(self.on_change)
        await self._reload_registry()
        await self._reload_resource_arns()

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def revision(self) -> int:
        return self._feed.applied_revision

    # -- invalidation ------------------------------------------------------------------

    def on_change(self, _revision: int, keys: Sequence[str]) -> None:
        if "*" in keys:
            self.principals.clear()
            self.roles.clear()
            self.resources.clear()
            self._resource_arns = None
            self.grants.clear()
            self.generation += 1
            self._registry_reload = self._spawn(self._reload_registry())
            self._spawn(self._reload_resource_arns())
            return
        expanded = list(keys)
        for key in keys:
            kind, _, rest = key.partition(":")
            if kind in ("user", "role"):
                named = name_key(rest)
                if named is not None:
                    expanded.append(named)
            elif kind == "resource" and self._resource_arns is not None:
                self._resource_arns.add(rest)
        self.principals.invalidate(expanded)
        self.roles.invalidate(expanded)
        self.resources.invalidate(expanded)
        self.grants.clear()
        self.generation += 1
        if any(k.startswith("service:") for k in keys):
            self._registry_reload = self._spawn(self._reload_registry())

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _reload_registry(self) -> None:
        try:
            records = await self._store.load_service_definitions()
        except Exception as exc:
            log.warning("loading service definitions failed (%s); keeping the registry", exc)
            return
        self.registry = registry_of((r.service_prefix, r.definition) for r in records)
        self.known_actions = {}
        self.generation += 1

    async def _reload_resource_arns(self) -> None:
        try:
            arns = await self._store.load_resource_arns()
        except Exception as exc:
            log.warning("loading resource policy ARNs failed (%s); asking per resource", exc)
            return
        if arns is None:  # the source cannot tell: ask per resource
            return
        if self._resource_arns is None:
            self._resource_arns = arns
        else:  # notifications received meanwhile added to the provisional set
            self._resource_arns |= arns
        self.generation += 1

    # -- actions -----------------------------------------------------------------------

    async def require_action(self, action: str, field: str = "action") -> None:
        """`check_action`, after the pending reload of service definitions when the action
        is not (yet) known: a write's response says it is applied here, and a definition it
        added must then be usable."""
        try:
            self.check_action(action, field)
        except InvalidArgument:
            pending = self._registry_reload
            if pending is None or pending.done():
                raise
            await asyncio.shield(pending)
            self.check_action(action, field)

    def check_action(self, action: str, field: str = "action") -> None:
        """Raises InvalidArgument unless ``action`` is declared by a service definition."""
        known = self.known_actions.get(action)
        if known is None:
            known = declares(self.registry, action)
            if known:
                if len(self.known_actions) >= KNOWN_ACTIONS_LIMIT:
                    self.known_actions.clear()
                self.known_actions[action] = True
        if not known:
            refused = undeclared(action, field)
            raise InvalidArgument(refused.field, refused.reason)

    # -- entries -----------------------------------------------------------------------

    def lookup_principal(self, arn: str) -> PrincipalEntry | object | None:
        """The cached entry (None = known not to exist) or cache.MISSING; no I/O."""
        return self.principals.lookup(arn)

    async def principal_entry(self, arn: str) -> PrincipalEntry | None:
        found = self.principals.lookup(arn)
        if found is not MISSING:
            return found  # type: ignore[return-value]
        return await self.principals.get(arn, lambda: self._build_principal(arn))

    async def _build_principal(self, arn: str) -> Built[PrincipalEntry | None]:
        built = await self._build_principal_entry(arn)
        if built.value is not None:
            built.value.cache_key = arn  # where its remembered decisions are charged
        return built

    async def _build_principal_entry(self, arn: str) -> Built[PrincipalEntry | None]:
        account = account_of(arn)
        try:
            principal = Principal.from_arn(arn)
        except ValueError:
            return Built(None, (), 64)
        if principal.kind in (PrincipalKind.SERVICE, PrincipalKind.ANONYMOUS):
            # No stored policies: only resource policies can grant them.
            entry = PrincipalEntry(principal, PolicySets(), Context.EMPTY, self.revision)
            return Built(entry, (), 256)
        if principal.kind is PrincipalKind.FEDERATED_USER:
            return Built(None, (), 64)  # federation sessions are not stored
        session = session_parts(arn)
        if session is not None:
            # Sessions of a role share its compiled entry: a new session name costs a small
            # entry, not a load.
            role_key = f"{session[0]}:{session[1]}"
            base = await self.roles.get(role_key, lambda: self._build_role(arn))
            if base is None:
                return Built(None, tuple(dependencies(arn, account, None)), 64)
            return Built(base.session(arn, session[2]), base.depends_on, 1024 + 2 * len(arn))
        policies = await self._load_principal(arn)
        if policies is None:
            return Built(None, tuple(dependencies(arn, account, None)), 64)
        entry = self._compile_principal(arn, policies)
        size = entry_size(policies, entry)
        return Built(entry, tuple(dependencies(arn, account, policies)), size)

    async def _load_principal(self, arn: str) -> PrincipalPolicies | None:
        try:
            async with asyncio.timeout(self.load_backstop):
                return await self._store.load_principal_policies(principal_arn=arn)
        except Unavailable:  # the source says why (a sidecar's follower)
            raise
        except Exception as exc:
            log.warning("loading the policies of %s failed: %r", arn, exc)
            raise Unavailable(f"cannot load the policies of {arn}: database unavailable") from exc

    async def _build_role(self, session_arn: str) -> Built[RoleBase | None]:
        """The shared part of the entries of a role's sessions (``session_arn`` is any one)."""
        account = account_of(session_arn)
        policies = await self._load_principal(session_arn)
        if policies is None:
            return Built(None, tuple(dependencies(session_arn, account, None)), 64)
        role_arn = policies.principal_arn
        entry = self._compile_principal(role_arn, policies)
        depends_on = tuple(dependencies(role_arn, account, policies))
        base = RoleBase(entry, policies.unique_id, depends_on)
        return Built(base, depends_on, entry_size(policies, entry))

    def _compile_principal(self, arn: str, policies: PrincipalPolicies) -> PrincipalEntry:
        try:
            return compile_principal(arn, policies)
        except ValueError as exc:
            # A stored document the engine refuses: fail closed for this principal.
            raise Unavailable(f"cannot compile the policies of {arn}: {exc}") from exc

    def lookup_resource(self, resource_arn: str) -> PolicySet | object | None:
        if resource_arn == "*":
            return None
        known = self._resource_arns
        if known is not None and resource_arn not in known and not ROLE_ARN.match(resource_arn):
            return None
        return self.resources.lookup(resource_arn)

    async def group_policies(self, group_arn: str) -> tuple[str, tuple[CompiledPolicy, ...]] | None:
        """(account id, compiled policies) of a group, for simulations (not cached: a group
        is never a principal, so Authorize never asks for one)."""
        try:
            loaded = await self._store.load_group_policies(group_arn=group_arn)
        except Exception as exc:
            raise Unavailable(f"cannot load the policies of {group_arn}") from exc
        if loaded is None:
            return None
        account, policies = loaded
        return account, tuple(compile_loaded(p, PolicyKind.IDENTITY) for p in policies)

    async def principal_ids(self, document: str) -> dict[str, str]:
        """User/role principals of an unsaved document -> the unique ids they name now."""
        try:
            return await self._store.resolve_principal_ids(document=document)
        except Exception as exc:
            raise Unavailable("cannot resolve the principals of the policy") from exc

    async def resource_policies(self, resource_arn: str) -> ResourceEntry | None:
        found = self.lookup_resource(resource_arn)
        if found is not MISSING:
            return found  # type: ignore[return-value]
        return await self.resources.get(resource_arn, lambda: self._build_resource(resource_arn))

    async def _build_resource(self, resource_arn: str) -> Built[ResourceEntry | None]:
        try:
            async with asyncio.timeout(self.load_backstop):
                return await self._load_resource(resource_arn)
        except Unavailable:  # the source says why (a sidecar's follower, a load timeout)
            raise
        except ValueError as exc:
            raise Unavailable(f"cannot compile the resource policy of {resource_arn}") from exc
        except Exception as exc:
            raise Unavailable(f"cannot load the resource policy of {resource_arn}") from exc

    async def _load_resource(self, resource_arn: str) -> Built[ResourceEntry | None]:
        keys = (f"resource:{resource_arn}", f"role:{resource_arn}")
        role_account = ROLE_ARN.match(resource_arn)
        if role_account:
            # A role's resource policy is its trust policy; the role's account owns it.
            role = await self._store.load_principal_policies(principal_arn=resource_arn)
            if role is None or role.trust_policy is None or role.kind != "role":
                return Built(None, keys, 64)
            entry = compile_trust(resource_arn, role)
            return Built(entry, keys, 256 + len(role.trust_policy) * 8)
        loaded = await self._store.load_resource_policy(resource_arn=resource_arn)
        if loaded is None:
            return Built(None, keys, 64)
        return Built(compile_resource(resource_arn, loaded), keys, resource_entry_size(loaded))

    # -- decisions ---------------------------------------------------------------------

    def evaluate(
        self,
        entry: PrincipalEntry,
        action: str,
        resource: str,
        resource_account: str | None,
        context: Context | None,
        resource_entry: ResourceEntry | None,
        explain: bool,
        now: int,
        generation: int | None = None,
    ) -> EvaluationResult:
        """One decision for a resolved principal (no I/O).

        ``generation`` is `self.generation` as read before the caller fetched the entries;
        with it, the decision is memoized on the principal's entry (see `memoized`).
        Raises Unavailable when this replica cannot prove its snapshot current (see
        ChangeFeed.check_fresh), OwnerMismatch when ``resource_account`` contradicts the
        resource's owner.
        """
        if _monotonic() > self._feed.fresh_until:
            self._feed.check_fresh()
        owner = resource_owner(entry, resource, resource_account, resource_entry)
        key = None
        if (
            generation is not None
            and context is None
            and entry.memoizable
            and (resource_entry is None or not resource_entry.uses_clock)
        ):
            key = (action, resource, resource_account, explain)
            known = entry.memo.get(key)
            if known is not None and known[0] == generation:
                return known[1]
        request = AuthorizationRequest(
            entry.principal, action, resource, owner, entry.context(context, now)
        )
        result = evaluate(
            request, entry.with_resource(resource_entry), self.registry, explain=explain
        )
        if key is not None and generation is not None and entry.cache_key is not None:
            self._remember(entry, key, generation, result)
        return result

    def _remember(
        self,
        entry: PrincipalEntry,
        key: tuple[str, str, str | None, bool],
        generation: int,
        result: EvaluationResult,
    ) -> None:
        """Keeps a decision on its principal's entry, charged to the principal cache (which
        evicts other entries to make room); nothing is kept if the entry left the cache."""
        if generation != entry.memo_generation:
            if generation < entry.memo_generation:
                return  # a decision taken before a change the memo already reflects
            self._forget(entry)  # every remembered decision is from an older generation
            entry.memo_generation = generation
        elif len(entry.memo) >= MEMO_LIMIT:
            self._forget(entry)
        cost = MEMO_ITEM_BYTES + len(key[0]) + len(key[1])
        if key[3]:
            cost += MEMO_EXPLAIN_BYTES
        assert entry.cache_key is not None
        if self.principals.charge(entry.cache_key, entry, cost):
            entry.memo[key] = (generation, result)
            entry.memo_bytes += cost

    def _forget(self, entry: PrincipalEntry) -> None:
        if entry.memo:
            assert entry.cache_key is not None
            self.principals.charge(entry.cache_key, entry, -entry.memo_bytes)
            entry.memo.clear()
            entry.memo_bytes = 0

    async def fresh(self) -> None:
        """Returns at once while this replica is proven current within the staleness bound;
        otherwise waits briefly for a proof, then raises Unavailable (ChangeFeed)."""
        if _monotonic() > self._feed.fresh_until:
            await self._feed.ensure_fresh()

    def settled_since(self, generation: int) -> bool:
        """Whether entries read at ``generation`` are still current and the replica proven
        current now: a decision may then be taken from them (with no await in between)."""
        return self.generation == generation and _monotonic() <= self._feed.fresh_until

    async def settled(self, resolve: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """(What ``resolve`` read, the generation it is current at), once ``resolve`` (which
        reads entries, loading the missing ones) ran with no change arriving meanwhile and
        the replica is proven current. A change or a stall during a load would otherwise
        leave a decision resting on entries older than the staleness bound."""
        for _ in range(SETTLE_ATTEMPTS):
            await self.fresh()
            generation = self.generation
            value = await resolve()
            if self.settled_since(generation):
                return value, generation
        raise Unavailable("policies kept changing while this decision's entries loaded; retry")

    @staticmethod
    def memoized(
        entry: PrincipalEntry,
        action: str,
        resource: str,
        resource_account: str | None,
        explain: bool,
        generation: int,
    ) -> EvaluationResult | None:
        """A decision remembered for a context-free request, if nothing changed since: any
        change bumps the generation, so a hit needs no resource or registry lookup."""
        if not entry.memoizable:
            return None
        known = entry.memo.get((action, resource, resource_account, explain))
        if known is not None and known[0] == generation:
            return known[1]
        return None

    async def decide(
        self,
        principal_arn: str,
        action: str,
        resource: str,
        *,
        resource_account: str | None = None,
        context: Context | None = None,
        explain: bool = False,
        unique_id: str | None = None,
    ) -> Outcome:
        """Evaluates one request for a stored principal; unknown principals are denied.
        With ``unique_id`` (a caller deciding for itself), a principal of that ARN with
        another id (the name was reused) counts as unknown."""

        async def resolve() -> tuple[PrincipalEntry | None, ResourceEntry | None]:
            entry = await self.principal_entry(principal_arn)
            if entry is None or (unique_id is not None and entry.unique_id != unique_id):
                return None, None
            return entry, await self.resource_policies(resource)

        (entry, resource_entry), generation = await self.settled(resolve)
        revision = self._feed.applied_revision
        if entry is None:
            return Outcome(UNKNOWN_PRINCIPAL, False, revision, True)
        result = self.evaluate(
            entry,
            action,
            resource,
            resource_account,
            context,
            resource_entry,
            explain,
            int(time.time()),
            generation,
        )
        return Outcome(result, True, revision, timeless(entry, resource_entry, context))

    @staticmethod
    def _grant_key(caller: Caller, principal_arn: str) -> tuple[str, str, str]:
        # A session's rights are narrowed by its own session policies: key it by its key id.
        # The unique id: a grant of whoever holds a name now is not one of its former holder.
        who = caller.access_key_id if caller.session is not None else caller.arn
        return who, caller.principal_id, principal_arn

    def may_authorize_cached(self, caller: Caller, principal_arn: str) -> bool:
        """True when the caller is known (without I/O) to be allowed to ask about the
        principal; False means "check with may_authorize_for"."""
        return caller.arn == principal_arn or self.grants.get(
            self._grant_key(caller, principal_arn), False
        )

    async def may_authorize_for(self, caller: Caller, principal_arn: str) -> bool:
        """Whether ``caller`` may ask about ``principal_arn`` (``iamd:Authorize`` on the
        principal's ARN, or on ``*`` for anonymous and service principals, session policies
        included); asking about oneself always is."""
        if caller.arn == principal_arn:
            return True
        key = self._grant_key(caller, principal_arn)
        known = self.grants.get(key)
        if known is not None:
            return known
        generation = self.generation
        # Anonymous and service principals have no ARN (and no account): asking about them
        # needs the action on `*`, in the caller's own account.
        target = principal_arn if principal_arn.startswith("arn:") else "*"
        outcome = await self.allows(caller, AUTHORIZE_ACTION, target)
        allowed = outcome.result.decision is Decision.ALLOWED
        # Kept only while nothing can change it: not when a change arrived during the
        # decision (it may have revoked it), nor when a policy involved reads the clock.
        if generation == self.generation and outcome.timeless:
            self.grants.put(key, allowed)
        return allowed

    async def allows(
        self,
        caller: Caller,
        action: str,
        resource_arn: str,
        *,
        resource_account: str | None = None,
        context: Context | None = None,
    ) -> Outcome:
        """The decision for an authenticated caller, its session's policies included."""
        if caller.session is not None and self.session_decide is not None:
            # Temporary credentials: session policies, session tags and token keys apply.
            return await self.session_decide(
                caller.session,
                action,
                resource_arn,
                resource_account=resource_account,
                context=context,
            )
        return await self.decide(
            caller.arn,
            action,
            resource_arn,
            resource_account=resource_account,
            context=context,
            unique_id=caller.principal_id,
        )

    async def require(
        self,
        caller: Caller,
        action: str,
        resource_arn: str,
        *,
        resource_account: str | None = None,
        context: Context | None = None,
    ) -> None:
        """Raises PermissionDenied unless the caller's policies allow ``action`` on the ARN."""
        outcome = await self.allows(
            caller, action, resource_arn, resource_account=resource_account, context=context
        )
        if outcome.result.decision is not Decision.ALLOWED:
            raise PermissionDenied(
                f"{caller.arn} is not authorized to perform {action} on resource {resource_arn}"
                f" ({outcome.result.decision.value}: {outcome.result.reason})"
            )
        if self.on_allowed is not None:
            self.on_allowed(caller.principal_id, action)

    # -- Authorize's entry -------------------------------------------------------------
    # A front door parses its request, asks `authorize_now` (or `authorize_batch_now`),
    # which decides without I/O when everything is in memory, and awaits `authorize` (or
    # `authorize_batch`) on None. `replied` and `remember_reply` keep whole replies.

    def authorize_now(
        self,
        caller: Caller,
        principal_arn: str,
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        explain: bool,
    ) -> Decided | None:
        """The decision when every entry it rests on is cached, the caller's grant to ask is
        remembered and the replica is proven current: no I/O, no await. None when a load, a
        grant check, a session's entry, a reload or a freshness proof is needed first: then
        await `authorize`."""
        if self.known_actions.get(action) is not True:
            return None
        feed = self._feed
        if _monotonic() > feed.fresh_until:
            return None
        entry: Any = self.principals.lookup(principal_arn)
        if entry is MISSING:
            return None
        if principal_arn == caller.arn:
            if entry is not None:
                if entry.unique_id != caller.principal_id:
                    entry = None  # the name now belongs to another user or role
                elif caller.session is not None:
                    return None  # decided as its session, whose entry may need a load
        elif not self.grants.get(self._grant_key(caller, principal_arn), False):
            return None
        revision = feed.applied_revision
        generation = self.generation
        if entry is None:
            return Decided(UNKNOWN_PRINCIPAL, UNKNOWN, None, None, revision, generation)
        if context is None and entry.memoizable:
            known = entry.memo.get((action, resource, owner, explain))
            if known is not None and known[0] == generation:
                result = known[1]
                return Decided(result, decision_code(result), entry, None, revision, generation)
        resource_entry: Any = self.lookup_resource(resource)
        if resource_entry is MISSING:
            return None
        result = self.evaluate(
            entry, action, resource, owner, context, resource_entry, explain,
            int(time.time()), generation,
        )  # fmt: skip
        return Decided(result, decision_code(result), entry, resource_entry, revision, generation)

    async def authorize(
        self,
        caller: Caller,
        principal_arn: str,
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        explain: bool,
    ) -> Decided:
        """The decision `authorize_now` could not take without awaiting: the caller must be
        allowed to ask about the principal (PermissionDenied), a caller with temporary
        credentials asking about itself is decided as its session, an unknown principal is
        denied implicitly. The entries are read at one generation and read again when a
        change arrived while they loaded; past the staleness bound it fails closed."""
        if self.known_actions.get(action) is not True:
            await self.require_action(action)
        feed = self._feed
        for _ in range(SETTLE_ATTEMPTS):
            await self.fresh()  # or fail closed: this replica may be missing changes
            revision = feed.applied_revision
            generation = self.generation  # the entries read below are current as of it
            waited = False
            entry: Any = self.principals.lookup(principal_arn)
            if entry is MISSING or not self.may_authorize_cached(caller, principal_arn):
                entry = await self._principal_for(caller, principal_arn)
                waited = True
            else:
                if principal_arn == caller.arn:
                    entry = _same_identity(entry, caller)
                if caller.session is not None and principal_arn == caller.arn and entry is not None:
                    entry = await self._own_session(entry, caller)
                    waited = True
            known = None
            resource_entry: Any = None
            if entry is not None:
                if context is None:
                    known = self.memoized(entry, action, resource, owner, explain, generation)
                if known is None:
                    resource_entry = self.lookup_resource(resource)
                    if resource_entry is MISSING:
                        resource_entry = await self.resource_policies(resource)
                        waited = True
            # Loads let changes (and time) pass: decide only from entries still current.
            if not waited or self.settled_since(generation):
                break
        else:
            raise Unavailable("policies kept changing while this decision's entries loaded; retry")
        if entry is None:
            return Decided(UNKNOWN_PRINCIPAL, UNKNOWN, None, None, revision, generation)
        if known is None:
            known = self.evaluate(
                entry, action, resource, owner, context, resource_entry, explain,
                int(time.time()), generation,
            )  # fmt: skip
        return Decided(known, decision_code(known), entry, resource_entry, revision, generation)

    async def authorize_end_user(
        self,
        caller: Caller,
        end_user: Caller,
        session_entry: Callable[[PrincipalEntry], Awaitable[PrincipalEntry]],
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        explain: bool,
    ) -> Decided:
        """The decision for the principal a forwarded end-user credential authenticated
        (``session_entry``: its entry with its session's policies and keys, if any); the
        caller must be allowed to ask about it. Nothing is remembered (a session's entry
        is its own)."""
        await self.require_action(action)

        async def resolve() -> tuple[PrincipalEntry | None, ResourceEntry | None]:
            base = _same_identity(await self._entry_for(caller, end_user.arn), end_user)
            if base is None:
                return None, None
            return await session_entry(base), await self.resource_policies(resource)

        (entry, resource_entry), generation = await self.settled(resolve)
        revision = self._feed.applied_revision
        if entry is None:
            return Decided(UNKNOWN_PRINCIPAL, UNKNOWN, None, None, revision, generation)
        result = self.evaluate(
            entry, action, resource, owner, context, resource_entry, explain, int(time.time())
        )
        return Decided(result, decision_code(result), entry, resource_entry, revision, generation)

    async def _entry_for(self, caller: Caller, principal_arn: str) -> PrincipalEntry | None:
        """The principal's entry, after checking the caller may ask about it."""
        if not await self.may_authorize_for(caller, principal_arn):
            raise PermissionDenied(
                f"{caller.arn} is not authorized to perform {AUTHORIZE_ACTION}"
                f" on principal {principal_arn}"
            )
        return await self.principal_entry(principal_arn)

    async def _principal_for(self, caller: Caller, principal_arn: str) -> PrincipalEntry | None:
        """`_entry_for`; for the caller's own ARN, only while it names the caller (not a
        reused name), and as its session for temporary credentials."""
        entry = await self._entry_for(caller, principal_arn)
        if principal_arn == caller.arn:
            entry = _same_identity(entry, caller)
            if caller.session is not None and entry is not None:
                entry = await self._own_session(entry, caller)
        return entry

    async def _own_session(self, entry: PrincipalEntry, caller: Caller) -> PrincipalEntry:
        """A caller with temporary credentials asking about itself is decided as the session
        it is: its session policies, session tags and token keys apply (the entry is the
        session's own and remembers nothing)."""
        if self.session_entry is None or caller.session is None:
            raise Unavailable("session policies cannot be applied by this server")
        return await self.session_entry(entry, caller.session)

    # -- remembered replies ------------------------------------------------------------

    def replied(self, request: bytes, caller: Caller) -> RememberedReply | None:
        """The reply Authorize gave these exact request bytes from this caller, while it
        still holds: nothing changed since (generation and revision), the replica is proven
        current, and the principal's entry is still the cached one. None: decide in full."""
        replies = self.replies
        known = replies.get(request)
        if known is None:
            replies.stats.misses += 1
            return None
        feed = self._feed
        if (
            known.caller is not caller
            or known.generation != self.generation
            or known.revision != feed.applied_revision
            or _monotonic() > feed.fresh_until
            or self.principals.lookup(known.principal_arn) is not known.entry
        ):
            return None
        replies.stats.hits += 1
        return known

    def remember_reply(
        self,
        request: bytes,
        caller: Caller,
        principal_arn: str,
        action: str,
        resource: str,
        owner: str | None,
        decided: Decided,
        reply: bytes,
    ) -> None:
        """Keeps the reply to a context-free, non-explain Authorize (``request``: its bytes)
        when it holds until something changes: the caller has long-term keys, and both the
        decision and the caller's grant to ask were remembered (neither reads the clock), so
        it is the reply `authorize` would give while the generation stays."""
        if caller.session is not None or not self.may_authorize_cached(caller, principal_arn):
            return
        entry = decided.entry
        generation = decided.generation
        if entry is not None and decided.result is not self.memoized(
            entry, action, resource, owner, False, generation
        ):
            return
        record = RememberedReply(
            caller, generation, decided.revision, principal_arn, entry, decided.code, reply,
            action, resource, owner, decided.resource_entry, decided.result,
        )  # fmt: skip
        self.replies.put(request, record, generation)

    # -- batches -----------------------------------------------------------------------

    def authorize_batch_now(
        self, caller: Caller, checks: Sequence[Check], principal_arn: str, explain: bool
    ) -> BatchDecided | None:
        """The decisions of a batch (``principal_arn``: for checks that name none) when all
        can be taken from memory, as `authorize_now`; None: await `authorize_batch`.
        Raises InvalidArgument naming the check and field of bad input."""
        feed = self._feed
        if _monotonic() > feed.fresh_until:
            return None
        decided = self._decide_checks(
            caller, checks, principal_arn, explain, {}, {"": None, "*": None},
            self.generation, feed.applied_revision, int(time.time()),
        )  # fmt: skip
        return decided if isinstance(decided, BatchDecided) else None

    async def authorize_batch(
        self, caller: Caller, checks: Sequence[Check], principal_arn: str, explain: bool
    ) -> BatchDecided:
        """`authorize_batch_now` with the awaits it could not make: the entries it missed
        are loaded (grants checked, as `authorize`) and the checks decided again, all of
        them from entries current at one generation."""
        feed = self._feed
        for _ in range(SETTLE_ATTEMPTS):
            await self.fresh()  # or fail closed: this replica may be missing changes
            revision = feed.applied_revision
            now = int(time.time())
            generation = self.generation  # the entries read below are current as of it
            # Each principal and resource is resolved once per call, against the same cache.
            entries: dict[str, Any] = {}
            resources: dict[str, Any] = {"": None, "*": None}
            # A pass that misses something loads it: a reload for an action, then
            # principals, then the resources their decisions need.
            decided: BatchDecided | _Missing | None = None
            for _pass in range(6):
                decided = self._decide_checks(
                    caller, checks, principal_arn, explain, entries, resources, generation,
                    revision, now,
                )  # fmt: skip
                if not isinstance(decided, _Missing):
                    break
                await self._load_missing(caller, decided, entries, resources)
                if not self.settled_since(generation):
                    break  # decide every check again from current entries
            # Loads let changes (and time) pass: decide only from entries still current.
            if isinstance(decided, BatchDecided) and self.settled_since(generation):
                return decided
        raise Unavailable("policies kept changing while this batch's entries loaded; retry")

    async def _load_missing(
        self,
        caller: Caller,
        missing: _Missing,
        entries: dict[str, Any],
        resources: dict[str, Any],
    ) -> None:
        if missing.action is not None:
            await self.require_action(*missing.action)
        for principal in missing.principals:
            entries[principal] = await self._principal_for(caller, principal)
        for resource in missing.resources:
            resources[resource] = await self.resource_policies(resource)

    def _decide_checks(
        self,
        caller: Caller,
        checks: Sequence[Check],
        default_principal: str,
        explain: bool,
        entries: dict[str, Any],
        resources: dict[str, Any],
        generation: int,
        revision: int,
        now: int,
    ) -> BatchDecided | _Missing | None:
        """One pass over a batch from memory (``entries`` and ``resources``: those already
        loaded): its decisions, or what it missed (every principal and resource not cached,
        or the first action waiting for a reload), or None when the replica could not be
        proven current. No await: everything read is current at ``generation``."""
        known_actions = self.known_actions
        lookup_principal = self.principals.lookup
        grants = self.grants
        lookup_resource = self.lookup_resource
        evaluate_entry = self.evaluate
        caller_arn = caller.arn
        absent = MISSING
        pending = _PENDING
        allowed, explicit_deny = Decision.ALLOWED, Decision.EXPLICIT_DENY
        missing: _Missing | None = None
        results: list[tuple[EvaluationResult, str, int]] = []
        append = results.append
        counts = [0, 0, 0, 0]  # by decision code; [UNKNOWN] = unknown principal
        for index, check in enumerate(checks):
            action = check.action
            if known_actions.get(action) is not True:
                field = f"checks[{index}].action"
                try:
                    self.check_action(action, field)
                except InvalidArgument:
                    pending = self._registry_reload
                    if pending is None or pending.done():
                        raise
                    missing = missing or _Missing()
                    missing.action = (action, field)  # the reload may declare it
                    return missing
            raw_resource = check.resource_arn
            owner = check.resource_owner_account or None
            if owner is not None and not valid_account(owner):
                raise InvalidArgument(
                    f"checks[{index}].resource_owner_account", "must be a 12-digit account id"
                )
            has_context = len(check.context)
            principal = check.principal_arn or default_principal
            entry: Any = entries.get(principal, absent)
            if entry is absent:
                entry = lookup_principal(principal)
                if entry is not absent:
                    if principal == caller_arn:
                        if entry is not None:
                            if entry.unique_id != caller.principal_id:
                                entry = None  # the name now belongs to another user or role
                            elif caller.session is not None:
                                entry = absent  # decided as its session: see authorize
                    elif not grants.get(self._grant_key(caller, principal), False):
                        entry = absent
                if entry is absent:
                    missing = missing or _Missing()
                    missing.principals.append(principal)
                    entry = pending
                entries[principal] = entry
            if entry is pending:
                continue
            resource = raw_resource or "*"
            # Fast path: a context-free check decided before with nothing changed since
            # (inlined `memoized`: this loop runs once per check).
            result: EvaluationResult | None = None
            if not has_context and entry is not None and entry.memoizable:
                known = entry.memo.get((action, resource, owner, explain))
                if known is not None and known[0] == generation:
                    result = known[1]
            if result is None:
                resource_entry = resources.get(raw_resource, absent)
                if resource_entry is absent:
                    if not is_resource(raw_resource):
                        raise InvalidArgument(
                            f"checks[{index}].resource_arn", "must be an ARN or *"
                        )
                    resource_entry = lookup_resource(raw_resource)
                    if resource_entry is absent:
                        missing = missing or _Missing()
                        missing.resources.append(raw_resource)
                        resource_entry = pending
                    resources[raw_resource] = resource_entry
                if resource_entry is pending:
                    continue
                if entry is None:
                    append((UNKNOWN_PRINCIPAL, principal, IMPLICIT_DENY))
                    counts[UNKNOWN] += 1
                    continue
                context = (
                    request_context(check.context, f"checks[{index}].context")
                    if has_context
                    else None
                )
                try:
                    result = evaluate_entry(
                        entry, action, resource, owner, context, resource_entry, explain,
                        now, generation,
                    )  # fmt: skip
                except OwnerMismatch as exc:
                    raise InvalidArgument(
                        f"checks[{index}].resource_owner_account", exc.reason
                    ) from None
                except Unavailable:
                    return None  # stalled past the staleness bound: decide again
            decision = result.decision
            # ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY, as literals: this runs once per check.
            code = 1 if decision is allowed else 2 if decision is explicit_deny else 3
            counts[code] += 1
            append((result, principal, code))
        if missing is not None:
            return missing
        # A long stall (a collection, a starved process) may have passed while the checks
        # were decided.
        if _monotonic() > self._feed.fresh_until:
            return None
        return BatchDecided(results, counts, entries, resources, revision)
