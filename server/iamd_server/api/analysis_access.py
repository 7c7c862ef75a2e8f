"""ListPrincipalsAllowed and ListAllowedActions: who can do what (see analysis/who_can.py).

ListPrincipalsAllowed is authorized as `iamd:ListPrincipalsAllowed` on the resource ARN
(and on the listed account's root ARN when that is not the resource's account);
ListAllowedActions as `iamd:ListAllowedActions` on the principal ARN.
"""

from __future__ import annotations

import base64
import binascii

from iamd.v1 import analysis_pb2 as pb
from iamd.v1 import authorization_pb2, types_pb2
from iamd_policy import Decision, MatchedStatement
from iamd_policy.entries import account_of, valid_account

from iamd_server.analysis.who_can import Access, WhoCan, service_actions
from iamd_server.api.authorization import explanation
from iamd_server.api.dispatch import Call
from iamd_server.authz.decisions import Decider
from iamd_server.errors import InvalidArgument

__all__ = ["DECISIONS", "AccessAnalysis", "decode_marker", "encode_marker", "page_size"]

DEFAULT_ITEMS = 100
MAX_ITEMS = 1000
MAX_ARN = 2048

ACCESS = {Access.ALLOWED: pb.ACCESS_ALLOWED, Access.CONDITIONAL: pb.ACCESS_CONDITIONAL}
DECISIONS = {
    Decision.ALLOWED: types_pb2.DECISION_ALLOWED,
    Decision.EXPLICIT_DENY: types_pb2.DECISION_EXPLICIT_DENY,
    Decision.IMPLICIT_DENY: types_pb2.DECISION_IMPLICIT_DENY,
}
_TYPES = {"user": pb.PRINCIPAL_TYPE_USER, "role": pb.PRINCIPAL_TYPE_ROLE}


def page_size(max_items: int) -> int:
    if max_items and not 1 <= max_items <= MAX_ITEMS:
        raise InvalidArgument("max_items", f"must be 1-{MAX_ITEMS}")
    return max_items or DEFAULT_ITEMS


def encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode() if value else ""


def decode_marker(marker: str) -> str:
    """The last key of the previous page ("" = start)."""
    if not marker:
        return ""
    if len(marker) > 4 * MAX_ARN:
        raise InvalidArgument("marker", "not a marker from a previous response")
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("marker", "not a marker from a previous response") from None


def _arn(value: str, field: str, *, star: bool) -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if star and value == "*":
        return value
    if not value.startswith("arn:") or value.count(":") < 5 or len(value) > MAX_ARN:
        raise InvalidArgument(field, "must be an ARN" + (" or *" if star else ""))
    return value


def _group_explanation(statements: list[object]) -> authorization_pb2.Explanation:
    matched = [s for s in statements if isinstance(s, MatchedStatement)]
    return authorization_pb2.Explanation(
        matched_statements=[
            types_pb2.MatchedStatement(
                source_policy_id=m.policy_id,
                source_policy_type=m.source_type,
                statement_index=m.statement_index,
                sid=m.sid or "",
                policy_kind=types_pb2.POLICY_KIND_IDENTITY,
            )
            for m in matched
        ],
        decided_by=types_pb2.POLICY_KIND_IDENTITY,
        reason="allowed",
        detail="the group's policies allow the action for members listed",
    )


class AccessAnalysis:
    """The who-can RPCs of AnalysisService."""

    _decider: Decider
    _who_can: WhoCan

    async def ListPrincipalsAllowed(  # noqa: N802 - the RPC's name
        self, request: pb.ListPrincipalsAllowedRequest, call: Call
    ) -> pb.ListPrincipalsAllowedResponse:
        caller = call.require_caller()
        decider = self._decider
        if not request.action:
            raise InvalidArgument("action", "is required")
        await decider.require_action(request.action)
        resource = _arn(request.resource_arn, "resource_arn", star=True)
        if request.account and not valid_account(request.account):
            raise InvalidArgument("account", "must be a 12-digit account id")
        limit = page_size(request.max_items)
        after = decode_marker(request.marker)
        await decider.require(caller, "iamd:ListPrincipalsAllowed", resource)
        resource_entry = await decider.resource_policies(resource)
        owner = account_of(resource) or (resource_entry.account if resource_entry else None)
        account = request.account or owner or caller.account_id
        if account != (owner or caller.account_id):
            # Listing another account's principals needs that account's consent too.
            await decider.require(
                caller, "iamd:ListPrincipalsAllowed", f"arn:aws:iam::{account}:root"
            )
        revision = decider.revision
        answers, more, groups = await self._who_can.principals_allowed(
            account, request.action, resource, after=after, limit=limit
        )
        principals = [
            pb.AllowedPrincipal(
                principal_arn=a.arn,
                principal_type=_TYPES[a.kind],
                access=ACCESS[a.access],
                explanation=explanation(a.result, a.arn),
                groups=list(a.groups) if request.include_groups else [],
            )
            for a in answers
        ]
        if request.include_groups:
            principals.extend(
                pb.AllowedPrincipal(
                    principal_arn=g.arn,
                    principal_type=pb.PRINCIPAL_TYPE_GROUP,
                    explanation=_group_explanation(g.statements),
                )
                for g in sorted(groups.values(), key=lambda g: g.arn)
            )
        marker = encode_marker(answers[-1].arn) if more else ""
        return pb.ListPrincipalsAllowedResponse(
            principals=principals,
            is_truncated=more,
            marker=marker,
            account=account,
            revision=revision,
        )

    async def ListAllowedActions(  # noqa: N802 - the RPC's name
        self, request: pb.ListAllowedActionsRequest, call: Call
    ) -> pb.ListAllowedActionsResponse:
        caller = call.require_caller()
        decider = self._decider
        principal = _arn(request.principal_arn, "principal_arn", star=False)
        if bool(request.resource_arn) == bool(request.service):
            raise InvalidArgument("resource_arn", "give exactly one of resource_arn and service")
        limit = page_size(request.max_items)
        after = decode_marker(request.marker).lower()
        await decider.require(caller, "iamd:ListAllowedActions", principal)
        if request.service:
            field, prefix, resource = "service", request.service, "*"
        else:
            resource = _arn(request.resource_arn, "resource_arn", star=False)
            field, prefix = "resource_arn", resource.split(":", 3)[2]
        definition = decider.registry.get(prefix)
        if definition is None:
            raise InvalidArgument(field, f"no service definition declares {prefix[:64]!r}")
        actions = [
            a
            for a in service_actions([definition.prefix], decider)
            if a.lower() > after
            and definition.check(a.partition(":")[2].lower(), resource).applicable
        ]
        revision = decider.revision
        found = await self._who_can.allowed_actions(principal, actions, resource)
        page = found[:limit]
        more = len(found) > limit
        return pb.ListAllowedActionsResponse(
            actions=[
                pb.AllowedAction(
                    action=action, access=ACCESS[access], explanation=explanation(result)
                )
                for action, access, result in page
            ],
            is_truncated=more,
            marker=encode_marker(page[-1][0]) if more else "",
            revision=revision,
        )
