"""Decisions from memory: compiled per-principal and per-resource policy entries, kept
current by change notifications, fed to the pure engine.

A cache hit touches no database. An entry that cannot be built (database down) raises
`Unavailable`, so callers fail closed; entries already cached keep serving.

The Decider holds the caches and the memos (`memos`), keeps them current, builds and loads
entries, and decides (`evaluate`, `decide`, `allows`, `require`) once its replica is proven
current. Authorize and AuthorizeBatch enter through `authorize_entry.AuthorizeEntry`, which
reads the same caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

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
    has_no_resource_policy,
    name_key,
    resource_entry_size,
    session_parts,
    timeless,
)
from iamd_policy.requests import declares, registry_of, undeclared

from iamd_server.authn.authenticator import Caller
from iamd_server.authz.cache import MISSING, Built, DependencyCache
from iamd_server.authz.memos import GrantMemo, ReplyMemo, grant_key
from iamd_server.authz.owners import resource_owner
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

# Actions remembered as declared, at most (then all are forgotten).
KNOWN_ACTIONS_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    result: EvaluationResult
    principal_known: bool
    revision: int
    # True when the decision cannot change without a write: no caller-supplied context and
    # no policy involved reads the clock (a DateLessThan grant expires by itself).
    timeless: bool = False


def _drop_memo(entry: PrincipalEntry | None) -> None:
    """An entry leaving the principal cache forgets its remembered decisions (whoever still
    holds the entry, they were charged to the cache)."""
    if entry is not None and entry.memo:
        entry.memo = {}
        entry.memo_bytes = 0


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
        index_lists_account_less: bool = True,
    ) -> None:
        self._store = store
        self._feed = feed
        # Whether the source's resource index also lists ARNs without an account field
        # (the server's lists every account; a sidecar's only its own): see
        # entries.has_no_resource_policy.
        self.index_lists_account_less = index_lists_account_less
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
        # Cleared in place, never replaced: AuthorizeEntry holds it.
        self.known_actions: dict[str, bool] = {}
        # (caller ARN or session key id, caller's unique id, principal ARN) -> may the caller
        # ask about that principal.
        self.grants = GrantMemo(max_bytes // 32)
        # Authorize's replies by request bytes (see AuthorizeEntry.replied).
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

    @property
    def feed(self) -> RevisionFeed:
        """The change feed the caches follow (its revision, its freshness proof)."""
        return self._feed

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
        self.known_actions.clear()
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

    def registry_reloading(self) -> bool:
        """Whether a reload of service definitions is under way: an action that looks
        undeclared may be declared by it (see `require_action`)."""
        pending = self._registry_reload
        return pending is not None and not pending.done()

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
        if has_no_resource_policy(
            resource_arn, self._resource_arns, lists_account_less=self.index_lists_account_less
        ):
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

    def may_authorize_cached(self, caller: Caller, principal_arn: str) -> bool:
        """True when the caller is known (without I/O) to be allowed to ask about the
        principal; False means "check with may_authorize_for"."""
        return caller.arn == principal_arn or self.grants.get(
            grant_key(caller, principal_arn), False
        )

    async def may_authorize_for(self, caller: Caller, principal_arn: str) -> bool:
        """Whether ``caller`` may ask about ``principal_arn`` (``iamd:Authorize`` on the
        principal's ARN, or on ``*`` for anonymous and service principals, session policies
        included); asking about oneself always is."""
        if caller.arn == principal_arn:
            return True
        key = grant_key(caller, principal_arn)
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
