"""Values the store returns: frozen, slotted, free of secrets (except LoadedAccessKey's
ciphertext, which only the authentication path reads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

# The decision's inputs live with the engine (the SDK's LocalAuthorizer decides from them too);
# the store returns them as its own.
from iamd_policy.inputs import (
    SOURCE_BOUNDARY as SOURCE_BOUNDARY,
)
from iamd_policy.inputs import (
    SOURCE_GROUP as SOURCE_GROUP,
)
from iamd_policy.inputs import (
    SOURCE_MANAGED as SOURCE_MANAGED,
)
from iamd_policy.inputs import (
    SOURCE_ROLE as SOURCE_ROLE,
)
from iamd_policy.inputs import (
    SOURCE_SCP as SOURCE_SCP,
)
from iamd_policy.inputs import (
    SOURCE_USER as SOURCE_USER,
)
from iamd_policy.inputs import (
    AclGrant as AclGrant,
)
from iamd_policy.inputs import (
    LoadedPolicy as LoadedPolicy,
)
from iamd_policy.inputs import (
    LoadedResourcePolicy as LoadedResourcePolicy,
)
from iamd_policy.inputs import (
    PrincipalPolicies as PrincipalPolicies,
)
from iamd_policy.inputs import (
    ServiceDefinitionRecord as ServiceDefinitionRecord,
)
from iamd_policy.inputs import (
    Tag as Tag,
)

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
class ResourcePolicyRecord:
    resource_arn: str
    account_id: str
    document: str
    update_date: datetime


@dataclass(frozen=True, slots=True)
class AuditEventRecord:
    revision: int
    at: datetime
    principal_arn: str
    rpc: str
    target_arn: str
    account_id: str | None


@dataclass(frozen=True, slots=True)
class LoadedAccessKey:
    access_key_id: str
    owner_arn: str
    account_id: str
    user_id: str | None  # None: the account's root user
    status: str
    encrypted_secret: bytes
