"""Manage calls on managed policies, attachments, inline policies and boundaries."""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from iamd_server import validation
from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase, Target, marker_out, paging
from iamd_server.store.records import AttachedPolicy, Page, PolicyRecord


def _policy_arn_context(policy_arn: str) -> tuple[tuple[str, str], ...]:
    return (("iam:PolicyARN", policy_arn),)


def _boundary_context(boundary: str) -> tuple[tuple[str, str], ...]:
    return (("iam:PermissionsBoundary", boundary),)


def _attached(page: Page[AttachedPolicy]) -> list[types_pb2.AttachedPolicy]:
    return [convert.attached_policy(p) for p in page.items]


class PoliciesMixin(ManagementBase):
    # ---- managed policies ----

    async def CreatePolicy(
        self, request: pb.CreatePolicyRequest, call: Call
    ) -> pb.CreatePolicyResponse:
        caller = call.require_caller()
        account = targets.account_for(request.account_id, caller)
        name = validation.policy_name(request.policy_name)
        path = targets.path_or_root(request.path)
        tags = convert.tags_in(request.tags)
        target = Target(caller, account, targets.policy_arn(account, path, name))
        await self._check(target, "iam:CreatePolicy", request_tags=tags)
        written = await self._store.create_policy(
            actor=caller.arn,
            account_id=account,
            policy_name=name,
            policy_document=request.policy_document,
            path=path,
            description=request.description,
            tags=tags,
        )
        return pb.CreatePolicyResponse(
            policy=convert.policy(written.value), revision=written.revision
        )

    async def GetPolicy(self, request: pb.GetPolicyRequest, call: Call) -> pb.GetPolicyResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:GetPolicy")
        record = await self._store.get_policy(policy_arn=target.arn)
        return pb.GetPolicyResponse(policy=convert.policy(record))

    async def ListPolicies(
        self, request: pb.ListPoliciesRequest, call: Call
    ) -> pb.ListPoliciesResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:ListPolicies")
        marker, max_items = paging(request.marker, request.max_items)
        if request.scope == pb.POLICY_SCOPE_AWS:
            # No provider-owned policies are stored: the AWS scope is empty.
            validation.path_prefix(request.path_prefix or "/")
            page: Page[PolicyRecord] = Page([], None, False)
        else:
            page = await self._store.list_policies(
                account_id=target.account,
                path_prefix=request.path_prefix or "/",
                only_attached=request.only_attached,
                marker=marker,
                max_items=max_items,
            )
        return pb.ListPoliciesResponse(
            policies=[convert.policy(p, with_tags=False) for p in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def DeletePolicy(
        self, request: pb.DeletePolicyRequest, call: Call
    ) -> pb.DeletePolicyResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:DeletePolicy")
        written = await self._store.delete_policy(actor=target.caller.arn, policy_arn=target.arn)
        return pb.DeletePolicyResponse(revision=written.revision)

    async def CreatePolicyVersion(
        self, request: pb.CreatePolicyVersionRequest, call: Call
    ) -> pb.CreatePolicyVersionResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:CreatePolicyVersion")
        written = await self._store.create_policy_version(
            actor=target.caller.arn,
            policy_arn=target.arn,
            policy_document=request.policy_document,
            set_as_default=request.set_as_default,
        )
        return pb.CreatePolicyVersionResponse(
            policy_version=convert.policy_version(written.value, with_document=False),
            revision=written.revision,
        )

    async def GetPolicyVersion(
        self, request: pb.GetPolicyVersionRequest, call: Call
    ) -> pb.GetPolicyVersionResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:GetPolicyVersion")
        record = await self._store.get_policy_version(
            policy_arn=target.arn, version_id=request.version_id
        )
        return pb.GetPolicyVersionResponse(
            policy_version=convert.policy_version(record, with_document=True)
        )

    async def ListPolicyVersions(
        self, request: pb.ListPolicyVersionsRequest, call: Call
    ) -> pb.ListPolicyVersionsResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:ListPolicyVersions")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_policy_versions(
            policy_arn=target.arn, marker=marker, max_items=max_items
        )
        return pb.ListPolicyVersionsResponse(
            versions=[convert.policy_version(v, with_document=False) for v in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def DeletePolicyVersion(
        self, request: pb.DeletePolicyVersionRequest, call: Call
    ) -> pb.DeletePolicyVersionResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:DeletePolicyVersion")
        written = await self._store.delete_policy_version(
            actor=target.caller.arn, policy_arn=target.arn, version_id=request.version_id
        )
        return pb.DeletePolicyVersionResponse(revision=written.revision)

    async def SetDefaultPolicyVersion(
        self, request: pb.SetDefaultPolicyVersionRequest, call: Call
    ) -> pb.SetDefaultPolicyVersionResponse:
        target = self._policy(call, request.policy_arn)
        await self._check(target, "iam:SetDefaultPolicyVersion")
        written = await self._store.set_default_policy_version(
            actor=target.caller.arn, policy_arn=target.arn, version_id=request.version_id
        )
        return pb.SetDefaultPolicyVersionResponse(revision=written.revision)

    # ---- attachments (authorized on the user/group/role, with iam:PolicyARN) ----

    async def AttachUserPolicy(
        self, request: pb.AttachUserPolicyRequest, call: Call
    ) -> pb.AttachUserPolicyResponse:
        target = await self._user(call, request.account_id, request.user_name)
        policy, _ = targets.policy_target(request.policy_arn)
        await self._check(target, "iam:AttachUserPolicy", extra=_policy_arn_context(policy))
        written = await self._store.attach_user_policy(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            policy_arn=policy,
        )
        return pb.AttachUserPolicyResponse(revision=written.revision)

    async def DetachUserPolicy(
        self, request: pb.DetachUserPolicyRequest, call: Call
    ) -> pb.DetachUserPolicyResponse:
        target = await self._user(call, request.account_id, request.user_name)
        policy, _ = targets.policy_target(request.policy_arn)
        await self._check(target, "iam:DetachUserPolicy", extra=_policy_arn_context(policy))
        written = await self._store.detach_user_policy(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            policy_arn=policy,
        )
        return pb.DetachUserPolicyResponse(revision=written.revision)

    async def ListAttachedUserPolicies(
        self, request: pb.ListAttachedUserPoliciesRequest, call: Call
    ) -> pb.ListAttachedUserPoliciesResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:ListAttachedUserPolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_attached_user_policies(
            account_id=target.account,
            user_name=request.user_name,
            path_prefix=request.path_prefix or "/",
            marker=marker,
            max_items=max_items,
        )
        return pb.ListAttachedUserPoliciesResponse(
            attached_policies=_attached(page),
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def AttachGroupPolicy(
        self, request: pb.AttachGroupPolicyRequest, call: Call
    ) -> pb.AttachGroupPolicyResponse:
        target = await self._group(call, request.account_id, request.group_name)
        policy, _ = targets.policy_target(request.policy_arn)
        await self._check(target, "iam:AttachGroupPolicy", extra=_policy_arn_context(policy))
        written = await self._store.attach_group_policy(
            actor=target.caller.arn,
            account_id=target.account,
            group_name=request.group_name,
            policy_arn=policy,
        )
        return pb.AttachGroupPolicyResponse(revision=written.revision)

    async def DetachGroupPolicy(
        self, request: pb.DetachGroupPolicyRequest, call: Call
    ) -> pb.DetachGroupPolicyResponse:
        target = await self._group(call, request.account_id, request.group_name)
        policy, _ = targets.policy_target(request.policy_arn)
        await self._check(target, "iam:DetachGroupPolicy", extra=_policy_arn_context(policy))
        written = await self._store.detach_group_policy(
            actor=target.caller.arn,
            account_id=target.account,
            group_name=request.group_name,
            policy_arn=policy,
        )
        return pb.DetachGroupPolicyResponse(revision=written.revision)

    async def ListAttachedGroupPolicies(
        self, request: pb.ListAttachedGroupPoliciesRequest, call: Call
    ) -> pb.ListAttachedGroupPoliciesResponse:
        target = await self._group(call, request.account_id, request.group_name)
        await self._check(target, "iam:ListAttachedGroupPolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_attached_group_policies(
            account_id=target.account,
            group_name=request.group_name,
            path_prefix=request.path_prefix or "/",
            marker=marker,
            max_items=max_items,
        )
        return pb.ListAttachedGroupPoliciesResponse(
            attached_policies=_attached(page),
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def AttachRolePolicy(
        self, request: pb.AttachRolePolicyRequest, call: Call
    ) -> pb.AttachRolePolicyResponse:
        target = await self._role(call, request.account_id, request.role_name)
        policy, _ = targets.policy_target(request.policy_arn)
        await self._check(target, "iam:AttachRolePolicy", extra=_policy_arn_context(policy))
        written = await self._store.attach_role_policy(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            policy_arn=policy,
        )
        return pb.AttachRolePolicyResponse(revision=written.revision)

    async def DetachRolePolicy(
        self, request: pb.DetachRolePolicyRequest, call: Call
    ) -> pb.DetachRolePolicyResponse:
        target = await self._role(call, request.account_id, request.role_name)
        policy, _ = targets.policy_target(request.policy_arn)
        await self._check(target, "iam:DetachRolePolicy", extra=_policy_arn_context(policy))
        written = await self._store.detach_role_policy(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            policy_arn=policy,
        )
        return pb.DetachRolePolicyResponse(revision=written.revision)

    async def ListAttachedRolePolicies(
        self, request: pb.ListAttachedRolePoliciesRequest, call: Call
    ) -> pb.ListAttachedRolePoliciesResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:ListAttachedRolePolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_attached_role_policies(
            account_id=target.account,
            role_name=request.role_name,
            path_prefix=request.path_prefix or "/",
            marker=marker,
            max_items=max_items,
        )
        return pb.ListAttachedRolePoliciesResponse(
            attached_policies=_attached(page),
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    # ---- inline policies ----

    async def PutUserPolicy(
        self, request: pb.PutUserPolicyRequest, call: Call
    ) -> pb.PutUserPolicyResponse:
        target = await self._user(call, request.account_id, request.user_name)
        validation.inline_policy_name(request.policy_name)
        await self._check(target, "iam:PutUserPolicy")
        written = await self._store.put_user_policy(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            policy_name=request.policy_name,
            policy_document=request.policy_document,
        )
        return pb.PutUserPolicyResponse(revision=written.revision)

    async def GetUserPolicy(
        self, request: pb.GetUserPolicyRequest, call: Call
    ) -> pb.GetUserPolicyResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:GetUserPolicy")
        record = await self._store.get_user_policy(
            account_id=target.account, user_name=request.user_name, policy_name=request.policy_name
        )
        return pb.GetUserPolicyResponse(
            user_name=record.owner_name,
            policy_name=record.policy_name,
            policy_document=record.document,
        )

    async def DeleteUserPolicy(
        self, request: pb.DeleteUserPolicyRequest, call: Call
    ) -> pb.DeleteUserPolicyResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:DeleteUserPolicy")
        written = await self._store.delete_user_policy(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            policy_name=request.policy_name,
        )
        return pb.DeleteUserPolicyResponse(revision=written.revision)

    async def ListUserPolicies(
        self, request: pb.ListUserPoliciesRequest, call: Call
    ) -> pb.ListUserPoliciesResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:ListUserPolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_user_policies(
            account_id=target.account,
            user_name=request.user_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListUserPoliciesResponse(
            policy_names=page.items, is_truncated=page.is_truncated, marker=marker_out(page.marker)
        )

    async def PutGroupPolicy(
        self, request: pb.PutGroupPolicyRequest, call: Call
    ) -> pb.PutGroupPolicyResponse:
        target = await self._group(call, request.account_id, request.group_name)
        validation.inline_policy_name(request.policy_name)
        await self._check(target, "iam:PutGroupPolicy")
        written = await self._store.put_group_policy(
            actor=target.caller.arn,
            account_id=target.account,
            group_name=request.group_name,
            policy_name=request.policy_name,
            policy_document=request.policy_document,
        )
        return pb.PutGroupPolicyResponse(revision=written.revision)

    async def GetGroupPolicy(
        self, request: pb.GetGroupPolicyRequest, call: Call
    ) -> pb.GetGroupPolicyResponse:
        target = await self._group(call, request.account_id, request.group_name)
        await self._check(target, "iam:GetGroupPolicy")
        record = await self._store.get_group_policy(
            account_id=target.account,
            group_name=request.group_name,
            policy_name=request.policy_name,
        )
        return pb.GetGroupPolicyResponse(
            group_name=record.owner_name,
            policy_name=record.policy_name,
            policy_document=record.document,
        )

    async def DeleteGroupPolicy(
        self, request: pb.DeleteGroupPolicyRequest, call: Call
    ) -> pb.DeleteGroupPolicyResponse:
        target = await self._group(call, request.account_id, request.group_name)
        await self._check(target, "iam:DeleteGroupPolicy")
        written = await self._store.delete_group_policy(
            actor=target.caller.arn,
            account_id=target.account,
            group_name=request.group_name,
            policy_name=request.policy_name,
        )
        return pb.DeleteGroupPolicyResponse(revision=written.revision)

    async def ListGroupPolicies(
        self, request: pb.ListGroupPoliciesRequest, call: Call
    ) -> pb.ListGroupPoliciesResponse:
        target = await self._group(call, request.account_id, request.group_name)
        await self._check(target, "iam:ListGroupPolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_group_policies(
            account_id=target.account,
            group_name=request.group_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListGroupPoliciesResponse(
            policy_names=page.items, is_truncated=page.is_truncated, marker=marker_out(page.marker)
        )

    async def PutRolePolicy(
        self, request: pb.PutRolePolicyRequest, call: Call
    ) -> pb.PutRolePolicyResponse:
        target = await self._role(call, request.account_id, request.role_name)
        validation.inline_policy_name(request.policy_name)
        await self._check(target, "iam:PutRolePolicy")
        written = await self._store.put_role_policy(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            policy_name=request.policy_name,
            policy_document=request.policy_document,
        )
        return pb.PutRolePolicyResponse(revision=written.revision)

    async def GetRolePolicy(
        self, request: pb.GetRolePolicyRequest, call: Call
    ) -> pb.GetRolePolicyResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:GetRolePolicy")
        record = await self._store.get_role_policy(
            account_id=target.account, role_name=request.role_name, policy_name=request.policy_name
        )
        return pb.GetRolePolicyResponse(
            role_name=record.owner_name,
            policy_name=record.policy_name,
            policy_document=record.document,
        )

    async def DeleteRolePolicy(
        self, request: pb.DeleteRolePolicyRequest, call: Call
    ) -> pb.DeleteRolePolicyResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:DeleteRolePolicy")
        written = await self._store.delete_role_policy(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            policy_name=request.policy_name,
        )
        return pb.DeleteRolePolicyResponse(revision=written.revision)

    async def ListRolePolicies(
        self, request: pb.ListRolePoliciesRequest, call: Call
    ) -> pb.ListRolePoliciesResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:ListRolePolicies")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_role_policies(
            account_id=target.account,
            role_name=request.role_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListRolePoliciesResponse(
            policy_names=page.items, is_truncated=page.is_truncated, marker=marker_out(page.marker)
        )

    # ---- permissions boundaries ----

    async def PutUserPermissionsBoundary(
        self, request: pb.PutUserPermissionsBoundaryRequest, call: Call
    ) -> pb.PutUserPermissionsBoundaryResponse:
        target = await self._user(call, request.account_id, request.user_name)
        boundary, _ = targets.policy_target(request.permissions_boundary, "permissions_boundary")
        await self._check(
            target, "iam:PutUserPermissionsBoundary", extra=_boundary_context(boundary)
        )
        written = await self._store.put_user_permissions_boundary(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            permissions_boundary=boundary,
        )
        return pb.PutUserPermissionsBoundaryResponse(revision=written.revision)

    async def DeleteUserPermissionsBoundary(
        self, request: pb.DeleteUserPermissionsBoundaryRequest, call: Call
    ) -> pb.DeleteUserPermissionsBoundaryResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:DeleteUserPermissionsBoundary")
        written = await self._store.delete_user_permissions_boundary(
            actor=target.caller.arn, account_id=target.account, user_name=request.user_name
        )
        return pb.DeleteUserPermissionsBoundaryResponse(revision=written.revision)

    async def PutRolePermissionsBoundary(
        self, request: pb.PutRolePermissionsBoundaryRequest, call: Call
    ) -> pb.PutRolePermissionsBoundaryResponse:
        target = await self._role(call, request.account_id, request.role_name)
        boundary, _ = targets.policy_target(request.permissions_boundary, "permissions_boundary")
        await self._check(
            target, "iam:PutRolePermissionsBoundary", extra=_boundary_context(boundary)
        )
        written = await self._store.put_role_permissions_boundary(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            permissions_boundary=boundary,
        )
        return pb.PutRolePermissionsBoundaryResponse(revision=written.revision)

    async def DeleteRolePermissionsBoundary(
        self, request: pb.DeleteRolePermissionsBoundaryRequest, call: Call
    ) -> pb.DeleteRolePermissionsBoundaryResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:DeleteRolePermissionsBoundary")
        written = await self._store.delete_role_permissions_boundary(
            actor=target.caller.arn, account_id=target.account, role_name=request.role_name
        )
        return pb.DeleteRolePermissionsBoundaryResponse(revision=written.revision)
