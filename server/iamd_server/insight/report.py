"""Last-accessed reports (GenerateServiceLastAccessedDetails): which services a scope's
policies allow, and when its users and roles were last allowed each (pure functions).

AWS lists the services the entity's policies allow, accessed or not. iamd does too (from
the Allow statements of the identity policies in scope: the entity's own and, for a user,
its groups'; a policy's own default version), and adds any service the principals were
allowed otherwise (a resource policy can grant a service no identity policy names), except
for a policy's report, which covers the services that policy allows only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from iamd_policy.patterns import compile_globs
from iamd_policy.services import ServiceRegistry

from iamd_server.insight.last_accessed import SERVICE_LEVEL_ONLY
from iamd_server.store.last_accessed import Scope

SERVICE_LEVEL = "SERVICE_LEVEL"
ACTION_LEVEL = "ACTION_LEVEL"


def tracks_actions(service: str) -> bool:
    return service not in SERVICE_LEVEL_ONLY


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def granted(documents: Iterable[str], registry: ServiceRegistry) -> dict[str, set[str]]:
    """service prefix -> names of its actions some Allow statement covers (Deny and
    conditions are not weighed: a report shows what the policies could allow)."""
    matchers: list[tuple[Any, bool]] = []  # (matcher, is NotAction)
    for document in documents:
        try:
            statements = json.loads(document).get("Statement", [])
        except (ValueError, AttributeError):
            continue
        if isinstance(statements, dict):
            statements = [statements]
        for statement in statements if isinstance(statements, list) else []:
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                matchers.append(
                    (compile_globs(_values(statement["NotAction"]), ignore_case=True), True)
                )
            else:
                matchers.append(
                    (compile_globs(_values(statement.get("Action")), ignore_case=True), False)
                )
    out: dict[str, set[str]] = {}
    if not matchers:
        return out
    for prefix in registry.prefixes():
        definition = registry.get(prefix)
        if definition is None:
            continue
        for action in definition.actions.values():
            full = f"{prefix}:{action.name}".lower()
            if any(matcher(full) != negated for matcher, negated in matchers):
                out.setdefault(definition.prefix, set()).add(action.name)
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build(
    scope: Scope,
    rows: Sequence[tuple[str, str, str, datetime]],
    registry: ServiceRegistry,
    granularity: str,
) -> list[dict[str, Any]]:
    """The report's services, by namespace: JSON-ready dicts (stored with the job)."""
    allowed = granted(scope.documents, registry)
    # service -> action ("" = the service) -> principal id -> time
    seen: dict[str, dict[str, dict[str, datetime]]] = {}
    for principal_id, service, action, at in rows:
        if principal_id in scope.principals:
            seen.setdefault(service, {}).setdefault(action, {})[principal_id] = at
    services = set(allowed)
    if scope.kind != "policy":
        services |= set(seen)
    out: list[dict[str, Any]] = []
    for service in sorted(services):
        definition = registry.get(service)
        namespace = definition.prefix if definition is not None else service
        by_action = seen.get(service, {})
        last, entity, total = _latest(by_action.get("", {}), scope)
        item: dict[str, Any] = {
            "name": namespace,
            "namespace": namespace,
            "last": _iso(last),
            "entity": entity,
            "total": total,
        }
        if granularity == ACTION_LEVEL and tracks_actions(service):
            names: dict[str, str] = {a.lower(): a for a in allowed.get(namespace, ())}
            if scope.kind != "policy":
                for action in by_action:
                    if action and action not in names:
                        known = definition.actions.get(action) if definition else None
                        names[action] = known.name if known is not None else action
            actions = []
            for lowered, name in sorted(names.items()):
                when, who, _ = _latest(by_action.get(lowered, {}), scope)
                actions.append({"name": name, "last": _iso(when), "entity": who})
            item["actions"] = actions
        out.append(item)
    return out


def _latest(times: dict[str, datetime], scope: Scope) -> tuple[datetime | None, str, int]:
    """(newest time, the ARN of who it was, how many principals) of one service or action."""
    if not times:
        return None, "", 0
    principal_id = max(times, key=lambda p: times[p])
    return times[principal_id], scope.principals[principal_id], len(times)
