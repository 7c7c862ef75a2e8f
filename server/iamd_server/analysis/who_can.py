"""Who can do what: the principals allowed an action on a resource, the actions allowed a
principal, computed with the compiled engine rather than by trying every principal.

ListPrincipalsAllowed narrows first: the account's identity policies are compiled into one
`PolicySet`, whose per-action routes give the Allow statements whose action and resource
match; only the users and roles those policies reach (inline owners, attachments, members
of groups) are candidates, plus every user and role of the account when the resource's own
policy has a matching Allow. Each candidate is then decided in full by the `Decider` (SCPs,
boundaries, denies, conditions), with an empty request context: a decision that reads keys
the request would supply is reported as conditional.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg
from iamd_policy import (
    CompiledPolicy,
    Context,
    Decision,
    EvaluationResult,
    PolicyKind,
    PolicySet,
)
from iamd_policy.entries import compile_loaded

from iamd_server.authz.decisions import Decider
from iamd_server.errors import NotFound, Unavailable
from iamd_server.store import reach
from iamd_server.store.records import LoadedPolicy

__all__ = ["Access", "GroupAnswer", "PrincipalAnswer", "WhoCan", "access_of"]

# Candidates decided at a time (each may load its entry from the database on a miss).
DECIDE_CHUNK = 64
# Accounts whose compiled policy index is kept (each until the next change).
INDEXED_ACCOUNTS = 8


class Access(enum.Enum):
    ALLOWED = "allowed"
    CONDITIONAL = "conditional"


def access_of(result: EvaluationResult) -> Access | None:
    """Allowed, conditional (the decision reads request context keys that an empty context
    lacks), or None (denied whatever the context)."""
    if result.missing_context_keys:
        return Access.CONDITIONAL
    if result.decision is Decision.ALLOWED:
        return Access.ALLOWED
    return None


@dataclass(frozen=True, slots=True)
class PrincipalAnswer:
    arn: str
    kind: str  # "user" | "role"
    access: Access
    result: EvaluationResult
    groups: tuple[str, ...] = ()


@dataclass(slots=True)
class GroupAnswer:
    arn: str
    statements: list[object] = field(default_factory=list)  # MatchedStatement


@dataclass(frozen=True, slots=True)
class _Index:
    """An account's identity policies compiled into one set, current at `generation`."""

    generation: int
    policies: PolicySet
    by_ref: dict[str, reach.AccountPolicy]


def _compile(policy: reach.AccountPolicy) -> CompiledPolicy:
    # Loaded as the Decider loads it, so the compiled document is shared with its entries.
    if policy.kind == "managed":
        loaded = LoadedPolicy(policy.ref, "user-managed", policy.ref, policy.document)
    else:
        owner, _, name = policy.ref.rpartition("#")
        loaded = LoadedPolicy(name, policy.kind, owner, policy.document)
    return compile_loaded(loaded, PolicyKind.IDENTITY)


def _allowing(policies: PolicySet, action_lower: str, resource: str) -> set[str]:
    """Ids of the policies with an Allow statement whose action and resource match. A
    statement whose Resource has policy variables counts: their values are the principal's."""
    refs: set[str] = set()
    for bucket in policies.candidates(action_lower):
        for statement in bucket.matching(resource, Context.EMPTY) or ():
            if statement.allow:
                refs.add(statement.policy_id)
        for statement in bucket.individual:
            if statement.allow and statement.resource_templates:
                refs.add(statement.policy_id)
    return refs


class WhoCan:
    def __init__(self, decider: Decider, pool: asyncpg.Pool) -> None:
        self._decider = decider
        self._pool = pool
        self._indexes: OrderedDict[str, _Index] = OrderedDict()

    async def _index(self, account: str) -> _Index:
        generation = self._decider.generation
        known = self._indexes.get(account)
        if known is not None and known.generation == generation:
            self._indexes.move_to_end(account)
            return known
        try:
            rows = await reach.account_policies(self._pool, account)
        except Exception as exc:
            raise Unavailable(f"cannot load the policies of account {account}") from exc
        try:
            compiled = await asyncio.to_thread(lambda: [_compile(r) for r in rows])
        except ValueError as exc:
            raise Unavailable(f"cannot compile a policy of account {account}: {exc}") from exc
        index = _Index(generation, PolicySet.of(compiled), {r.ref: r for r in rows})
        self._indexes[account] = index
        while len(self._indexes) > INDEXED_ACCOUNTS:
            self._indexes.popitem(last=False)
        return index

    async def candidates(
        self, account: str, action: str, resource: str
    ) -> tuple[dict[str, str], dict[str, set[str]], dict[str, set[str]]]:
        """(candidate ARN -> "user" | "role", user ARN -> groups it was reached through,
        group ARN -> ids of its policies that allow)."""
        index = await self._index(account)
        refs = _allowing(index.policies, action.lower(), resource)
        policies = [index.by_ref[ref] for ref in sorted(refs) if ref in index.by_ref]
        owners = sorted({p.key for p in policies if p.kind != "managed"})
        managed = sorted({p.key for p in policies if p.kind == "managed"})
        found: dict[str, str] = {}
        via: dict[str, set[str]] = {}
        group_refs: dict[str, set[str]] = {}
        try:
            if owners or managed:
                for row in await reach.reached_principals(self._pool, account, owners, managed):
                    found[row.arn] = row.kind
                    if row.group_arn is not None:
                        via.setdefault(row.arn, set()).add(row.group_arn)
                if managed:
                    for group, policy in await reach.group_attachments(
                        self._pool, account, managed
                    ):
                        group_refs.setdefault(group, set()).add(policy)
            resource_entry = await self._decider.resource_policies(resource)
            if resource_entry is not None and _allowing(
                resource_entry.policies, action.lower(), resource
            ):
                # A resource policy may grant any principal of the account: decide them all.
                for row in await reach.account_principals(self._pool, account):
                    found.setdefault(row.arn, row.kind)
        except Unavailable:
            raise
        except Exception as exc:
            raise Unavailable(f"cannot load the principals of account {account}") from exc
        for p in policies:
            if p.kind == "group":
                group_refs.setdefault(p.ref.rpartition("#")[0], set()).add(p.ref)
        return found, via, group_refs

    async def principals_allowed(
        self,
        account: str,
        action: str,
        resource: str,
        *,
        after: str,
        limit: int,
    ) -> tuple[list[PrincipalAnswer], bool, dict[str, GroupAnswer]]:
        """Up to ``limit`` principals after ARN ``after`` (sorted by ARN), whether more
        follow, and the groups contributing to those listed."""
        found, via, group_refs = await self.candidates(account, action, resource)
        ordered = sorted(arn for arn in found if arn > after)
        answers: list[PrincipalAnswer] = []
        more = False
        for start in range(0, len(ordered), DECIDE_CHUNK):
            chunk = ordered[start : start + DECIDE_CHUNK]
            outcomes = await asyncio.gather(
                *(self._decider.decide(arn, action, resource, explain=True) for arn in chunk)
            )
            for arn, outcome in zip(chunk, outcomes, strict=True):
                access = access_of(outcome.result) if outcome.principal_known else None
                if access is None:
                    continue
                if len(answers) == limit:
                    more = True
                    break
                answers.append(PrincipalAnswer(arn, found[arn], access, outcome.result))
            if more:
                break
        groups: dict[str, GroupAnswer] = {}
        with_groups: list[PrincipalAnswer] = []
        for answer in answers:
            deciding = {m.policy_id: m for m in answer.result.matched_statements}
            contributing = []
            for group in sorted(via.get(answer.arn, ())):
                refs = group_refs.get(group, set())
                statements = [m for ref, m in deciding.items() if ref in refs]
                if not statements:
                    continue
                contributing.append(group)
                entry = groups.setdefault(group, GroupAnswer(group))
                for statement in statements:
                    if statement not in entry.statements:
                        entry.statements.append(statement)
            with_groups.append(
                PrincipalAnswer(
                    answer.arn, answer.kind, answer.access, answer.result, tuple(contributing)
                )
            )
        return with_groups, more, groups

    async def allowed_actions(
        self, principal_arn: str, actions: Iterable[str], resource: str
    ) -> list[tuple[str, Access, EvaluationResult]]:
        """The actions (of ``actions``) allowed or conditional for the principal."""
        decider = self._decider

        async def resolve() -> tuple[object, object]:
            entry = await decider.principal_entry(principal_arn)
            if entry is None:
                return None, None
            return entry, await decider.resource_policies(resource)

        (entry, resource_entry), _ = await decider.settled(resolve)
        if entry is None:
            raise NotFound(f"principal {principal_arn} does not exist")
        now = int(time.time())
        out: list[tuple[str, Access, EvaluationResult]] = []
        for action in actions:
            result = decider.evaluate(
                entry,  # type: ignore[arg-type]
                action,
                resource,
                None,
                None,
                resource_entry,  # type: ignore[arg-type]
                True,
                now,
            )
            access = access_of(result)
            if access is not None:
                out.append((action, access, result))
        return out


def service_actions(prefixes: Sequence[str], decider: Decider) -> list[str]:
    """Every action of the given services, as "prefix:Name", sorted case-insensitively."""
    out: list[str] = []
    for prefix in prefixes:
        definition = decider.registry.get(prefix)
        if definition is not None:
            out.extend(f"{definition.prefix}:{a.name}" for a in definition.actions.values())
    return sorted(out, key=str.lower)
