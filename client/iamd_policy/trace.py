"""Statement by statement, why a decision came out as it did (explain output).

For every statement whose action element matches the request: which resource entry matched
(with its variables substituted for this request), whether the principal matched, and for
every condition the request's values and the policy value each of them matched (the CIDR
block holding the address, the pattern after substitution). This walks all statements and
is meant for simulations and explanations, not for the decision path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .compile import CompiledStatement, PolicySet
from .conditions import ConditionTrace
from .evaluate import AuthorizationRequest, PolicySets
from .principal import GrantClass

__all__ = ["StatementTrace", "trace", "trace_to_json"]


@dataclass(frozen=True, slots=True)
class StatementTrace:
    policy_id: str
    kind: str
    statement_index: int
    sid: str | None
    effect: str
    # Whether the statement applies to the request (resource, principal and conditions).
    applies: bool
    # "Resource", "NotResource", or None when the statement has no resource element.
    resource_element: str | None
    # The entry of that element that matched the request's resource, as written...
    resource_entry: str | None
    # ...and with its policy variables substituted (None when it has none).
    resource_substituted: str | None
    # None when the statement has no principal element.
    principal_matched: bool | None
    conditions: tuple[ConditionTrace, ...]


def _statement(
    st: CompiledStatement, request: AuthorizationRequest, has_boundary: bool
) -> StatementTrace:
    context = request.context
    element: str | None = None
    entry: tuple[str, str | None] | None = None
    resource_ok = True
    if st.resource_entries is not None:
        element = "NotResource" if st.not_resource else "Resource"
        entry = st.matched_resource_entry(request.resource, context)
        resource_ok = (entry is not None) is not st.not_resource
    principal_ok: bool | None = None
    if st.principal is not None:
        granted = st.principal.grant(request.principal) is not GrantClass.NONE
        principal_ok = (not granted or has_boundary) if st.not_principal else granted
    conditions = tuple(c.explain(context) for c in st.conditions)
    applies = resource_ok and principal_ok is not False and all(c.result for c in conditions)
    return StatementTrace(
        policy_id=st.policy_id,
        kind=st.kind.value,
        statement_index=st.index,
        sid=st.sid,
        effect="Allow" if st.allow else "Deny",
        applies=applies,
        resource_element=element,
        resource_entry=entry[0] if entry is not None else None,
        resource_substituted=entry[1] if entry is not None else None,
        principal_matched=principal_ok,
        conditions=conditions,
    )


def trace(request: AuthorizationRequest, policies: PolicySets) -> tuple[StatementTrace, ...]:
    """Traces of the statements whose action element matches, in evaluation order."""
    sets: list[PolicySet] = [policies.identity]
    for optional in (policies.boundary, policies.session):
        if optional is not None:
            sets.append(optional)
    sets.extend(policies.scp_levels)
    sets.extend(policies.rcp_levels)
    if policies.resource is not None:
        sets.append(policies.resource)
    has_boundary = policies.boundary is not None
    out: list[StatementTrace] = []
    for policy_set in sets:
        for policy in policy_set.policies:
            for st in policy.statements:
                if st.matches_action(request.action_lower):
                    out.append(_statement(st, request, has_boundary))
    return tuple(out)


def _condition_json(item: ConditionTrace) -> dict[str, Any]:
    return {
        "Operator": item.operator,
        "Key": item.key,
        "ContextValues": list(item.context_values) if item.context_values is not None else None,
        "Result": item.result,
        "Matches": [
            {"ContextValue": value, "PolicyValue": written, "Substituted": substituted}
            for value, written, substituted in item.matches
        ],
    }


def trace_to_json(item: StatementTrace) -> dict[str, Any]:
    return {
        "SourcePolicyId": item.policy_id,
        "PolicyKind": item.kind,
        "StatementIndex": item.statement_index,
        "Sid": item.sid,
        "Effect": item.effect,
        "Applies": item.applies,
        "ResourceElement": item.resource_element,
        "MatchedResource": item.resource_entry,
        "SubstitutedResource": item.resource_substituted,
        "PrincipalMatched": item.principal_matched,
        "Conditions": [_condition_json(c) for c in item.conditions],
    }
