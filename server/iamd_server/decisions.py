"""Decisions from memory: compiled per-principal and per-resource policy entries, kept
current by change notifications, fed to the pure engine.

A cache hit touches no database. An entry that cannot be built (database down) raises
`Unavailable`, so callers fail closed; entries already cached keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iamd_server.api.auth import Caller
from iamd_server.cache import MISSING, Built, DependencyCache
from iamd_server.changes import ChangeFeed
from iamd_server.errors import InvalidArgument, PermissionDenied, Unavailable
from iamd_server.policy import (
    ActionDefinition,
    AuthorizationRequest,
    CompiledPolicy,
    Context,
    DecidedBy,
    Decision,
    EvaluationResult,
    PolicyKind,
    PolicySet,
    PolicySets,
    Principal,
    PrincipalKind,
    ResourceTypeDefinition,
    ServiceDefinition,
    ServiceDefinitionError,
    ServiceRegistry,
    acl_grants_to_policy,
    builtin_registry,
    compile_policy,
    evaluate,
)
from iamd_server.store import Store
from iamd_server.store.records import LoadedPolicy, PrincipalPolicies

log = logging.getLogger(__name__)

_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/")
_IAM_ENTITY = re.compile(r"^arn:aws:iam::(\d{12}):(user|role)/(?:.*/)?([^/]+)$")
_SESSION = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/([^/]+)$")
_ROOT = re.compile(r"^arn:aws:iam::(\d{12}):root$")
_ACCOUNT = re.compile(r"^\d{12}$")

# Keys a caller of Authorize may not supply: they describe the principal, its session or the
# clock, and are set by the service (iam-semantics 5). Dropped from request contexts.
RESERVED_CONTEXT_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:username", "aws:userid", "aws:PrincipalArn", "aws:PrincipalAccount",
        "aws:PrincipalType", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
        "aws:PrincipalIsAWSService", "aws:PrincipalServiceName", "aws:CurrentTime",
        "aws:EpochTime", "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge",
        "aws:TokenIssueTime", "aws:SourceIdentity", "aws:FederatedProvider",
    )
)  # fmt: skip
RESERVED_CONTEXT_PREFIXES = ("aws:principaltag/",)

UNKNOWN_PRINCIPAL = EvaluationResult(
    Decision.IMPLICIT_DENY, (), (), DecidedBy.NONE, "unknown principal"
)


_CLOCK_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})
MEMO_LIMIT = 4096


def uses_clock(sets: Iterable[PolicySet | None]) -> bool:
    """Whether any statement reads the clock (its decision can change without a write)."""
    for policy_set in sets:
        if policy_set is None:
            continue
        for policy in policy_set.policies:
            for statement in policy.statements:
                for key, _ in statement.condition_keys:
                    if key in _CLOCK_KEYS:
                        return True
    return False


class ResourceEntry:
    """A resource's compiled resource policy / ACL / trust policy."""

    __slots__ = ("policies", "uses_clock")

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self.uses_clock = uses_clock((policies,))


class PrincipalEntry:
    """Everything about one principal that evaluation needs, compiled once.

    ``memo`` remembers decisions of requests without caller-supplied context when no policy
    involved reads the clock: such a decision depends only on the entry, the action, the
    resource, its owner, the resource's entry and the service registry, and the entry (with
    its memo) is dropped by any change that could alter it.
    """

    __slots__ = (
        "_context",
        "_second",
        "account",
        "memo",
        "memoizable",
        "policies",
        "principal",
        "revision",
        "trusted",
    )

    def __init__(
        self, principal: Principal, policies: PolicySets, trusted: Context, revision: int
    ) -> None:
        self.principal = principal
        self.account = principal.account
        self.policies = policies  # identity, boundary, session, SCP levels; no resource
        # Keys derived from the principal (aws:username, aws:PrincipalTag/...).
        self.trusted = trusted
        self.revision = revision
        self._second = -1
        self._context = trusted
        self.memoizable = not uses_clock(
            (policies.identity, policies.boundary, policies.session, *policies.scp_levels)
        )
        self.memo: dict[
            tuple[str, str, str | None, bool],
            tuple[ResourceEntry | None, ServiceRegistry, EvaluationResult],
        ] = {}

    def context(self, request: Context | None, now: int) -> Context:
        """The evaluation context: request keys, then the clock, then the principal's keys
        (later ones win). The common empty-request case is built once per second."""
        if request is None:
            if now != self._second:
                self._context = environment(now).merge(self.trusted)
                self._second = now
            return self._context
        return request.merge(environment(now)).merge(self.trusted)

    def with_resource(self, resource: ResourceEntry | None) -> PolicySets:
        if resource is None:
            return self.policies
        p = self.policies
        return PolicySets(
            p.identity, p.boundary, p.session, p.scp_levels, p.rcp_levels, resource.policies
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    result: EvaluationResult
    principal_known: bool
    revision: int


_environment_cache: tuple[int, Context] = (-1, Context.EMPTY)


def environment(now: int) -> Context:
    """aws:CurrentTime and aws:EpochTime for the given second (cached for that second)."""
    global _environment_cache
    second, context = _environment_cache
    if second == now:
        return context
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    context = Context.from_entries(
        (("aws:CurrentTime", "date", (stamp,)), ("aws:EpochTime", "numeric", (str(now),)))
    )
    _environment_cache = (now, context)
    return context


def name_key(arn: str) -> str | None:
    """A path- and case-independent key for a user or role ARN (or a role session ARN), so
    an entry for a name that did not exist yet is dropped when it is created."""
    match = _IAM_ENTITY.match(arn)
    if match is not None:
        return f"name:{match.group(1)}:{match.group(2)}:{match.group(3).lower()}"
    match = _SESSION.match(arn)
    if match is not None:
        return f"name:{match.group(1)}:role:{match.group(2).lower()}"
    return None


def _policy_id(loaded: LoadedPolicy) -> str:
    # Inline policies are named "<owner ARN>#<policy name>"; managed ones by ARN.
    if loaded.source_policy_type in ("user", "group", "role"):
        return f"{loaded.source_arn}#{loaded.policy_id}"
    return loaded.policy_id


# Compiled documents shared by every entry that uses them (a managed policy attached to a
# group is compiled once for all its members). Keyed by the document text, so a new version
# is a new key; bounded by clearing.
_compiled: dict[tuple[str, str, str, str], CompiledPolicy] = {}
COMPILED_LIMIT = 50_000


def _compile(loaded: LoadedPolicy, kind: PolicyKind) -> CompiledPolicy:
    policy_id = _policy_id(loaded)
    key = (kind.value, policy_id, loaded.source_policy_type, loaded.document)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = compile_policy(
            loaded.document, kind, policy_id=policy_id, source_type=loaded.source_policy_type
        )
        if len(_compiled) >= COMPILED_LIMIT:
            _compiled.clear()
        _compiled[key] = compiled
    return compiled


def _trusted_context(policies: PrincipalPolicies, principal: Principal) -> Context:
    values: dict[str, str | Sequence[str]] = {"aws:PrincipalAccount": policies.account_id}
    if policies.kind == "user":
        values["aws:PrincipalArn"] = policies.principal_arn
        values["aws:PrincipalType"] = "User"
        if policies.name:
            values["aws:username"] = policies.name
        if policies.unique_id:
            values["aws:userid"] = policies.unique_id
    elif policies.kind == "root":
        values["aws:PrincipalArn"] = policies.principal_arn
        values["aws:PrincipalType"] = "Account"
        values["aws:userid"] = policies.account_id
    else:
        values["aws:PrincipalArn"] = policies.principal_arn  # the role ARN, with its path
        values["aws:PrincipalType"] = "AssumedRole"
        session = _SESSION.match(principal.arn)
        if policies.unique_id:
            name = session.group(3) if session else principal.arn.rsplit("/", 1)[-1]
            values["aws:userid"] = f"{policies.unique_id}:{name}"
    for tag in policies.tags:
        values[f"aws:PrincipalTag/{tag.key}"] = tag.value
    return Context.from_mapping(values)


def _principal_for(arn: str, policies: PrincipalPolicies) -> Principal:
    tags = tuple((t.key, t.value) for t in policies.tags)
    if policies.kind == "root":
        return Principal(arn=arn, account=policies.account_id, kind=PrincipalKind.ROOT)
    if policies.kind == "user":
        return Principal(
            arn=policies.principal_arn,
            account=policies.account_id,
            kind=PrincipalKind.USER,
            tags=tags,
        )
    return Principal(
        arn=arn,
        account=policies.account_id,
        kind=PrincipalKind.ROLE_SESSION,
        role_arn=policies.principal_arn,
        tags=tags,
    )


def _dependencies(arn: str, account: str | None, policies: PrincipalPolicies | None) -> list[str]:
    keys = [f"user:{arn}", f"role:{arn}", "org"]
    named = name_key(arn)
    if named is not None:
        keys.append(named)
    if account:
        keys.append(f"account:{account}")
    if policies is None:
        return keys
    kind = "user" if policies.kind == "user" else "role"
    keys.append(f"{kind}:{policies.principal_arn}")
    keys.extend(f"group:{g}" for g in policies.group_arns)
    keys.extend(
        f"policy:{p.policy_id}" for p in policies.identity if p.source_policy_type == "user-managed"
    )
    if policies.boundary is not None:
        keys.append(f"policy:{policies.boundary.policy_id}")
    return keys


def account_of(arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) == 6 and len(parts[4]) == 12 and parts[4].isdigit():
        return parts[4]
    return None


def _definition_from_record(prefix: str, data: Mapping[str, Any]) -> ServiceDefinition:
    """The stored shape (PutServiceDefinition) -> the engine's ServiceDefinition."""
    types = [
        ResourceTypeDefinition(
            name=str(t["name"]),
            arn_pattern=str(t["arn_pattern"]),
            requires_resource_policy_grant=bool(t.get("requires_resource_policy_grant", False)),
        )
        for t in data.get("resource_types") or ()
    ]
    actions = [
        ActionDefinition(
            name=str(a["name"]),
            resource_types=tuple(str(r).rstrip("*") for r in a.get("resource_types") or ()),
            condition_keys=tuple(str(k) for k in a.get("condition_keys") or ()),
            access_level=str(a.get("access_level") or ""),
        )
        for a in data.get("actions") or ()
    ]
    raw_keys = data.get("condition_keys") or ()
    if isinstance(raw_keys, Mapping):
        keys = {str(k): str(v) for k, v in raw_keys.items()}
    else:
        keys = {str(k["name"]): str(k.get("type", "String")) for k in raw_keys}
    return ServiceDefinition(str(data.get("service_prefix") or prefix), actions, types, keys)


class Decider:
    """Answers authorization questions from compiled, cached policy entries."""

    def __init__(
        self,
        store: Store,
        feed: ChangeFeed,
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
        # (caller ARN, principal ARN) -> may the caller ask about that principal.
        self._authorize_grants: dict[tuple[str, str], bool] = {}
        self._grants_generation = 0  # bumped by every change notification
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
            self._grants_generation += 1
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
        self._grants_generation += 1
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
                    _definition_from_record(record.service_prefix, record.definition)
                )
            except (ServiceDefinitionError, KeyError, TypeError, ValueError):
                log.exception("skipping unreadable service definition %s", record.service_prefix)
        self.registry = registry
        self.known_actions = {}

    async def _reload_resource_arns(self) -> None:
        try:
            async with self._store.pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT resource_arn FROM iamd_resource_policies"
                    " UNION SELECT resource_arn FROM iamd_acl_grants"
                )
        except Exception as exc:
            log.warning("loading resource policy ARNs failed (%s); asking per resource", exc)
            return
        arns = {str(r["resource_arn"]) for r in rows}
        if self._resource_arns is None:
            self._resource_arns = arns
        else:  # notifications received meanwhile added to the provisional set
            self._resource_arns |= arns

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
        except Exception as exc:
            raise Unavailable(f"cannot load the policies of {arn}: database unavailable") from exc
        if policies is None:
            return Built(None, tuple(_dependencies(arn, account, None)), 64)
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
        return Built(entry, tuple(_dependencies(arn, account, policies)), size)

    def _compile_principal(self, arn: str, policies: PrincipalPolicies) -> PrincipalEntry:
        principal = _principal_for(arn, policies)
        identity = PolicySet.of(_compile(p, PolicyKind.IDENTITY) for p in policies.identity)
        boundary = (
            PolicySet.of([_compile(policies.boundary, PolicyKind.PERMISSIONS_BOUNDARY)])
            if policies.boundary is not None
            else None
        )
        scp_levels = tuple(
            PolicySet.of(_compile(p, PolicyKind.SERVICE_CONTROL) for p in level)
            for level in policies.scp_levels
        )
        sets = PolicySets(identity=identity, boundary=boundary, scp_levels=scp_levels)
        return PrincipalEntry(
            principal, sets, _trusted_context(policies, principal), policies.revision
        )

    def lookup_resource(self, resource_arn: str) -> PolicySet | object | None:
        if resource_arn == "*":
            return None
        known = self._resource_arns
        if known is not None and resource_arn not in known and not _ROLE_ARN.match(resource_arn):
            return None
        return self.resources.lookup(resource_arn)

    async def resource_policies(self, resource_arn: str) -> ResourceEntry | None:
        found = self.lookup_resource(resource_arn)
        if found is not MISSING:
            return found  # type: ignore[return-value]
        return await self.resources.get(resource_arn, lambda: self._build_resource(resource_arn))

    async def _build_resource(self, resource_arn: str) -> Built[ResourceEntry | None]:
        keys = (f"resource:{resource_arn}", f"role:{resource_arn}")
        try:
            if _ROLE_ARN.match(resource_arn):
                # A role's resource policy is its trust policy.
                role = await self._store.load_principal_policies(principal_arn=resource_arn)
                if role is None or role.trust_policy is None or role.kind != "role":
                    return Built(None, keys, 64)
                trust = compile_policy(
                    role.trust_policy, PolicyKind.TRUST, policy_id=resource_arn, source_type="role"
                )
                entry = ResourceEntry(PolicySet.of([trust]))
                return Built(entry, keys, 256 + len(role.trust_policy) * 8)
            loaded = await self._store.load_resource_policy(resource_arn=resource_arn)
        except ValueError as exc:
            raise Unavailable(f"cannot compile the resource policy of {resource_arn}") from exc
        except Exception as exc:
            raise Unavailable(f"cannot load the resource policy of {resource_arn}") from exc
        if loaded is None:
            return Built(None, keys, 64)
        compiled: list[CompiledPolicy] = []
        try:
            if loaded.document is not None:
                compiled.append(
                    compile_policy(
                        loaded.document,
                        PolicyKind.RESOURCE,
                        policy_id=resource_arn,
                        source_type="resource",
                    )
                )
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
    ) -> EvaluationResult:
        """One decision for a resolved principal (no I/O)."""
        registry = self.registry
        key = None
        if (
            context is None
            and entry.memoizable
            and (resource_entry is None or not resource_entry.uses_clock)
        ):
            key = (action, resource, resource_account, explain)
            known = entry.memo.get(key)
            if known is not None and known[0] is resource_entry and known[1] is registry:
                return known[2]
        request = AuthorizationRequest(
            entry.principal,
            action,
            resource,
            resource_account or account_of(resource) or entry.account,
            entry.context(context, now),
        )
        result = evaluate(request, entry.with_resource(resource_entry), registry, explain=explain)
        if key is not None:
            memo = entry.memo
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = (resource_entry, registry, result)
        return result

    async def decide(
        self,
        principal_arn: str,
        action: str,
        resource: str,
        *,
        resource_account: str | None = None,
        context: Context | None = None,
        explain: bool = False,
    ) -> Outcome:
        """Evaluates one request for a stored principal; unknown principals are denied."""
        revision = self._feed.applied_revision
        entry = await self.principal_entry(principal_arn)
        if entry is None:
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
        )
        return Outcome(result, True, revision)

    def may_authorize_cached(self, caller_arn: str, principal_arn: str) -> bool:
        """True when the caller is known (without I/O) to be allowed to ask about the
        principal; False means "check with may_authorize_for"."""
        return caller_arn == principal_arn or self._authorize_grants.get(
            (caller_arn, principal_arn), False
        )

    async def may_authorize_for(self, caller_arn: str, principal_arn: str, action: str) -> bool:
        """Whether ``caller_arn`` may ask about ``principal_arn`` (``action`` is
        "iamd:Authorize" or "iamd:AuthorizeBatch"); asking about oneself always is."""
        if caller_arn == principal_arn:
            return True
        key = (caller_arn, principal_arn)
        known = self._authorize_grants.get(key)
        if known is not None:
            return known
        generation = self._grants_generation
        outcome = await self.decide(caller_arn, action, principal_arn)
        allowed = outcome.result.decision is Decision.ALLOWED
        if len(self._authorize_grants) > 100_000:
            self._authorize_grants.clear()
        # A change that arrived during the decision may have revoked it: answer, don't keep.
        if generation == self._grants_generation:
            self._authorize_grants[key] = allowed
        return allowed

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
        if caller.session is not None and self.session_decide is not None:
            # Temporary credentials: session policies, session tags and token keys apply.
            outcome = await self.session_decide(
                caller.session,
                action,
                resource_arn,
                resource_account=resource_account,
                context=context,
            )
        else:
            outcome = await self.decide(
                caller.arn,
                action,
                resource_arn,
                resource_account=resource_account,
                context=context,
            )
        if outcome.result.decision is not Decision.ALLOWED:
            raise PermissionDenied(
                f"{caller.arn} is not authorized to perform {action} on resource {resource_arn}"
                f" ({outcome.result.decision.value}: {outcome.result.reason})"
            )


def reserved_key(key_lower: str) -> bool:
    return key_lower in RESERVED_CONTEXT_KEYS or key_lower.startswith(RESERVED_CONTEXT_PREFIXES)


def valid_account(value: str) -> bool:
    return _ACCOUNT.match(value) is not None
