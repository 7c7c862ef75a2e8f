"""What a decision is made from: a principal's or a resource's stored policies as the store
loads them and ReplicationService.Watch carries them. Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class AclGrant:
    grantee: str  # account id, principal ARN, "*" or "authenticated"
    permission: str  # READ | WRITE | READ_ACP | WRITE_ACP | FULL_CONTROL


@dataclass(frozen=True, slots=True)
class ServiceDefinitionRecord:
    service_prefix: str
    definition: dict[str, Any]
    update_date: datetime | None


# Loader values (for the authorization cache).

SOURCE_USER = "user"  # user inline policy
SOURCE_GROUP = "group"  # group inline policy
SOURCE_ROLE = "role"  # role inline policy
SOURCE_MANAGED = "user-managed"  # customer managed policy (default version)
SOURCE_BOUNDARY = "permissions-boundary"
SOURCE_SCP = "scp"


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """One policy document with labels for explanations.

    ``policy_id`` is the managed policy / SCP ARN, or the inline policy's name;
    ``source_arn`` is the inline policy's owner (user/group/role ARN), or the policy's ARN.
    """

    policy_id: str
    source_policy_type: str
    source_arn: str
    document: str


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    principal_arn: str
    kind: str  # "user" | "role" | "root"
    account_id: str
    unique_id: str | None  # None for root
    name: str | None
    tags: tuple[Tag, ...]
    identity: tuple[LoadedPolicy, ...]  # inline + managed of the entity and (users) its groups
    boundary: LoadedPolicy | None
    # SCP documents per level: root, each OU down the path, the account. Empty for the
    # management account (SCPs never apply to it).
    scp_levels: tuple[tuple[LoadedPolicy, ...], ...]
    is_management_account: bool
    group_arns: tuple[str, ...] = ()
    trust_policy: str | None = None  # roles: principals substituted
    # roles: (principal as trust_policy shows it, the unique id it resolved to when saved)
    trust_principal_ids: tuple[tuple[str, str], ...] = ()
    max_session_duration: int | None = None  # roles
    revision: int = 0  # the revision this snapshot reflects


@dataclass(frozen=True, slots=True)
class LoadedResourcePolicy:
    resource_arn: str
    account_id: str
    document: str | None  # principals substituted; None when only an ACL exists
    acl: tuple[AclGrant, ...]
    revision: int = 0
    # (principal as document shows it, the unique id it resolved to when saved)
    principal_ids: tuple[tuple[str, str], ...] = ()
