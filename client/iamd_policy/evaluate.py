"""The decision for one request (iam-semantics 6.3-6.5 and the conformance rules)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from .compile import CompiledStatement, MatchedStatement, PolicySet
from .context import Context
from .kinds import PolicyKind
from .principal import GrantClass, Principal, PrincipalKind
from .services import ServiceRegistry

__all__ = [
    "ALWAYS_ALLOWED_ACTIONS",
    "AuthorizationRequest",
    "DecidedBy",
    "Decision",
    "EvaluationResult",
    "MatchedStatement",
    "PolicySets",
    "evaluate",
]

ALWAYS_ALLOWED_ACTIONS = frozenset({"sts:getcalleridentity"})


class Decision(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


class DecidedBy(enum.Enum):
    IDENTITY = "IDENTITY"
    PERMISSIONS_BOUNDARY = "PERMISSIONS_BOUNDARY"
    SESSION = "SESSION"
    SERVICE_CONTROL = "SERVICE_CONTROL"
    RESOURCE_CONTROL = "RESOURCE_CONTROL"
    RESOURCE = "RESOURCE"
    ACL = "ACL"
    SERVICE_DEFINITION = "SERVICE_DEFINITION"
    ROOT = "ROOT"
    NONE = "NONE"


_KIND_TO_DECIDED = {
    PolicyKind.IDENTITY: DecidedBy.IDENTITY,
    PolicyKind.PERMISSIONS_BOUNDARY: DecidedBy.PERMISSIONS_BOUNDARY,
    PolicyKind.SESSION: DecidedBy.SESSION,
    PolicyKind.SERVICE_CONTROL: DecidedBy.SERVICE_CONTROL,
    PolicyKind.RESOURCE_CONTROL: DecidedBy.RESOURCE_CONTROL,
    PolicyKind.RESOURCE: DecidedBy.RESOURCE,
    PolicyKind.TRUST: DecidedBy.RESOURCE,
    PolicyKind.ACL: DecidedBy.ACL,
}


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One action on one resource. `resource_account` None = the principal's account."""

    principal: Principal
    action: str
    resource: str = "*"
    resource_account: str | None = None
    context: Context = field(default_factory=Context)
    # Derived once per request for the hot loop.
    action_lower: str = field(init=False, repr=False, compare=False, default="")
    service: str = field(init=False, repr=False, compare=False, default="")
    action_name: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        lowered = self.action.lower()
        service, _, name = lowered.partition(":")
        object.__setattr__(self, "action_lower", lowered)
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "action_name", name)


@dataclass(frozen=True, slots=True)
class PolicySets:
    """Everything that applies to one request.

    `scp_levels` holds one set per organization level (root, OUs, account), each of which
    must allow; empty = no SCPs. `rcp_levels` likewise (their Deny statements only matter).
    `resource` is the resource or trust policy plus ACL-derived statements.
    """

    identity: PolicySet = field(default_factory=lambda: PolicySet.EMPTY)
    boundary: PolicySet | None = None
    session: PolicySet | None = None
    scp_levels: tuple[PolicySet, ...] = ()
    rcp_levels: tuple[PolicySet, ...] = ()
    resource: PolicySet | None = None


class EvaluationResult(NamedTuple):
    """The decision and its explanation (a tuple: cheap to build on the hot path)."""

    decision: Decision
    matched_statements: tuple[MatchedStatement, ...]
    missing_context_keys: tuple[str, ...]
    decided_by: DecidedBy
    reason: str
    allowed_by_organizations: bool | None = None
    allowed_by_permissions_boundary: bool | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


_EMPTY_KEYS: tuple[str, ...] = ()


def _document_order(statement: CompiledStatement) -> int:
    return statement.seq


def _matched(statements: list[CompiledStatement]) -> tuple[MatchedStatement, ...]:
    return tuple(s.matched for s in statements)


def _scan(
    pset: PolicySet,
    request: AuthorizationRequest,
    missing: dict[str, str] | None,
) -> list[CompiledStatement] | None:
    """Applicable statements of a set without Principal elements; None when none apply."""
    out: list[CompiledStatement] | None = None
    action = request.action_lower
    resource = request.resource
    context = request.context
    for bucket in pset.candidates(action):
        found = bucket.matching(resource, context)
        if found is None:
            continue
        check_action = bucket.check_action
        for st in found:
            if check_action and not st.matches_action(action):
                continue
            if st.conditions:
                if missing is not None:
                    _note_missing(st, context, missing)
                if not st.conditions_hold(context):
                    continue
            if out is None:
                out = [st]
            else:
                out.append(st)
    return out


def _note_missing(st: CompiledStatement, context: Context, missing: dict[str, str]) -> None:
    get = context.get
    for lowered, name in st.condition_keys:
        if get(lowered) is None:
            missing.setdefault(lowered, name)


class _Grant(NamedTuple):
    """The strongest Allow grant of a resource-style set and the statement that made it."""

    grant_class: GrantClass
    statement: CompiledStatement | None
    # A `*` grant narrowed by an aws:PrincipalArn condition (AWS's documented case).
    narrowed: bool


_NO_GRANT = _Grant(GrantClass.NONE, None, False)


def _narrowed(statement: CompiledStatement) -> bool:
    return any(key == _PRINCIPAL_ARN_KEY for key, _ in statement.condition_keys)


def _scan_principal(
    pset: PolicySet,
    request: AuthorizationRequest,
    missing: dict[str, str] | None,
    has_boundary: bool,
) -> tuple[list[CompiledStatement] | None, _Grant]:
    """Applicable statements of a resource-style set, and the best Allow grant."""
    out: list[CompiledStatement] | None = None
    best = GrantClass.NONE
    best_statement: CompiledStatement | None = None
    narrowed = False
    principal = request.principal
    action = request.action_lower
    resource = request.resource
    context = request.context
    for bucket in pset.candidates(action):
        found = bucket.matching(resource, context)
        if found is None:
            continue
        check_action = bucket.check_action
        for st in found:
            if check_action and not st.matches_action(action):
                continue
            matcher = st.principal
            if matcher is None:
                grant = GrantClass.WILDCARD
            else:
                grant = matcher.grant(principal)
                if st.not_principal:
                    # A Deny with NotPrincipal always applies to a caller with a boundary.
                    if grant is GrantClass.NONE or has_boundary:
                        grant = GrantClass.WILDCARD
                    else:
                        continue
                elif grant is GrantClass.NONE:
                    continue
            if st.conditions:
                if missing is not None:
                    _note_missing(st, context, missing)
                if not st.conditions_hold(context):
                    continue
            if st.allow:
                if grant > best:
                    best = grant
                    best_statement = st
                if grant is GrantClass.WILDCARD and not narrowed and _narrowed(st):
                    narrowed = True
                    best_statement = st
            if out is None:
                out = [st]
            else:
                out.append(st)
    if best_statement is None:
        return out, _NO_GRANT
    return out, _Grant(best, best_statement, narrowed)


def _effects(statements: list[CompiledStatement] | None) -> tuple[bool, bool]:
    """(some Allow, some Deny)."""
    if statements is None:
        return False, False
    allow = deny = False
    for st in statements:
        if st.allow:
            allow = True
        else:
            deny = True
    return allow, deny


# Results without explanation are shared: they hold no per-request data.
# Keyed by reason, which determines decision and decided_by (enum hashing is slow).
_RESULTS: dict[tuple[str, bool | None, bool | None], EvaluationResult] = {}


def _result(
    explain: bool,
    decision: Decision,
    decided_by: DecidedBy,
    reason: str,
    org: bool | None,
    boundary: bool | None,
    matched: list[CompiledStatement] | None = None,
    missing: dict[str, str] | None = None,
) -> EvaluationResult:
    if not explain:
        key = (reason, org, boundary)
        cached = _RESULTS.get(key)
        if cached is None:
            cached = EvaluationResult(decision, (), (), decided_by, reason, org, boundary)
            _RESULTS[key] = cached
        return cached
    return EvaluationResult(
        decision,
        _matched(matched) if matched else (),
        tuple(missing.values()) if missing else _EMPTY_KEYS,
        decided_by,
        reason,
        org,
        boundary,
    )


_ALWAYS = EvaluationResult(Decision.ALLOWED, (), (), DecidedBy.NONE, "action is always allowed")
_NOT_APPLICABLE = EvaluationResult(
    Decision.IMPLICIT_DENY,
    (),
    (),
    DecidedBy.SERVICE_DEFINITION,
    "action not applicable to resource type",
)
# Same-account resource-policy grants that no boundary or session policy limits (6.5).
_UNLIMITED = (GrantClass.DIRECT_USER, GrantClass.DIRECT_SESSION, GrantClass.WILDCARD)
_ACCOUNTLESS = (PrincipalKind.ANONYMOUS, PrincipalKind.SERVICE)
_PRINCIPAL_ARN_KEY = "aws:principalarn"


def evaluate(
    request: AuthorizationRequest,
    policies: PolicySets,
    registry: ServiceRegistry,
    *,
    explain: bool = True,
) -> EvaluationResult:
    """Decide one request. With explain=False matched statements and missing keys are not
    collected; the decision is the same."""
    if request.action_lower in ALWAYS_ALLOWED_ACTIONS:
        return _ALWAYS
    applicability = registry.check(request.service, request.action_name, request.resource)
    if not applicability.applicable:
        return _NOT_APPLICABLE
    missing: dict[str, str] | None = {} if explain else None
    boundary_set = policies.boundary
    session_set = policies.session

    identity = _scan(policies.identity, request, missing)
    id_allow, denied = _effects(identity)
    boundary = None
    boundary_ok: bool | None = None
    if boundary_set is not None:
        boundary = _scan(boundary_set, request, missing)
        pb_allow, pb_deny = _effects(boundary)
        boundary_ok = pb_allow and not pb_deny
        denied = denied or pb_deny
    session = None
    sp_allow = False
    if session_set is not None:
        session = _scan(session_set, request, missing)
        sp_allow, sp_deny = _effects(session)
        denied = denied or sp_deny
    org: bool | None = None
    scp_matches: list[CompiledStatement] | None = None
    # SCPs restrict the principals of member accounts; anonymous callers and service
    # principals belong to no account, so no SCP applies to them (RCPs still do).
    if policies.scp_levels and request.principal.kind not in _ACCOUNTLESS:
        every_level = True
        scp_deny = False
        scp_matches = []
        for level in policies.scp_levels:
            found = _scan(level, request, missing)
            level_allow, level_deny = _effects(found)
            every_level = every_level and level_allow
            scp_deny = scp_deny or level_deny
            if found is not None:
                scp_matches.extend(found)
        org = every_level and not scp_deny
        denied = denied or scp_deny
    else:
        every_level = True
    rcp_matches: list[CompiledStatement] | None = None
    has_boundary = boundary_set is not None
    for level in policies.rcp_levels:
        found_rcp, _ = _scan_principal(level, request, missing, has_boundary)
        if found_rcp is not None:
            rcp_matches = (rcp_matches or []) + found_rcp
            denied = denied or _effects(found_rcp)[1]
    resource: list[CompiledStatement] | None = None
    grant = _NO_GRANT
    if policies.resource is not None:
        resource, grant = _scan_principal(policies.resource, request, missing, has_boundary)
        denied = denied or _effects(resource)[1]

    # 1. An explicit Deny anywhere.
    if denied:
        denies = [
            st
            for group in (identity, boundary, session, scp_matches, rcp_matches, resource)
            if group
            for st in sorted(group, key=_document_order)
            if not st.allow
        ]
        first = denies[0]
        return _result(
            explain,
            Decision.EXPLICIT_DENY,
            _KIND_TO_DECIDED[first.kind],
            f"explicit deny in {first.kind.value.lower().replace('_', ' ')} policy",
            org,
            boundary_ok,
            denies,
            missing,
        )

    # 2. SCPs: every level must allow.
    if not every_level:
        return _result(
            explain,
            Decision.IMPLICIT_DENY,
            DecidedBy.SERVICE_CONTROL,
            "no service control policy allows the action",
            org,
            boundary_ok,
            None,
            missing,
        )

    decided_by, reason, granted = _grant(
        request,
        policies,
        applicability.requires_resource_policy_grant,
        grant,
        id_allow,
        boundary is not None and _effects(boundary)[0],
        sp_allow,
    )
    if not granted:
        return _result(
            explain, Decision.IMPLICIT_DENY, decided_by, reason, org, boundary_ok, None, missing
        )
    statements: list[CompiledStatement] | None = None
    if explain:
        reason = _with_grantee(reason, decided_by, grant, request.principal)
        statements = [
            st
            for group in (identity, resource)
            if group
            for st in sorted(group, key=_document_order)
            if st.allow
        ]
        if (
            decided_by is DecidedBy.RESOURCE
            and statements
            and all(
                st.kind is PolicyKind.ACL for st in statements if st.kind is not PolicyKind.IDENTITY
            )
            and any(st.kind is PolicyKind.ACL for st in statements)
        ):
            decided_by = DecidedBy.ACL
    return _result(
        explain, Decision.ALLOWED, decided_by, reason, org, boundary_ok, statements, missing
    )


def _with_grantee(reason: str, decided_by: DecidedBy, grant: _Grant, principal: Principal) -> str:
    """The reason, naming the resource-policy principal that matched the caller (and the
    unique id it resolved to) when the resource policy took part in the decision."""
    statement = grant.statement
    if statement is None or statement.principal is None:
        return reason
    if decided_by is not DecidedBy.RESOURCE and reason is not _CROSS_ACCOUNT_ALLOWED:
        return reason
    described = statement.principal.describe(principal)
    if not described:
        return reason
    return f"{reason} ({described}, statement {statement.index} of {statement.policy_id})"


_CROSS_ACCOUNT_ALLOWED = "allowed by identity-based policy and the resource policy"
_WILDCARD_NARROWED = (
    'resource policy grants "*" narrowed by aws:PrincipalArn; in the same account such a grant'
    " is limited by no permissions boundary or session policy (AWS)"
)
_WILDCARD_BARE = (
    'resource policy grants "*"; in the same account such a grant is limited by no permissions'
    ' boundary or session policy (iamd decides bare "*" as AWS documents "*" narrowed by'
    " aws:PrincipalArn, iam-semantics 6.5)"
)


def _grant(
    request: AuthorizationRequest,
    policies: PolicySets,
    requires_grant: bool,
    resource_grant: _Grant,
    id_allow: bool,
    pb_allow: bool,
    sp_allow: bool,
) -> tuple[DecidedBy, str, bool]:
    """Steps after explicit deny and SCPs: (decided by, reason, allowed)."""
    grant = resource_grant.grant_class
    # Trust and key policies must grant the caller or its account.
    if requires_grant and grant is GrantClass.NONE:
        return DecidedBy.RESOURCE, "resource policy does not grant access to the caller", False
    principal = request.principal
    kind = principal.kind
    if kind is PrincipalKind.SERVICE or kind is PrincipalKind.ANONYMOUS:
        if grant >= GrantClass.DIRECT_USER:
            return DecidedBy.RESOURCE, "resource policy grants the caller", True
        return DecidedBy.RESOURCE, "no resource policy statement grants the caller", False
    cross = request.resource_account is not None and principal.account != request.resource_account
    if kind is PrincipalKind.ROOT:
        if not cross:
            return DecidedBy.ROOT, "root user of the resource account", True
        id_allow = True
    if cross:
        if not id_allow:
            return DecidedBy.IDENTITY, "no identity-based policy allows the action", False
        if grant is GrantClass.NONE:
            return (
                DecidedBy.RESOURCE,
                "no resource policy grants the caller or its account (cross-account)",
                False,
            )
    else:
        # A grant naming exactly this caller (its user or session ARN) or `*` is limited
        # neither by the boundary nor by session policies; a role, parent-user or account
        # grant is (6.5).
        if grant is GrantClass.WILDCARD:
            reason = _WILDCARD_NARROWED if resource_grant.narrowed else _WILDCARD_BARE
            return DecidedBy.RESOURCE, reason, True
        if grant in _UNLIMITED:
            return DecidedBy.RESOURCE, "resource policy grants the caller directly", True
        if not (id_allow or grant >= GrantClass.ROLE):
            return (
                DecidedBy.IDENTITY,
                "no identity-based or resource-based policy allows the action",
                False,
            )
    if policies.boundary is not None and not pb_allow:
        return (
            DecidedBy.PERMISSIONS_BOUNDARY,
            "permissions boundary does not allow the action",
            False,
        )
    if policies.session is not None and not sp_allow:
        return DecidedBy.SESSION, "session policy does not allow the action", False
    if kind is PrincipalKind.FEDERATED_USER and policies.session is None:
        return DecidedBy.SESSION, "federated user session has no session policy", False
    if id_allow:
        if cross:
            return DecidedBy.IDENTITY, _CROSS_ACCOUNT_ALLOWED, True
        return DecidedBy.IDENTITY, "allowed by identity-based policy", True
    return DecidedBy.RESOURCE, "allowed by resource-based policy", True
