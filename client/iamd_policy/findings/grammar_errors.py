"""A document the grammar refuses (the write would fail) as an ERROR finding.

The engine's validation reports the first problem with its statement and element; this
picks the closest issue code of AWS's policy check reference from the message and points
at the element, or at the entry the message names.
"""

from __future__ import annotations

from typing import Any

from ..errors import PolicyValidationError
from ..kinds import PolicyKind
from .document import Document, Key, Path
from .model import Finding, FindingType, Location, learn_more_link

__all__ = ["grammar_finding"]

# (text in the engine's message, issue code), first match wins.
_CODES: tuple[tuple[str, str], ...] = (
    ("not valid JSON", "JSON_SYNTAX_ERROR"),
    ("not valid UTF-8", "JSON_SYNTAX_ERROR"),
    ("nested too deeply", "JSON_SYNTAX_ERROR"),
    ("Duplicate key", "JSON_SYNTAX_ERROR"),
    ("must be a JSON", "DATA_TYPE_MISMATCH"),
    ("Unknown element", "INVALID_POLICY_ELEMENT"),
    ("Missing Statement", "MISSING_STATEMENT"),
    ("Statement must be", "MISSING_STATEMENT"),
    ("cannot have both", "UNSUPPORTED_ELEMENT_COMBINATION"),
    ("Missing Effect", "MISSING_EFFECT"),
    ("Effect must be Allow or Deny", "INVALID_EFFECT"),
    ('must be "*" or an object', "INVALID_PRINCIPAL_FORMAT"),
    ("Unknown principal type", "INVALID_PRINCIPAL_KEY"),
    ("Unknown condition operator 'Null", "NULL_WITH_IF_EXISTS"),
    ("Unknown condition operator", "INVALID_CONDITION_OPERATOR"),
    ("must be a string", "DATA_TYPE_MISMATCH"),
    ("must be an object", "DATA_TYPE_MISMATCH"),
    ("must map keys to values", "DATA_TYPE_MISMATCH"),
    ("Condition values for", "DATA_TYPE_MISMATCH"),
    ("version 2012-10-17 or greater", "INVALID_VERSION"),
    ("invalid date", "TYPE_MISMATCH_DATE"),
    ("must be alpha-numeric", "UNSUPPORTED_SID"),
    ("must be unique", "UNIQUE_SIDS_REQUIRED"),
    ("must contain actions", "MISSING_ACTION"),
    ("must contain resources", "MISSING_RESOURCE"),
    ("must be in ARN format", "MISSING_ARN_FIELD"),
    ("is not valid for resource", "INVALID_PARTITION"),
    ("region information", "ARN_REGION_NOT_ALLOWED"),
    ("Resource vendor must be fully qualified", "INVALID_ARN_RESOURCE"),
    ("IAM resource path", "INVALID_ARN_RESOURCE"),
    ("(condition key", "INVALID_CONDITION_KEY_FORMAT"),
    ("(action", "INVALID_ACTION"),
    ("should not specify a principal", "UNSUPPORTED_PRINCIPAL"),
    ("prohibited field NotPrincipal", "ROLE_TRUST_POLICY_SYNTAX_ERROR_NOTPRINCIPAL"),
    ("prohibited field", "ROLE_TRUST_POLICY_SYNTAX_ERROR_RESOURCE"),
    ("Missing required field Principal", "MISSING_PRINCIPAL"),
    ('only supported with "Effect": "Deny"', "ALLOW_WITH_NOT_PRINCIPAL"),
    ("Principal", "INVALID_PRINCIPAL_FORMAT"),
    ("principal", "INVALID_PRINCIPAL_FORMAT"),
    ("invalid character", "INVALID_CHARACTER"),
)
_SIZE_CODES = {
    PolicyKind.IDENTITY: "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
    PolicyKind.PERMISSIONS_BOUNDARY: "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
    PolicyKind.SESSION: "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
    PolicyKind.SERVICE_CONTROL: "POLICY_SIZE_EXCEEDS_SCP_QUOTA",
    PolicyKind.RESOURCE_CONTROL: "POLICY_SIZE_EXCEEDS_SCP_QUOTA",
    PolicyKind.TRUST: "POLICY_SIZE_EXCEEDS_ROLE_TRUST_POLICY_QUOTA",
}
# Elements whose value is a string or a list of strings; the message may name one entry.
_LISTS = ("Action", "NotAction", "Resource", "NotResource")


def _code(message: str, kind: PolicyKind) -> str:
    if message.startswith("Cannot exceed quota for PolicySize"):
        return _SIZE_CODES.get(kind, "POLICY_SIZE_EXCEEDS_RESOURCE_POLICY_QUOTA")
    vendor = message.split(" ", 2)[1] if message.startswith("Vendor ") else ""
    if "*" in vendor or "?" in vendor:
        # AWS advises against it, and IAM refuses it on write ("Vendor s3* is not valid"),
        # so here it is an ERROR under Access Analyzer's code.
        return "WILDCARD_IN_SERVICE_NAME"
    for text, code in _CODES:
        if text in message:
            return code
    return "MALFORMED_POLICY_DOCUMENT"  # IAM's error name, when no AWS check fits


def _named_entry(document: Document, index: int, field: str, message: str) -> Path | None:
    """The entry of the element the message quotes (the engine quotes the culprit)."""
    value = document.statements[index].get(field) if index < len(document.statements) else None
    if field == "Condition":
        if not isinstance(value, dict):
            return None
        for operator, block in value.items():
            if f"operator {operator[:128]!r}" in message:
                return (*document.element(index, field), Key(operator))
            if isinstance(block, dict):
                for key in block:
                    if repr(key[:128]) in message or f"for {key[:128]}." in message:
                        return document.condition_key(index, operator, key)
        return None
    entries = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    best: tuple[int, int] | None = None  # (length, position): the longest quoted entry
    for position, entry in enumerate(entries):
        quoted = isinstance(entry, str) and len(entry) > 1 and entry[:128] in message
        if quoted and (best is None or len(entry) > best[0]):
            best = (len(entry), position)
    return None if best is None else document.entry(index, field, best[1])


def _path(document: Document, error: PolicyValidationError, code: str) -> Path:
    field = error.field
    index = error.statement_index
    if index is not None and 0 <= index < len(document.statements):
        raw: dict[str, Any] = document.statements[index]
        if field is None or field not in raw:
            return document.statement(index)
        if code == "INVALID_POLICY_ELEMENT":
            return (*document.statement(index), Key(field))
        if field in _LISTS or field == "Condition":
            named = _named_entry(document, index, field, error.message)
            if named is not None:
                return named
        return document.element(index, field)
    if field is not None and field in document.data:
        return (Key(field),) if code == "INVALID_POLICY_ELEMENT" else (field,)
    return ()


def _invalid_character(document: Document) -> Location:
    for offset, char in enumerate(document.text):
        if not (char in "\t\n\r" or " " <= char <= "\u00ff"):
            return document.span(offset, offset + 1)
    return document.location()


def grammar_finding(document: Document, error: PolicyValidationError, kind: PolicyKind) -> Finding:
    code = _code(error.message, kind)
    if code.startswith("ROLE_TRUST_POLICY") and kind is not PolicyKind.TRUST:
        code = "INVALID_POLICY_ELEMENT"  # NotPrincipal in a resource control policy
    if code == "MISSING_ARN_FIELD" and "must be in ARN format" in error.message:
        shown = error.message.split(" ", 2)[1] if error.message.count(" ") >= 2 else ""
        if not shown.startswith("arn:"):
            code = "INVALID_ARN_PREFIX"
    if code == "INVALID_CHARACTER":
        location = _invalid_character(document)
    else:
        location = document.location(_path(document, error, code))
    return Finding(FindingType.ERROR, code, error.message, (location,), learn_more_link(code))
