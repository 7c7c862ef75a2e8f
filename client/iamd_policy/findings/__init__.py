"""Policy findings: advice on a policy document before it is saved, in the shape of AWS IAM
Access Analyzer's ValidatePolicy (findingType, issueCode, findingDetails, learnMoreLink and
locations with a path into the document and a span of its text).

A document that is not JSON gets one JSON_SYNTAX_ERROR, one the grammar refuses gets one
ERROR naming the first problem (the write would be refused the same way); a valid one gets
the checks of `checks` and `redundancy`. Findings never change what writes accept. The work
is bounded: documents are limited by the caller, wildcard comparisons by `WORK_LIMIT`.
Pure and stdlib-only, like the rest of the engine.
"""

from __future__ import annotations

import json

from ..errors import PolicyValidationError
from ..grammar import parse_policy
from ..kinds import PolicyKind
from ..services import ServiceRegistry
from .checks import Checks
from .document import Document
from .globs import Budget
from .grammar_errors import grammar_finding
from .model import Finding, FindingType, Location, PathElement, learn_more_link
from .spans import Position

__all__ = [
    "WORK_LIMIT",
    "Finding",
    "FindingType",
    "Location",
    "PathElement",
    "Position",
    "validate_policy_document",
]

# Steps of wildcard comparison one document may use (about a second of work at most).
WORK_LIMIT = 1_000_000
_SEVERITY = {
    FindingType.ERROR: 0,
    FindingType.SECURITY_WARNING: 1,
    FindingType.WARNING: 2,
    FindingType.SUGGESTION: 3,
}


def _syntax_error(document: Document, error: json.JSONDecodeError) -> Finding:
    location = document.span(error.pos, error.pos + 1)
    where = location.start
    return Finding(
        FindingType.ERROR,
        "JSON_SYNTAX_ERROR",
        f"Fix the JSON syntax error at index {where.offset} line {where.line} column "
        f"{where.column}: {error.msg}.",
        (location,),
        learn_more_link("JSON_SYNTAX_ERROR"),
    )


def _order(finding: Finding) -> tuple[int, int, str]:
    first = finding.locations[0].start.offset if finding.locations else 0
    return first, _SEVERITY[finding.finding_type], finding.issue_code


def validate_policy_document(
    text: str,
    kind: PolicyKind,
    registry: ServiceRegistry,
    *,
    resource_optional: bool = False,
    work_limit: int = WORK_LIMIT,
) -> list[Finding]:
    """The findings for `text` as a policy of `kind`, in document order.

    `registry` is the live set of service definitions (actions and condition keys are
    checked against it); `resource_optional` accepts statements without Resource in a
    resource policy (a role trust policy has none).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return [_syntax_error(Document(text, None), error)]
    except (ValueError, RecursionError):
        data = None  # NaN and friends, or nesting too deep: the grammar says which
    document = Document(text, data)
    try:
        policy = parse_policy(text, kind, resource_optional=resource_optional)
    except PolicyValidationError as error:
        return [grammar_finding(document, error, kind)]
    findings = Checks(document, policy, kind, registry, Budget(work_limit)).run()
    return sorted(findings, key=_order)
