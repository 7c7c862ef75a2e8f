"""The Analysis API: ValidatePolicy, advice on a policy document before it is saved; who
can do what (analysis_access.py); what a policy write would change (analysis_preview.py).

Authorized as `iamd:ValidatePolicy` on `*`. The document is checked against the live
registry of service definitions; nothing is written. The checks run in a worker thread so a
large document never holds up the event loop that serves Authorize, at most
`CONCURRENT_CHECKS` at a time so they never fill the threads password hashing also uses.
"""

from __future__ import annotations

import asyncio
import base64

from iamd.v1 import analysis_pb2 as pb
from iamd_policy import PolicyKind
from iamd_policy.findings import Finding, FindingType, Location, validate_policy_document

from iamd_server.analysis.who_can import WhoCan
from iamd_server.api.analysis_access import AccessAnalysis
from iamd_server.api.analysis_preview import PolicyPreview
from iamd_server.api.dispatch import Call
from iamd_server.authz.decisions import Decider
from iamd_server.errors import InvalidArgument
from iamd_server.store import Store

__all__ = ["MAX_DOCUMENT_CHARACTERS", "AnalysisServicer"]

# Above every policy size quota (20,480 non-whitespace characters for resource policies)
# with room for indentation; a larger document is refused before any work.
MAX_DOCUMENT_CHARACTERS = 131_072
DEFAULT_ITEMS = 100
MAX_ITEMS = 1000
TRUST_RESOURCE_TYPE = "AWS::IAM::AssumeRolePolicyDocument"
CONCURRENT_CHECKS = 2

_KINDS = {
    pb.POLICY_TYPE_UNSPECIFIED: PolicyKind.IDENTITY,
    pb.POLICY_TYPE_IDENTITY_POLICY: PolicyKind.IDENTITY,
    pb.POLICY_TYPE_RESOURCE_POLICY: PolicyKind.RESOURCE,
    pb.POLICY_TYPE_SERVICE_CONTROL_POLICY: PolicyKind.SERVICE_CONTROL,
    pb.POLICY_TYPE_RESOURCE_CONTROL_POLICY: PolicyKind.RESOURCE_CONTROL,
}
_TYPES = {
    FindingType.ERROR: pb.VALIDATE_POLICY_FINDING_TYPE_ERROR,
    FindingType.SECURITY_WARNING: pb.VALIDATE_POLICY_FINDING_TYPE_SECURITY_WARNING,
    FindingType.WARNING: pb.VALIDATE_POLICY_FINDING_TYPE_WARNING,
    FindingType.SUGGESTION: pb.VALIDATE_POLICY_FINDING_TYPE_SUGGESTION,
}


def _kind(request: pb.ValidatePolicyRequest) -> tuple[PolicyKind, bool]:
    """(kind, whether Resource may be omitted)."""
    kind = _KINDS.get(request.policy_type)
    if kind is None:
        raise InvalidArgument("policy_type", f"unknown policy type {request.policy_type}")
    resource_type = request.validate_policy_resource_type
    if not resource_type:
        return kind, kind is PolicyKind.RESOURCE
    if kind is not PolicyKind.RESOURCE:
        raise InvalidArgument(
            "validate_policy_resource_type", "is only accepted with policy_type RESOURCE_POLICY"
        )
    if resource_type != TRUST_RESOURCE_TYPE:
        raise InvalidArgument(
            "validate_policy_resource_type",
            f"must be empty or {TRUST_RESOURCE_TYPE} (iamd has no other resource types)",
        )
    return PolicyKind.TRUST, False


def _paging(marker: str, max_items: int) -> tuple[int, int]:
    if max_items and not 1 <= max_items <= MAX_ITEMS:
        raise InvalidArgument("max_items", f"must be 1-{MAX_ITEMS}")
    offset = 0
    if marker:
        try:
            offset = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument("marker", "not a marker from a previous response") from None
        if offset < 0:
            raise InvalidArgument("marker", "not a marker from a previous response")
    return offset, max_items or DEFAULT_ITEMS


def _location(location: Location) -> pb.PolicyLocation:
    path = []
    for step in location.path:
        if step.index is not None:
            path.append(pb.PolicyPathElement(index=step.index))
        elif step.key is not None:
            path.append(pb.PolicyPathElement(key=step.key))
        else:
            path.append(pb.PolicyPathElement(value=step.value or ""))
    start, end = location.start, location.end
    return pb.PolicyLocation(
        path=path,
        span=pb.PolicySpan(
            start=pb.PolicyPosition(line=start.line, column=start.column, offset=start.offset),
            end=pb.PolicyPosition(line=end.line, column=end.column, offset=end.offset),
        ),
    )


def finding_message(finding: Finding) -> pb.ValidatePolicyFinding:
    return pb.ValidatePolicyFinding(
        finding_details=finding.details,
        finding_type=_TYPES[finding.finding_type],
        issue_code=finding.issue_code,
        learn_more_link=finding.learn_more_link,
        locations=[_location(location) for location in finding.locations],
    )


class AnalysisServicer(AccessAnalysis, PolicyPreview):
    def __init__(self, decider: Decider, store: Store) -> None:
        self._decider = decider
        self._store = store
        self._who_can = WhoCan(decider, store.pool)
        self._slots = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def ValidatePolicy(  # noqa: N802 - the RPC's name
        self, request: pb.ValidatePolicyRequest, call: Call
    ) -> pb.ValidatePolicyResponse:
        caller = call.require_caller()
        await self._decider.require(caller, "iamd:ValidatePolicy", "*")
        document = request.policy_document
        if not document:
            raise InvalidArgument("policy_document", "is required")
        if len(document) > MAX_DOCUMENT_CHARACTERS:
            raise InvalidArgument(
                "policy_document", f"must be at most {MAX_DOCUMENT_CHARACTERS} characters"
            )
        kind, resource_optional = _kind(request)
        offset, limit = _paging(request.marker, request.max_items)
        async with self._slots:
            findings = await asyncio.to_thread(
                validate_policy_document,
                document,
                kind,
                self._decider.registry,
                resource_optional=resource_optional,
            )
        page = findings[offset : offset + limit]
        following = offset + limit
        marker = (
            base64.urlsafe_b64encode(str(following).encode()).decode()
            if following < len(findings)
            else ""
        )
        return pb.ValidatePolicyResponse(
            findings=[finding_message(f) for f in page], is_truncated=bool(marker), marker=marker
        )
