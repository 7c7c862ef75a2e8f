"""Request values shared by the front doors: a request's context entries as an engine
Context (bounded), and the stable short reason code of a decision. Pure helpers, below
`api/` so that `api/` and `insight/` both read them from here."""

from __future__ import annotations

from collections.abc import Sequence

from iamd.v1 import types_pb2
from iamd_policy import Context, ContextError, DecidedBy, Decision, EvaluationResult
from iamd_policy.entries import UNKNOWN_PRINCIPAL, reserved_key

from iamd_server.errors import InvalidArgument

# Request context bounds (README, API notes): keys per request, values per key, characters
# per value (2,048: the longest ARN AWS allows) and per key name.
MAX_CONTEXT_ENTRIES = 100
MAX_CONTEXT_VALUES = 100
MAX_CONTEXT_VALUE_LENGTH = 2048
MAX_CONTEXT_KEY_LENGTH = 256

CONTEXT_TYPES = {
    types_pb2.CONTEXT_KEY_TYPE_STRING: "string",
    types_pb2.CONTEXT_KEY_TYPE_STRING_LIST: "stringList",
    types_pb2.CONTEXT_KEY_TYPE_NUMERIC: "numeric",
    types_pb2.CONTEXT_KEY_TYPE_NUMERIC_LIST: "numericList",
    types_pb2.CONTEXT_KEY_TYPE_BOOLEAN: "boolean",
    types_pb2.CONTEXT_KEY_TYPE_BOOLEAN_LIST: "booleanList",
    types_pb2.CONTEXT_KEY_TYPE_IP: "ip",
    types_pb2.CONTEXT_KEY_TYPE_IP_LIST: "ipList",
    types_pb2.CONTEXT_KEY_TYPE_BINARY: "binary",
    types_pb2.CONTEXT_KEY_TYPE_BINARY_LIST: "binaryList",
    types_pb2.CONTEXT_KEY_TYPE_DATE: "date",
    types_pb2.CONTEXT_KEY_TYPE_DATE_LIST: "dateList",
}


def reason_code(result: EvaluationResult) -> str:
    """The stable short code of Explanation.reason / EvaluationResult.reason."""
    decision = result.decision
    decided_by = result.decided_by
    if decision is Decision.EXPLICIT_DENY:
        return "explicit_deny"
    if decision is Decision.ALLOWED:
        if decided_by is DecidedBy.ROOT:
            return "root"
        if decided_by is DecidedBy.NONE:
            return "always_allowed"
        return "allowed"
    if result is UNKNOWN_PRINCIPAL:
        return "unknown_principal"
    if decided_by is DecidedBy.SERVICE_DEFINITION:
        return "not_applicable"
    if decided_by is DecidedBy.SERVICE_CONTROL:
        return "scp"
    if decided_by is DecidedBy.PERMISSIONS_BOUNDARY:
        return "permissions_boundary"
    if decided_by is DecidedBy.SESSION:
        return "session_policy"
    if decided_by is DecidedBy.RESOURCE:
        if "cross-account" in result.reason:
            return "cross_account_no_grant"
        if "does not grant access" in result.reason:
            return "resource_policy_required"
    return "no_allow"


def check_context_sizes(entries: Sequence[types_pb2.ContextEntry], field: str) -> None:
    """Bounds the work a request's context can cause (every value may be matched against
    every pattern of every statement): InvalidArgument naming the entry that is too big."""
    if len(entries) > MAX_CONTEXT_ENTRIES:
        raise InvalidArgument(field, f"at most {MAX_CONTEXT_ENTRIES} context entries")
    for index, entry in enumerate(entries):
        key = entry.key
        if not 5 <= len(key) <= MAX_CONTEXT_KEY_LENGTH or ":" not in key:
            raise InvalidArgument(
                f"{field}[{index}].key", f"must be 5-{MAX_CONTEXT_KEY_LENGTH} chars, vendor:Name"
            )
        values = entry.values
        if len(values) > MAX_CONTEXT_VALUES:
            raise InvalidArgument(
                f"{field}[{index}].values", f"at most {MAX_CONTEXT_VALUES} values per key"
            )
        for position, value in enumerate(values):
            if len(value) > MAX_CONTEXT_VALUE_LENGTH:
                raise InvalidArgument(
                    f"{field}[{index}].values[{position}]",
                    f"at most {MAX_CONTEXT_VALUE_LENGTH} characters",
                )


def request_context(
    entries: Sequence[types_pb2.ContextEntry], field: str, *, keep_reserved: bool = False
) -> Context | None:
    """Proto context entries -> an engine Context (None when empty). Keys the service sets
    itself (principal, session and clock keys) are dropped unless ``keep_reserved``."""
    if not entries:
        return None
    check_context_sizes(entries, field)
    converted: list[tuple[str, str, Sequence[str]]] = []
    for index, entry in enumerate(entries):
        key = entry.key
        type_name = CONTEXT_TYPES.get(entry.type)
        if type_name is None:
            raise InvalidArgument(f"{field}[{index}].type", "a context key type is required")
        if not keep_reserved and reserved_key(key.lower()):
            continue
        converted.append((key, type_name, tuple(entry.values)))
    try:
        return Context.from_entries(converted) if converted else None
    except ContextError as exc:
        raise InvalidArgument(field, str(exc)) from None
