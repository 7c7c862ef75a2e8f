"""PreviewPolicyChange: the decisions a policy write would change (analysis/preview.py).

Authorized as `iamd:PreviewPolicyChange` on the ARN the write would change: the user, group
or role, the managed policy (CreatePolicyVersion) or the resource. As the Manage API does,
a name that exists nowhere is authorized on the ARN it would have (path "/") before NOT_FOUND
is answered, so a caller without the grant learns nothing about what exists. The write's
request is resolved as the write would resolve it (names in the caller's account unless
account_id says otherwise); nothing is written.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from iamd.v1 import analysis_pb2 as pb
from iamd_policy import (
    CompiledPolicy,
    PolicyKind,
    PolicySet,
    acl_grants_to_policy,
    bind_principal_ids,
    compile_policy,
)
from iamd_policy.entries import ResourceEntry, account_of, valid_account

from iamd_server import validation
from iamd_server.analysis.preview import Change, preview, replace_identity
from iamd_server.api import targets
from iamd_server.api.analysis_access import DECISIONS
from iamd_server.api.authorization import explanation
from iamd_server.api.dispatch import Call
from iamd_server.authn.authenticator import Caller
from iamd_server.authz.decisions import Decider
from iamd_server.errors import InvalidArgument, NotFound
from iamd_server.store import Store, reach
from iamd_server.store.records import (
    SOURCE_BOUNDARY,
    SOURCE_MANAGED,
    LoadedPolicy,
    PrincipalPolicies,
)

__all__ = ["PREVIEW_ACTION", "PolicyPreview"]

PREVIEW_ACTION = "iamd:PreviewPolicyChange"
_NAMES = {
    "user": validation.user_name,
    "group": validation.group_name,
    "role": validation.role_name,
}

DEFAULT_CHECKS = 20_000
MAX_CHECKS = 100_000


def _document(text: str, field: str, kind: PolicyKind) -> str:
    if not text:
        raise InvalidArgument(field, "is required")
    try:
        compile_policy(text, kind, policy_id="preview", source_type="none")
    except ValueError as exc:
        raise InvalidArgument(field, str(exc)) from None
    return text


def _required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    return value


class PolicyPreview:
    """The PreviewPolicyChange RPC of AnalysisService."""

    _decider: Decider
    _store: Store

    async def _entity(
        self, caller: Caller, kind: str, account: str, name: str, field: str
    ) -> tuple[str, str]:
        """(unique id, ARN) of the user, group or role, once the caller may preview writes to
        it (NOT_FOUND after that when it does not exist)."""
        _NAMES[kind](name, field)
        found = await reach.entity(self._store.pool, kind, account, name)
        arn = found[1] if found is not None else f"arn:aws:iam::{account}:{kind}/{name}"
        await self._decider.require(caller, PREVIEW_ACTION, arn)
        if found is None:
            raise NotFound(f"the {kind} with name {name[:128]} cannot be found")
        return found

    async def _managed(
        self, arn: str, field: str, attachable_in: str | None = None
    ) -> tuple[str, str]:
        """(policy id, default document) of a managed policy. With ``attachable_in``, a
        policy of another account is refused as the write refuses it, with the answer a
        missing one gets: a preview must not show what another account's policy grants, nor
        whether it exists."""
        record = await self._store.get_policy(policy_arn=_required(arn, field))
        if attachable_in is not None and record.account_id != attachable_in:
            raise NotFound(f"Policy {arn} not found")  # as store.base.find_policy says it
        version = await self._store.get_policy_version(
            policy_arn=arn, version_id=record.default_version_id
        )
        return record.policy_id, version.document

    async def _members(self, kind: str, owner_id: str, arn: str) -> list[str]:
        if kind == "group":
            return await reach.group_members(self._store.pool, owner_id)
        return [arn]

    async def _inline(
        self, caller: Caller, kind: str, request: Any, field: str, account: str, *, put: bool
    ) -> tuple[str, Change]:
        name = getattr(request, f"{kind}_name")
        owner_id, owner_arn = await self._entity(
            caller, kind, account, name, f"{field}.{kind}_name"
        )
        policy_name = _required(request.policy_name, f"{field}.policy_name")
        new = (
            _document(request.policy_document, f"{field}.policy_document", PolicyKind.IDENTITY)
            if put
            else None
        )
        old = await self._inline_document(kind, owner_arn, policy_name)
        if not put and old is None:
            raise NotFound(f"the {kind} policy with name {policy_name[:128]} cannot be found")

        def same(p: LoadedPolicy) -> bool:
            return (
                p.source_policy_type == kind
                and p.source_arn == owner_arn
                and p.policy_id == policy_name
            )

        async def edit(policies: PrincipalPolicies) -> PrincipalPolicies:
            added = [LoadedPolicy(policy_name, kind, owner_arn, new)] if new is not None else []
            return replace_identity(policies, lambda p: not same(p), added)

        documents = [(d, PolicyKind.IDENTITY) for d in (old, new) if d is not None]
        principals = await self._members(kind, owner_id, owner_arn)
        return owner_arn, Change(principals, edit, documents)

    async def _inline_document(self, kind: str, owner_arn: str, name: str) -> str | None:
        if kind == "group":
            loaded = await self._store.load_group_policies(group_arn=owner_arn)
            identity = loaded[1] if loaded is not None else ()
        else:
            policies = await self._store.load_principal_policies(principal_arn=owner_arn)
            identity = policies.identity if policies is not None else ()
        for p in identity:
            if p.source_policy_type == kind and p.source_arn == owner_arn and p.policy_id == name:
                return p.document
        return None

    async def _attachment(
        self, caller: Caller, kind: str, request: Any, field: str, account: str, *, attach: bool
    ) -> tuple[str, Change]:
        name = getattr(request, f"{kind}_name")
        owner_id, owner_arn = await self._entity(
            caller, kind, account, name, f"{field}.{kind}_name"
        )
        policy_arn: str = request.policy_arn
        policy_id, document = await self._managed(policy_arn, f"{field}.policy_arn", account)
        pool = self._store.pool

        async def edit(policies: PrincipalPolicies) -> PrincipalPolicies:
            def other(p: LoadedPolicy) -> bool:
                return p.policy_id != policy_arn

            if attach:
                loaded = LoadedPolicy(policy_arn, SOURCE_MANAGED, policy_arn, document)
                return replace_identity(policies, other, [loaded])
            unique = policies.unique_id or ""
            if await reach.still_attached(pool, unique, policy_id, owner_id):
                return policies  # still reaches the principal through another attachment
            return replace_identity(policies, other)

        principals = await self._members(kind, owner_id, owner_arn)
        return owner_arn, Change(principals, edit, [(document, PolicyKind.IDENTITY)])

    async def _policy_version(self, caller: Caller, request: Any, field: str) -> tuple[str, Change]:
        arn: str = request.policy_arn
        targets.policy_target(arn, f"{field}.policy_arn")
        await self._decider.require(caller, PREVIEW_ACTION, arn)
        policy_id, old = await self._managed(arn, f"{field}.policy_arn")
        new = _document(request.policy_document, f"{field}.policy_document", PolicyKind.IDENTITY)

        async def edit(policies: PrincipalPolicies) -> PrincipalPolicies:
            identity = tuple(
                LoadedPolicy(p.policy_id, p.source_policy_type, p.source_arn, new)
                if p.source_policy_type == SOURCE_MANAGED and p.policy_id == arn
                else p
                for p in policies.identity
            )
            boundary = policies.boundary
            if boundary is not None and boundary.policy_id == arn:
                boundary = LoadedPolicy(arn, SOURCE_BOUNDARY, arn, new)
            return dataclasses.replace(policies, identity=identity, boundary=boundary)

        principals = await reach.policy_holders(self._store.pool, policy_id)
        documents = [(old, PolicyKind.IDENTITY), (new, PolicyKind.IDENTITY)]
        return arn, Change(principals, edit, documents)

    async def _boundary(
        self, caller: Caller, request: Any, field: str, account: str, *, put: bool
    ) -> tuple[str, Change]:
        _, user_arn = await self._entity(
            caller, "user", account, request.user_name, f"{field}.user_name"
        )
        current = await self._store.load_principal_policies(principal_arn=user_arn)
        if current is None:
            raise NotFound(f"the user with name {request.user_name[:128]} cannot be found")
        new: LoadedPolicy | None = None
        if put:
            arn = request.permissions_boundary
            _, document = await self._managed(arn, f"{field}.permissions_boundary", account)
            new = LoadedPolicy(arn, SOURCE_BOUNDARY, arn, document)
        elif current.boundary is None:
            raise NotFound(f"the user {request.user_name[:128]} has no permissions boundary")

        async def edit(policies: PrincipalPolicies) -> PrincipalPolicies:
            return dataclasses.replace(policies, boundary=new)

        # Adding or removing a boundary changes what the identity policies grant too.
        documents = [(p.document, PolicyKind.IDENTITY) for p in current.identity]
        for loaded in (current.boundary, new):
            if loaded is not None:
                documents.append((loaded.document, PolicyKind.IDENTITY))
        return user_arn, Change([user_arn], edit, documents)

    async def _resource_policy(
        self, caller: Caller, request: Any, field: str
    ) -> tuple[str, Change]:
        resource = _required(request.resource_arn, f"{field}.resource_arn")
        if not resource.startswith("arn:") or resource.count(":") < 5 or len(resource) > 2048:
            raise InvalidArgument(f"{field}.resource_arn", "must be an ARN")
        if request.owner_account_id and not valid_account(request.owner_account_id):
            raise InvalidArgument(f"{field}.owner_account_id", "must be a 12-digit account id")
        new = _document(request.policy_document, f"{field}.policy_document", PolicyKind.RESOURCE)
        loaded = await self._store.load_resource_policy(resource_arn=resource)
        account = (
            account_of(resource)
            or (loaded.account_id if loaded is not None else None)
            or request.owner_account_id
            or caller.account_id
        )
        # Decided for the account whose principals the preview lists: another account's
        # (named by owner_account_id for an unclaimed ARN) is a cross-account request.
        await self._decider.require(caller, PREVIEW_ACTION, resource, resource_account=account)
        compiled: list[CompiledPolicy] = [
            bind_principal_ids(
                compile_policy(
                    new, PolicyKind.RESOURCE, policy_id=resource, source_type="resource"
                ),
                await self._decider.principal_ids(new),
            )
        ]
        if loaded is not None and loaded.acl:
            grants = [(g.grantee, g.permission) for g in loaded.acl]
            compiled.append(acl_grants_to_policy(grants, resource, policy_id=resource))
        after = ResourceEntry(PolicySet.of(compiled), account)
        principals = [r.arn for r in await reach.account_principals(self._store.pool, account)]
        documents = [(new, PolicyKind.RESOURCE)]
        if loaded is not None and loaded.document is not None:
            documents.append((loaded.document, PolicyKind.RESOURCE))
        return resource, Change(principals, None, documents, resource, after)

    async def _change(
        self, request: pb.PreviewPolicyChangeRequest, caller: Caller
    ) -> tuple[str, Change]:
        """(The ARN written, the change), once the caller may preview writes to that ARN."""
        which = request.WhichOneof("change")
        if which is None:
            raise InvalidArgument("change", "is required: the write to preview")
        inner: Any = getattr(request, which)
        field = which
        if which == "create_policy_version":
            return await self._policy_version(caller, inner, field)
        if which == "put_resource_policy":
            return await self._resource_policy(caller, inner, field)
        account = targets.account_for(inner.account_id, caller, f"{field}.account_id")
        verb, _, rest = which.partition("_")
        if rest in ("user_policy", "group_policy", "role_policy"):
            kind = rest.partition("_")[0]
            if verb in ("put", "delete"):
                return await self._inline(caller, kind, inner, field, account, put=verb == "put")
            return await self._attachment(
                caller, kind, inner, field, account, attach=verb == "attach"
            )
        return await self._boundary(caller, inner, field, account, put=verb == "put")

    async def PreviewPolicyChange(  # noqa: N802 - the RPC's name
        self, request: pb.PreviewPolicyChangeRequest, call: Call
    ) -> pb.PreviewPolicyChangeResponse:
        caller = call.require_caller()
        decider = self._decider
        if request.max_checks and not 1 <= request.max_checks <= MAX_CHECKS:
            raise InvalidArgument("max_checks", f"must be 1-{MAX_CHECKS}")
        _, change = await self._change(request, caller)
        revision = decider.revision
        store = self._store

        async def load(arn: str) -> PrincipalPolicies | None:
            return await store.load_principal_policies(principal_arn=arn)

        result = await preview(
            decider, load, change, max_checks=request.max_checks or DEFAULT_CHECKS
        )
        return pb.PreviewPolicyChangeResponse(
            changes=[
                pb.PolicyChangeDecision(
                    principal_arn=c.principal,
                    action=c.action,
                    resource_arn=c.resource,
                    before=DECISIONS[c.before.decision],
                    after=DECISIONS[c.after.decision],
                    after_explanation=explanation(c.after, c.principal),
                )
                for c in result.changes
            ],
            checked=result.checked,
            truncated=result.truncated,
            revision=revision,
            actions=result.actions,
            resources=result.resources,
        )
