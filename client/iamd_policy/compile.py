"""Compilation of validated documents into matchers, and indexed policy sets."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .conditions import Condition
from .grammar import TRUST_ACTIONS, ParsedPolicy, ParsedStatement, parse_policy
from .kinds import PolicyKind
from .patterns import (
    ArnPattern,
    Matcher,
    Pieces,
    arn_from_pieces,
    compile_arn_patterns,
    compile_globs,
    has_wildcard,
    pieces_text,
)
from .principal import PrincipalMatcher
from .variables import Template, parse_template

if TYPE_CHECKING:
    from .context import Context

__all__ = [
    "CompiledPolicy",
    "CompiledStatement",
    "MatchedStatement",
    "PolicySet",
    "StatementBucket",
    "compile_parsed",
    "compile_policy",
]

CATCH_ALL = ""
# Compilation order, used to report matched statements in document order.
_SEQUENCE = itertools.count()


class _ResourceTemplate:
    """A Resource entry holding variables; resolved against each request's context.

    Variables are substituted anywhere in the resource part (after the fifth colon), the
    first five segments are matched as written.
    """

    __slots__ = ("entry", "head", "template")

    def __init__(self, entry: str, head: str, template: Template) -> None:
        self.entry = entry
        self.head = head  # the first five segments with their colons
        self.template = template

    def resolve(self, context: Context) -> Pieces | None:
        pieces = self.template.resolve(context)
        if pieces is None:
            return None
        return ((self.head, True), *pieces)

    def matches(self, resource: str, context: Context) -> bool:
        pieces = self.resolve(context)
        if pieces is None:
            return False
        pattern = arn_from_pieces(pieces)
        return pattern is not None and pattern.match(resource)


def _compile_resources(
    entries: Sequence[str], variables: bool
) -> tuple[Matcher, tuple[_ResourceTemplate, ...]]:
    plain: list[str] = []
    templates: list[_ResourceTemplate] = []
    for entry in entries:
        parts = entry.split(":", 5)
        template = parse_template(parts[5]) if variables and len(parts) == 6 else None
        if template is None:
            plain.append(entry)
        else:
            templates.append(_ResourceTemplate(entry, ":".join(parts[:5]) + ":", template))
    return compile_arn_patterns(plain), tuple(templates)


class MatchedStatement(NamedTuple):
    """A statement that decided a request, as reported in results."""

    policy_id: str
    source_type: str
    kind: PolicyKind
    statement_index: int
    sid: str | None


class CompiledStatement:
    """One statement with precompiled matchers."""

    __slots__ = (
        "actions",
        "allow",
        "condition_keys",
        "conditions",
        "exact_actions",
        "index",
        "initials",
        "kind",
        "matched",
        "not_action",
        "not_principal",
        "not_resource",
        "policy_id",
        "principal",
        "resource_any",
        "resource_entries",
        "resource_exact",
        "resource_others",
        "resource_prefixes",
        "resource_simple",
        "resource_templates",
        "resources",
        "seq",
        "services",
        "sid",
        "source_type",
    )

    def __init__(
        self,
        parsed: ParsedStatement,
        policy: ParsedPolicy,
        kind: PolicyKind,
        policy_id: str,
        source_type: str,
    ) -> None:
        variables = policy.variables_enabled
        self.policy_id = policy_id
        self.source_type = source_type
        self.kind = kind
        self.index = parsed.index
        self.sid = parsed.sid
        self.seq = next(_SEQUENCE)
        self.allow = parsed.effect == "Allow"
        self.matched = MatchedStatement(policy_id, source_type, kind, parsed.index, parsed.sid)
        self.not_action = parsed.not_action
        self.actions: Matcher = compile_globs(parsed.actions, ignore_case=True)
        # Index keys, coarsest first so that a statement sits in one bucket per action:
        # services where a name pattern starts with a wildcard, `service:c` for name patterns
        # with a literal first character c, and exact actions not covered by those.
        # services None = catch-all (wildcard vendor, `*`, NotAction).
        services: set[str] = set()
        initials: set[str] = set()
        exact: set[str] = set()
        catch_all = parsed.not_action
        if not catch_all:
            for action in parsed.actions:
                vendor, _, name = action.lower().partition(":")
                if action == "*" or has_wildcard(vendor) or not name:
                    catch_all = True
                    break
                if has_wildcard(name[0]):
                    services.add(vendor)
                elif has_wildcard(name):
                    initials.add(f"{vendor}:{name[0]}")
                else:
                    exact.add(f"{vendor}:{name}")
        if kind is PolicyKind.TRUST:
            # A role's trust policy is consulted for the trust actions only, whatever its
            # action element says (`"Action": "*"` stored before writes were checked must
            # not make it a resource policy for iam:PutRolePolicy on the role).
            confined = frozenset(
                a for a in TRUST_ACTIONS if self.actions.test(a) is not self.not_action
            )
            self.actions = compile_globs(confined)
            self.not_action = False
            catch_all = False
            services, initials, exact = set(), set(), set(confined)
        if catch_all:
            self.services: frozenset[str] | None = None
            self.initials: frozenset[str] = frozenset()
            self.exact_actions: frozenset[str] = frozenset()
        else:
            self.services = frozenset(services)
            self.initials = frozenset(i for i in initials if i.partition(":")[0] not in services)
            self.exact_actions = frozenset(
                a
                for a in exact
                if a.partition(":")[0] not in services and a[: a.index(":") + 2] not in initials
            )
        self.not_resource = parsed.not_resource
        self.resource_entries = parsed.resources
        if parsed.resources is None:
            self.resource_any = True
            self.resources: Matcher | None = None
            self.resource_templates: tuple[_ResourceTemplate, ...] = ()
        else:
            matcher, templates = _compile_resources(parsed.resources, variables)
            self.resource_any = matcher.any and not parsed.not_resource
            self.resources = matcher
            self.resource_templates = templates
        # Flattened matcher parts read directly by the evaluation loop.
        self.resource_simple = (
            not self.resource_any
            and not self.not_resource
            and not self.resource_templates
            and self.resources is not None
        )
        rm = self.resources
        self.resource_exact = rm.exact if rm is not None else frozenset()
        self.resource_prefixes = rm.prefixes if rm is not None else ()
        # Tests of the entries that are neither exact nor prefixes (ArnPattern.matcher()).
        self.resource_others: tuple[Callable[[str], bool], ...] = (
            tuple(p.matcher() for p in rm.others if isinstance(p, ArnPattern))
            if rm is not None
            else ()
        )
        self.principal = (
            PrincipalMatcher(parsed.principal) if parsed.principal is not None else None
        )
        self.not_principal = parsed.not_principal
        self.conditions = tuple(
            Condition(op, key, values, variables) for op, key, values in parsed.conditions
        )
        keys: dict[str, str] = {}
        for condition in self.conditions:
            keys.setdefault(condition.key_lower, condition.key)
            for key in condition.variable_keys:
                keys.setdefault(key.lower(), key)
        for template in self.resource_templates:
            for key in template.template.keys:
                keys.setdefault(key.lower(), key)
        self.condition_keys = tuple(keys.items())

    def matches_action(self, action_lower: str) -> bool:
        return self.actions.test(action_lower) is not self.not_action

    def matches_resource(self, resource: str, context: Context) -> bool:
        if self.resource_any:
            return True
        m = self.resources
        if m is None:
            return True
        hit = m.test(resource)
        if not hit:
            for template in self.resource_templates:
                if template.matches(resource, context):
                    hit = True
                    break
        return hit is not self.not_resource

    def matched_resource_entry(
        self, resource: str, context: Context
    ) -> tuple[str, str | None] | None:
        """The first Resource/NotResource entry that matches `resource`, and for an entry
        with variables the entry as substituted for this request (explain output)."""
        templates = {t.entry: t for t in self.resource_templates}
        for entry in self.resource_entries or ():
            template = templates.get(entry)
            if template is None:
                if compile_arn_patterns((entry,)).test(resource):
                    return entry, None
                continue
            pieces = template.resolve(context)
            if pieces is not None and template.matches(resource, context):
                return entry, pieces_text(pieces)
        return None

    def conditions_hold(self, context: Context) -> bool:
        for condition in self.conditions:  # noqa: SIM110 - a loop is faster than all(genexpr)
            if not condition.test(context):
                return False
        return True

    def __repr__(self) -> str:
        effect = "Allow" if self.allow else "Deny"
        return f"<CompiledStatement {self.policy_id}[{self.index}] {effect} sid={self.sid!r}>"


class CompiledPolicy:
    """A validated, compiled document."""

    __slots__ = ("kind", "parsed", "policy_id", "source_type", "statements")

    def __init__(
        self, parsed: ParsedPolicy, kind: PolicyKind, policy_id: str, source_type: str
    ) -> None:
        self.parsed = parsed
        self.kind = kind
        self.policy_id = policy_id
        self.source_type = source_type
        self.statements = tuple(
            CompiledStatement(s, parsed, kind, policy_id, source_type) for s in parsed.statements
        )

    def __repr__(self) -> str:
        return f"<CompiledPolicy {self.policy_id} {self.kind.value} {len(self.statements)} stmts>"


def compile_parsed(
    parsed: ParsedPolicy, kind: PolicyKind, *, policy_id: str, source_type: str
) -> CompiledPolicy:
    return CompiledPolicy(parsed, kind, policy_id, source_type)


def compile_policy(
    document: str | bytes,
    kind: PolicyKind,
    *,
    policy_id: str,
    source_type: str,
    managed: bool = False,
) -> CompiledPolicy:
    """Validate (raises PolicyValidationError) and compile a document."""
    parsed = parse_policy(document, kind, managed=managed)
    return CompiledPolicy(parsed, kind, policy_id, source_type)


# Distinct actions remembered per policy set (bounded by the actions services declare).
_MAX_ROUTES = 100_000


class StatementBucket:
    """Statements of one index key, grouped by their resource entries.

    A request resource is tested against all plain entries of the bucket at once (one dict
    lookup, one `startswith` with a tuple of prefixes); only then are the few candidates
    looked at one by one. Statements with templates, NotResource or no Resource element are
    checked individually.
    """

    __slots__ = (
        "by_resource",
        "check_action",
        "individual",
        "others",
        "prefix_pairs",
        "prefixes",
        "statements",
    )

    def __init__(self, statements: Sequence[CompiledStatement], check_action: bool) -> None:
        self.statements = tuple(statements)
        # False when the bucket key is the exact action: every statement matches it.
        self.check_action = check_action
        by_resource: dict[str, list[CompiledStatement]] = {}
        pairs: list[tuple[str, CompiledStatement]] = []
        others: list[CompiledStatement] = []
        individual: list[CompiledStatement] = []
        for st in statements:
            if not st.resource_simple:
                individual.append(st)
                continue
            for resource in st.resource_exact:
                by_resource.setdefault(resource, []).append(st)
            for prefix in st.resource_prefixes:
                pairs.append((prefix, st))
            if st.resource_others:
                others.append(st)
        self.by_resource = {k: tuple(v) for k, v in by_resource.items()}
        self.prefix_pairs = tuple(pairs)
        self.prefixes = tuple(p for p, _ in pairs)
        self.others = tuple(others)
        self.individual = tuple(individual)

    def matching(self, resource: str, context: Context) -> list[CompiledStatement] | None:
        """Statements whose resource element matches (action and conditions not checked)."""
        found: list[CompiledStatement] | None = None
        exact = self.by_resource.get(resource)
        if exact is not None:
            found = list(exact)
        if self.prefixes and resource.startswith(self.prefixes):
            for prefix, st in self.prefix_pairs:
                if resource.startswith(prefix):
                    if found is None:
                        found = [st]
                    elif st not in found:
                        found.append(st)
        for st in self.others:
            for test in st.resource_others:
                if test(resource):
                    if found is None:
                        found = [st]
                    elif st not in found:
                        found.append(st)
                    break
        for st in self.individual:
            if st.resource_any or st.matches_resource(resource, context):
                if found is None:
                    found = [st]
                else:
                    found.append(st)
        return found


_NO_BUCKET = StatementBucket((), False)


class PolicySet:
    """An immutable set of compiled policies indexed by the action's service prefix."""

    __slots__ = ("_routes", "actions", "catch_all", "index", "initials", "policies")

    EMPTY: PolicySet

    def __init__(self, policies: tuple[CompiledPolicy, ...]) -> None:
        self.policies = policies
        # A statement sits in exactly one bucket per action it can match, so a request scans
        # actions[action] + initials[service:c] + index[service] + catch_all without
        # duplicates.
        by_action: dict[str, list[CompiledStatement]] = {}
        by_initial: dict[str, list[CompiledStatement]] = {}
        buckets: dict[str, list[CompiledStatement]] = {}
        catch_all: list[CompiledStatement] = []
        for policy in policies:
            for statement in policy.statements:
                if statement.services is None:
                    catch_all.append(statement)
                    continue
                for service in statement.services:
                    buckets.setdefault(service, []).append(statement)
                for initial in statement.initials:
                    by_initial.setdefault(initial, []).append(statement)
                for action in statement.exact_actions:
                    by_action.setdefault(action, []).append(statement)
        self.actions: dict[str, StatementBucket] = {
            k: StatementBucket(v, False) for k, v in by_action.items()
        }
        self.initials: dict[str, StatementBucket] = {
            k: StatementBucket(v, True) for k, v in by_initial.items()
        }
        self.index: dict[str, StatementBucket] = {
            k: StatementBucket(v, True) for k, v in buckets.items()
        }
        self.catch_all = StatementBucket(catch_all, True)
        # Memo of action -> non-empty buckets; bounded by the number of distinct actions.
        self._routes: dict[str, tuple[StatementBucket, ...]] = {}

    @classmethod
    def of(cls, policies: Iterable[CompiledPolicy]) -> PolicySet:
        return cls(tuple(policies))

    def candidates(self, action: str) -> tuple[StatementBucket, ...]:
        """Buckets of the statements whose action element matches `action` (lowercase).

        Built once per distinct action and remembered: the bucket then holds exactly the
        statements that can apply, so a decision tests resources and conditions of those only,
        however many statements the set holds for other actions and services.
        """
        routes = self._routes.get(action)
        if routes is None:
            service, _, name = action.partition(":")
            matching = [
                statement
                for bucket in (
                    self.actions.get(action, _NO_BUCKET),
                    self.initials.get(f"{service}:{name[:1]}", _NO_BUCKET),
                    self.index.get(service, _NO_BUCKET),
                    self.catch_all,
                )
                for statement in bucket.statements
                if not bucket.check_action or statement.matches_action(action)
            ]
            routes = (StatementBucket(matching, False),) if matching else ()
            if len(self._routes) < _MAX_ROUTES:
                self._routes[action] = routes
        return routes

    def __len__(self) -> int:
        return len(self.policies)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<PolicySet {len(self.policies)} policies>"


PolicySet.EMPTY = PolicySet(())
