"""The checks run on a document the grammar accepts; each adds findings, none refuses.

Issue codes and wording follow AWS's policy check reference where AWS has the check; the
codes iamd adds (ALLOW_WITH_NOT_ACTION, ALLOW_WITH_NOT_RESOURCE, UNKNOWN_CONDITION_KEY,
PUBLIC_ACCESS_WITHOUT_CONDITION, UNREACHABLE_STATEMENT) cover what AWS leaves to its other
analyzers or what iamd's own semantics add. Wildcard comparisons draw on one `Budget`: when it
is spent, the checks that need more comparisons are skipped, never the answer delayed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from ..grammar import ParsedPolicy, ParsedStatement, split_operator
from ..kinds import PolicyKind, policy_size
from ..services import ActionDefinition, ServiceDefinition, ServiceRegistry
from ..values import parse_binary, parse_bool, parse_ip, parse_number
from .document import Document, Path
from .globs import Budget, BudgetExceeded, glob_match, has_wildcard
from .keytypes import KeyType, global_key_type, operator_family, service_key
from .model import Finding, FindingType, learn_more_link
from .redundancy import Redundancy

__all__ = ["Checks"]

ERROR = FindingType.ERROR
SECURITY = FindingType.SECURITY_WARNING
WARNING = FindingType.WARNING
SUGGESTION = FindingType.SUGGESTION

MANAGED_POLICY_SIZE = 6144
_PASS_ROLE = "iam:passrole"
# Kinds that cannot grant anything: their Allow statements only set limits.
_GUARDRAILS = frozenset({PolicyKind.SERVICE_CONTROL, PolicyKind.RESOURCE_CONTROL})
_RESOURCE_KINDS = frozenset({PolicyKind.RESOURCE, PolicyKind.TRUST})
_EQUALITY_OPERATORS = frozenset(
    {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}
)
_FAMILY_NAMES = {
    "String": "string",
    "Numeric": "numeric",
    "Date": "date",
    "Bool": "Boolean",
    "Binary": "binary",
    "IP": "IP address",
    "ARN": "ARN",
}
_VALUE_CHECKS: dict[str, tuple[Callable[[str], object], str, str]] = {
    "Numeric": (parse_number, "TYPE_MISMATCH_NUMBER", "Add a valid numeric value"),
    "Bool": (parse_bool, "TYPE_MISMATCH_BOOLEAN", "Add a valid Boolean value (true or false)"),
    "IP": (parse_ip, "TYPE_MISMATCH_IP_RANGE", "Add an IP address or a CIDR range"),
    "Binary": (parse_binary, "TYPE_MISMATCH_STRING", "Add a valid base64-encoded string value"),
}
_PASS_ROLE_DETAILS = {
    "PASS_ROLE_WITH_STAR_IN_RESOURCE": (
        "Using the iam:PassRole action with wildcards (*) in the resource can be overly "
        "permissive because it allows iam:PassRole permissions on multiple resources."
    ),
    "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE": (
        "Using wildcards (*) in the action and the resource can be overly permissive because "
        "it allows iam:PassRole permissions on all resources."
    ),
    "PASS_ROLE_WITH_STAR_IN_RESOURCE_AND_NOT_ACTION": (
        "Using a resource with wildcards (*) and NotAction can be overly permissive because "
        "it allows iam:PassRole permissions on all resources."
    ),
    "PASS_ROLE_WITH_NOT_RESOURCE": (
        "Using the iam:PassRole action with NotResource can be overly permissive because it "
        "can allow iam:PassRole permissions on multiple resources."
    ),
    "PASS_ROLE_WITH_STAR_IN_ACTION_AND_NOT_RESOURCE": (
        "Using an action with a wildcard (*) and NotResource can be overly permissive because "
        "it can allow iam:PassRole permissions on multiple resources."
    ),
    "PASS_ROLE_WITH_NOT_ACTION_AND_NOT_RESOURCE": (
        "Using NotAction with NotResource can be overly permissive because it can allow "
        "iam:PassRole permissions on multiple resources."
    ),
}
_PASS_ROLE_ADVICE = (
    " We recommend that you specify resource ARNs or add the iam:PassedToService condition key "
    "to your statement."
)

# What an Action entry stands for: the declared actions it matches (with their service), or
# None when that cannot be known here (`*`, a wildcard in the service name, budget spent).
Resolved = list[tuple[ServiceDefinition, ActionDefinition]] | None


def _name(statement: ParsedStatement) -> str:
    return f"Statement {statement.index}" + (f" ({statement.sid})" if statement.sid else "")


def _all_roles(resource: str, budget: Budget) -> bool:
    """`*`, or an ARN pattern for every role of an account (`arn:aws:iam::1:role/*`)."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    return len(parts) == 6 and glob_match(parts[2], "iam", budget) and parts[5] in ("*", "role/*")


def _may_overlap(pattern: str, template: str, budget: Budget) -> bool:
    """False only when no ARN can match both a Resource entry and a resource type's ARN
    template (`arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}`)."""
    given = pattern.split(":", 5)
    declared = template.split(":", 5)
    if len(given) < 6 or len(declared) < 6:
        return True
    for mine, theirs in zip(given[:5], declared[:5], strict=True):
        if "${" in theirs or has_wildcard(theirs):
            continue
        if not glob_match(mine, theirs, budget):
            return False
    mine, theirs = given[5], declared[5]
    cuts = [i for i in (theirs.find("${"), theirs.find("*")) if i >= 0]
    if not cuts:
        return glob_match(mine, theirs, budget)
    literal = theirs[: min(cuts)]
    mine_cuts = [i for i in (mine.find("*"), mine.find("?")) if i >= 0]
    if not mine_cuts:
        return mine.startswith(literal)
    prefix = mine[: min(mine_cuts)]
    return prefix.startswith(literal) or literal.startswith(prefix)


def _applicable(
    resource: str, service: ServiceDefinition, action: ActionDefinition, budget: Budget
) -> bool:
    if not action.resource_types:
        return False  # such an action is only matched by "Resource": "*"
    for type_name in action.resource_types:
        resource_type = service.resource_types.get(type_name)
        if resource_type is None or _may_overlap(resource, resource_type.arn_pattern, budget):
            return True
    return False


class Checks:
    """Runs every check over one parsed document; `run()` returns the findings."""

    def __init__(
        self,
        document: Document,
        policy: ParsedPolicy,
        kind: PolicyKind,
        registry: ServiceRegistry,
        budget: Budget,
    ) -> None:
        self.document = document
        self.policy = policy
        self.kind = kind
        self.registry = registry
        self.budget = budget
        self.findings: list[Finding] = []
        self._resolved: dict[int, list[Resolved]] = {}
        self._matches: dict[tuple[str, str], list[ActionDefinition]] = {}

    def add(self, kind: FindingType, code: str, details: str, *paths: Path) -> None:
        document = self.document
        locations = tuple(document.location(p) for p in paths) or (document.location(),)
        self.findings.append(Finding(kind, code, details, locations, learn_more_link(code)))

    def run(self) -> list[Finding]:
        self.version()
        self.size()
        for statement in self.policy.statements:
            self.sid(statement)
            self.negations(statement)
            self.actions(statement)
            self.public_access(statement)
            self.conditions(statement)
            self.variables(statement)
            self._guarded(self.pass_role, statement)
        for statement in self.policy.statements:
            self._guarded(self.reachable, statement)
        redundancy = Redundancy(self.document, self.policy, self.budget, self.add)
        with contextlib.suppress(BudgetExceeded):  # what is left is skipped: it is advice
            redundancy.run()
        return self.findings

    def _guarded(
        self, check: Callable[[ParsedStatement], None], statement: ParsedStatement
    ) -> None:
        with contextlib.suppress(BudgetExceeded):
            check(statement)

    # ---- the document ----

    def version(self) -> None:
        if self.document.data.get("Version") is None:
            self.add(
                WARNING,
                "MISSING_VERSION",
                "We recommend that you specify the Version element to help you with debugging "
                "permission issues. Without it the policy follows the 2008-10-17 rules: policy "
                "variables such as ${aws:username} are plain text.",
            )

    def size(self) -> None:
        if self.kind is not PolicyKind.IDENTITY:
            return
        size = policy_size(self.document.text)
        if size > MANAGED_POLICY_SIZE:
            self.add(
                WARNING,
                "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
                f"The {size} characters in the identity policy, excluding whitespace, exceed "
                f"the {MANAGED_POLICY_SIZE} character maximum for managed policies (inline "
                "policies may hold 2048 in all for a user, 5120 for a group, 10240 for a "
                "role). We recommend that you use multiple granular policies.",
            )

    # ---- one statement ----

    def sid(self, statement: ParsedStatement) -> None:
        if self.document.statements[statement.index].get("Sid") == "":
            self.add(
                SUGGESTION,
                "EMPTY_SID_VALUE",
                "Add a value to the empty string in the Sid element.",
                self.document.element(statement.index, "Sid"),
            )

    def negations(self, statement: ParsedStatement) -> None:
        if statement.effect != "Allow":
            return
        index = statement.index
        if statement.not_action:
            self.add(
                WARNING,
                "ALLOW_WITH_NOT_ACTION",
                "Using Allow with NotAction can be overly permissive: it allows every action "
                "that is not listed, including actions services declare later. We recommend "
                "that you list the allowed actions in Action instead.",
                self.document.element(index, "NotAction"),
            )
        if statement.not_resource:
            self.add(
                WARNING,
                "ALLOW_WITH_NOT_RESOURCE",
                "Using Allow with NotResource can be overly permissive: it allows the actions "
                "on every resource that is not listed, including resources created later. We "
                "recommend that you list the allowed resources in Resource instead.",
                self.document.element(index, "NotResource"),
            )

    def actions(self, statement: ParsedStatement) -> None:
        field = "NotAction" if statement.not_action else "Action"
        resolved: list[Resolved] = []
        for position, action in enumerate(statement.actions):
            path = self.document.entry(statement.index, field, position)
            try:
                resolved.append(self._resolve(action, path))
            except BudgetExceeded:
                resolved.append(None)
        if not statement.not_action:
            self._resolved[statement.index] = resolved

    def _resolve(self, action: str, path: Path) -> Resolved:
        if action == "*":
            return None
        # A wildcard in the vendor never gets here: the grammar refuses it.
        vendor, _, name = action.partition(":")
        service = self.registry.get(vendor)
        if service is None:
            self.add(
                ERROR,
                "INVALID_SERVICE_IN_ACTION",
                f"The service {action} specified in the action does not exist: no service "
                f"definition declares the prefix {vendor.lower()}, so no request can name "
                "this action. Register the service (PutServiceDefinition) or fix the prefix.",
                path,
            )
            return []
        matched = self._matching(service, name.lower())
        if not matched:
            self.add(
                ERROR,
                "INVALID_ACTION",
                f"The action {action} does not exist: the service definition of "
                f"{service.prefix} declares no action that matches it.",
                path,
            )
        return [(service, a) for a in matched]

    def _matching(self, service: ServiceDefinition, name: str) -> list[ActionDefinition]:
        cached = self._matches.get((service.prefix, name))
        if cached is not None:
            return cached
        if not has_wildcard(name):
            found = service.action(name)
            matched = [found] if found is not None else []
        else:
            self.budget.charge(len(service.actions))
            matched = [
                a for key, a in service.actions.items() if glob_match(name, key, self.budget)
            ]
        self._matches[(service.prefix, name)] = matched
        return matched

    def public_access(self, statement: ParsedStatement) -> None:
        if (
            self.kind not in _RESOURCE_KINDS
            or statement.effect != "Allow"
            or statement.not_principal
            or statement.conditions
            or statement.principal is None
        ):
            return
        for principal_type, entries in statement.principal:
            if principal_type == "AWS" and "*" in entries:
                self.add(
                    SECURITY,
                    "PUBLIC_ACCESS_WITHOUT_CONDITION",
                    'Allowing "Principal": "*" without a Condition lets anyone, anonymous '
                    "callers and principals of every account included, perform these actions. "
                    "We recommend that you name the principals, or add a condition such as "
                    "aws:PrincipalAccount, aws:PrincipalOrgID or aws:SourceIp.",
                    self.document.element(statement.index, "Principal"),
                )
                return

    def pass_role(self, statement: ParsedStatement) -> None:
        if self.kind in _GUARDRAILS or statement.effect != "Allow" or statement.resources is None:
            return
        if any(key.lower() == "iam:passedtoservice" for _, key, _ in statement.conditions):
            return
        index = statement.index
        budget = self.budget
        if statement.not_action:
            if any(glob_match(a.lower(), _PASS_ROLE, budget) for a in statement.actions):
                return  # iam:PassRole is excluded
            action_path = self.document.element(index, "NotAction")
            action_kind = "NOT_ACTION"
        else:
            hit = next(
                (
                    (position, has_wildcard(a))
                    for position, a in enumerate(statement.actions)
                    if glob_match(a.lower(), _PASS_ROLE, budget)
                ),
                None,
            )
            if hit is None:
                return
            action_path = self.document.entry(index, "Action", hit[0])
            action_kind = "STAR" if hit[1] else "EXACT"
        if statement.not_resource:
            resource_path = self.document.element(index, "NotResource")
            resource_kind = "NOT_RESOURCE"
        else:
            position = next(
                (p for p, r in enumerate(statement.resources) if _all_roles(r, budget)), None
            )
            if position is None:
                return
            resource_path = self.document.entry(index, "Resource", position)
            resource_kind = "STAR"
        code = {
            ("EXACT", "STAR"): "PASS_ROLE_WITH_STAR_IN_RESOURCE",
            ("STAR", "STAR"): "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
            ("NOT_ACTION", "STAR"): "PASS_ROLE_WITH_STAR_IN_RESOURCE_AND_NOT_ACTION",
            ("EXACT", "NOT_RESOURCE"): "PASS_ROLE_WITH_NOT_RESOURCE",
            ("STAR", "NOT_RESOURCE"): "PASS_ROLE_WITH_STAR_IN_ACTION_AND_NOT_RESOURCE",
            ("NOT_ACTION", "NOT_RESOURCE"): "PASS_ROLE_WITH_NOT_ACTION_AND_NOT_RESOURCE",
        }[(action_kind, resource_kind)]
        self.add(
            SECURITY, code, _PASS_ROLE_DETAILS[code] + _PASS_ROLE_ADVICE, action_path, resource_path
        )

    def conditions(self, statement: ParsedStatement) -> None:
        document = self.document
        index = statement.index
        for operator, key, values in statement.conditions:
            split = split_operator(operator)
            if split is None:
                continue  # the grammar refuses these; nothing to add
            set_operator, base, _ = split
            key_path = document.condition_key(index, operator, key)
            key_type = self._key_type(key, key_path)
            family = operator_family(base)
            if family is not None and key_type is not None:
                if family not in key_type.families:
                    self.add(
                        WARNING,
                        "TYPE_MISMATCH",
                        f"Use the operator type {key_type.name} instead of operator "
                        f"{_FAMILY_NAMES[family]} for the condition key {key}.",
                        key_path,
                    )
                elif key_type.name == "ARN" and base in ("StringLike", "StringNotLike"):
                    self.add(
                        SECURITY,
                        "STRING_LIKE_OPERATOR_WITH_ARN_CONDITION_KEYS",
                        f"Use the operator type ARN instead of operator string for the "
                        f"condition key {key}.",
                        key_path,
                    )
            if key_type is not None and base != "Null":
                if key_type.multi and set_operator is None:
                    self.add(
                        ERROR,
                        "MISSING_QUALIFIER",
                        f"The request context key {key} has multiple values. Use the "
                        "ForAllValues or ForAnyValue condition key qualifiers in your policy.",
                        key_path,
                    )
                elif not key_type.multi and set_operator == "ForAllValues":
                    self.add(
                        SECURITY,
                        "FORALLVALUES_WITH_SINGLE_VALUED_KEY",
                        f"Using ForAllValues qualifier with the single-valued condition key "
                        f"{key} can be overly permissive. We recommend that you remove "
                        "ForAllValues:.",
                        key_path,
                    )
            self._values(statement, operator, base, family, key, values)

    def _key_type(self, key: str, path: Path) -> KeyType | None:
        lowered = key.lower()
        if lowered.startswith("aws:"):
            found = global_key_type(key)
            if found is None:
                self.add(
                    ERROR,
                    "INVALID_GLOBAL_CONDITION_KEY",
                    f"The condition key {key} does not exist. Use a valid condition key.",
                    path,
                )
            return found
        prefix = lowered.partition(":")[0]
        service = self.registry.get(prefix)
        if service is None:
            return None  # not a service iamd knows (an identity provider's claim, say)
        declared, typed = service_key(service, key)
        if not declared:
            self.add(
                WARNING,
                "UNKNOWN_CONDITION_KEY",
                f"The condition key {key} is not declared by the service definition of "
                f"{service.prefix}. The condition only takes effect when an enforcement point "
                "supplies the key in the request context: check its spelling, or declare it "
                "in the service definition.",
                path,
            )
        return typed

    def _values(
        self,
        statement: ParsedStatement,
        operator: str,
        base: str,
        family: str | None,
        key: str,
        values: Sequence[str],
    ) -> None:
        index = statement.index
        variables = self.policy.variables_enabled
        check = _VALUE_CHECKS.get(family or "") if base != "Null" else _VALUE_CHECKS["Bool"]
        wildcard_reported = False
        for position, value in enumerate(values):
            if variables and "${" in value:
                continue
            path = self.document.condition_value(index, operator, key, position)
            if check is not None and check[0](value) is None:
                self.add(
                    WARNING,
                    check[1],
                    f"{check[2]} for the condition operator {operator}.",
                    path,
                )
            if base in _EQUALITY_OPERATORS and has_wildcard(value) and not wildcard_reported:
                wildcard_reported = True
                self.add(
                    WARNING,
                    "WILDCARD_WITHOUT_LIKE_OPERATOR",
                    "Your condition value includes a * or ? character. If you meant to use a "
                    "wildcard (*, ?), update the condition operator to include Like.",
                    path,
                )

    def variables(self, statement: ParsedStatement) -> None:
        if self.policy.variables_enabled:
            return
        document = self.document
        details = (
            "To include variables in your policy, use the policy version 2012-10-17 or later. "
            "In this policy ${...} is plain text."
        )
        field = "NotResource" if statement.not_resource else "Resource"
        for position, resource in enumerate(statement.resources or ()):
            if "${" in resource:
                path = document.entry(statement.index, field, position)
                self.add(ERROR, "VARIABLE_UNSUPPORTED_IN_VERSION", details, path)
        for operator, key, values in statement.conditions:
            for position, value in enumerate(values):
                if "${" in value:
                    path = document.condition_value(statement.index, operator, key, position)
                    self.add(ERROR, "VARIABLE_UNSUPPORTED_IN_VERSION", details, path)

    def reachable(self, statement: ParsedStatement) -> None:
        """UNREACHABLE_STATEMENT: no declared action, or no resource its actions act on."""
        resolved = self._resolved.get(statement.index)
        if resolved is None or any(r is None for r in resolved):
            return
        pairs = {
            (service.prefix, action.name.lower()): (service, action)
            for entry in resolved
            for service, action in entry or ()
        }
        index = statement.index
        if not pairs:
            self.add(
                WARNING,
                "UNREACHABLE_STATEMENT",
                f"{_name(statement)} never applies: no action declared by a "
                "service definition matches its Action element.",
                self.document.element(index, "Action"),
            )
            return
        if statement.resources is None or statement.not_resource:
            return
        for resource in statement.resources:
            if resource == "*" or "${" in resource:
                return
            for service, action in pairs.values():
                self.budget.charge()
                if _applicable(resource, service, action, self.budget):
                    return
        self.add(
            WARNING,
            "UNREACHABLE_STATEMENT",
            f"{_name(statement)} never applies: none of its resources is of a "
            "resource type its actions act on (an action without resource types is only "
            'matched by "Resource": "*").',
            self.document.element(index, "Resource"),
            self.document.element(index, "Action"),
        )
