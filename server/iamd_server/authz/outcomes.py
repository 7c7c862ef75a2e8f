"""What Authorize and AuthorizeBatch decide, as the front doors encode it: decision codes
(numbered as the wire's), one decision with what it rests on (`Decided`), a batch's
(`BatchDecided`), and the shape of a batch's check as received (`Check`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from iamd_policy import Decision, EvaluationResult
from iamd_policy.entries import PrincipalEntry, ResourceEntry

# Decision codes, numbered as the wire enum iamd.v1.Decision (api/ checks that they match):
# a decision is counted and encoded by its code. UNKNOWN: the principal does not exist (it
# is denied implicitly, and counted apart).
UNKNOWN = 0
ALLOWED = 1
EXPLICIT_DENY = 2
IMPLICIT_DENY = 3


def decision_code(result: EvaluationResult) -> int:
    decision = result.decision
    return (
        ALLOWED
        if decision is Decision.ALLOWED
        else EXPLICIT_DENY
        if decision is Decision.EXPLICIT_DENY
        else IMPLICIT_DENY
    )


@dataclass(slots=True)
class Decided:
    """One Authorize decision and what it rests on: ``code`` (UNKNOWN when the principal
    does not exist), the entries read (``resource_entry`` None: not looked up) and the
    revision and generation they are current at."""

    result: EvaluationResult
    code: int
    entry: PrincipalEntry | None
    resource_entry: ResourceEntry | None
    revision: int
    generation: int


class Check(Protocol):
    """One check of AuthorizeBatch as received (an iamd.v1.AuthorizeCheck): its fields are
    read where the decision needs them, so a batch costs no record per check."""

    @property
    def action(self) -> str: ...
    @property
    def resource_arn(self) -> str: ...
    @property
    def resource_owner_account(self) -> str: ...
    @property
    def principal_arn(self) -> str: ...
    @property
    def context(self) -> Sequence[Any]: ...


@dataclass(slots=True)
class BatchDecided:
    """The decisions of one batch, in the order of its checks: (result, principal ARN,
    decision code; IMPLICIT_DENY for an unknown principal), their count by code (UNKNOWN
    apart), and the entries they rest on by principal and resource ARN."""

    results: list[tuple[EvaluationResult, str, int]]
    counts: list[int]
    entries: dict[str, PrincipalEntry | None]
    resources: dict[str, ResourceEntry | None]
    revision: int
