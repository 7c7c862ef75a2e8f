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
from iamd_policy.entries import (
    UNKNOWN_PRINCIPAL,
    PrincipalEntry,
    ResourceEntry,
    account_of,
    valid_account,
)
from iamd_policy.simulate import (
    InvalidInputError,
    SimulationInput,
    build_policy_sets,
    simulate_custom_policy,
)

from iamd_server.api.dispatch import Call
from iamd_server.authn.authenticator import Caller
from iamd_server.authn.end_users import EndUsers
from iamd_server.authz.cache import MISSING
from iamd_server.authz.decisions import AUTHORIZE_ACTION, SETTLE_ATTEMPTS, Decider, OwnerMismatch
from iamd_server.authz.requests import (
    CONTEXT_TYPES,
    check_context_sizes,
    reason_code,
    request_context,
)
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.authz.sources import RevisionFeed
from iamd_server.errors import (
    InvalidArgument,
    MalformedPolicyDocument,
    NotFound,
    PermissionDenied,
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
_ALLOWED: int = types_pb2.DECISION_ALLOWED
_EXPLICIT_DENY: int = types_pb2.DECISION_EXPLICIT_DENY
_IMPLICIT_DENY: int = types_pb2.DECISION_IMPLICIT_DENY

# Decision metric outcome by proto decision code (0: the principal does not exist).
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


def _is_resource(value: str) -> bool:
    """An ARN or `*` (empty means `*` too)."""
    return (
        not value
        or value == "*"
        or (value.startswith("arn:") and value.count(":") >= 5 and len(value) <= 2048)
    )


def _resource(value: str, field: str) -> str:
    if not _is_resource(value):
        raise InvalidArgument(field, "must be an ARN or *")
    return value or "*"


def _owner(value: str, field: str) -> str | None:
    if not value:
        return None
    if not valid_account(value):
        raise InvalidArgument(field, "must be a 12-digit account id")
    return value


def _same_identity(entry: Any, caller: Caller) -> Any:
    """The entry of the ARN a caller speaks for, or None when that ARN now belongs to another
    user or role than the caller's credentials (a reused name): identity follows unique ids."""
    if entry is not None and entry.unique_id != caller.principal_id:
        return None
    return entry


class AuthorizationServicer:
    """Authorize, AuthorizeBatch, SimulatePrincipalPolicy and SimulateCustomPolicy."""

    def __init__(self, decider: Decider, feed: RevisionFeed) -> None:
        self._decider = decider
        self._feed = feed
        # Set by the app: verifies AuthorizeRequest.end_user proofs; None = refused.
        self.end_users: EndUsers | None = None
        # Set by the app (server and sidecar): builds the entries of callers' own sessions.
        self.session_policies: SessionPolicies | None = None
        # Set by the app: told every decision (last accessed, decision log).
        self.insight: Insight | None = None
        self.fast_paths = {"Authorize": self.authorize_cached}

    def authorize_cached(self, raw: bytes, caller: Caller) -> bytes | None:
        """The reply Authorize gave these exact request bytes from this caller, while it
        still holds: nothing changed since (generation and revision), the replica is proven
        current, and the principal's entry is still the cached one. None: decide in full.

        Only context-free, non-explain decisions of long-term keys are remembered, and only
        when the decision and the caller's grant were themselves remembered (neither reads
        the clock), so the reply is the one Authorize would give now."""
        replies = self._decider.replies
        known = replies.get(raw)
        if known is None:
            replies.stats.misses += 1
            return None
        who, generation, revision, principal_arn, entry, outcome, reply, decided = known
        decider = self._decider
        feed = self._feed
        if (
            who is not caller
            or generation != decider.generation
            or revision != feed.applied_revision
            or _monotonic() > feed.fresh_until
            or decider.principals.lookup(principal_arn) is not entry
        ):
            return None
        replies.stats.hits += 1
        DECISIONS.add(outcome)
        if self.insight is not None:
            action, resource, owner, resource_entry, result = decided
            self.insight.decided(
                "Authorize", caller.arn, principal_arn, action, resource, owner, None,
                entry, resource_entry, result, revision, _monotonic(),
            )  # fmt: skip
        return reply  # type: ignore[no-any-return]

    # -- helpers -----------------------------------------------------------------------

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

    async def _entry(self, caller: Caller, principal_arn: str) -> PrincipalEntry | None:
        """The principal's entry, after checking the caller may ask about it."""
        decider = self._decider
        if not await decider.may_authorize_for(caller, principal_arn):
            raise PermissionDenied(
                f"{caller.arn} is not authorized to perform {AUTHORIZE_ACTION}"
                f" on principal {principal_arn}"
            )
        entry = decider.lookup_principal(principal_arn)
        if entry is MISSING:
            return await decider.principal_entry(principal_arn)
        return entry  # type: ignore[return-value]

    async def _own_session(self, entry: PrincipalEntry, caller: Caller) -> PrincipalEntry:
        """A caller with temporary credentials asking about itself is decided as the session
        it is: its session policies, session tags and token keys apply (the entry is the
        session's own and remembers nothing)."""
        if self.session_policies is None or caller.session is None:
            raise Unavailable("session policies cannot be applied by this server")
        return await self.session_policies.entry(entry, caller.session)

    async def _resource_set(self, resource: str) -> ResourceEntry | None:
        found = self._decider.lookup_resource(resource)
        if found is MISSING:
            return await self._decider.resource_policies(resource)
        return found  # type: ignore[return-value]

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
        feed = self._feed
        decider = self._decider
        action = request.action
        if decider.known_actions.get(action) is not True:
            await decider.require_action(action)
        resource = _resource(request.resource_arn, "resource_arn")
        owner = _owner(request.resource_owner_account, "resource_owner_account")
        context = request_context(request.context, "context") if request.context else None
        principal_arn = request.principal_arn or caller.arn
        explain = request.explain
        for _ in range(SETTLE_ATTEMPTS):
            if _monotonic() > feed.fresh_until:
                await feed.ensure_fresh()  # or fail closed: this replica may be missing changes
            revision = feed.applied_revision
            generation = decider.generation  # the entries read below are current as of it
            waited = False
            entry = decider.lookup_principal(principal_arn)
            if entry is MISSING or not decider.may_authorize_cached(caller, principal_arn):
                entry = await self._entry(caller, principal_arn)
                waited = True
            if principal_arn == caller.arn:
                entry = _same_identity(entry, caller)
            if caller.session is not None and principal_arn == caller.arn and entry is not None:
                entry = await self._own_session(entry, caller)  # type: ignore[arg-type]
                waited = True
            known = None
            resource_entry: Any = None
            if entry is not None:
                if context is None:
                    known = decider.memoized(
                        entry,  # type: ignore[arg-type]
                        action,
                        resource,
                        owner,
                        explain,
                        generation,
                    )
                if known is None:
                    resource_entry = decider.lookup_resource(resource)
                    if resource_entry is MISSING:
                        resource_entry = await decider.resource_policies(resource)
                        waited = True
            # Loads let changes (and time) pass: decide only from entries still current.
            if not waited or decider.settled_since(generation):
                break
        else:
            raise Unavailable("policies kept changing while this decision's entries loaded; retry")
        if entry is None:
            result = UNKNOWN_PRINCIPAL
        elif known is not None:
            result = known
        else:
            result = decider.evaluate(
                entry,  # type: ignore[arg-type]
                action,
                resource,
                owner,
                context,
                resource_entry,
                explain,
                int(time.time()),
                generation,
            )
        decision = result.decision
        code = (
            _ALLOWED
            if decision is Decision.ALLOWED
            else _EXPLICIT_DENY
            if decision is Decision.EXPLICIT_DENY
            else _IMPLICIT_DENY
        )
        outcome = "unknown_principal" if entry is None else _OUTCOME[code]
        DECISIONS.add(outcome)
        insight = self.insight
        if insight is not None:
            insight.decided(
                "Authorize", caller.arn, principal_arn, action, resource, owner, context,
                entry, resource_entry, result, revision, started, call,
            )  # fmt: skip
        if explain:
            return pb.AuthorizeResponse(
                decision=_DECISION[decision],
                revision=revision,
                principal_arn=principal_arn,
                explain=explanation(result, principal_arn),
            )
        # AuthorizeResponse{decision=1, revision=2, principal_arn=4}, encoded directly.
        reply = (
            b"\x08"
            + _VARINTS[code]
            + b"\x10"
            + _varint(revision)
            + _string_field(b"\x22", principal_arn)
        )
        if (
            context is None
            and caller.session is None
            and call.request_bytes
            and decider.may_authorize_cached(caller, principal_arn)
            and (
                entry is None
                or result is decider.memoized(entry, action, resource, owner, False, generation)  # type: ignore[arg-type]
            )
        ):
            # Remembered decision, remembered grant: this reply holds until something changes.
            decider.replies.put(
                call.request_bytes,
                (
                    caller,
                    generation,
                    revision,
                    principal_arn,
                    entry,
                    outcome,
                    reply,
                    (action, resource, owner, resource_entry, result),
                ),
                reply,
                generation,
            )
        return reply

    async def _authorize_end_user(
        self, request: pb.AuthorizeRequest, caller: Caller, call: Call, started: float
    ) -> pb.AuthorizeResponse:
        """Authorize for the principal the forwarded end-user credential authenticates
        (see iamd_server.authn.end_users); the caller must be allowed to ask about it."""
        if self.end_users is None:
            raise Unauthenticated("end-user credentials are not accepted by this server")
        end_user = await self.end_users.authenticate(request.end_user)
        if request.principal_arn and request.principal_arn != end_user.arn:
            raise InvalidArgument(
                "principal_arn", "must be empty or the principal end_user authenticates"
            )
        if request.at_least_revision:
            await self._await_revision(request.at_least_revision, call)
        end_users = self.end_users
        await self._decider.require_action(request.action)
        resource = _resource(request.resource_arn, "resource_arn")
        owner = _owner(request.resource_owner_account, "resource_owner_account")
        context = request_context(request.context, "context") if request.context else None

        async def resolve() -> tuple[PrincipalEntry | None, ResourceEntry | None]:
            base = _same_identity(await self._entry(caller, end_user.arn), end_user)
            if base is None:
                return None, None
            entry = await end_users.entry(base, end_user)
            return entry, await self._resource_set(resource)

        (entry, resource_entry), _ = await self._decider.settled(resolve)
        revision = self._feed.applied_revision
        if entry is None:
            result = UNKNOWN_PRINCIPAL
        else:
            result = self._decider.evaluate(
                entry,
                request.action,
                resource,
                owner,
                context,
                resource_entry,
                request.explain,
                int(time.time()),
            )
        if self.insight is not None:
            self.insight.decided(
                "Authorize", caller.arn, end_user.arn, request.action, resource, owner, context,
                entry, resource_entry, result, revision, started, call,
            )  # fmt: skip
        return pb.AuthorizeResponse(
            decision=_DECISION[result.decision],
            revision=revision,
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
        feed = self._feed
        decider = self._decider
        caller_arn = caller.arn
        default_principal = request.principal_arn or caller_arn
        explain = request.explain
        known_actions = decider.known_actions
        evaluate_entry = decider.evaluate
        for _ in range(SETTLE_ATTEMPTS):
            if _monotonic() > feed.fresh_until:
                await feed.ensure_fresh()  # or fail closed: this replica may be missing changes
            revision = feed.applied_revision
            now = int(time.time())
            generation = decider.generation  # the entries read below are current as of it
            # Set once a load let changes (and time) pass: the checks are then decided again
            # from current entries, so that all of them rest on one snapshot.
            waited = False
            # Each principal and resource is resolved once per call, against the same cache.
            entries: dict[str, Any] = {}
            resources: dict[str, Any] = {"": None, "*": None}
            results: list[tuple[EvaluationResult, str, int]] = []
            append = results.append
            counts = [0, 0, 0, 0]  # by decision code; [0] = unknown principal
            for index, check in enumerate(checks):
                action = check.action
                if known_actions.get(action) is not True:
                    await decider.require_action(action, f"checks[{index}].action")
                raw_resource = check.resource_arn
                owner = check.resource_owner_account or None
                if owner is not None and not valid_account(owner):
                    _owner(owner, f"checks[{index}].resource_owner_account")
                has_context = len(check.context)
                principal = check.principal_arn or default_principal
                entry = entries.get(principal, MISSING)
                if entry is MISSING:
                    entry = decider.lookup_principal(principal)
                    if entry is MISSING or not decider.may_authorize_cached(caller, principal):
                        entry = await self._entry(caller, principal)
                        waited = True
                    if principal == caller_arn:
                        entry = _same_identity(entry, caller)
                    if caller.session is not None and principal == caller_arn and entry is not None:
                        entry = await self._own_session(entry, caller)
                        waited = True
                    entries[principal] = entry
                resource = raw_resource or "*"
                # Fast path: a context-free check decided before with nothing changed since
                # (inlined Decider.memoized: this loop runs once per check).
                result: EvaluationResult | None = None
                if not has_context and entry is not None and entry.memoizable:
                    known = entry.memo.get((action, resource, owner, explain))
                    if known is not None and known[0] == generation:
                        result = known[1]
                if result is None:
                    resource_entry = resources.get(raw_resource, MISSING)
                    if resource_entry is MISSING:
                        if not _is_resource(raw_resource):  # field name built only on error
                            _resource(raw_resource, f"checks[{index}].resource_arn")
                        resource_entry = decider.lookup_resource(raw_resource)
                        if resource_entry is MISSING:
                            resource_entry = await decider.resource_policies(raw_resource)
                            waited = True
                        resources[raw_resource] = resource_entry
                    if entry is None:
                        append((UNKNOWN_PRINCIPAL, principal, _IMPLICIT_DENY))
                        counts[0] += 1
                        continue
                    if waited and not decider.settled_since(generation):
                        break  # decide every check again from current entries
                    context = (
                        request_context(check.context, f"checks[{index}].context")
                        if has_context
                        else None
                    )
                    try:
                        result = evaluate_entry(
                            entry, action, resource, owner, context, resource_entry, explain,
                            now, generation,
                        )  # fmt: skip
                    except OwnerMismatch as exc:
                        raise InvalidArgument(
                            f"checks[{index}].resource_owner_account", exc.reason
                        ) from None
                    except Unavailable:
                        waited = True  # stalled past the staleness bound: decide again
                        break
                decision = result.decision
                code = (
                    _ALLOWED
                    if decision is Decision.ALLOWED
                    else _EXPLICIT_DENY
                    if decision is Decision.EXPLICIT_DENY
                    else _IMPLICIT_DENY
                )
                counts[code] += 1
                append((result, principal, code))
            # Also after no load: a long stall (a collection, a starved process) may have
            # passed while the checks were decided.
            if decider.settled_since(generation):
                break
        else:
            raise Unavailable("policies kept changing while this batch's entries loaded; retry")
        for code, count in enumerate(counts):
            if count:
                DECISIONS.add(_OUTCOME[code], count)
        if self.insight is not None:
            self.insight.batch(
                caller_arn, checks, results, entries, resources, revision, started, call
            )
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
