"""State and helpers shared by the Manage servicer's parts.

Every Manage call: resolve the account (request or caller), compute the target ARN (see
`targets`), authorize with the decider BEFORE any write, call the store, convert the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iamd_policy import Context

from iamd_server import validation
from iamd_server.api import targets
from iamd_server.api.dispatch import Call
from iamd_server.authn.authenticator import Caller
from iamd_server.authn.crypto import MasterKey
from iamd_server.authz.decisions import Decider
from iamd_server.errors import FailedPrecondition, InvalidArgument, NotFound
from iamd_server.store import Store
from iamd_server.store.records import Tag

DEFAULT_MAX_ITEMS = 100


@dataclass(frozen=True, slots=True)
class Target:
    """What one call is authorized against."""

    caller: Caller
    account: str  # the resource account
    arn: str  # the resource ARN, or "*"
    tags: tuple[Tag, ...] = ()  # the target entity's tags (for aws:ResourceTag/...)


def paging(marker: str, max_items: int) -> tuple[str | None, int]:
    """Request paging fields -> store arguments (empty marker = first page; 0 = default)."""
    return marker or None, max_items or DEFAULT_MAX_ITEMS


def marker_out(marker: str | None) -> str:
    return marker or ""


class ManagementBase:
    """Holds the store, the decider and the master key; authorizes targets."""

    def __init__(self, store: Store, decider: Decider, master_key: MasterKey) -> None:
        self._store = store
        self._decider = decider
        self._master_key = master_key
        self._management_account_id: str | None = None

    # ---- authorization ----

    async def _check(
        self,
        target: Target,
        action: str,
        *,
        request_tags: Sequence[Tag] = (),
        tag_keys: Sequence[str] | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        """PermissionDenied unless the caller may do ``action`` on the target."""
        context = targets.tag_context(
            request_tags, tag_keys=tag_keys, resource_tags=target.tags, extra=extra
        )
        await self._require(target.caller, action, target.arn, target.account, context)

    async def _require(
        self,
        caller: Caller,
        action: str,
        resource: str,
        account: str,
        context: Context | None = None,
    ) -> None:
        await self._decider.require(
            caller, action, resource, resource_account=account, context=context
        )

    async def _management_account(self) -> str:
        # The management account never changes once the organization exists.
        if self._management_account_id is None:
            organization = await self._store.get_organization()
            if organization is None:
                raise FailedPrecondition("the organization has not been bootstrapped")
            self._management_account_id = organization.management_account_id
        return self._management_account_id

    # ---- targets ----

    def _account_target(self, call: Call, account_id: str) -> Target:
        """An account-wide call (lists): resource ``*`` in that account."""
        caller = call.require_caller()
        return Target(caller, targets.account_for(account_id, caller), targets.ANY)

    async def _user(self, call: Call, account_id: str, user_name: str) -> Target:
        caller = call.require_caller()
        account = targets.account_for(account_id, caller)
        name = validation.user_name(user_name)
        try:
            record = await self._store.get_user(account_id=account, user_name=name)
        except NotFound:
            return Target(caller, account, targets.user_arn(account, "/", name))
        return Target(caller, account, record.arn, record.tags)

    async def _group(self, call: Call, account_id: str, group_name: str) -> Target:
        caller = call.require_caller()
        account = targets.account_for(account_id, caller)
        name = validation.group_name(group_name)
        try:
            record, _ = await self._store.get_group(
                account_id=account, group_name=name, max_items=1
            )
        except NotFound:
            return Target(caller, account, targets.group_arn(account, "/", name))
        return Target(caller, account, record.arn)

    async def _role(self, call: Call, account_id: str, role_name: str) -> Target:
        caller = call.require_caller()
        account = targets.account_for(account_id, caller)
        name = validation.role_name(role_name)
        try:
            record = await self._store.get_role(account_id=account, role_name=name)
        except NotFound:
            return Target(caller, account, targets.role_arn(account, "/", name))
        return Target(caller, account, record.arn, record.tags)

    def _policy(self, call: Call, policy_arn: str, field: str = "policy_arn") -> Target:
        caller = call.require_caller()
        arn, account = targets.policy_target(policy_arn, field)
        return Target(caller, account, arn)

    def _own_user_name(self, caller: Caller, account: str) -> str:
        """The caller's own user name, for calls whose empty user_name means "me"."""
        own = targets.caller_user_name(caller)
        if own is None:
            raise InvalidArgument(
                "user_name", "user_name is required: the caller is not an IAM user"
            )
        if account != caller.account_id:
            raise InvalidArgument(
                "user_name", "user_name is required when account_id is another account"
            )
        return own
