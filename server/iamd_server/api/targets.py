"""Resource ARNs and request contexts that Manage calls are authorized against.

Rule (matching the built-in `iam`, `organizations` and `iamd` service definitions, which
deny an action on a resource type they do not list):

- IAM calls on one user, group, role or managed policy: ``iam:<Rpc>`` on that entity's ARN,
  path included (``arn:aws:iam::ACCT:user/PATH/NAME``). The path is read from the store; an
  entity that does not exist is authorized as if its path were ``/``, and NOT_FOUND comes
  only after the caller passed, so existence is never revealed to unauthorized callers.
- IAM list calls without an owning entity (ListUsers, ListGroups, ListRoles, ListPolicies,
  ListAuditEvents): ``iam:<Rpc>`` on ``*`` with the listed account as resource account (AWS
  defines no resource type for them).
- Root access keys: ``iam:<Rpc>`` on ``*`` in the root's account; only that root itself may
  call (IAM policies never reach root credentials).
- Resource policies and ACLs: ``iam:<Rpc>`` on the resource ARN; resource account = the ARN's
  account field, else ``owner_account_id``, else the caller's account.
- Organization calls: ``organizations:<Rpc>`` on ``*`` with the management account as the
  resource account, so only the management account's principals can pass.
- Service definitions are deployment-wide: ``iamd:<Rpc>`` on ``*``; writes in the management
  account, reads in the caller's own account.

The resource account is always passed explicitly: for ``*`` and for ARNs without an account
field the engine would otherwise assume the caller's own account.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from iamd_policy import Context, ContextError

from iamd_server import validation
from iamd_server.authn.authenticator import Caller
from iamd_server.errors import InvalidArgument
from iamd_server.store.records import Tag

ANY = "*"

_USER_ARN = re.compile(r"arn:aws:iam::(\d{12}):user/(?:.*/)?([^/]+)", re.ASCII)


def iam_arn(account_id: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCT:KIND/PATH/NAME`` (``path`` starts and ends with ``/``)."""
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


def user_arn(account_id: str, path: str, name: str) -> str:
    return iam_arn(account_id, "user", path, name)


def group_arn(account_id: str, path: str, name: str) -> str:
    return iam_arn(account_id, "group", path, name)


def role_arn(account_id: str, path: str, name: str) -> str:
    return iam_arn(account_id, "role", path, name)


def policy_arn(account_id: str, path: str, name: str) -> str:
    return iam_arn(account_id, "policy", path, name)


def root_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def caller_user_name(caller: Caller) -> str | None:
    """The IAM user name of a caller that is an IAM user, else None."""
    match = _USER_ARN.fullmatch(caller.arn)
    return match.group(2) if match else None


def account_for(requested: str, caller: Caller, field: str = "account_id") -> str:
    """The request's account, or the caller's when the field is empty."""
    if not requested:
        return caller.account_id
    return validation.account_id(requested, field)


def path_or_root(value: str, field: str = "path") -> str:
    return validation.path(value, field) if value else "/"


def policy_target(value: str, field: str = "policy_arn") -> tuple[str, str]:
    """(ARN, account) of a managed policy ARN; INVALID_ARGUMENT when it is not one."""
    if not value:
        raise InvalidArgument(field, "a managed policy ARN is required")
    parsed = validation.iam_arn(value, "policy", field)
    return value, parsed.account_id


def resource_target(resource_arn: str, owner_account_id: str, caller: Caller) -> tuple[str, str]:
    """(ARN, owning account) of a resource named in a resource-policy or ACL call."""
    if not resource_arn:
        raise InvalidArgument("resource_arn", "a resource ARN is required")
    parsed = validation.arn(resource_arn, "resource_arn")
    if owner_account_id:
        validation.account_id(owner_account_id, "owner_account_id")
    if parsed.account:
        if owner_account_id and owner_account_id != parsed.account:
            raise InvalidArgument(
                "owner_account_id",
                f"owner_account_id {owner_account_id} differs from the ARN's account"
                f" {parsed.account}",
            )
        return resource_arn, validation.account_id(parsed.account, "resource_arn")
    return resource_arn, owner_account_id or caller.account_id


def _dedupe(pairs: Iterable[tuple[str, str | Sequence[str]]]) -> dict[str, str | Sequence[str]]:
    # Context keys compare case-insensitively; keep the last value of keys equal that way.
    out: dict[str, tuple[str, str | Sequence[str]]] = {}
    for key, value in pairs:
        out[key.lower()] = (key, value)
    return dict(out.values())


def tag_context(
    request_tags: Sequence[Tag] = (),
    *,
    tag_keys: Sequence[str] | None = None,
    resource_tags: Sequence[Tag] = (),
    extra: Sequence[tuple[str, str]] = (),
) -> Context | None:
    """aws:RequestTag/<k>, aws:TagKeys, aws:ResourceTag/<k> (+ iam:ResourceTag/<k>)."""
    pairs: list[tuple[str, str | Sequence[str]]] = []
    for tag in resource_tags:
        pairs.append((f"aws:ResourceTag/{tag.key}", tag.value))
        pairs.append((f"iam:ResourceTag/{tag.key}", tag.value))
    for tag in request_tags:
        pairs.append((f"aws:RequestTag/{tag.key}", tag.value))
    keys = list(tag_keys) if tag_keys is not None else [t.key for t in request_tags]
    if keys or request_tags:
        pairs.append(("aws:TagKeys", keys))
    pairs.extend(extra)
    if not pairs:
        return None
    try:
        return Context.from_mapping(_dedupe(pairs))
    except ContextError as exc:
        raise InvalidArgument("tags", str(exc)) from exc
