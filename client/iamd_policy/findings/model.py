"""What a policy check reports, in the shape of AWS IAM Access Analyzer's ValidatePolicy."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .spans import Position

__all__ = ["Finding", "FindingType", "Location", "PathElement", "learn_more_link"]


class FindingType(enum.Enum):
    ERROR = "ERROR"
    SECURITY_WARNING = "SECURITY_WARNING"
    WARNING = "WARNING"
    SUGGESTION = "SUGGESTION"


@dataclass(frozen=True, slots=True)
class PathElement:
    """One step into the document: an array index, an object member to descend into
    (`value`), or an object key as the thing pointed at (`key`), as AWS writes them."""

    index: int | None = None
    key: str | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    path: tuple[PathElement, ...]
    start: Position
    end: Position  # exclusive


@dataclass(frozen=True, slots=True)
class Finding:
    finding_type: FindingType
    issue_code: str
    details: str
    locations: tuple[Location, ...]
    learn_more_link: str = ""


_REFERENCE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html"
)
_SLUGS = {
    FindingType.ERROR: "error",
    FindingType.SECURITY_WARNING: "security-warning",
    FindingType.WARNING: "general-warning",
    FindingType.SUGGESTION: "suggestion",
}

# The issue codes taken from AWS's policy check reference, with the finding type AWS gives
# them (which names the section of the reference). Codes iamd adds have no link.
AWS_CODES: dict[str, FindingType] = {
    code: kind
    for kind, codes in (
        (
            FindingType.ERROR,
            (
                "ARN_REGION_NOT_ALLOWED",
                "DATA_TYPE_MISMATCH",
                "INVALID_ACTION",
                "INVALID_ARN_PREFIX",
                "INVALID_ARN_RESOURCE",
                "INVALID_CONDITION_KEY_FORMAT",
                "INVALID_CONDITION_OPERATOR",
                "INVALID_EFFECT",
                "INVALID_GLOBAL_CONDITION_KEY",
                "INVALID_PARTITION",
                "INVALID_POLICY_ELEMENT",
                "INVALID_PRINCIPAL_FORMAT",
                "INVALID_PRINCIPAL_KEY",
                "INVALID_SERVICE_IN_ACTION",
                "INVALID_VERSION",
                "JSON_SYNTAX_ERROR",
                "MISSING_ACTION",
                "MISSING_ARN_FIELD",
                "MISSING_EFFECT",
                "MISSING_PRINCIPAL",
                "MISSING_QUALIFIER",
                "MISSING_RESOURCE",
                "MISSING_STATEMENT",
                "NULL_WITH_IF_EXISTS",
                "POLICY_SIZE_EXCEEDS_SCP_QUOTA",
                "ROLE_TRUST_POLICY_SYNTAX_ERROR_NOTPRINCIPAL",
                "ROLE_TRUST_POLICY_SYNTAX_ERROR_RESOURCE",
                "UNIQUE_SIDS_REQUIRED",
                "UNSUPPORTED_ELEMENT_COMBINATION",
                "UNSUPPORTED_PRINCIPAL",
                "UNSUPPORTED_SID",
                "VARIABLE_UNSUPPORTED_IN_VERSION",
            ),
        ),
        (
            FindingType.WARNING,
            (
                "MISSING_VERSION",
                "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
                "POLICY_SIZE_EXCEEDS_RESOURCE_POLICY_QUOTA",
                "POLICY_SIZE_EXCEEDS_ROLE_TRUST_POLICY_QUOTA",
                "TYPE_MISMATCH",
                "TYPE_MISMATCH_BOOLEAN",
                "TYPE_MISMATCH_DATE",
                "TYPE_MISMATCH_IP_RANGE",
                "TYPE_MISMATCH_NUMBER",
                "TYPE_MISMATCH_STRING",
                "WILDCARD_WITHOUT_LIKE_OPERATOR",
            ),
        ),
        (
            FindingType.SECURITY_WARNING,
            (
                "ALLOW_WITH_NOT_PRINCIPAL",
                "FORALLVALUES_WITH_SINGLE_VALUED_KEY",
                "PASS_ROLE_WITH_NOT_ACTION_AND_NOT_RESOURCE",
                "PASS_ROLE_WITH_NOT_RESOURCE",
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_NOT_RESOURCE",
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
                "PASS_ROLE_WITH_STAR_IN_RESOURCE",
                "PASS_ROLE_WITH_STAR_IN_RESOURCE_AND_NOT_ACTION",
                "STRING_LIKE_OPERATOR_WITH_ARN_CONDITION_KEYS",
            ),
        ),
        (
            FindingType.SUGGESTION,
            (
                "EMPTY_SID_VALUE",
                "REDUNDANT_ACTION",
                "REDUNDANT_RESOURCE",
                "REDUNDANT_STATEMENT",
                "WILDCARD_IN_SERVICE_NAME",
            ),
        ),
    )
    for code in codes
}


def learn_more_link(code: str) -> str:
    """The section of AWS's policy check reference for an AWS issue code, else ""."""
    kind = AWS_CODES.get(code)
    if kind is None:
        return ""
    return f"{_REFERENCE}#access-analyzer-reference-policy-checks-{_SLUGS[kind]}-" + (
        code.lower().replace("_", "-")
    )
