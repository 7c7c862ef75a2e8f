"""Manage calls on the organization: accounts, organizational units, SCPs.

All are authorized as ``organizations:<Rpc>`` on ``*`` with the management account as the
resource account: the built-in ``organizations`` definition has no resource types, and
naming the management account makes every principal of another account (its root
included) a cross-account caller that no resource policy grants, so only the management
account's principals pass.
"""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase, Target, marker_out, paging
from iamd_server.errors import InvalidArgument, NotFound
from iamd_server.store.records import AccountRecord, OuRecord

ROOT_ALIAS = "r-root"


class OrganizationMixin(ManagementBase):
    _root_id: str | None = None

    async def _org_target(self, call: Call) -> Target:
        caller = call.require_caller()
        return Target(caller, await self._management_account(), targets.ANY)

    async def _root(self) -> str:
        if self._root_id is None:
            organization = await self._store.get_organization()
            self._root_id = organization.root_id if organization is not None else ROOT_ALIAS
        return self._root_id

    async def _parent_out(self, parent_id: str) -> str:
        # Callers name the root "r-root" (see the proto); show it the same way.
        return ROOT_ALIAS if parent_id == await self._root() else parent_id

    async def _account(self, record: AccountRecord) -> types_pb2.Account:
        message = convert.account(record)
        message.parent_id = await self._parent_out(record.parent_id)
        return message

    async def _ou(self, record: OuRecord) -> types_pb2.OrganizationalUnit:
        message = convert.organizational_unit(record)
        message.parent_id = await self._parent_out(record.parent_id)
        return message

    # ---- accounts ----

    async def CreateAccount(
        self, request: pb.CreateAccountRequest, call: Call
    ) -> pb.CreateAccountResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:CreateAccount")
        written = await self._store.create_account(
            actor=target.caller.arn,
            name=request.name,
            email=request.email if request.HasField("email") else None,
        )
        return pb.CreateAccountResponse(
            account=await self._account(written.value), revision=written.revision
        )

    async def DescribeAccount(
        self, request: pb.DescribeAccountRequest, call: Call
    ) -> pb.DescribeAccountResponse:
        target = await self._org_target(call)
        account_id = targets.account_for(request.account_id, target.caller)
        await self._check(target, "organizations:DescribeAccount")
        record = await self._store.describe_account(account_id=account_id)
        return pb.DescribeAccountResponse(account=await self._account(record))

    async def ListAccounts(
        self, request: pb.ListAccountsRequest, call: Call
    ) -> pb.ListAccountsResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:ListAccounts")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_accounts(
            parent_id=request.parent_id or None, marker=marker, max_items=max_items
        )
        return pb.ListAccountsResponse(
            accounts=[await self._account(a) for a in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def MoveAccount(
        self, request: pb.MoveAccountRequest, call: Call
    ) -> pb.MoveAccountResponse:
        target = await self._org_target(call)
        account_id = targets.account_for(request.account_id, target.caller)
        if not request.destination_parent_id:
            raise InvalidArgument("destination_parent_id", "the destination parent is required")
        await self._check(target, "organizations:MoveAccount")
        if request.source_parent_id:
            current = await self._store.describe_account(account_id=account_id)
            expected = request.source_parent_id
            if expected == ROOT_ALIAS:
                expected = await self._root()
            if current.parent_id != expected:
                raise NotFound(
                    f"Account {account_id} is not under source parent {request.source_parent_id}"
                )
        written = await self._store.move_account(
            actor=target.caller.arn,
            account_id=account_id,
            destination_parent_id=request.destination_parent_id,
        )
        return pb.MoveAccountResponse(revision=written.revision)

    # ---- organizational units ----

    async def CreateOrganizationalUnit(
        self, request: pb.CreateOrganizationalUnitRequest, call: Call
    ) -> pb.CreateOrganizationalUnitResponse:
        target = await self._org_target(call)
        if not request.parent_id:
            raise InvalidArgument("parent_id", "the parent (r-root or an OU id) is required")
        await self._check(target, "organizations:CreateOrganizationalUnit")
        written = await self._store.create_organizational_unit(
            actor=target.caller.arn, parent_id=request.parent_id, name=request.name
        )
        return pb.CreateOrganizationalUnitResponse(
            organizational_unit=await self._ou(written.value), revision=written.revision
        )

    async def ListOrganizationalUnits(
        self, request: pb.ListOrganizationalUnitsRequest, call: Call
    ) -> pb.ListOrganizationalUnitsResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:ListOrganizationalUnits")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_organizational_units(
            parent_id=request.parent_id or ROOT_ALIAS, marker=marker, max_items=max_items
        )
        return pb.ListOrganizationalUnitsResponse(
            organizational_units=[await self._ou(o) for o in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def DeleteOrganizationalUnit(
        self, request: pb.DeleteOrganizationalUnitRequest, call: Call
    ) -> pb.DeleteOrganizationalUnitResponse:
        target = await self._org_target(call)
        if not request.organizational_unit_id:
            raise InvalidArgument("organizational_unit_id", "the OU id is required")
        await self._check(target, "organizations:DeleteOrganizationalUnit")
        written = await self._store.delete_organizational_unit(
            actor=target.caller.arn, ou_id=request.organizational_unit_id
        )
        return pb.DeleteOrganizationalUnitResponse(revision=written.revision)

    # ---- service control policies ----

    async def CreateServiceControlPolicy(
        self, request: pb.CreateServiceControlPolicyRequest, call: Call
    ) -> pb.CreateServiceControlPolicyResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:CreateServiceControlPolicy")
        written = await self._store.create_service_control_policy(
            actor=target.caller.arn,
            name=request.name,
            document=request.document,
            description=request.description,
        )
        return pb.CreateServiceControlPolicyResponse(
            policy=convert.service_control_policy(written.value), revision=written.revision
        )

    async def UpdateServiceControlPolicy(
        self, request: pb.UpdateServiceControlPolicyRequest, call: Call
    ) -> pb.UpdateServiceControlPolicyResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:UpdateServiceControlPolicy")
        written = await self._store.update_service_control_policy(
            actor=target.caller.arn,
            policy_id=request.policy_id,
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            document=request.document if request.HasField("document") else None,
        )
        return pb.UpdateServiceControlPolicyResponse(
            policy=convert.service_control_policy(written.value), revision=written.revision
        )

    async def DeleteServiceControlPolicy(
        self, request: pb.DeleteServiceControlPolicyRequest, call: Call
    ) -> pb.DeleteServiceControlPolicyResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:DeleteServiceControlPolicy")
        written = await self._store.delete_service_control_policy(
            actor=target.caller.arn, policy_id=request.policy_id
        )
        return pb.DeleteServiceControlPolicyResponse(revision=written.revision)

    async def ListServiceControlPolicies(
        self, request: pb.ListServiceControlPoliciesRequest, call: Call
    ) -> pb.ListServiceControlPoliciesResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:ListServiceControlPolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_service_control_policies(marker=marker, max_items=max_items)
        return pb.ListServiceControlPoliciesResponse(
            policies=[convert.service_control_policy(p) for p in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def AttachServiceControlPolicy(
        self, request: pb.AttachServiceControlPolicyRequest, call: Call
    ) -> pb.AttachServiceControlPolicyResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:AttachServiceControlPolicy")
        written = await self._store.attach_service_control_policy(
            actor=target.caller.arn, policy_id=request.policy_id, target_id=request.target_id
        )
        return pb.AttachServiceControlPolicyResponse(revision=written.revision)

    async def DetachServiceControlPolicy(
        self, request: pb.DetachServiceControlPolicyRequest, call: Call
    ) -> pb.DetachServiceControlPolicyResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:DetachServiceControlPolicy")
        written = await self._store.detach_service_control_policy(
            actor=target.caller.arn, policy_id=request.policy_id, target_id=request.target_id
        )
        return pb.DetachServiceControlPolicyResponse(revision=written.revision)

    async def ListServiceControlPoliciesForTarget(
        self, request: pb.ListServiceControlPoliciesForTargetRequest, call: Call
    ) -> pb.ListServiceControlPoliciesForTargetResponse:
        target = await self._org_target(call)
        await self._check(target, "organizations:ListServiceControlPoliciesForTarget")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_service_control_policies_for_target(
            target_id=request.target_id, marker=marker, max_items=max_items
        )
        return pb.ListServiceControlPoliciesForTargetResponse(
            policies=[convert.service_control_policy(p) for p in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )
