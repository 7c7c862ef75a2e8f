"""Compiled entries: what a decider keeps per principal and per resource.

Turns the loader's records (`inputs`) into compiled policy sets, the principal's trusted
context keys and the change keys each entry depends on, and says which account owns a
resource. No I/O here: the server's Decider and the SDK's LocalAuthorizer fetch the records,
cache the entries and decide from them the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from . import (
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
    acl_grants_to_policy,
    bind_principal_ids,
    compile_policy,
)
from .inputs import LoadedPolicy, LoadedResourcePolicy, PrincipalPolicies

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
# Remembered decisions per principal entry; each is charged to the principal cache's bytes.
MEMO_LIMIT = 4096
# Bytes one remembered decision holds besides its action and resource strings (key and value
# tuples, the result, the dict slot; measured with tracemalloc), and more with explain.
MEMO_ITEM_BYTES = 300
MEMO_EXPLAIN_BYTES = 400
# Approximate bytes of an entry's fixed part, of each statement's place in an entry's
# per-action index, and of each character of a compiled document (tracemalloc).
ENTRY_BYTES = 1536
INDEXED_STATEMENT_BYTES = 200
COMPILED_CHAR_BYTES = 20


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
    """A resource's compiled resource policy / ACL / trust policy, and the account that owns
    it (stored with the policy; for an ARN without an account field, whoever claimed it)."""

    __slots__ = ("account", "policies", "uses_clock")

    def __init__(self, policies: PolicySet, account: str | None = None) -> None:
        self.policies = policies
        self.account = account
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
        "cache_key",
        "memo",
        "memo_bytes",
        "memo_generation",
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
        # (action, resource, resource account, explain) -> (Decider generation, result).
        # Only entries held by the principal cache remember (under `cache_key`, which their
        # bytes are charged to); `memo_generation` is the generation the memo holds.
        self.memo: dict[tuple[str, str, str | None, bool], tuple[int, EvaluationResult]] = {}
        self.cache_key: str | None = None
        self.memo_bytes = 0
        self.memo_generation = -1

    def derive(self, principal: Principal, trusted: Context) -> PrincipalEntry:
        """This entry for another principal with the same policies (a session of the role):
        every field shared, nothing remembered."""
        entry = copy.copy(self)
        entry.principal = principal
        entry.trusted = trusted
        entry._context = trusted
        entry._second = -1
        entry.memo = {}
        entry.cache_key = None
        entry.memo_bytes = 0
        entry.memo_generation = -1
        return entry

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


class RoleBase:
    """What every session of one role shares: the compiled policies, the role's context keys
    and tags. Each session's entry adds only its ARN and `aws:userid`, so sessions with
    arbitrary names cost a small entry each, never another load or compilation."""

    __slots__ = ("depends_on", "entry", "unique_id")

    def __init__(
        self, entry: PrincipalEntry, unique_id: str | None, depends_on: tuple[str, ...]
    ) -> None:
        self.depends_on = depends_on  # the role's; its sessions' entries depend on the same
        self.entry = entry  # the role's own entry: the template of its sessions'
        self.unique_id = unique_id

    def session(self, arn: str, session_name: str) -> PrincipalEntry:
        # The role's principal (kind, role ARN, tags, ids) with the session's ARN.
        principal = dataclasses.replace(self.entry.principal, arn=arn)
        trusted = self.entry.trusted
        if self.unique_id:
            trusted = trusted.merge(
                Context.from_mapping({"aws:userid": f"{self.unique_id}:{session_name}"})
            )
        return self.entry.derive(principal, trusted)


def session_parts(arn: str) -> tuple[str, str, str] | None:
    """(account, role name, session name) of a role session ARN."""
    match = _SESSION.match(arn)
    return None if match is None else (match.group(1), match.group(2), match.group(3))


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
# is a new key; bounded by count and by approximate bytes (the compiled form and the key's
# text), by clearing.
_compiled: dict[tuple[str, str, str, str], CompiledPolicy] = {}
_compiled_bytes = 0
COMPILED_LIMIT = 50_000
COMPILED_BYTES_LIMIT = 64 * 1024 * 1024


def compile_loaded(loaded: LoadedPolicy, kind: PolicyKind) -> CompiledPolicy:
    global _compiled_bytes
    policy_id = _policy_id(loaded)
    key = (kind.value, policy_id, loaded.source_policy_type, loaded.document)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = compile_policy(
            loaded.document, kind, policy_id=policy_id, source_type=loaded.source_policy_type
        )
        size = 512 + (COMPILED_CHAR_BYTES + 1) * len(loaded.document)
        if len(_compiled) >= COMPILED_LIMIT or _compiled_bytes + size > COMPILED_BYTES_LIMIT:
            _compiled.clear()
            _compiled_bytes = 0
        _compiled[key] = compiled
        _compiled_bytes += size
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


def entry_size(policies: PrincipalPolicies, entry: PrincipalEntry) -> int:
    """Approximate bytes of a principal's compiled entry. Documents other principals can
    share (managed, group, boundary and SCP policies) are compiled once for all of them and
    held by the compile memo (bounded on its own), so here they cost their place in this
    entry's index; the principal's own inline documents are counted whole."""
    sets = entry.policies
    statements = 0
    for policy_set in (sets.identity, sets.boundary, *sets.scp_levels):
        if policy_set is not None:
            statements += sum(len(p.statements) for p in policy_set.policies)
    own = sum(len(p.document) for p in policies.identity if p.source_policy_type in _OWN)
    return ENTRY_BYTES + INDEXED_STATEMENT_BYTES * statements + COMPILED_CHAR_BYTES * own


_OWN = frozenset({"user", "role"})  # inline policies of the principal itself


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


def compile_principal(arn: str, policies: PrincipalPolicies) -> PrincipalEntry:
    """The entry of a stored user, role or root user (``arn`` as asked, e.g. a role session's
    ARN for its role's records). Raises ValueError for a document the engine refuses."""
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


def compile_resource(resource_arn: str, loaded: LoadedResourcePolicy) -> ResourceEntry:
    """A resource's policy and ACL, compiled. Raises ValueError for a refused document."""
    compiled: list[CompiledPolicy] = []
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
    return ResourceEntry(PolicySet.of(compiled), loaded.account_id)


def compile_trust(role_arn: str, role: PrincipalPolicies) -> ResourceEntry | None:
    """A role's trust policy as the role's resource policy (the role's account owns it);
    None when ``role`` is not a role with one."""
    if role.kind != "role" or role.trust_policy is None:
        return None
    trust = compile_policy(
        role.trust_policy, PolicyKind.TRUST, policy_id=role_arn, source_type="role"
    )
    bind_principal_ids(trust, dict(role.trust_principal_ids))
    return ResourceEntry(PolicySet.of([trust]), role.account_id)


def resource_entry_size(loaded: LoadedResourcePolicy) -> int:
    return 256 + len(loaded.document or "") * 8 + 128 * len(loaded.acl)


def has_no_resource_policy(
    resource_arn: str, index: Collection[str] | None, *, lists_account_less: bool
) -> bool:
    """Whether ``index`` (ARNs with a resource policy or ACL; None: unknown) proves that
    ``resource_arn`` has none, so that no lookup is needed. A role's ARN is always looked up
    (its trust policy). A follower's index lists its own account's resources only
    (``lists_account_less`` False): an ARN without an account field may then belong to
    another account, which decides as its owner, so it is looked up rather than presumed
    to have no policy (the principal's own account would otherwise count as its owner)."""
    if index is None or resource_arn in index or ROLE_ARN.match(resource_arn) is not None:
        return False
    return lists_account_less or account_of(resource_arn) is not None


class OwnerMismatch(ValueError):
    """A request names a resource owner other than the resource's own."""


def resource_owner(
    entry: PrincipalEntry,
    resource: str,
    requested: str | None,
    resource_entry: ResourceEntry | None,
) -> str | None:
    """The account that owns ``resource`` for a decision: the ARN's account field, else the
    account stored with the resource's policy or ACL (whoever claimed the account-less ARN
    first), else the request's ``resource_owner_account``, else the principal's account.

    A request naming another owner than the ARN or the stored record is refused rather than
    ignored (OwnerMismatch): it would make a member's resource policy decide as if for its own
    account's principals (or the reverse), and a caller whose idea of the owner is wrong
    should learn it.
    """
    known = account_of(resource) or (resource_entry.account if resource_entry else None)
    if known is not None:
        if requested is not None and requested != known:
            raise OwnerMismatch("does not match the account that owns the resource")
        return known
    return requested or entry.account


def timeless(
    entry: PrincipalEntry, resource_entry: ResourceEntry | None, context: Context | None
) -> bool:
    """Whether a decision cannot change without a write: no caller-supplied context and no
    policy involved reads the clock (a DateLessThan grant expires by itself)."""
    return (
        context is None
        and entry.memoizable
        and (resource_entry is None or not resource_entry.uses_clock)
    )
