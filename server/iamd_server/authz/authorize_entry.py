"""Authorize's and AuthorizeBatch's entry into the Decider: the front doors only translate
requests and replies.

`authorize_now` and `authorize_batch_now` decide without I/O when everything is in memory
(None otherwise), and `authorize` and `authorize_batch` take the awaits they could not;
`replied` and `remember_reply` keep whole replies. Everything is decided from the Decider's
caches and memos, bound once here: the hot path reads them as locals, as the Decider would.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from iamd_policy import Context, Decision, EvaluationResult
from iamd_policy.entries import UNKNOWN_PRINCIPAL, PrincipalEntry, ResourceEntry, valid_account
from iamd_policy.requests import is_resource

from iamd_server.authn.authenticator import Caller
from iamd_server.authz.cache import MISSING
from iamd_server.authz.decisions import AUTHORIZE_ACTION, SETTLE_ATTEMPTS, Decider
from iamd_server.authz.memos import RememberedReply, grant_key
from iamd_server.authz.outcomes import (
    IMPLICIT_DENY,
    UNKNOWN,
    BatchDecided,
    Check,
    Decided,
    decision_code,
)
from iamd_server.authz.owners import OwnerMismatch
from iamd_server.authz.requests import request_context
from iamd_server.errors import InvalidArgument, PermissionDenied, Unavailable

_monotonic = time.monotonic


def _same_identity(entry: PrincipalEntry | None, caller: Caller) -> PrincipalEntry | None:
    """The entry of the ARN a caller speaks for, or None when that ARN now belongs to another
    user or role than the caller's credentials (a reused name): identity follows unique ids."""
    if entry is not None and entry.unique_id != caller.principal_id:
        return None
    return entry


class _Missing:
    """What a batch's decisions wait for: a pending reload for an action, entries to load."""

    __slots__ = ("action", "principals", "resources")

    def __init__(self) -> None:
        self.action: tuple[str, str] | None = None  # (action, field)
        self.principals: list[str] = []
        self.resources: list[str] = []


# Marks a principal or resource of a batch whose entry is being loaded.
_PENDING: Any = object()


class AuthorizeEntry:
    """Authorize and AuthorizeBatch decided by a Decider, from its caches.

    A front door parses its request, asks `authorize_now` (or `authorize_batch_now`), which
    decides without I/O when everything is in memory, and awaits `authorize` (or
    `authorize_batch`) on None. `replied` and `remember_reply` keep whole replies."""

    def __init__(self, decider: Decider) -> None:
        self._decider = decider
        # The Decider's caches, memos and lookups: each object lives as long as the Decider
        # (cleared in place, never replaced), so binding them once saves a hop per call.
        self._feed = decider.feed
        self._known_actions = decider.known_actions
        self._lookup_principal = decider.principals.lookup
        self._lookup_resource = decider.lookup_resource
        self._grants = decider.grants
        self._replies = decider.replies
        self._evaluate = decider.evaluate
        self._check_action = decider.check_action
        self._may_authorize_cached = decider.may_authorize_cached
        self._memoized = decider.memoized

    # -- one decision ------------------------------------------------------------------

    def authorize_now(
        self,
        caller: Caller,
        principal_arn: str,
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        explain: bool,
    ) -> Decided | None:
        """The decision when every entry it rests on is cached, the caller's grant to ask is
        remembered and the replica is proven current: no I/O, no await. None when a load, a
        grant check, a session's entry, a reload or a freshness proof is needed first: then
        await `authorize`."""
        if self._known_actions.get(action) is not True:
            return None
        feed = self._feed
        if _monotonic() > feed.fresh_until:
            return None
        entry: Any = self._lookup_principal(principal_arn)
        if entry is MISSING:
            return None
        if principal_arn == caller.arn:
            if entry is not None:
                if entry.unique_id != caller.principal_id:
                    entry = None  # the name now belongs to another user or role
                elif caller.session is not None:
                    return None  # decided as its session, whose entry may need a load
        elif not self._grants.get(grant_key(caller, principal_arn), False):
            return None
        revision = feed.applied_revision
        generation = self._decider.generation
        if entry is None:
            return Decided(UNKNOWN_PRINCIPAL, UNKNOWN, None, None, revision, generation)
        if context is None and entry.memoizable:
            known = entry.memo.get((action, resource, owner, explain))
            if known is not None and known[0] == generation:
                result = known[1]
                return Decided(result, decision_code(result), entry, None, revision, generation)
        resource_entry: Any = self._lookup_resource(resource)
        if resource_entry is MISSING:
            return None
        result = self._evaluate(
            entry, action, resource, owner, context, resource_entry, explain,
            int(time.time()), generation,
        )  # fmt: skip
        return Decided(result, decision_code(result), entry, resource_entry, revision, generation)

    async def authorize(
        self,
        caller: Caller,
        principal_arn: str,
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        explain: bool,
    ) -> Decided:
        """The decision `authorize_now` could not take without awaiting: the caller must be
        allowed to ask about the principal (PermissionDenied), a caller with temporary
        credentials asking about itself is decided as its session, an unknown principal is
        denied implicitly. The entries are read at one generation and read again when a
        change arrived while they loaded; past the staleness bound it fails closed."""
        decider = self._decider
        if self._known_actions.get(action) is not True:
            await decider.require_action(action)
        feed = self._feed
        for _ in range(SETTLE_ATTEMPTS):
            await decider.fresh()  # or fail closed: this replica may be missing changes
            revision = feed.applied_revision
            generation = decider.generation  # the entries read below are current as of it
            waited = False
            entry: Any = self._lookup_principal(principal_arn)
            if entry is MISSING or not self._may_authorize_cached(caller, principal_arn):
                entry = await self._principal_for(caller, principal_arn)
                waited = True
            else:
                if principal_arn == caller.arn:
                    entry = _same_identity(entry, caller)
                if caller.session is not None and principal_arn == caller.arn and entry is not None:
                    entry = await self._own_session(entry, caller)
                    waited = True
            known = None
            resource_entry: Any = None
            if entry is not None:
                if context is None:
                    known = self._memoized(entry, action, resource, owner, explain, generation)
                if known is None:
                    resource_entry = self._lookup_resource(resource)
                    if resource_entry is MISSING:
                        resource_entry = await decider.resource_policies(resource)
                        waited = True
            # Loads let changes (and time) pass: decide only from entries still current.
            if not waited or decider.settled_since(generation):
                break
        else:
            raise Unavailable("policies kept changing while this decision's entries loaded; retry")
        if entry is None:
            return Decided(UNKNOWN_PRINCIPAL, UNKNOWN, None, None, revision, generation)
        if known is None:
            known = self._evaluate(
                entry, action, resource, owner, context, resource_entry, explain,
                int(time.time()), generation,
            )  # fmt: skip
        return Decided(known, decision_code(known), entry, resource_entry, revision, generation)

    async def authorize_end_user(
        self,
        caller: Caller,
        end_user: Caller,
        session_entry: Callable[[PrincipalEntry], Awaitable[PrincipalEntry]],
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        explain: bool,
    ) -> Decided:
        """The decision for the principal a forwarded end-user credential authenticated
        (``session_entry``: its entry with its session's policies and keys, if any); the
        caller must be allowed to ask about it. Nothing is remembered (a session's entry
        is its own)."""
        decider = self._decider
        await decider.require_action(action)

        async def resolve() -> tuple[PrincipalEntry | None, ResourceEntry | None]:
            base = _same_identity(await self._entry_for(caller, end_user.arn), end_user)
            if base is None:
                return None, None
            return await session_entry(base), await decider.resource_policies(resource)

        (entry, resource_entry), generation = await decider.settled(resolve)
        revision = self._feed.applied_revision
        if entry is None:
            return Decided(UNKNOWN_PRINCIPAL, UNKNOWN, None, None, revision, generation)
        result = self._evaluate(
            entry, action, resource, owner, context, resource_entry, explain, int(time.time())
        )
        return Decided(result, decision_code(result), entry, resource_entry, revision, generation)

    async def _entry_for(self, caller: Caller, principal_arn: str) -> PrincipalEntry | None:
        """The principal's entry, after checking the caller may ask about it."""
        if not await self._decider.may_authorize_for(caller, principal_arn):
            raise PermissionDenied(
                f"{caller.arn} is not authorized to perform {AUTHORIZE_ACTION}"
                f" on principal {principal_arn}"
            )
        return await self._decider.principal_entry(principal_arn)

    async def _principal_for(self, caller: Caller, principal_arn: str) -> PrincipalEntry | None:
        """`_entry_for`; for the caller's own ARN, only while it names the caller (not a
        reused name), and as its session for temporary credentials."""
        entry = await self._entry_for(caller, principal_arn)
        if principal_arn == caller.arn:
            entry = _same_identity(entry, caller)
            if caller.session is not None and entry is not None:
                entry = await self._own_session(entry, caller)
        return entry

    async def _own_session(self, entry: PrincipalEntry, caller: Caller) -> PrincipalEntry:
        """A caller with temporary credentials asking about itself is decided as the session
        it is: its session policies, session tags and token keys apply (the entry is the
        session's own and remembers nothing)."""
        session_entry = self._decider.session_entry
        if session_entry is None or caller.session is None:
            raise Unavailable("session policies cannot be applied by this server")
        return await session_entry(entry, caller.session)

    # -- remembered replies ------------------------------------------------------------

    def replied(self, request: bytes, caller: Caller) -> RememberedReply | None:
        """The reply Authorize gave these exact request bytes from this caller, while it
        still holds: nothing changed since (generation and revision), the replica is proven
        current, and the principal's entry is still the cached one. None: decide in full."""
        replies = self._replies
        known = replies.get(request)
        if known is None:
            replies.stats.misses += 1
            return None
        feed = self._feed
        if (
            known.caller is not caller
            or known.generation != self._decider.generation
            or known.revision != feed.applied_revision
            or _monotonic() > feed.fresh_until
            or self._lookup_principal(known.principal_arn) is not known.entry
        ):
            return None
        replies.stats.hits += 1
        return known

    def remember_reply(
        self,
        request: bytes,
        caller: Caller,
        principal_arn: str,
        action: str,
        resource: str,
        owner: str | None,
        decided: Decided,
        reply: bytes,
    ) -> None:
        """Keeps the reply to a context-free, non-explain Authorize (``request``: its bytes)
        when it holds until something changes: the caller has long-term keys, and both the
        decision and the caller's grant to ask were remembered (neither reads the clock), so
        it is the reply `authorize` would give while the generation stays."""
        if caller.session is not None or not self._may_authorize_cached(caller, principal_arn):
            return
        entry = decided.entry
        generation = decided.generation
        if entry is not None and decided.result is not self._memoized(
            entry, action, resource, owner, False, generation
        ):
            return
        record = RememberedReply(
            caller, generation, decided.revision, principal_arn, entry, decided.code, reply,
            action, resource, owner, decided.resource_entry, decided.result,
        )  # fmt: skip
        self._replies.put(request, record, generation)

    # -- batches -----------------------------------------------------------------------

    def authorize_batch_now(
        self, caller: Caller, checks: Sequence[Check], principal_arn: str, explain: bool
    ) -> BatchDecided | None:
        """The decisions of a batch (``principal_arn``: for checks that name none) when all
        can be taken from memory, as `authorize_now`; None: await `authorize_batch`.
        Raises InvalidArgument naming the check and field of bad input."""
        feed = self._feed
        if _monotonic() > feed.fresh_until:
            return None
        decided = self._decide_checks(
            caller, checks, principal_arn, explain, {}, {"": None, "*": None},
            self._decider.generation, feed.applied_revision, int(time.time()),
        )  # fmt: skip
        return decided if isinstance(decided, BatchDecided) else None

    async def authorize_batch(
        self, caller: Caller, checks: Sequence[Check], principal_arn: str, explain: bool
    ) -> BatchDecided:
        """`authorize_batch_now` with the awaits it could not make: the entries it missed
        are loaded (grants checked, as `authorize`) and the checks decided again, all of
        them from entries current at one generation."""
        decider = self._decider
        feed = self._feed
        for _ in range(SETTLE_ATTEMPTS):
            await decider.fresh()  # or fail closed: this replica may be missing changes
            revision = feed.applied_revision
            now = int(time.time())
            generation = decider.generation  # the entries read below are current as of it
            # Each principal and resource is resolved once per call, against the same cache.
            entries: dict[str, Any] = {}
            resources: dict[str, Any] = {"": None, "*": None}
            # A pass that misses something loads it: a reload for an action, then
            # principals, then the resources their decisions need.
            decided: BatchDecided | _Missing | None = None
            for _pass in range(6):
                decided = self._decide_checks(
                    caller, checks, principal_arn, explain, entries, resources, generation,
                    revision, now,
                )  # fmt: skip
                if not isinstance(decided, _Missing):
                    break
                await self._load_missing(caller, decided, entries, resources)
                if not decider.settled_since(generation):
                    break  # decide every check again from current entries
            # Loads let changes (and time) pass: decide only from entries still current.
            if isinstance(decided, BatchDecided) and decider.settled_since(generation):
                return decided
        raise Unavailable("policies kept changing while this batch's entries loaded; retry")

    async def _load_missing(
        self,
        caller: Caller,
        missing: _Missing,
        entries: dict[str, Any],
        resources: dict[str, Any],
    ) -> None:
        decider = self._decider
        if missing.action is not None:
            await decider.require_action(*missing.action)
        for principal in missing.principals:
            entries[principal] = await self._principal_for(caller, principal)
        for resource in missing.resources:
            resources[resource] = await decider.resource_policies(resource)

    def _decide_checks(
        self,
        caller: Caller,
        checks: Sequence[Check],
        default_principal: str,
        explain: bool,
        entries: dict[str, Any],
        resources: dict[str, Any],
        generation: int,
        revision: int,
        now: int,
    ) -> BatchDecided | _Missing | None:
        """One pass over a batch from memory (``entries`` and ``resources``: those already
        loaded): its decisions, or what it missed (every principal and resource not cached,
        or the first action waiting for a reload), or None when the replica could not be
        proven current. No await: everything read is current at ``generation``."""
        known_actions = self._known_actions
        lookup_principal = self._lookup_principal
        grants = self._grants
        lookup_resource = self._lookup_resource
        evaluate_entry = self._evaluate
        key_of = grant_key
        caller_arn = caller.arn
        absent = MISSING
        pending = _PENDING
        allowed, explicit_deny = Decision.ALLOWED, Decision.EXPLICIT_DENY
        missing: _Missing | None = None
        results: list[tuple[EvaluationResult, str, int]] = []
        append = results.append
        counts = [0, 0, 0, 0]  # by decision code; [UNKNOWN] = unknown principal
        for index, check in enumerate(checks):
            action = check.action
            if known_actions.get(action) is not True:
                field = f"checks[{index}].action"
                try:
                    self._check_action(action, field)
                except InvalidArgument:
                    if not self._decider.registry_reloading():
                        raise
                    missing = missing or _Missing()
                    missing.action = (action, field)  # the reload may declare it
                    return missing
            raw_resource = check.resource_arn
            owner = check.resource_owner_account or None
            if owner is not None and not valid_account(owner):
                raise InvalidArgument(
                    f"checks[{index}].resource_owner_account", "must be a 12-digit account id"
                )
            has_context = len(check.context)
            principal = check.principal_arn or default_principal
            entry: Any = entries.get(principal, absent)
            if entry is absent:
                entry = lookup_principal(principal)
                if entry is not absent:
                    if principal == caller_arn:
                        if entry is not None:
                            if entry.unique_id != caller.principal_id:
                                entry = None  # the name now belongs to another user or role
                            elif caller.session is not None:
                                entry = absent  # decided as its session: see authorize
                    elif not grants.get(key_of(caller, principal), False):
                        entry = absent
                if entry is absent:
                    missing = missing or _Missing()
                    missing.principals.append(principal)
                    entry = pending
                entries[principal] = entry
            if entry is pending:
                continue
            resource = raw_resource or "*"
            # Fast path: a context-free check decided before with nothing changed since
            # (inlined `memoized`: this loop runs once per check).
            result: EvaluationResult | None = None
            if not has_context and entry is not None and entry.memoizable:
                known = entry.memo.get((action, resource, owner, explain))
                if known is not None and known[0] == generation:
                    result = known[1]
            if result is None:
                resource_entry = resources.get(raw_resource, absent)
                if resource_entry is absent:
                    if not is_resource(raw_resource):
                        raise InvalidArgument(
                            f"checks[{index}].resource_arn", "must be an ARN or *"
                        )
                    resource_entry = lookup_resource(raw_resource)
                    if resource_entry is absent:
                        missing = missing or _Missing()
                        missing.resources.append(raw_resource)
                        resource_entry = pending
                    resources[raw_resource] = resource_entry
                if resource_entry is pending:
                    continue
                if entry is None:
                    append((UNKNOWN_PRINCIPAL, principal, IMPLICIT_DENY))
                    counts[UNKNOWN] += 1
                    continue
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
                    return None  # stalled past the staleness bound: decide again
            decision = result.decision
            # ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY, as literals: this runs once per check.
            code = 1 if decision is allowed else 2 if decision is explicit_deny else 3
            counts[code] += 1
            append((result, principal, code))
        if missing is not None:
            return missing
        # A long stall (a collection, a starved process) may have passed while the checks
        # were decided.
        if _monotonic() > self._feed.fresh_until:
            return None
        return BatchDecided(results, counts, entries, resources, revision)
