"""One decision from the compiled entries, as the server's Authorize takes it: the same
checks of the request (iamd_policy.requests), the same entries, memo and engine. No I/O: an
item that is not held yet is reported (`Missing`) for the caller to load and ask again."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import NamedTuple

from iamd.v1 import types_pb2
from iamd_policy import (
    AuthorizationRequest,
    Context,
    Decision,
    EvaluationResult,
    PolicySets,
    Principal,
    PrincipalKind,
    evaluate,
)
from iamd_policy.entries import (
    MEMO_LIMIT,
    ROLE_ARN,
    OwnerMismatch,
    PrincipalEntry,
    ResourceEntry,
    has_no_resource_policy,
    resource_owner,
)
from iamd_policy.requests import (
    MAX_RESOURCE_LENGTH,
    ContextItem,
    RequestFieldError,
    declares,
    owner,
    request_context,
    resource,
    undeclared,
)

from iamd_client._args import ContextArg, to_context
from iamd_client.errors import InvalidArgument, Unavailable
from iamd_client.local.entries import Entries, Failed
from iamd_client.local.follower import PRINCIPAL, RESOURCE, Follower
from iamd_client.local.stream import Item

_monotonic = time.monotonic
_time = time.time
_MISSING = object()
STATIC_LIMIT = 10_000
KNOWN_ACTIONS_LIMIT = 10_000

# Engine decision -> (iamd.v1 Decision, allowed), as Authorize answers it.
_CODES = {
    Decision.ALLOWED: (types_pb2.DECISION_ALLOWED, True),
    Decision.EXPLICIT_DENY: (types_pb2.DECISION_EXPLICIT_DENY, False),
    Decision.IMPLICIT_DENY: (types_pb2.DECISION_IMPLICIT_DENY, False),
}
# ContextKeyType value -> the engine's type name ("CONTEXT_KEY_TYPE_STRING_LIST" ->
# "stringList"), as the server reads it.
_TYPE_NAMES = {
    number: name[len("CONTEXT_KEY_TYPE_") :].lower().replace("_list", "List")
    for name, number in types_pb2.ContextKeyType.items()
    if number
}


class LocalDecision(NamedTuple):
    """A decision taken in this process."""

    decision: types_pb2.Decision.ValueType
    """The iamd.v1 Decision, as AuthorizeResponse.decision carries it."""
    allowed: bool
    """Whether the request is allowed."""
    revision: int
    """The revision the decision was taken at: it reflects every change up to it."""
    reason: str
    """The engine's reason, as Explanation.detail shows it (with ``explain=True``, naming
    the statement that decided)."""


class Changed(Exception):
    """Entries were being replaced while this decision read them: decide again once the
    change is complete (a decision must rest on one state, never a mix of two)."""


class Missing(Exception):
    """``item`` is not held yet (None: the first batch has not arrived)."""

    def __init__(self, item: Item | None) -> None:
        super().__init__(item)
        self.item = item


def invalid(error: RequestFieldError) -> InvalidArgument:
    return InvalidArgument(error.reason, field=error.field, reason="InvalidArgument")


def context_items(context: ContextArg) -> list[ContextItem]:
    """The SDK's context argument (a {key: value} mapping, types inferred as in
    iamd_client.context_entry, or ContextEntry messages) as the engine's items."""
    entries: Iterable[types_pb2.ContextEntry] = to_context(context)
    return [(e.key, _TYPE_NAMES.get(e.type), e.values) for e in entries]


class Decider:
    """Decisions from ``entries`` while ``follower`` proves them current."""

    def __init__(self, follower: Follower, entries: Entries, max_staleness: float) -> None:
        self.follower = follower
        self.entries = entries
        self.max_staleness = max_staleness
        # Principals nothing is followed for: service and anonymous principals (no stored
        # policies), and ARNs that name no stored principal (unknown, as on the server).
        self._static: dict[str, PrincipalEntry | None] = {}

    def stale(self) -> Unavailable:
        staleness = self.follower.staleness()
        return Unavailable(
            f"the local copy is {staleness:.0f} s old (iamd unreachable for longer than"
            f" max_staleness {self.max_staleness:.0f} s); failing closed"
        )

    def decide(
        self,
        principal_arn: str,
        action: str,
        resource_arn: str,
        context: ContextArg,
        resource_owner_account: str | None,
        explain: bool = False,
    ) -> LocalDecision:
        follower = self.follower
        if not follower.synced:
            raise Missing(None)  # the registry (which actions exist) is not known yet
        entries = self.entries
        if entries.known_actions.get(action) is not True:
            self._check_action(entries, action)
        try:
            target = resource(resource_arn)
            requested = owner(resource_owner_account)
            parsed = request_context(context_items(context), "context") if context else None
        except RequestFieldError as exc:
            raise invalid(exc) from None
        if _monotonic() - follower.heard_at > self.max_staleness:
            raise self.stale()
        revision = follower.applied_revision
        generation = entries.generation  # before any entry is read (see entries.py)
        if generation & 1:
            raise Changed()
        entry = entries.principals.get(principal_arn, _MISSING)
        if entry is _MISSING:
            entry = self._static_entry(principal_arn)
        else:
            follower.used[PRINCIPAL].add(principal_arn)
        if entry is None:
            if entries.generation != generation:
                raise Changed()
            # Unknown: the implicit deny, with the detail Authorize's explanation gives.
            return LocalDecision(
                types_pb2.DECISION_IMPLICIT_DENY,
                False,
                revision,
                f"principal {principal_arn[:2048]} does not exist",
            )
        if isinstance(entry, Failed):
            raise Unavailable(entry.reason)
        assert isinstance(entry, PrincipalEntry)
        key = None
        if parsed is None and entry.memoizable:
            key = (action, target, requested, explain)
            known = entry.memo.get(key)
            if known is not None and known[0] == generation:
                return self._answer(known[1], revision)
        resource_entry = self._resource_entry(entries, target)
        try:
            account = resource_owner(entry, target, requested, resource_entry)
        except OwnerMismatch as exc:
            raise InvalidArgument(
                str(exc), field="resource_owner_account", reason="InvalidArgument"
            ) from None
        request = AuthorizationRequest(
            entry.principal, action, target, account, entry.context(parsed, int(_time()))
        )
        result = evaluate(
            request, entry.with_resource(resource_entry), entries.registry, explain=explain
        )
        if entries.generation != generation:
            raise Changed()
        if key is not None and (resource_entry is None or not resource_entry.uses_clock):
            memo = entry.memo
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = (generation, result)
        return self._answer(result, revision)

    @staticmethod
    def _answer(result: EvaluationResult, revision: int) -> LocalDecision:
        code, allowed = _CODES[result.decision]
        return LocalDecision(code, allowed, revision, result.reason)

    @staticmethod
    def _check_action(entries: Entries, action: str) -> None:
        if not declares(entries.registry, action):
            raise invalid(undeclared(action))
        known = entries.known_actions
        if len(known) >= KNOWN_ACTIONS_LIMIT:
            known.clear()
        known[action] = True

    def _static_entry(self, arn: str) -> PrincipalEntry | None:
        """The entry of a principal nothing is followed for, or Missing for one to load."""
        known = self._static.get(arn, _MISSING)
        if known is not _MISSING:
            return known  # type: ignore[return-value]
        if not arn:
            raise InvalidArgument("is required", field="principal_arn", reason="InvalidArgument")
        if len(arn) > MAX_RESOURCE_LENGTH:
            raise InvalidArgument(
                f"at most {MAX_RESOURCE_LENGTH} characters",
                field="principal_arn",
                reason="InvalidArgument",
            )
        try:
            principal = Principal.from_arn(arn)
        except ValueError:
            entry = None  # names no principal: unknown, as on the server
        else:
            if principal.kind in (PrincipalKind.SERVICE, PrincipalKind.ANONYMOUS):
                # No stored policies: only resource policies can grant them.
                entry = PrincipalEntry(principal, PolicySets(), Context.EMPTY, 0)
            elif principal.kind is PrincipalKind.FEDERATED_USER:
                entry = None  # federation sessions are not stored
            else:
                raise Missing((PRINCIPAL, arn))
        if len(self._static) >= STATIC_LIMIT:
            self._static.clear()
        self._static[arn] = entry
        return entry

    def _resource_entry(self, entries: Entries, target: str) -> ResourceEntry | None:
        if target == "*":
            return None
        if has_no_resource_policy(target, self.follower.index, lists_account_less=False):
            return None  # Watch's index lists this account's resources with a policy
        is_role = ROLE_ARN.match(target) is not None
        found = entries.resources.get(target, _MISSING)
        if found is _MISSING:
            raise Missing((PRINCIPAL if is_role else RESOURCE, target))
        self.follower.used[PRINCIPAL if is_role else RESOURCE].add(target)
        if isinstance(found, Failed):
            raise Unavailable(found.reason)
        return found  # type: ignore[return-value]
