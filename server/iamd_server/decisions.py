"""Decisions from memory: compiled per-principal and per-resource policy entries, kept
current by change notifications, fed to the pure engine.

A cache hit touches no database. An entry that cannot be built (database down) raises
`Unavailable`, so callers fail closed; entries already cached keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from iamd_server.api.auth import Caller
from iamd_server.cache import MISSING, Built, DependencyCache
from iamd_server.entries import (
    MEMO_LIMIT,
    ROLE_ARN,
    UNKNOWN_PRINCIPAL,
    PrincipalEntry,
    ResourceEntry,
    account_of,
    compile_loaded,
    definition_from_record,
    dependencies,
    name_key,
    principal_for,
    trusted_context,
)
from iamd_server.errors import InvalidArgument, PermissionDenied, Unavailable
from iamd_server.policy import (
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
    ServiceDefinitionError,
    ServiceRegistry,
    acl_grants_to_policy,
    bind_principal_ids,
    builtin_registry,
    compile_policy,
    evaluate,
)
from iamd_server.sources import PolicySource, RevisionFeed
from iamd_server.store.records import PrincipalPolicies

log = logging.getLogger(__name__)

# What a caller of Authorize needs on the principal it asks about.
AUTHORIZE_ACTION = "iamd:Authorize"


@dataclass(frozen=True, slots=True)
class Outcome:
    result: EvaluationResult
    principal_known: bool
    revision: int


class Decider:
    """Answers authorization questions from compiled, cached policy entries."""

    def __init__(
        self,
        store: PolicySource,
        feed: RevisionFeed,
        *,
        max_entries: int = 100_000,
        max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self._store = store
        self._feed = feed
        self.principals: DependencyCache[PrincipalEntry | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes
        )
        self.resources: DependencyCache[ResourceEntry | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes // 4
        )
        self.registry: ServiceRegistry = builtin_registry()
        self.known_actions: dict[str, bool] = {}
        # (caller ARN or session key id, caller's unique id, principal ARN) -> may the caller
        # ask about that principal.
        self._authorize_grants: dict[tuple[str, str, str], bool] = {}
        # Bumped by every change notification, registry reload and resource-ARN reload: a
        # memoized decision or grant taken at generation g is current while it is still g.
        self.generation = 0
        # ARNs that have a resource policy or ACL; None while unknown (then ask the database).
        self._resource_arns: set[str] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Set by the app (session_policies.SessionPolicies.decide bound to this decider):
        # decides for callers with temporary credentials. None = as the stored principal.
        self.session_decide: Callable[..., Awaitable[Outcome]] | None = None

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
            self.resources.clear()
            self._resource_arns = None
            self._authorize_grants.clear()
            self.generation += 1
            self._spawn(self._reload_registry())
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
        self.resources.invalidate(expanded)
        self._authorize_grants.clear()
        self.generation += 1
        if any(k.startswith("service:") for k in keys):
            self._spawn(self._reload_registry())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reload_registry(self) -> None:
        try:
            records = await self._store.load_service_definitions()
        except Exception as exc:
            log.warning("loading service definitions failed (%s); keeping the registry", exc)
            return
        registry = builtin_registry()
        for record in records:
            try:
                registry = registry.with_definition(
                    definition_from_record(record.service_prefix, record.definition)
                )
            except (ServiceDefinitionError, KeyError, TypeError, ValueError):
                log.exception("skipping unreadable service definition %s", record.service_prefix)
        self.registry = registry
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

    def check_action(self, action: str, field: str = "action") -> None:
        """Raises InvalidArgument unless ``action`` is declared by a service definition."""
        known = self.known_actions.get(action)
        if known is None:
            service, _, name = action.lower().partition(":")
            definition = self.registry.get(service) if name else None
            known = definition is not None and name in definition.actions
            if len(self.known_actions) > 100_000:
                self.known_actions.clear()
            self.known_actions[action] = known
        if not known:
            raise InvalidArgument(
                field, f"{action[:256]!r} is not an action declared by a service definition"
            )

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
        try:
            policies = await self._store.load_principal_policies(principal_arn=arn)
        except Unavailable:  # the source says why (a sidecar's follower)
            raise
        except Exception as exc:
            raise Unavailable(f"cannot load the policies of {arn}: database unavailable") from exc
        if policies is None:
            return Built(None, tuple(dependencies(arn, account, None)), 64)
        try:
            entry = self._compile_principal(arn, policies)
        except ValueError as exc:
            # A stored document the engine refuses: fail closed for this principal.
            raise Unavailable(f"cannot compile the policies of {arn}: {exc}") from exc
        size = 1024 + 8 * sum(len(p.document) for p in policies.identity)
        if policies.boundary is not None:
            size += 8 * len(policies.boundary.document)
        for level in policies.scp_levels:
            size += 8 * sum(len(p.document) for p in level)
        return Built(entry, tuple(dependencies(arn, account, policies)), size)

    def _compile_principal(self, arn: str, policies: PrincipalPolicies) -> PrincipalEntry:
        principal = principal_for(arn, policies)
        identity = PolicySet.of(compile_loaded(p, PolicyKind.IDENTITY) for p in policies.identity)
        boundary = (
            PolicySet.of([compile_loaded(policies.boundary, PolicyKind.PERMISSIONS_BOUNDARY)])
            if policies.boundary is not None
            else None
        )
        scp_levels = tuple(
            PolicySet.of(compile_loaded(p, PolicyKind.SERVICE_CONTROL) for p in level)
            for level in policies.scp_levels
        )
        sets = PolicySets(identity=identity, boundary=boundary, scp_levels=scp_levels)
        return PrincipalEntry(
            principal,
            sets,
            trusted_context(policies, principal),
            policies.revision,
            policies.unique_id or policies.account_id,
        )

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
        keys = (f"resource:{resource_arn}", f"role:{resource_arn}")
        try:
            if ROLE_ARN.match(resource_arn):
                # A role's resource policy is its trust policy.
                role = await self._store.load_principal_policies(principal_arn=resource_arn)
                if role is None or role.trust_policy is None or role.kind != "role":
                    return Built(None, keys, 64)
                trust = compile_policy(
                    role.trust_policy, PolicyKind.TRUST, policy_id=resource_arn, source_type="role"
                )
                bind_principal_ids(trust, dict(role.trust_principal_ids))
                entry = ResourceEntry(PolicySet.of([trust]))
                return Built(entry, keys, 256 + len(role.trust_policy) * 8)
            loaded = await self._store.load_resource_policy(resource_arn=resource_arn)
        except ValueError as exc:
            raise Unavailable(f"cannot compile the resource policy of {resource_arn}") from exc
        except Unavailable:  # the source says why (a sidecar's follower)
            raise
        except Exception as exc:
            raise Unavailable(f"cannot load the resource policy of {resource_arn}") from exc
        if loaded is None:
            return Built(None, keys, 64)
        compiled: list[CompiledPolicy] = []
        try:
            if loaded.document is not None:
                document = compile_policy(
                    loaded.document,
                    PolicyKind.RESOURCE,
                    policy_id=resource_arn,
                    source_type="resource",
                )
                compiled.append(bind_principal_ids(document, dict(loaded.principal_ids)))
            if loaded.acl:
                grants = [(g.grantee, g.permission) for g in loaded.acl]
                compiled.append(acl_grants_to_policy(grants, resource_arn, policy_id=resource_arn))
        except ValueError as exc:
            raise Unavailable(f"cannot compile the resource policy of {resource_arn}") from exc
        size = 256 + len(loaded.document or "") * 8 + 128 * len(loaded.acl)
        return Built(ResourceEntry(PolicySet.of(compiled)), keys, size)

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
        """
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
            entry.principal,
            action,
            resource,
            resource_account or account_of(resource) or entry.account,
            entry.context(context, now),
        )
        result = evaluate(
            request, entry.with_resource(resource_entry), self.registry, explain=explain
        )
        if key is not None and generation is not None:
            memo = entry.memo
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = (generation, result)
        return result

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
        revision = self._feed.applied_revision
        generation = self.generation
        entry = await self.principal_entry(principal_arn)
        if entry is None or (unique_id is not None and entry.unique_id != unique_id):
            return Outcome(UNKNOWN_PRINCIPAL, False, revision)
        resource_entry = await self.resource_policies(resource)
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
        return Outcome(result, True, revision)

    @staticmethod
    def _grant_key(caller: Caller, principal_arn: str) -> tuple[str, str, str]:
        # A session's rights are narrowed by its own session policies: key it by its key id.
        # The unique id: a grant of whoever holds a name now is not one of its former holder.
        who = caller.access_key_id if caller.session is not None else caller.arn
        return who, caller.principal_id, principal_arn

    def may_authorize_cached(self, caller: Caller, principal_arn: str) -> bool:
        """True when the caller is known (without I/O) to be allowed to ask about the
        principal; False means "check with may_authorize_for"."""
        return caller.arn == principal_arn or self._authorize_grants.get(
            self._grant_key(caller, principal_arn), False
        )

    async def may_authorize_for(self, caller: Caller, principal_arn: str) -> bool:
        """Whether ``caller`` may ask about ``principal_arn`` (``iamd:Authorize`` on the
        principal's ARN, or on ``*`` for anonymous and service principals, session policies
        included); asking about oneself always is."""
        if caller.arn == principal_arn:
            return True
        key = self._grant_key(caller, principal_arn)
        known = self._authorize_grants.get(key)
        if known is not None:
            return known
        generation = self.generation
        # Anonymous and service principals have no ARN (and no account): asking about them
        # needs the action on `*`, in the caller's own account.
        target = principal_arn if principal_arn.startswith("arn:") else "*"
        outcome = await self.allows(caller, AUTHORIZE_ACTION, target)
        allowed = outcome.result.decision is Decision.ALLOWED
        if len(self._authorize_grants) > 100_000:
            self._authorize_grants.clear()
        # A change that arrived during the decision may have revoked it: answer, don't keep.
        if generation == self.generation:
            self._authorize_grants[key] = allowed
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
