"""Request values shared by the front doors: a request's context entries as an engine
Context (bounded), and the stable short reason code of a decision. Pure helpers, below
`api/` so that `api/` and `insight/` both read them from here."""

from __future__ import annotations

from collections.abc import Sequence

from iamd.v1 import types_pb2
from iamd_policy import Context, DecidedBy, Decision, EvaluationResult, requests
from iamd_policy.entries import UNKNOWN_PRINCIPAL
from iamd_policy.requests import ContextItem

from iamd_server.errors import InvalidArgument

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


def _items(entries: Sequence[types_pb2.ContextEntry]) -> list[ContextItem]:
    return [(e.key, CONTEXT_TYPES.get(e.type), e.values) for e in entries]


def check_context_sizes(entries: Sequence[types_pb2.ContextEntry], field: str) -> None:
    """Bounds the work a request's context can cause (iamd_policy.requests, shared with the
    SDK's LocalAuthorizer): InvalidArgument naming the entry that is too big."""
    try:
        requests.check_context_sizes(_items(entries), field)
    except requests.RequestFieldError as exc:
        raise InvalidArgument(exc.field, exc.reason) from None


def request_context(
    entries: Sequence[types_pb2.ContextEntry], field: str, *, keep_reserved: bool = False
) -> Context | None:
    """Proto context entries -> an engine Context (None when empty). Keys the service sets
    itself (principal, session and clock keys) are dropped unless ``keep_reserved``."""
    if not entries:
        return None
    try:
        return requests.request_context(_items(entries), field, keep_reserved=keep_reserved)
    except requests.RequestFieldError as exc:
        raise InvalidArgument(exc.field, exc.reason) from None
