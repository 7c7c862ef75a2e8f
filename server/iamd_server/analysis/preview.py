"""What a policy write would change: the (principal, action, resource) decisions that differ
before and after, computed in memory; nothing is written.

A change names the principals it can affect (the user; a group's members; a managed
policy's holders; every user and role of a resource's account), how each one's stored
policies would read afterwards, and the documents before and after. The actions those
documents name (wildcards expanded against the service definitions) and the resources they
name literally (plus "*") make the triples; each is decided twice by the engine, with the
principal's entry as it is and as the write would make it, with an empty request context.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from iamd_policy import (
    CompiledPolicy,
    EvaluationResult,
    PolicyKind,
    compile_policy,
)
from iamd_policy.entries import (
    ResourceEntry,
    compile_principal,
)

from iamd_server.authz.decisions import Decider
from iamd_server.errors import Unavailable
from iamd_server.store.records import LoadedPolicy, PrincipalPolicies

__all__ = ["Change", "ChangedDecision", "Preview", "preview"]

# Actions expanded from one change's documents, at most.
MAX_ACTIONS = 2000

Edit = Callable[[PrincipalPolicies], Awaitable[PrincipalPolicies]]


@dataclass
class Change:
    """A write to preview, resolved against the stored state."""

    # Principals whose own policies change, and how (identity and boundary changes).
    principals: list[str] = field(default_factory=list)
    edit: Edit | None = None
    # Documents before and after (actions and resources are taken from them), with the kind
    # they are compiled as.
    documents: list[tuple[str, PolicyKind]] = field(default_factory=list)
    # A resource whose resource policy changes, and its entry afterwards.
    resource: str | None = None
    resource_after: ResourceEntry | None = None


@dataclass(frozen=True, slots=True)
class ChangedDecision:
    principal: str
    action: str
    resource: str
    before: EvaluationResult
    after: EvaluationResult


@dataclass
class Preview:
    changes: list[ChangedDecision]
    actions: list[str]
    resources: list[str]
    checked: int
    truncated: bool


def _compiled(documents: Iterable[tuple[str, PolicyKind]]) -> list[CompiledPolicy]:
    return [
        compile_policy(text, kind, policy_id="preview", source_type="none")
        for text, kind in documents
    ]


def touched_actions(decider: Decider, policies: list[CompiledPolicy]) -> list[str]:
    """Declared actions some statement of the documents names (as written or by pattern)."""
    registry = decider.registry
    statements = [s for p in policies for s in p.statements]
    out: list[str] = []
    for prefix in sorted(registry.prefixes()):
        definition = registry.get(prefix)
        if definition is None:
            continue
        for action in definition.actions.values():
            name = f"{definition.prefix}:{action.name}"
            if any(s.matches_action(name.lower()) for s in statements):
                out.append(name)
                if len(out) >= MAX_ACTIONS:
                    return out
    return out


def touched_resources(policies: list[CompiledPolicy], extra: Iterable[str]) -> list[str]:
    """Resources the documents name (policy variables left out: their values are the
    principal's), the extra ones, and "*"."""
    found = set(extra)
    found.add("*")
    for policy in policies:
        for statement in policy.statements:
            for entry in statement.resource_entries or ():
                if "${" not in entry:
                    found.add(entry)
    return sorted(found)


async def preview(
    decider: Decider,
    load: Callable[[str], Awaitable[PrincipalPolicies | None]],
    change: Change,
    *,
    max_checks: int,
) -> Preview:
    policies = _compiled(change.documents)
    actions = touched_actions(decider, policies)
    extra = [change.resource] if change.resource else []
    resources = [change.resource] if change.resource else touched_resources(policies, extra)
    principals = sorted(set(change.principals))
    before_resources: dict[str, ResourceEntry | None] = {}
    for resource in resources:
        before_resources[resource] = await decider.resource_policies(resource)
    after_resources = dict(before_resources)
    if change.resource is not None:
        after_resources[change.resource] = change.resource_after
    now = int(time.time())
    out: list[ChangedDecision] = []
    checked = 0
    truncated = False
    for arn in principals:
        before = await decider.principal_entry(arn)
        if before is None:
            continue
        after = before
        if change.edit is not None:
            loaded = await load(arn)
            if loaded is None:
                continue
            try:
                after = compile_principal(arn, await change.edit(loaded))
            except ValueError as exc:
                raise Unavailable(f"cannot compile the policies of {arn}: {exc}") from exc
        for action in actions:
            for resource in resources:
                if checked >= max_checks:
                    truncated = True
                    break
                checked += 1
                was = decider.evaluate(
                    before, action, resource, None, None, before_resources[resource], True, now
                )
                will = decider.evaluate(
                    after, action, resource, None, None, after_resources[resource], True, now
                )
                if was.decision is not will.decision:
                    out.append(ChangedDecision(arn, action, resource, was, will))
            if truncated:
                break
        if truncated:
            break
    return Preview(out, actions, resources, checked, truncated)


def replace_identity(
    policies: PrincipalPolicies,
    keep: Callable[[LoadedPolicy], bool],
    add: Iterable[LoadedPolicy] = (),
) -> PrincipalPolicies:
    identity = tuple(p for p in policies.identity if keep(p)) + tuple(add)
    return dataclasses.replace(policies, identity=identity)
