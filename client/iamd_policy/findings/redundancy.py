"""Redundancy: entries another entry of the same element already covers (REDUNDANT_ACTION,
REDUNDANT_RESOURCE) and statements another statement already covers (REDUNDANT_STATEMENT).

Coverage is decided soundly: a finding is only reported when the covering part matches
everything the redundant part matches (wildcards compared as patterns, see `globs`), so
removing the redundant part never changes a decision. Statement A covers statement B when
they have the same effect, A's conditions are a subset of B's, and A's principals, actions
and resources each include B's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..grammar import ParsedPolicy, ParsedStatement
from .document import Document
from .globs import Budget, arn_covers, glob_covers, has_wildcard, widen_variables
from .model import FindingType

__all__ = ["Redundancy"]

Add = Callable[..., None]
Covers = Callable[[str, str], bool]


class Redundancy:
    def __init__(self, document: Document, policy: ParsedPolicy, budget: Budget, add: Add) -> None:
        self.document = document
        self.policy = policy
        self.budget = budget
        self.add = add
        self.variables = policy.variables_enabled

    def run(self) -> None:
        for statement in self.policy.statements:
            self.entries(statement)
        self.statements()

    # ---- coverage of single patterns ----

    def action_covers(self, wider: str, narrower: str) -> bool:
        return glob_covers(wider.lower(), narrower.lower(), self.budget)

    def resource_covers(self, wider: str, narrower: str) -> bool:
        if wider == narrower:
            return True
        if self.variables:
            if "${" in wider:
                return False  # a variable stands for one value, not for a pattern
            narrower = widen_variables(narrower)
        return arn_covers(wider, narrower, self.budget)

    # ---- entries of one element ----

    def entries(self, statement: ParsedStatement) -> None:
        index = statement.index
        field = "NotAction" if statement.not_action else "Action"
        self._element(index, field, statement.actions, self.action_covers, str.lower, "action")
        if statement.resources is not None:
            field = "NotResource" if statement.not_resource else "Resource"
            self._element(index, field, statement.resources, self.resource_covers, str, "resource")

    def _element(
        self,
        index: int,
        field: str,
        entries: Sequence[str],
        covers: Covers,
        normal: Callable[[str], str],
        noun: str,
    ) -> None:
        if len(entries) < 2:
            return
        redundant: dict[int, int] = {}  # redundant entry -> an entry that covers it
        first: dict[str, int] = {}
        for position, entry in enumerate(entries):
            key = normal(entry)
            if key in first:
                redundant[position] = first[key]
            else:
                first[key] = position
        wildcards = [p for p in first.values() if has_wildcard(entries[p])]
        for wide in wildcards:
            if wide in redundant:
                continue
            for position in first.values():
                if position == wide or position in redundant:
                    continue
                self.budget.charge()
                if covers(entries[wide], entries[position]):
                    redundant[position] = wide
        for position, wide in sorted(redundant.items()):
            paths = (
                self.document.entry(index, field, wide),
                self.document.entry(index, field, position),
            )
            if noun == "action":
                self.add(
                    FindingType.SUGGESTION,
                    "REDUNDANT_ACTION",
                    "The 2 action(s) are redundant because they provide similar permissions. "
                    "Update the policy to remove the redundant action such as: "
                    f"{entries[position]}.",
                    *paths,
                )
            else:
                self.add(
                    FindingType.SUGGESTION,
                    "REDUNDANT_RESOURCE",
                    "The 2 resource ARN(s) are redundant because they reference the same "
                    "resource. Review the use of wildcards (*), or remove the resource "
                    f"{entries[position]} to remove the redundancy.",
                    *paths,
                )

    # ---- whole statements ----

    def statements(self) -> None:
        statements = self.policy.statements
        conditions = [
            frozenset((op, key.lower(), frozenset(values)) for op, key, values in s.conditions)
            for s in statements
        ]
        reported: set[int] = set()
        for later in range(1, len(statements)):
            for earlier in range(later):
                if later in reported:
                    break
                if earlier in reported:
                    continue
                self.budget.charge()
                a, b = statements[earlier], statements[later]
                if a.effect != b.effect:
                    continue
                if conditions[earlier] <= conditions[later] and self.covers(a, b):
                    reported.add(later)
                    self._report(
                        b,
                        a,
                        identical=conditions[earlier] == conditions[later] and self.covers(b, a),
                    )
                elif conditions[later] <= conditions[earlier] and self.covers(b, a):
                    reported.add(earlier)
                    self._report(a, b, identical=False)

    def _report(self, redundant: ParsedStatement, cover: ParsedStatement, identical: bool) -> None:
        if identical:
            details = (
                "The statements are redundant because they provide identical permissions. "
                "Update the policy to remove the redundant statement."
            )
        else:
            verb = "allows" if cover.effect == "Allow" else "denies"
            details = (
                f"{_name(redundant)} is redundant: {_name(cover)} {verb} everything it does "
                "with the same or fewer conditions. Update the policy to remove the redundant "
                "statement."
            )
        self.add(
            FindingType.SUGGESTION,
            "REDUNDANT_STATEMENT",
            details,
            self.document.statement(redundant.index),
            self.document.statement(cover.index),
        )

    def covers(self, a: ParsedStatement, b: ParsedStatement) -> bool:
        """Whether `a` matches every request `b` matches (conditions aside)."""
        return (
            self._principals(a, b)
            and _element(a.actions, a.not_action, b.actions, b.not_action, self.action_covers)
            and self._resources(a, b)
        )

    def _resources(self, a: ParsedStatement, b: ParsedStatement) -> bool:
        if a.resources is None:
            return True  # no Resource element: every resource (role trust policies)
        if b.resources is None:
            return not a.not_resource and "*" in a.resources
        return _element(
            a.resources, a.not_resource, b.resources, b.not_resource, self.resource_covers
        )

    @staticmethod
    def _principals(a: ParsedStatement, b: ParsedStatement) -> bool:
        if a.principal is None or b.principal is None:
            return a.principal is None and b.principal is None
        if a.not_principal or b.not_principal:
            return a.not_principal == b.not_principal and a.principal == b.principal
        wider = {ptype: set(entries) for ptype, entries in a.principal}
        if "*" in wider.get("AWS", ()):
            return True
        return all(
            entry in wider.get(ptype, ()) for ptype, entries in b.principal for entry in entries
        )


def _name(statement: ParsedStatement) -> str:
    return f"Statement {statement.index}" + (f" ({statement.sid})" if statement.sid else "")


def _element(
    wide: Sequence[str],
    wide_negated: bool,
    narrow: Sequence[str],
    narrow_negated: bool,
    covers: Covers,
) -> bool:
    """Whether the entries `wide` (or all but them, when negated) include what `narrow`
    (or all but it) matches."""
    if not wide_negated and not narrow_negated:
        return all(any(covers(w, n) for w in wide) for n in narrow)
    if wide_negated and narrow_negated:
        # Everything but W includes everything but N when W lies within N.
        return all(any(covers(n, w) for n in narrow) for w in wide)
    if not wide_negated:
        return "*" in wide
    return False  # all but W including a list needs disjointness, which is not checked
