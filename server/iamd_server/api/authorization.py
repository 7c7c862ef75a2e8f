"""The Authorize API: decisions from the in-memory policy cache, and policy simulation.

Authorize and AuthorizeBatch are the hot path: a cache hit is a few dictionary lookups and
one engine evaluation, with no database access and no awaits. The caller (an enforcement
point) needs `iamd:Authorize` on the principal it asks about, unless it asks about itself.
SimulateCustomPolicy runs the same pure function as `iamd simulate`.
"""

# ruff: noqa: N802  (method names are the RPC names)
from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import types_pb2
from iamd_policy import AuthorizationRequest as EngineRequest
from iamd_policy import (
    Context,
    ContextError,
    DecidedBy,
    Decision,
    EvaluationResult,
    PolicyKind,
    PolicySet,
    PolicySets,
    PolicyValidationError,
    Principal,
    PrincipalKind,
    evaluate,
)
from iamd_policy import requests as request_checks
from iamd_policy.entries import UNKNOWN_PRINCIPAL, PrincipalEntry, account_of
from iamd_policy.simulate import (
    InvalidInputError,
    SimulationInput,
    build_policy_sets,
    simulate_custom_policy,
)

from iamd_server.api.dispatch import Call
from iamd_server.authn.authenticator import Caller
from iamd_server.authn.end_users import EndUsers
from iamd_server.authz import outcomes
from iamd_server.authz.authorize_entry import AuthorizeEntry
from iamd_server.authz.decisions import Decider
from iamd_server.authz.requests import (
    CONTEXT_TYPES,
    check_context_sizes,
    reason_code,
    request_context,
)
from iamd_server.authz.sources import RevisionFeed
from iamd_server.errors import (
    InvalidArgument,
    MalformedPolicyDocument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from iamd_server.runtime.metrics import DECISIONS

if TYPE_CHECKING:
    from iamd_server.insight.observe import Insight

MAX_BATCH = 1000
MAX_SIMULATION_ITEMS = 1000
DEFAULT_SIMULATION_ITEMS = 100
# Longest wait for `at_least_revision` when the call has no deadline.
MAX_REVISION_WAIT = 10.0

_monotonic = time.monotonic

_DECISION = {
    Decision.ALLOWED: types_pb2.DECISION_ALLOWED,
    Decision.EXPLICIT_DENY: types_pb2.DECISION_EXPLICIT_DENY,
    Decision.IMPLICIT_DENY: types_pb2.DECISION_IMPLICIT_DENY,
}
_IMPLICIT_DENY: int = types_pb2.DECISION_IMPLICIT_DENY
# The entry's decision codes are the wire's: replies are encoded from them as they are.
assert (outcomes.ALLOWED, outcomes.EXPLICIT_DENY, outcomes.IMPLICIT_DENY) == (
    types_pb2.DECISION_ALLOWED,
    types_pb2.DECISION_EXPLICIT_DENY,
    types_pb2.DECISION_IMPLICIT_DENY,
)

# Decision metric outcome by decision code (outcomes.UNKNOWN: the principal does not exist).
_OUTCOME = ("unknown_principal", "allowed", "explicit_deny", "implicit_deny")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINTS = tuple(_varint(n) for n in range(128))


def _string_field(tag: bytes, value: str) -> bytes:
    """A length-delimited string field (empty strings are omitted, as proto3 does)."""
    if not value:
        return b""
    data = value.encode()
    return tag + _varint(len(data)) + data


_DECIDED_BY = {
    DecidedBy.IDENTITY: types_pb2.POLICY_KIND_IDENTITY,
    DecidedBy.PERMISSIONS_BOUNDARY: types_pb2.POLICY_KIND_PERMISSIONS_BOUNDARY,
    DecidedBy.SESSION: types_pb2.POLICY_KIND_SESSION,
    DecidedBy.SERVICE_CONTROL: types_pb2.POLICY_KIND_SERVICE_CONTROL,
    DecidedBy.RESOURCE_CONTROL: types_pb2.POLICY_KIND_RESOURCE_CONTROL,
    DecidedBy.RESOURCE: types_pb2.POLICY_KIND_RESOURCE,
    DecidedBy.ACL: types_pb2.POLICY_KIND_ACL,
    DecidedBy.SERVICE_DEFINITION: types_pb2.POLICY_KIND_SERVICE_DEFINITION,
    DecidedBy.ROOT: types_pb2.POLICY_KIND_ROOT,
    DecidedBy.NONE: types_pb2.POLICY_KIND_UNSPECIFIED,
}
_POLICY_KIND = {
    PolicyKind.IDENTITY: types_pb2.POLICY_KIND_IDENTITY,
    PolicyKind.PERMISSIONS_BOUNDARY: types_pb2.POLICY_KIND_PERMISSIONS_BOUNDARY,
    PolicyKind.SESSION: types_pb2.POLICY_KIND_SESSION,
    PolicyKind.SERVICE_CONTROL: types_pb2.POLICY_KIND_SERVICE_CONTROL,
    PolicyKind.RESOURCE_CONTROL: types_pb2.POLICY_KIND_RESOURCE_CONTROL,
    PolicyKind.RESOURCE: types_pb2.POLICY_KIND_RESOURCE,
    PolicyKind.TRUST: types_pb2.POLICY_KIND_RESOURCE,
    PolicyKind.ACL: types_pb2.POLICY_KIND_ACL,
}


def _matched(result: EvaluationResult) -> list[types_pb2.MatchedStatement]:
    return [
        types_pb2.MatchedStatement(
            source_policy_id=m.policy_id,
            source_policy_type=m.source_type,
            statement_index=m.statement_index,
            sid=m.sid or "",
            policy_kind=_POLICY_KIND.get(m.kind, types_pb2.POLICY_KIND_UNSPECIFIED),
        )
        for m in result.matched_statements
    ]


def explanation(result: EvaluationResult, principal_arn: str = "") -> pb.Explanation:
    detail = result.reason
    if result is UNKNOWN_PRINCIPAL:
        detail = f"principal {principal_arn} does not exist"
    return pb.Explanation(
        matched_statements=_matched(result),
        missing_context_keys=result.missing_context_keys,
        decided_by=_DECIDED_BY[result.decided_by],
        reason=reason_code(result),
        detail=detail,
    )


def _resource(value: str, field: str) -> str:
    try:
        return request_checks.resource(value, field)
    except request_checks.RequestFieldError as exc:
        raise InvalidArgument(exc.field, exc.reason) from None


def _owner(value: str, field: str) -> str | None:
    try:
        return request_checks.owner(value, field)
    except request_checks.RequestFieldError as exc:
        raise InvalidArgument(exc.field, exc.reason) from None


class AuthorizationServicer:
    """Authorize, AuthorizeBatch, SimulatePrincipalPolicy and SimulateCustomPolicy.

    Authorize and AuthorizeBatch parse the request, ask the Decider's entry (its
    synchronous path, then on a miss its asynchronous one) and encode the reply; the
    simulations ask the Decider itself."""

    def __init__(self, decider: Decider, entry: AuthorizeEntry, feed: RevisionFeed) -> None:
        self._decider = decider
        self._entry = entry
        self._feed = feed
        # Set by the app: verifies AuthorizeRequest.end_user proofs; None = refused.
        self.end_users: EndUsers | None = None
        # Set by the app: told every decision (last accessed, decision log).
        self.insight: Insight | None = None
        self.fast_paths = {"Authorize": self.authorize_cached}

    def authorize_cached(self, raw: bytes, caller: Caller) -> bytes | None:
        """The reply Authorize gave these exact request bytes from this caller while it
        still holds (see AuthorizeEntry.replied); None: decide in full."""
        known = self._entry.replied(raw, caller)
        if known is None:
            return None
        DECISIONS.add(_OUTCOME[known.code])
        if self.insight is not None:
            self.insight.decided(
                "Authorize", caller.arn, known.principal_arn, known.action, known.resource,
                known.owner, None, known.entry, known.resource_entry, known.result,
                known.revision, _monotonic(),
            )  # fmt: skip
        return known.reply

    async def _await_revision(self, revision: int, call: Call) -> None:
        if self._feed.applied_revision >= revision:
            return
        remaining = call.deadline_seconds()
        timeout = MAX_REVISION_WAIT if remaining is None else min(remaining, MAX_REVISION_WAIT)
        # Leave a little of the deadline to answer with a status rather than time out.
        if not await self._feed.wait_for(revision, max(0.0, timeout - 0.005)):
            raise Unavailable(
                f"revision {revision} is not applied on this replica yet"
                f" (applied: {self._feed.applied_revision}); retry"
            )

    # -- Authorize ---------------------------------------------------------------------

    async def Authorize(
        self, request: pb.AuthorizeRequest, call: Call
    ) -> pb.AuthorizeResponse | bytes:
        started = _monotonic()
        caller = call.require_caller()
        if request.HasField("end_user"):
            return await self._authorize_end_user(request, caller, call, started)
        if request.at_least_revision:
            await self._await_revision(request.at_least_revision, call)
        action = request.action
        resource = _resource(request.resource_arn, "resource_arn")
        owner = _owner(request.resource_owner_account, "resource_owner_account")
        context = request_context(request.context, "context") if request.context else None
        principal_arn = request.principal_arn or caller.arn
        explain = request.explain
        entry = self._entry
        decided = entry.authorize_now(
            caller, principal_arn, action, resource, owner, context, explain
        )
        if decided is None:
            decided = await entry.authorize(
                caller, principal_arn, action, resource, owner, context, explain
            )
        code = decided.code
        DECISIONS.add(_OUTCOME[code])
        result = decided.result
        revision = decided.revision
        insight = self.insight
        if insight is not None:
            insight.decided(
                "Authorize", caller.arn, principal_arn, action, resource, owner, context,
                decided.entry, decided.resource_entry, result, revision, started, call,
            )  # fmt: skip
        if explain:
            return pb.AuthorizeResponse(
                decision=_DECISION[result.decision],
                revision=revision,
                principal_arn=principal_arn,
                explain=explanation(result, principal_arn),
            )
        # AuthorizeResponse{decision=1, revision=2, principal_arn=4}, encoded directly.
        reply = (
            b"\x08"
            + _VARINTS[code or _IMPLICIT_DENY]
            + b"\x10"
            + _varint(revision)
            + _string_field(b"\x22", principal_arn)
        )
        if context is None and call.request_bytes:
            entry.remember_reply(
                call.request_bytes, caller, principal_arn, action, resource, owner, decided, reply
            )
        return reply

    async def _authorize_end_user(
        self, request: pb.AuthorizeRequest, caller: Caller, call: Call, started: float
    ) -> pb.AuthorizeResponse:
        """Authorize for the principal the forwarded end-user credential authenticates
        (see iamd_server.authn.end_users); the caller must be allowed to ask about it."""
        if self.end_users is None:
            raise Unauthenticated("end-user credentials are not accepted by this server")
        end_users = self.end_users
        end_user = await end_users.authenticate(request.end_user)
        if request.principal_arn and request.principal_arn != end_user.arn:
            raise InvalidArgument(
                "principal_arn", "must be empty or the principal end_user authenticates"
            )
        if request.at_least_revision:
            await self._await_revision(request.at_least_revision, call)
        action = request.action
        resource = _resource(request.resource_arn, "resource_arn")
        owner = _owner(request.resource_owner_account, "resource_owner_account")
        context = request_context(request.context, "context") if request.context else None

        async def session_entry(base: PrincipalEntry) -> PrincipalEntry:
            return await end_users.entry(base, end_user)

        decided = await self._entry.authorize_end_user(
            caller, end_user, session_entry, action, resource, owner, context, request.explain
        )
        result = decided.result
        if self.insight is not None:
            self.insight.decided(
                "Authorize", caller.arn, end_user.arn, action, resource, owner, context,
                decided.entry, decided.resource_entry, result, decided.revision, started, call,
            )  # fmt: skip
        return pb.AuthorizeResponse(
            decision=_DECISION[result.decision],
            revision=decided.revision,
            principal_arn=end_user.arn,
            authenticated_principal_arn=end_user.arn,
            explain=explanation(result, end_user.arn) if request.explain else None,
        )

    async def AuthorizeBatch(
        self, request: pb.AuthorizeBatchRequest, call: Call
    ) -> pb.AuthorizeBatchResponse | bytes:
        started = _monotonic()
        caller = call.require_caller()
        checks = request.checks
        if not 1 <= len(checks) <= MAX_BATCH:
            raise InvalidArgument("checks", f"1-{MAX_BATCH} checks are required")
        if request.at_least_revision:
            await self._await_revision(request.at_least_revision, call)
        principal_arn = request.principal_arn or caller.arn
        explain = request.explain
        entry = self._entry
        decided = entry.authorize_batch_now(caller, checks, principal_arn, explain)
        if decided is None:
            decided = await entry.authorize_batch(caller, checks, principal_arn, explain)
        for code, count in enumerate(decided.counts):
            if count:
                DECISIONS.add(_OUTCOME[code], count)
        results = decided.results
        revision = decided.revision
        if self.insight is not None:
            self.insight.batch(
                caller.arn, checks, results, decided.entries, decided.resources, revision,
                started, call,
            )  # fmt: skip
        if explain:
            response = pb.AuthorizeBatchResponse(revision=revision)
            add = response.results.add
            for result, principal, _code in results:
                add(
                    decision=_DECISION[result.decision],
                    principal_arn=principal,
                    explain=explanation(result, principal),
                )
            return response
        # AuthorizeBatchResponse{results=1 (AuthorizeResult{decision=1, principal_arn=3}),
        # revision=2}, encoded directly: one encoding per distinct (decision, principal).
        encoded: dict[tuple[int, str], bytes] = {}
        parts: list[bytes] = []
        for _, principal, code in results:
            item = encoded.get((code, principal))
            if item is None:
                body = b"\x08" + _VARINTS[code] + _string_field(b"\x1a", principal)
                item = encoded[(code, principal)] = b"\x0a" + _varint(len(body)) + body
            parts.append(item)
        parts.append(b"\x10" + _varint(revision))
        return b"".join(parts)

    # -- Simulation --------------------------------------------------------------------

    async def _principal_ids(self, document: str, account: str) -> dict[str, str]:
        """The unique ids of the document's user/role principals in `account`."""
        ids = await self._decider.principal_ids(document)
        return {arn: uid for arn, uid in ids.items() if account_of(arn) == account}

    async def SimulateCustomPolicy(
        self, request: pb.SimulateCustomPolicyRequest, call: Call
    ) -> pb.SimulateCustomPolicyResponse:
        caller = call.require_caller()
        await self._decider.require(caller, "iam:SimulateCustomPolicy", "*")
        offset, limit = _paging(request.marker, request.max_items)
        simulation = _simulation_input(request, request.policy_input_list)
        try:
            build_policy_sets(simulation)  # every document is valid before any lookup
        except PolicyValidationError as exc:
            raise MalformedPolicyDocument("policy_input_list", str(exc)) from None
        principal: Principal | None = None
        ids: dict[str, str] | None = None
        if simulation.resource_policy is not None:
            # Principals are matched as in stored decisions: by the unique ids they resolve
            # to, within the caller's own account (no probing of other accounts' entities).
            ids = await self._principal_ids(simulation.resource_policy, caller.account_id)
            if account_of(simulation.caller_arn) == caller.account_id:
                entry = await self._decider.principal_entry(simulation.caller_arn)
                principal = entry.principal if entry is not None else None
        try:
            results = simulate_custom_policy(
                simulation, self._decider.registry, principal=principal, principal_ids=ids
            )
        except PolicyValidationError as exc:
            raise MalformedPolicyDocument("policy_input_list", str(exc)) from None
        except (ContextError, InvalidInputError) as exc:
            raise InvalidArgument("request", str(exc)) from None
        page, marker = _page([(r.action, r.resource, r.result) for r in results], offset, limit)
        return pb.SimulateCustomPolicyResponse(
            evaluation_results=page, is_truncated=bool(marker), marker=marker
        )

    async def SimulatePrincipalPolicy(
        self, request: pb.SimulatePrincipalPolicyRequest, call: Call
    ) -> pb.SimulatePrincipalPolicyResponse:
        caller = call.require_caller()
        source = request.policy_source_arn
        if not source:
            raise InvalidArgument("policy_source_arn", "is required")
        await self._decider.require(
            caller, "iam:SimulatePrincipalPolicy", source, resource_account=account_of(source)
        )
        offset, limit = _paging(request.marker, request.max_items)
        revision = self._feed.applied_revision
        caller_arn = request.caller_arn or source
        simulation = _simulation_input(request, request.policy_input_list, caller=caller_arn)
        try:
            extra = build_policy_sets(simulation)
            context = Context.from_entries(simulation.context_entries)
            if simulation.resource_policy is not None:
                # Bound to unique ids as a stored resource policy would be (see above).
                ids = await self._principal_ids(
                    simulation.resource_policy, account_of(source) or caller.account_id
                )
                extra = build_policy_sets(simulation, ids)
        except PolicyValidationError as exc:
            raise MalformedPolicyDocument("policy_input_list", str(exc)) from None
        except (ContextError, InvalidInputError) as exc:
            raise InvalidArgument("request", str(exc)) from None
        if ":group/" in source:
            # A group is never a principal: its policies are simulated as a member's would
            # be, and a resource policy needs the member (caller_arn) it would be matched with.
            group = await self._decider.group_policies(source)
            if group is None:
                raise NotFound(f"the group {source} does not exist")
            if extra.resource is not None and not request.caller_arn:
                raise InvalidArgument(
                    "caller_arn", "is required with resource_policy when the source is a group"
                )
            account, identity = group
            caller_entry = (
                await self._decider.principal_entry(request.caller_arn)
                if request.caller_arn
                else None
            )
            principal = (
                caller_entry.principal
                if caller_entry is not None
                else Principal(arn=source, account=account, kind=PrincipalKind.USER)
            )
            policies = PolicySets(
                identity=PolicySet.of(identity + extra.identity.policies),
                boundary=extra.boundary,
                session=extra.session,
                scp_levels=extra.scp_levels,
                rcp_levels=extra.rcp_levels,
                resource=extra.resource,
            )
            evaluation_context = context if len(context) else Context.EMPTY
            default_account: str | None = account
        else:
            entry = await self._decider.principal_entry(source)
            if entry is None:
                raise NotFound(f"the principal {source} does not exist")
            stored = entry.policies
            policies = PolicySets(
                identity=PolicySet.of(stored.identity.policies + extra.identity.policies),
                boundary=extra.boundary if extra.boundary is not None else stored.boundary,
                session=extra.session,
                scp_levels=extra.scp_levels or stored.scp_levels,
                rcp_levels=extra.rcp_levels,
                resource=extra.resource,
            )
            principal = entry.principal
            if caller_arn != source:
                caller_entry = await self._decider.principal_entry(caller_arn)
                if caller_entry is not None:
                    principal = caller_entry.principal
            evaluation_context = entry.context(context if len(context) else None, int(time.time()))
            default_account = entry.account
        owner = account_of(simulation.resource_owner or "") if simulation.resource_owner else None
        results: list[tuple[str, str, EvaluationResult]] = []
        registry = self._decider.registry
        for action in simulation.action_names:
            for resource in simulation.resource_arns:
                engine_request = EngineRequest(
                    principal,
                    action,
                    resource,
                    owner or account_of(resource) or default_account,
                    evaluation_context,
                )
                results.append((action, resource, evaluate(engine_request, policies, registry)))
        page, marker = _page(results, offset, limit)
        return pb.SimulatePrincipalPolicyResponse(
            evaluation_results=page, is_truncated=bool(marker), marker=marker, revision=revision
        )


def _simulation_input(request: Any, policies: Sequence[str], caller: str = "") -> SimulationInput:
    """The proto request in the PascalCase shape `iamd simulate` reads, so both paths go
    through the same parsing and defaults."""
    if not request.action_names:
        raise InvalidArgument("action_names", "at least one action is required")
    if len(request.action_names) > 100 or len(request.resource_arns) > 100:
        raise InvalidArgument("action_names", "at most 100 actions and 100 resources")
    check_context_sizes(request.context_entries, "context_entries")
    data: dict[str, Any] = {
        "ActionNames": list(request.action_names),
        "PolicyInputList": list(policies),
        "PermissionsBoundaryPolicyInputList": list(request.permissions_boundary_policy_input_list),
        "ServiceControlPolicyInputList": list(request.service_control_policy_input_list),
        "ResourceControlPolicyInputList": list(request.resource_control_policy_input_list),
        "SessionPolicyInputList": list(request.session_policy_input_list),
        "ContextEntries": [
            {
                "ContextKeyName": e.key,
                "ContextKeyType": CONTEXT_TYPES.get(e.type, ""),
                "ContextKeyValues": list(e.values),
            }
            for e in request.context_entries
        ],
    }
    if request.resource_arns:
        data["ResourceArns"] = list(request.resource_arns)
    if request.resource_policy:
        data["ResourcePolicy"] = request.resource_policy
    if request.resource_owner:
        data["ResourceOwner"] = request.resource_owner
    if caller or request.caller_arn:
        data["CallerArn"] = caller or request.caller_arn
    try:
        return SimulationInput.from_request(data)
    except InvalidInputError as exc:
        raise InvalidArgument("request", str(exc)) from None


def _paging(marker: str, max_items: int) -> tuple[int, int]:
    if max_items and not 1 <= max_items <= MAX_SIMULATION_ITEMS:
        raise InvalidArgument("max_items", f"must be 1-{MAX_SIMULATION_ITEMS}")
    offset = 0
    if marker:
        try:
            offset = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument("marker", "not a marker from a previous response") from None
    return offset, max_items or DEFAULT_SIMULATION_ITEMS


def _page(
    results: list[tuple[str, str, EvaluationResult]], offset: int, limit: int
) -> tuple[list[pb.EvaluationResult], str]:
    chunk = results[offset : offset + limit]
    following = offset + limit
    marker = (
        base64.urlsafe_b64encode(str(following).encode()).decode()
        if following < len(results)
        else ""
    )
    out: list[pb.EvaluationResult] = []
    for action, resource, result in chunk:
        item = pb.EvaluationResult(
            eval_action_name=action,
            eval_resource_name=resource,
            eval_decision=_DECISION[result.decision],
            matched_statements=_matched(result),
            missing_context_values=result.missing_context_keys,
            decided_by=_DECIDED_BY[result.decided_by],
            reason=reason_code(result),
            detail=result.reason,
        )
        if result.allowed_by_organizations is not None:
            item.allowed_by_organizations = result.allowed_by_organizations
        if result.allowed_by_permissions_boundary is not None:
            item.allowed_by_permissions_boundary = result.allowed_by_permissions_boundary
        out.append(item)
    return out, marker
