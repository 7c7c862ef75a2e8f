"""Manage calls on access keys.

A key belongs to a user or to an account's root user. An empty ``user_name`` means the
calling user, or the account's root when the caller is a root user.

- User keys: ``iam:<Rpc>`` on the user's ARN (so a policy can allow
  ``arn:aws:iam::ACCT:user/${aws:username}`` for self-service).
- Root keys: only the root user of that account, then ``iam:<Rpc>`` on ``*`` in its account
  (so SCPs still apply to member roots). IAM policies never reach root credentials.
- One exception, so an organization can hand out member accounts at all: the root of the
  organization's management account may create the FIRST root access key of a member
  account (the counterpart of AWS Organizations' OrganizationAccountAccessRole). Once the
  member's root has a key, only that root manages its keys.
"""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

from iamd.v1 import management_pb2 as pb

from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase, Target, marker_out, paging
from iamd_server.authn.crypto import new_secret_access_key
from iamd_server.errors import InvalidArgument, PermissionDenied
from iamd_server.store.ids import new_access_key_id


class CredentialsMixin(ManagementBase):
    async def _key_owner(
        self, call: Call, account_id: str, user_name: str
    ) -> tuple[Target, str | None]:
        """(authorization target, owning user name or None for the root user)."""
        caller = call.require_caller()
        account = targets.account_for(account_id, caller)
        if user_name:
            return await self._user(call, account, user_name), user_name
        if caller.is_root:
            return Target(caller, account, targets.ANY), None
        own = self._own_user_name(caller, account)
        return await self._user(call, account, own), own

    async def _check_key_call(
        self, target: Target, owner: str | None, action: str, *, creating: bool = False
    ) -> None:
        if owner is not None:
            await self._check(target, action)
            return
        caller = target.caller
        if caller.account_id == target.account:
            # Only the root itself (owner None with a non-root caller cannot happen).
            await self._check(target, action)
            return
        if creating and await self._may_seed_member_root(target):
            return
        raise PermissionDenied(
            f"{caller.arn} is not authorized to perform {action} on the root user of"
            f" account {target.account}"
        )

    async def _may_seed_member_root(self, target: Target) -> bool:
        """Management-account root creating a member root's first key (see module doc)."""
        caller = target.caller
        if not caller.is_root or caller.account_id != await self._management_account():
            return False
        await self._store.describe_account(account_id=target.account)  # NOT_FOUND if unknown
        existing = await self._store.list_access_keys(
            account_id=target.account, user_name=None, max_items=1
        )
        return not existing.items

    async def CreateAccessKey(
        self, request: pb.CreateAccessKeyRequest, call: Call
    ) -> pb.CreateAccessKeyResponse:
        target, owner = await self._key_owner(call, request.account_id, request.user_name)
        await self._check_key_call(target, owner, "iam:CreateAccessKey", creating=True)
        key_id = new_access_key_id()
        secret = new_secret_access_key()
        written = await self._store.create_access_key(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=owner,
            access_key_id=key_id,
            # Only ciphertext is stored; bound to the key id so it cannot be moved.
            encrypted_secret=self._master_key.encrypt(secret, bound_to=key_id),
        )
        return pb.CreateAccessKeyResponse(
            access_key=convert.access_key(written.value, secret), revision=written.revision
        )

    async def UpdateAccessKey(
        self, request: pb.UpdateAccessKeyRequest, call: Call
    ) -> pb.UpdateAccessKeyResponse:
        target, owner = await self._key_owner(call, request.account_id, request.user_name)
        status = convert.key_status_in(request.status)
        if not request.access_key_id:
            raise InvalidArgument("access_key_id", "the access key id is required")
        await self._check_key_call(target, owner, "iam:UpdateAccessKey")
        written = await self._store.update_access_key(
            actor=target.caller.arn,
            account_id=target.account,
            access_key_id=request.access_key_id,
            status=status,
            user_name=owner,
        )
        return pb.UpdateAccessKeyResponse(revision=written.revision)

    async def DeleteAccessKey(
        self, request: pb.DeleteAccessKeyRequest, call: Call
    ) -> pb.DeleteAccessKeyResponse:
        target, owner = await self._key_owner(call, request.account_id, request.user_name)
        if not request.access_key_id:
            raise InvalidArgument("access_key_id", "the access key id is required")
        await self._check_key_call(target, owner, "iam:DeleteAccessKey")
        written = await self._store.delete_access_key(
            actor=target.caller.arn,
            account_id=target.account,
            access_key_id=request.access_key_id,
            user_name=owner,
        )
        return pb.DeleteAccessKeyResponse(revision=written.revision)

    async def ListAccessKeys(
        self, request: pb.ListAccessKeysRequest, call: Call
    ) -> pb.ListAccessKeysResponse:
        target, owner = await self._key_owner(call, request.account_id, request.user_name)
        await self._check_key_call(target, owner, "iam:ListAccessKeys")
        marker, max_items = paging(request.marker, request.max_items)
        page = await self._store.list_access_keys(
            account_id=target.account, user_name=owner, marker=marker, max_items=max_items
        )
        return pb.ListAccessKeysResponse(
            access_key_metadata=[convert.access_key_metadata(k) for k in page.items],
            is_truncated=page.is_truncated,
            marker=marker_out(page.marker),
        )
