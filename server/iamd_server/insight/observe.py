"""The one call a decision makes into the insight features: last-accessed bookkeeping for
allowed decisions of users and roles, and the (sampled) decision log."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from iamd_policy import Context, Decision, EvaluationResult

from iamd_server.authz.cache import MISSING
from iamd_server.authz.requests import request_context
from iamd_server.insight import tracing
from iamd_server.insight.decision_log import DecisionLog, request_id
from iamd_server.insight.last_accessed import LastAccessed

if TYPE_CHECKING:
    from iamd_policy.entries import PrincipalEntry

    from iamd_server.authz.decisions import Decider

_ALLOWED = Decision.ALLOWED
_time = time.time


class Insight:
    """`Insight(decider, last_accessed, decision_log)`; either part may be None."""

    def __init__(
        self,
        decider: Decider,
        last_accessed: LastAccessed | None,
        decision_log: DecisionLog | None,
    ) -> None:
        self._decider = decider
        self.last_accessed = last_accessed
        self.decision_log = decision_log
        self._note = last_accessed.note if last_accessed is not None else None
        # Authorize notes an allowed decision straight into the dict (see LastAccessed.note).
        self._notes = last_accessed.pending if last_accessed is not None else None
        self._trace, self._trace_batch = tracing.decision_hooks()  # None each: tracing off

    def decided(
        self,
        source: str,
        caller: str,
        principal: str,
        action: str,
        resource: str,
        owner: str | None,
        context: Context | None,
        entry: Any,  # PrincipalEntry | None
        resource_entry: Any,
        result: EvaluationResult,
        revision: int,
        started: float,
        request: Any = None,
    ) -> None:
        """One decision of Authorize or a gateway (``resource_entry`` None: not looked up)."""
        if self._trace is not None:
            self._trace(principal, action, resource, result, revision)
        notes = self._notes
        if notes is not None and entry is not None and result.decision is _ALLOWED:
            notes[(entry.unique_id, action)] = _time()
        log = self.decision_log
        if log is None:
            return
        rate = log.sample(result)
        if not rate:
            return
        explain = None
        if entry is not None:
            explain = self._explainer(entry, action, resource, owner, context, resource_entry)
        log.record(
            rate, source, caller, principal, action, resource, result, revision, started,
            request, explain,
        )  # fmt: skip

    def batch(
        self,
        caller: str,
        checks: Sequence[Any],
        results: Sequence[tuple[EvaluationResult, str, int]],
        entries: Mapping[str, Any],
        resources: Mapping[str, Any],
        revision: int,
        started: float,
        request: Any = None,
    ) -> None:
        """The decisions of one AuthorizeBatch (``results`` in the order of ``checks``)."""
        if self._trace_batch is not None:
            self._trace_batch(results, revision)
        note = self._note
        log = self.decision_log
        batch_id: str | None = None  # one x-request-id (or fresh id) for every line
        for index, (result, principal, _code) in enumerate(results):
            check = checks[index]
            entry = entries.get(principal)
            if note is not None and entry is not None and result.decision is _ALLOWED:
                note(entry.unique_id, check.action)
            if log is None:
                continue
            rate = log.sample(result)
            if not rate:
                continue
            resource = check.resource_arn or "*"
            if batch_id is None:
                batch_id = request_id(request)
            explain = None
            if entry is not None:
                explain = self._explainer(
                    entry,
                    check.action,
                    resource,
                    check.resource_owner_account or None,
                    check.context or None,
                    resources.get(check.resource_arn),
                )
            log.record(
                rate, "AuthorizeBatch", caller, principal, check.action, resource, result,
                revision, started, batch_id, explain, index,
            )  # fmt: skip

    def _explainer(
        self,
        entry: PrincipalEntry,
        action: str,
        resource: str,
        owner: str | None,
        context: Any,
        resource_entry: Any,
    ) -> Any:
        decider = self._decider

        def explain() -> EvaluationResult | None:
            found = resource_entry
            if found is None or found is MISSING:
                found = decider.lookup_resource(resource)
                if found is MISSING:
                    return None  # not cached any more: the line goes without its statement
            evaluation_context = context
            if context is not None and not isinstance(context, Context):
                evaluation_context = request_context(context, "context")
            return decider.evaluate(
                entry, action, resource, owner, evaluation_context, found, True, int(time.time())
            )

        return explain
