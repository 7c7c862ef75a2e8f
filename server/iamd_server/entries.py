"""Compiled cache entries: what the Decider keeps per principal and per resource.

Turns the store loader's records into compiled policy sets, the principal's trusted context
keys and the change keys each entry depends on. No I/O here; `decisions.Decider` fetches the
records and caches the entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from iamd_server.policy import (
    ActionDefinition,
    CompiledPolicy,
    Context,
    DecidedBy,
    Decision,
    EvaluationResult,
    HttpBinding,
    PolicyKind,
    PolicySet,
    PolicySets,
    Principal,
    PrincipalKind,
    ResourceTypeDefinition,
    ServiceDefinition,
    compile_policy,
)
from iamd_server.store.records import LoadedPolicy, PrincipalPolicies

ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/", re.ASCII)
_IAM_ENTITY = re.compile(r"arn:aws:iam::(\d{12}):(user|role)/(?:.*/)?([^/]+)", re.ASCII)
_SESSION = re.compile(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/([^/]+)", re.ASCII)
_ROOT = re.compile(r"arn:aws:iam::(\d{12}):root", re.ASCII)
_ACCOUNT = re.compile(r"\d{12}", re.ASCII)

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
        "unique_id",
    )

    def __init__(
        self,
        principal: Principal,
        policies: PolicySets,
        trusted: Context,
        revision: int,
        unique_id: str = "",
    ) -> None:
        self.principal = principal
        # The user's or role's unique id (root: the account id): a caller whose credentials
        # name another id is not this principal, whatever the ARN says.
        self.unique_id = unique_id
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
        # (action, resource, resource account, explain) -> (Decider generation, result)
        self.memo: dict[tuple[str, str, str | None, bool], tuple[int, EvaluationResult]] = {}

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
    match = _IAM_ENTITY.fullmatch(arn)
    if match is not None:
        return f"name:{match.group(1)}:{match.group(2)}:{match.group(3).lower()}"
    match = _SESSION.fullmatch(arn)
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


def compile_loaded(loaded: LoadedPolicy, kind: PolicyKind) -> CompiledPolicy:
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


def trusted_context(policies: PrincipalPolicies, principal: Principal) -> Context:
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
        session = _SESSION.fullmatch(principal.arn)
        if policies.unique_id:
            name = session.group(3) if session else principal.arn.rsplit("/", 1)[-1]
            values["aws:userid"] = f"{policies.unique_id}:{name}"
    for tag in policies.tags:
        values[f"aws:PrincipalTag/{tag.key}"] = tag.value
    return Context.from_mapping(values)


def principal_for(arn: str, policies: PrincipalPolicies) -> Principal:
    tags = tuple((t.key, t.value) for t in policies.tags)
    if policies.kind == "root":
        return Principal(arn=arn, account=policies.account_id, kind=PrincipalKind.ROOT)
    # The unique id lets principals of trust and resource policies, resolved to ids when
    # saved, match this user or role (and no later one of the same name).
    if policies.kind == "user":
        return Principal(
            arn=policies.principal_arn,
            account=policies.account_id,
            kind=PrincipalKind.USER,
            tags=tags,
            unique_id=policies.unique_id,
        )
    return Principal(
        arn=arn,
        account=policies.account_id,
        kind=PrincipalKind.ROLE_SESSION,
        role_arn=policies.principal_arn,
        tags=tags,
        unique_id=policies.unique_id,
    )


def dependencies(arn: str, account: str | None, policies: PrincipalPolicies | None) -> list[str]:
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
    if len(parts) == 6 and len(parts[4]) == 12 and parts[4].isascii() and parts[4].isdigit():
        return parts[4]
    return None


def definition_from_record(prefix: str, data: Mapping[str, Any]) -> ServiceDefinition:
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
            http=tuple(HttpBinding.from_dict(b) for b in a.get("http") or ()),
        )
        for a in data.get("actions") or ()
    ]
    raw_keys = data.get("condition_keys") or ()
    if isinstance(raw_keys, Mapping):
        keys = {str(k): str(v) for k, v in raw_keys.items()}
    else:
        keys = {str(k["name"]): str(k.get("type", "String")) for k in raw_keys}
    return ServiceDefinition(str(data.get("service_prefix") or prefix), actions, types, keys)


def reserved_key(key_lower: str) -> bool:
    return key_lower in RESERVED_CONTEXT_KEYS or key_lower.startswith(RESERVED_CONTEXT_PREFIXES)


def valid_account(value: str) -> bool:
    return _ACCOUNT.fullmatch(value) is not None
