"""Values the store returns: frozen, slotted, free of secrets (except LoadedAccessKey's
ciphertext, which only the authentication path reads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """The result of a write and the revision it produced."""

    value: T
    revision: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``marker`` (None when there is no more) fetches the next one."""

    items: list[T]
    marker: str | None
    is_truncated: bool


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    id: str
    arn: str
    root_id: str
    management_account_id: str


@dataclass(frozen=True, slots=True)
class AccountRecord:
    account_id: str
    name: str
    email: str | None
    arn: str
    parent_id: str
    root_arn: str
    create_date: datetime


@dataclass(frozen=True, slots=True)
class OuRecord:
    id: str
    arn: str
    name: str
    parent_id: str


@dataclass(frozen=True, slots=True)
class ScpRecord:
    policy_id: str
    arn: str
    name: str
    description: str
    document: str


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_id: str
    account_id: str
    user_name: str
    path: str
    arn: str
    create_date: datetime
    permissions_boundary_arn: str | None
    tags: tuple[Tag, ...]


@dataclass(frozen=True, slots=True)
class GroupRecord:
    group_id: str
    account_id: str
    group_name: str
    path: str
    arn: str
    create_date: datetime


@dataclass(frozen=True, slots=True)
class RoleRecord:
    role_id: str
    account_id: str
    role_name: str
    path: str
    arn: str
    create_date: datetime
    # Principals shown by current ARN, or by unique id when the entity no longer exists.
    assume_role_policy_document: str
    description: str
    max_session_duration: int
    permissions_boundary_arn: str | None
    tags: tuple[Tag, ...]


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    policy_id: str
    account_id: str
    policy_name: str
    path: str
    arn: str
    default_version_id: str
    attachment_count: int
    permissions_boundary_usage_count: int
    description: str
    create_date: datetime
    update_date: datetime
    tags: tuple[Tag, ...]


@dataclass(frozen=True, slots=True)
class PolicyVersionRecord:
    version_id: str
    document: str
    is_default_version: bool
    create_date: datetime


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    policy_name: str
    policy_arn: str


@dataclass(frozen=True, slots=True)
class InlinePolicyRecord:
    owner_name: str
    policy_name: str
    document: str


@dataclass(frozen=True, slots=True)
class AccessKeyRecord:
    """Metadata only: the secret is never read back through this record."""

    access_key_id: str
    account_id: str
    user_name: str | None  # None: the account's root user
    owner_arn: str
    status: str  # "Active" | "Inactive"
    create_date: datetime
    last_used_date: datetime | None
    last_used_rpc: str | None


@dataclass(frozen=True, slots=True)
class AclGrant:
    grantee: str  # account id, principal ARN, "*" or "authenticated"
    permission: str  # READ | WRITE | READ_ACP | WRITE_ACP | FULL_CONTROL


@dataclass(frozen=True, slots=True)
class ResourcePolicyRecord:
    resource_arn: str
    account_id: str
    document: str
    update_date: datetime


@dataclass(frozen=True, slots=True)
class ServiceDefinitionRecord:
    service_prefix: str
    definition: dict[str, Any]
    update_date: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEventRecord:
    revision: int
    at: datetime
    principal_arn: str
    rpc: str
    target_arn: str
    account_id: str | None


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


@dataclass(frozen=True, slots=True)
class LoadedAccessKey:
    access_key_id: str
    owner_arn: str
    account_id: str
    user_id: str | None  # None: the account's root user
    status: str
    encrypted_secret: bytes
