"""Shared builders for the policy engine tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from iamd_policy import (
    AuthorizationRequest,
    CompiledPolicy,
    Context,
    EvaluationResult,
    PolicyKind,
    PolicySet,
    PolicySets,
    Principal,
    builtin_registry,
    compile_policy,
    evaluate,
)

ACCT = "111122223333"
OTHER = "444455556666"
USER = f"arn:aws:iam::{ACCT}:user/alice"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/Dev/s1"
ROLE = f"arn:aws:iam::{ACCT}:role/Dev"
OTHER_USER = f"arn:aws:iam::{OTHER}:user/bob"

Doc = Mapping[str, Any] | str


def doc(*statements: Mapping[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        body["Version"] = version
    return json.dumps(body)


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def _text(document: Doc) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def compiled(documents: Sequence[Doc], kind: PolicyKind, label: str) -> PolicySet:
    return PolicySet.of(
        compile_policy(_text(d), kind, policy_id=f"{label}.{i}", source_type=label)
        for i, d in enumerate(documents, start=1)
    )


def one(document: Doc, kind: PolicyKind = PolicyKind.IDENTITY) -> CompiledPolicy:
    return compile_policy(_text(document), kind, policy_id="p", source_type="none")


def decide(
    identity: Sequence[Doc] = (),
    *,
    action: str = "s3:GetObject",
    resource: str = "arn:aws:s3:::bucket/key",
    caller: str | Principal = USER,
    owner: str = ACCT,
    boundary: Sequence[Doc] | None = None,
    session: Sequence[Doc] | None = None,
    scps: Sequence[Sequence[Doc]] = (),
    rcps: Sequence[Sequence[Doc]] = (),
    resource_policy: Doc | None = None,
    resource_kind: PolicyKind = PolicyKind.RESOURCE,
    extra_resource: Sequence[CompiledPolicy] = (),
    context: Context | Mapping[str, str | Sequence[str]] | None = None,
    explain: bool = True,
) -> EvaluationResult:
    principal = caller if isinstance(caller, Principal) else Principal.from_arn(caller)
    if context is None:
        ctx = Context()
    elif isinstance(context, Context):
        ctx = context
    else:
        ctx = Context.from_mapping(context)
    resource_set = None
    if resource_policy is not None or extra_resource:
        policies = list(extra_resource)
        if resource_policy is not None:
            policies.append(
                compile_policy(
                    _text(resource_policy), resource_kind, policy_id="rp", source_type="resource"
                )
            )
        resource_set = PolicySet.of(policies)
    sets = PolicySets(
        identity=compiled(identity, PolicyKind.IDENTITY, "id"),
        boundary=compiled(boundary, PolicyKind.PERMISSIONS_BOUNDARY, "pb")
        if boundary is not None
        else None,
        session=compiled(session, PolicyKind.SESSION, "sp") if session is not None else None,
        scp_levels=tuple(compiled(level, PolicyKind.SERVICE_CONTROL, "scp") for level in scps),
        rcp_levels=tuple(compiled(level, PolicyKind.RESOURCE_CONTROL, "rcp") for level in rcps),
        resource=resource_set,
    )
    request = AuthorizationRequest(principal, action, resource, owner, ctx)
    result = evaluate(request, sets, builtin_registry(), explain=explain)
    if explain:
        fast = evaluate(request, sets, builtin_registry(), explain=False)
        assert fast.decision is result.decision
    return result


def decision(*args: Any, **kwargs: Any) -> str:
    return decide(*args, **kwargs).decision.value
