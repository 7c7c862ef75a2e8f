"""Manage calls on resource policies, ACLs, service definitions and the audit log."""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

from functools import lru_cache

from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2
from iamd_policy import builtin_registry

from iamd_server import validation
from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase, Target, marker_out, paging
from iamd_server.errors import InvalidArgument
from iamd_server.store.base import decode_marker, encode_marker


@lru_cache(maxsize=1)
def _builtin() -> dict[str, types_pb2.ServiceDefinition]:
    registry = builtin_registry()
    out: dict[str, types_pb2.ServiceDefinition] = {}
    for prefix in registry.prefixes():
        definition = registry.get(prefix)
        if definition is not None:
            out[prefix] = convert.service_definition(definition.to_dict(), built_in=True)
    return out


class ResourcesMixin(ManagementBase):
    async def _resource(self, call: Call, resource_arn: str, owner_account_id: str) -> Target:
        """The resource and its owner. For ARNs without an account field the owner already
        stored wins over the request's, so nobody can read or take over another account's
        resource by naming themselves as its owner."""
        caller = call.require_caller()
        arn, account = targets.resource_target(resource_arn, owner_account_id, caller)
        if not validation.arn(arn, "resource_arn").account:
            stored = await self._store.load_resource_policy(resource_arn=arn)
            if stored is not None:
                account = stored.account_id
        return Target(caller, account, arn)

    # ---- resource policies ----

    async def PutResourcePolicy(
        self, request: pb.PutResourcePolicyRequest, call: Call
    ) -> pb.PutResourcePolicyResponse:
        target = await self._resource(call, request.resource_arn, request.owner_account_id)
        await self._check(target, "iam:PutResourcePolicy")
        written = await self._store.put_resource_policy(
            actor=target.caller.arn,
            resource_arn=target.arn,
            policy_document=request.policy_document,
            owner_account_id=target.account,
        )
        return pb.PutResourcePolicyResponse(revision=written.revision)

    async def GetResourcePolicy(
        self, request: pb.GetResourcePolicyRequest, call: Call
    ) -> pb.GetResourcePolicyResponse:
        target = await self._resource(call, request.resource_arn, request.owner_account_id)
        await self._check(target, "iam:GetResourcePolicy")
        record = await self._store.get_resource_policy(resource_arn=target.arn)
        return pb.GetResourcePolicyResponse(
            resource_arn=record.resource_arn,
            owner_account_id=record.account_id,
            policy_document=record.document,
        )

    async def DeleteResourcePolicy(
        self, request: pb.DeleteResourcePolicyRequest, call: Call
    ) -> pb.DeleteResourcePolicyResponse:
        target = await self._resource(call, request.resource_arn, request.owner_account_id)
        await self._check(target, "iam:DeleteResourcePolicy")
        written = await self._store.delete_resource_policy(
            actor=target.caller.arn, resource_arn=target.arn
        )
        return pb.DeleteResourcePolicyResponse(revision=written.revision)

    # ---- ACLs ----

    async def PutResourceAcl(
        self, request: pb.PutResourceAclRequest, call: Call
    ) -> pb.PutResourceAclResponse:
        target = await self._resource(call, request.resource_arn, request.owner_account_id)
        grants = convert.acl_grants_in(request.grants)
        await self._check(target, "iam:PutResourceAcl")
        written = await self._store.put_resource_acl(
            actor=target.caller.arn,
            resource_arn=target.arn,
            grants=grants,
            owner_account_id=target.account,
        )
        return pb.PutResourceAclResponse(revision=written.revision)

    async def GetResourceAcl(
        self, request: pb.GetResourceAclRequest, call: Call
    ) -> pb.GetResourceAclResponse:
        target = await self._resource(call, request.resource_arn, request.owner_account_id)
        await self._check(target, "iam:GetResourceAcl")
        grants = await self._store.get_resource_acl(resource_arn=target.arn)
        return pb.GetResourceAclResponse(
            resource_arn=target.arn,
            owner_account_id=target.account,
            grants=convert.acl_grants_out(grants),
        )

    # ---- service definitions (deployment-wide: writes need the management account) ----

    async def PutServiceDefinition(
        self, request: pb.PutServiceDefinitionRequest, call: Call
    ) -> pb.PutServiceDefinitionResponse:
        caller = call.require_caller()
        target = Target(caller, await self._management_account(), targets.ANY)
        await self._check(target, "iamd:PutServiceDefinition")
        written = await self._store.put_service_definition(
            actor=caller.arn, definition=convert.service_definition_in(request.definition)
        )
        return pb.PutServiceDefinitionResponse(revision=written.revision)

    async def GetServiceDefinition(
        self, request: pb.GetServiceDefinitionRequest, call: Call
    ) -> pb.GetServiceDefinitionResponse:
        caller = call.require_caller()
        if not request.service_prefix:
            raise InvalidArgument("service_prefix", "the service prefix is required")
        await self._check(
            Target(caller, caller.account_id, targets.ANY), "iamd:GetServiceDefinition"
        )
        builtin = _builtin().get(request.service_prefix)
        if builtin is not None:
            return pb.GetServiceDefinitionResponse(definition=builtin)
        record = await self._store.get_service_definition(service_prefix=request.service_prefix)
        return pb.GetServiceDefinitionResponse(
            definition=convert.service_definition(record.definition, built_in=False)
        )

    async def ListServiceDefinitions(
        self, request: pb.ListServiceDefinitionsRequest, call: Call
    ) -> pb.ListServiceDefinitionsResponse:
        caller = call.require_caller()
        await self._check(
            Target(caller, caller.account_id, targets.ANY), "iamd:ListServiceDefinitions"
        )
        marker, max_items = paging(request.marker, request.max_items)
        # Built-in and stored definitions in one prefix order; the marker is the last prefix
        # shown, in the store's marker encoding, so it can be passed on to the store.
        after = decode_marker(marker) or ""
        page = await self._store.list_service_definitions(marker=marker, max_items=max_items)
        merged = [d for p, d in _builtin().items() if p > after]
        merged.extend(convert.service_definition(r.definition, built_in=False) for r in page.items)
        merged.sort(key=lambda d: d.service_prefix)
        shown = merged[:max_items]
        truncated = len(merged) > max_items or page.is_truncated
        next_marker = encode_marker(shown[-1].service_prefix) if truncated and shown else None
        return pb.ListServiceDefinitionsResponse(
            definitions=shown, is_truncated=truncated, marker=marker_out(next_marker)
        )

    async def DeleteServiceDefinition(
        self, request: pb.DeleteServiceDefinitionRequest, call: Call
    ) -> pb.DeleteServiceDefinitionResponse:
        caller = call.require_caller()
        if not request.service_prefix:
            raise InvalidArgument("service_prefix", "the service prefix is required")
        target = Target(caller, await self._management_account(), targets.ANY)
        await self._check(target, "iamd:DeleteServiceDefinition")
        written = await self._store.delete_service_definition(
            actor=caller.arn, service_prefix=request.service_prefix
        )
        return pb.DeleteServiceDefinitionResponse(revision=written.revision)

    # ---- audit ----

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, call: Call
    ) -> pb.ListAuditEventsResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:ListAuditEvents")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_audit_events(
            account_id=target.account,
            since_revision=request.since_revision,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListAuditEventsResponse(
            events=[convert.audit_event(e) for e in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )
