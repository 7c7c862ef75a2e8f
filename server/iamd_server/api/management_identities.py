"""Manage calls on users, groups and roles."""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from iamd_server import validation
from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase, Target, marker_out, paging
from iamd_server.authn.authenticator import Caller


def _boundary_context(boundary: str) -> tuple[tuple[str, str], ...]:
    return (("iam:PermissionsBoundary", boundary),) if boundary else ()


class IdentitiesMixin(ManagementBase):
    # ---- users ----

    async def CreateUser(self, request: pb.CreateUserRequest, call: Call) -> pb.CreateUserResponse:
        caller = call.require_caller()
        account = targets.account_for(request.account_id, caller)
        name = validation.user_name(request.user_name)
        path = targets.path_or_root(request.path)
        tags = convert.tags_in(request.tags)
        target = Target(caller, account, targets.user_arn(account, path, name))
        await self._check(
            target,
            "iam:CreateUser",
            request_tags=tags,
            extra=_boundary_context(request.permissions_boundary),
        )
        written = await self._store.create_user(
            actor=caller.arn,
            account_id=account,
            user_name=name,
            path=path,
            tags=tags,
            permissions_boundary=request.permissions_boundary or None,
        )
        return pb.CreateUserResponse(user=convert.user(written.value), revision=written.revision)

    async def GetUser(self, request: pb.GetUserRequest, call: Call) -> pb.GetUserResponse:
        caller = call.require_caller()
        account = targets.account_for(request.account_id, caller)
        if not request.user_name and caller.is_root and account == caller.account_id:
            return await self._get_root_user(caller)
        name = request.user_name or self._own_user_name(caller, account)
        target = await self._user(call, account, name)
        await self._check(target, "iam:GetUser")
        record = await self._store.get_user(account_id=target.account, user_name=name)
        return pb.GetUserResponse(user=convert.user(record))

    async def _get_root_user(self, caller: Caller) -> pb.GetUserResponse:
        """GetUser without a name by an account root: the root itself, shaped as AWS returns
        it (no UserName or Path; UserId is the account id; created with the account)."""
        # The root ARN is no user resource: checked like an account-wide call (SCPs apply).
        await self._check(Target(caller, caller.account_id, targets.ANY), "iam:GetUser")
        account = await self._store.describe_account(account_id=caller.account_id)
        return pb.GetUserResponse(
            user=types_pb2.User(
                user_id=caller.account_id,
                arn=caller.arn,
                create_date=convert.timestamp(account.create_date),
                account_id=caller.account_id,
            )
        )

    async def ListUsers(self, request: pb.ListUsersRequest, call: Call) -> pb.ListUsersResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:ListUsers")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_users(
            account_id=target.account,
            path_prefix=request.path_prefix or "/",
            marker=marker,
            max_items=max_items,
        )
        return pb.ListUsersResponse(
            users=[convert.user(u, with_tags=False) for u in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def UpdateUser(self, request: pb.UpdateUserRequest, call: Call) -> pb.UpdateUserResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:UpdateUser")
        new_name = request.new_user_name if request.HasField("new_user_name") else None
        new_path = request.new_path if request.HasField("new_path") else None
        if new_name is not None or new_path is not None:
            # Renaming or moving needs the permission on the new ARN too (as in AWS).
            name = validation.user_name(new_name, "new_user_name") if new_name else None
            path = validation.path(new_path, "new_path") if new_path is not None else None
            old = await self._store.get_user(account_id=target.account, user_name=request.user_name)
            destination = Target(
                target.caller,
                target.account,
                targets.user_arn(target.account, path or old.path, name or old.user_name),
            )
            await self._check(destination, "iam:UpdateUser")
        written = await self._store.update_user(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            new_user_name=new_name,
            new_path=new_path,
        )
        return pb.UpdateUserResponse(user=convert.user(written.value), revision=written.revision)

    async def DeleteUser(self, request: pb.DeleteUserRequest, call: Call) -> pb.DeleteUserResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:DeleteUser")
        written = await self._store.delete_user(
            actor=target.caller.arn, account_id=target.account, user_name=request.user_name
        )
        return pb.DeleteUserResponse(revision=written.revision)

    async def TagUser(self, request: pb.TagUserRequest, call: Call) -> pb.TagUserResponse:
        target = await self._user(call, request.account_id, request.user_name)
        tags = convert.tags_in(request.tags)
        await self._check(target, "iam:TagUser", request_tags=tags)
        written = await self._store.tag_user(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            tags=tags,
        )
        return pb.TagUserResponse(revision=written.revision)

    async def UntagUser(self, request: pb.UntagUserRequest, call: Call) -> pb.UntagUserResponse:
        target = await self._user(call, request.account_id, request.user_name)
        keys = list(request.tag_keys)
        await self._check(target, "iam:UntagUser", tag_keys=keys)
        written = await self._store.untag_user(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=request.user_name,
            tag_keys=keys,
        )
        return pb.UntagUserResponse(revision=written.revision)

    async def ListUserTags(
        self, request: pb.ListUserTagsRequest, call: Call
    ) -> pb.ListUserTagsResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:ListUserTags")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_user_tags(
            account_id=target.account,
            user_name=request.user_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListUserTagsResponse(
            tags=convert.tags_out(page.items),
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    # ---- groups ----

    async def CreateGroup(
        self, request: pb.CreateGroupRequest, call: Call
    ) -> pb.CreateGroupResponse:
        caller = call.require_caller()
        account = targets.account_for(request.account_id, caller)
        name = validation.group_name(request.group_name)
        path = targets.path_or_root(request.path)
        await self._check(
            Target(caller, account, targets.group_arn(account, path, name)), "iam:CreateGroup"
        )
        written = await self._store.create_group(
            actor=caller.arn, account_id=account, group_name=name, path=path
        )
        return pb.CreateGroupResponse(group=convert.group(written.value), revision=written.revision)

    async def GetGroup(self, request: pb.GetGroupRequest, call: Call) -> pb.GetGroupResponse:
        target = await self._group(call, request.account_id, request.group_name)
        await self._check(target, "iam:GetGroup")
        marker, max_items = paging(request.marker, request.max_items)
        group, members = await self._store.get_group(
            account_id=target.account,
            group_name=request.group_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.GetGroupResponse(
            group=convert.group(group),
            users=[convert.user(u, with_tags=False) for u in members.items],
            is_truncated=members.is_truncated,
            marker=marker_out(members.marker),
        )

    async def ListGroups(self, request: pb.ListGroupsRequest, call: Call) -> pb.ListGroupsResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:ListGroups")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_groups(
            account_id=target.account,
            path_prefix=request.path_prefix or "/",
            marker=marker,
            max_items=max_items,
        )
        return pb.ListGroupsResponse(
            groups=[convert.group(g) for g in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def DeleteGroup(
        self, request: pb.DeleteGroupRequest, call: Call
    ) -> pb.DeleteGroupResponse:
        target = await self._group(call, request.account_id, request.group_name)
        await self._check(target, "iam:DeleteGroup")
        written = await self._store.delete_group(
            actor=target.caller.arn, account_id=target.account, group_name=request.group_name
        )
        return pb.DeleteGroupResponse(revision=written.revision)

    async def AddUserToGroup(
        self, request: pb.AddUserToGroupRequest, call: Call
    ) -> pb.AddUserToGroupResponse:
        target = await self._group(call, request.account_id, request.group_name)
        validation.user_name(request.user_name)
        await self._check(target, "iam:AddUserToGroup")
        written = await self._store.add_user_to_group(
            actor=target.caller.arn,
            account_id=target.account,
            group_name=request.group_name,
            user_name=request.user_name,
        )
        return pb.AddUserToGroupResponse(revision=written.revision)

    async def RemoveUserFromGroup(
        self, request: pb.RemoveUserFromGroupRequest, call: Call
    ) -> pb.RemoveUserFromGroupResponse:
        target = await self._group(call, request.account_id, request.group_name)
        validation.user_name(request.user_name)
        await self._check(target, "iam:RemoveUserFromGroup")
        written = await self._store.remove_user_from_group(
            actor=target.caller.arn,
            account_id=target.account,
            group_name=request.group_name,
            user_name=request.user_name,
        )
        return pb.RemoveUserFromGroupResponse(revision=written.revision)

    async def ListGroupsForUser(
        self, request: pb.ListGroupsForUserRequest, call: Call
    ) -> pb.ListGroupsForUserResponse:
        target = await self._user(call, request.account_id, request.user_name)
        await self._check(target, "iam:ListGroupsForUser")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_groups_for_user(
            account_id=target.account,
            user_name=request.user_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListGroupsForUserResponse(
            groups=[convert.group(g) for g in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    # ---- roles ----

    async def CreateRole(self, request: pb.CreateRoleRequest, call: Call) -> pb.CreateRoleResponse:
        caller = call.require_caller()
        account = targets.account_for(request.account_id, caller)
        name = validation.role_name(request.role_name)
        path = targets.path_or_root(request.path)
        tags = convert.tags_in(request.tags)
        target = Target(caller, account, targets.role_arn(account, path, name))
        await self._check(
            target,
            "iam:CreateRole",
            request_tags=tags,
            extra=_boundary_context(request.permissions_boundary),
        )
        duration = (
            request.max_session_duration if request.HasField("max_session_duration") else 3600
        )
        written = await self._store.create_role(
            actor=caller.arn,
            account_id=account,
            role_name=name,
            assume_role_policy_document=request.assume_role_policy_document,
            path=path,
            description=request.description,
            max_session_duration=duration,
            tags=tags,
            permissions_boundary=request.permissions_boundary or None,
        )
        return pb.CreateRoleResponse(role=convert.role(written.value), revision=written.revision)

    async def GetRole(self, request: pb.GetRoleRequest, call: Call) -> pb.GetRoleResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:GetRole")
        record = await self._store.get_role(account_id=target.account, role_name=request.role_name)
        return pb.GetRoleResponse(role=convert.role(record))

    async def ListRoles(self, request: pb.ListRolesRequest, call: Call) -> pb.ListRolesResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:ListRoles")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_roles(
            account_id=target.account,
            path_prefix=request.path_prefix or "/",
            marker=marker,
            max_items=max_items,
        )
        return pb.ListRolesResponse(
            roles=[convert.role(r, with_tags=False) for r in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )

    async def UpdateRole(self, request: pb.UpdateRoleRequest, call: Call) -> pb.UpdateRoleResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:UpdateRole")
        written = await self._store.update_role(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            description=request.description if request.HasField("description") else None,
            max_session_duration=(
                request.max_session_duration if request.HasField("max_session_duration") else None
            ),
        )
        return pb.UpdateRoleResponse(role=convert.role(written.value), revision=written.revision)

    async def UpdateAssumeRolePolicy(
        self, request: pb.UpdateAssumeRolePolicyRequest, call: Call
    ) -> pb.UpdateAssumeRolePolicyResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:UpdateAssumeRolePolicy")
        written = await self._store.update_assume_role_policy(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            policy_document=request.policy_document,
        )
        return pb.UpdateAssumeRolePolicyResponse(revision=written.revision)

    async def DeleteRole(self, request: pb.DeleteRoleRequest, call: Call) -> pb.DeleteRoleResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:DeleteRole")
        written = await self._store.delete_role(
            actor=target.caller.arn, account_id=target.account, role_name=request.role_name
        )
        return pb.DeleteRoleResponse(revision=written.revision)

    async def TagRole(self, request: pb.TagRoleRequest, call: Call) -> pb.TagRoleResponse:
        target = await self._role(call, request.account_id, request.role_name)
        tags = convert.tags_in(request.tags)
        await self._check(target, "iam:TagRole", request_tags=tags)
        written = await self._store.tag_role(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            tags=tags,
        )
        return pb.TagRoleResponse(revision=written.revision)

    async def UntagRole(self, request: pb.UntagRoleRequest, call: Call) -> pb.UntagRoleResponse:
        target = await self._role(call, request.account_id, request.role_name)
        keys = list(request.tag_keys)
        await self._check(target, "iam:UntagRole", tag_keys=keys)
        written = await self._store.untag_role(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=request.role_name,
            tag_keys=keys,
        )
        return pb.UntagRoleResponse(revision=written.revision)

    async def ListRoleTags(
        self, request: pb.ListRoleTagsRequest, call: Call
    ) -> pb.ListRoleTagsResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:ListRoleTags")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_role_tags(
            account_id=target.account,
            role_name=request.role_name,
            marker=marker,
            max_items=max_items,
        )
        return pb.ListRoleTagsResponse(
            tags=convert.tags_out(page.items),
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )
