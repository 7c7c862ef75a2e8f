"""One builder per RPC: keyword arguments in, a typed `Call` (method + request) out.

The sync and async clients bind these same builders (see `_binding.py`), so every RPC's
signature is written once. Builders do no I/O; they only assemble request messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from google.protobuf.message import Message
from iamd.v1 import analysis_pb2 as analysis
from iamd.v1 import authorization_pb2 as authz
from iamd.v1 import management_pb2 as mgmt
from iamd.v1 import sts_pb2 as sts
from iamd.v1 import types_pb2 as types

R = TypeVar("R", bound=Message)

MANAGEMENT = "iamd.v1.ManagementService"
AUTHORIZATION = "iamd.v1.AuthorizationService"
STS = "iamd.v1.StsService"
ANALYSIS = "iamd.v1.AnalysisService"

# Writes that can be repeated safely (same end state), so UNAVAILABLE may be retried.
_IDEMPOTENT_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Authorize",
    "Simulate",
    "Validate",
    "Put",
    "Tag",
    "Untag",
)
_IDEMPOTENT_WRITES = frozenset(
    {
        "AttachUserPolicy",
        "AttachGroupPolicy",
        "AttachRolePolicy",
        "AddUserToGroup",
        "SetDefaultPolicyVersion",
        "UpdateAssumeRolePolicy",
        "UpdateRole",
        "UpdateAccessKey",
        "UpdateServiceControlPolicy",
        # Replaces the whole policy (omitted fields revert to defaults): a repeat of the same
        # request leaves the same policy.
        "UpdateAccountPasswordPolicy",
        # Sets the provider's keys and/or JWKS URL to the given values: a repeat leaves the
        # same keys.
        "UpdateOpenIDConnectProviderJwks",
        # Not here: UpdateLoginProfile (a repeated password change fails reuse prevention),
        # RevokeRoleSessions and RevokeUserSessions (a repeat moves the cut-off later and
        # revokes sessions issued in between) and Login (each attempt issues new credentials
        # and counts toward backoff).
    }
)
# Calls the server authenticates by their content (a token, a password), never signed.
_UNSIGNED = frozenset({"AssumeRoleWithWebIdentity", "Login"})


def is_idempotent(rpc: str) -> bool:
    """Whether a call of `rpc` may be retried after UNAVAILABLE."""
    return rpc.startswith(_IDEMPOTENT_PREFIXES) or rpc in _IDEMPOTENT_WRITES


@dataclass(frozen=True, slots=True)
class Call(Generic[R]):
    """A prepared RPC: full method name, request message and response type."""

    method: str
    """Full gRPC method name, e.g. "/iamd.v1.ManagementService/CreateUser" (what is signed)."""
    request: Message
    """The request message."""
    response_type: type[R]
    """The response message class."""
    idempotent: bool
    """Whether UNAVAILABLE may be retried."""
    signed: bool = True
    """Whether the call carries a signature (all but AssumeRoleWithWebIdentity and Login)."""

    @property
    def rpc(self) -> str:
        """The short RPC name, e.g. "CreateUser"."""
        return self.method.rsplit("/", 1)[-1]


def make_call(service: str, rpc: str, request: Message, response_type: type[R]) -> Call[R]:
    """Build a Call for any RPC of the API (used by the generic CLI)."""
    return Call(
        method=f"/{service}/{rpc}",
        request=request,
        response_type=response_type,
        idempotent=is_idempotent(rpc),
        signed=rpc not in _UNSIGNED,
    )


def _m(rpc: str, request: Message, response_type: type[R]) -> Call[R]:
    return make_call(MANAGEMENT, rpc, request, response_type)


# ---- argument conversion -------------------------------------------------------------------

TagsArg: TypeAlias = Mapping[str, str] | Iterable[types.Tag] | None
ContextValue: TypeAlias = str | bool | int | float | Sequence[str]
ContextArg: TypeAlias = Mapping[str, ContextValue] | Iterable[types.ContextEntry] | None
StatusArg: TypeAlias = types.AccessKeyStatus.ValueType | str


def to_tags(value: TagsArg) -> list[types.Tag]:
    """Tags from a {key: value} mapping or Tag messages."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [types.Tag(key=k, value=v) for k, v in value.items()]
    return list(value)


def context_entry(
    key: str, value: ContextValue, type: types.ContextKeyType.ValueType | None = None
) -> types.ContextEntry:
    """A context entry; the type is inferred when not given (str -> STRING, bool -> BOOLEAN,
    int/float -> NUMERIC, sequence of str -> STRING_LIST). Pass `type` for IP, DATE, BINARY."""
    if isinstance(value, bool):
        values = ["true" if value else "false"]
        inferred = types.CONTEXT_KEY_TYPE_BOOLEAN
    elif isinstance(value, int | float):
        values = [repr(value) if isinstance(value, float) else str(value)]
        inferred = types.CONTEXT_KEY_TYPE_NUMERIC
    elif isinstance(value, str):
        values = [value]
        inferred = types.CONTEXT_KEY_TYPE_STRING
    else:
        values = [str(v) for v in value]
        inferred = types.CONTEXT_KEY_TYPE_STRING_LIST
    return types.ContextEntry(key=key, type=inferred if type is None else type, values=values)


def to_context(value: ContextArg) -> list[types.ContextEntry]:
    """Context entries from a {key: value} mapping (types inferred) or ContextEntry messages."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [context_entry(k, v) for k, v in value.items()]
    return list(value)


def access_key_status(value: StatusArg) -> types.AccessKeyStatus.ValueType:
    """An AccessKeyStatus from the enum value or "Active"/"Inactive" (any case)."""
    if isinstance(value, str):
        name = value.strip().upper()
        if not name.startswith("ACCESS_KEY_STATUS_"):
            name = "ACCESS_KEY_STATUS_" + name
        return types.AccessKeyStatus.Value(name)
    return value


def authorize_check(
    *,
    action: str,
    resource_arn: str = "",
    principal_arn: str = "",
    resource_owner_account: str = "",
    context: ContextArg = None,
) -> authz.AuthorizeCheck:
    """One check of an authorize_batch call."""
    return authz.AuthorizeCheck(
        principal_arn=principal_arn,
        action=action,
        resource_arn=resource_arn,
        resource_owner_account=resource_owner_account,
        context=to_context(context),
    )


# ---- Organization --------------------------------------------------------------------------


def create_account(*, name: str, email: str | None = None) -> Call[mgmt.CreateAccountResponse]:
    """Create a member account (and its root user)."""
    return _m(
        "CreateAccount",
        mgmt.CreateAccountRequest(name=name, email=email),
        mgmt.CreateAccountResponse,
    )


def describe_account(*, account_id: str = "") -> Call[mgmt.DescribeAccountResponse]:
    """Describe one account (default: the caller's)."""
    return _m(
        "DescribeAccount",
        mgmt.DescribeAccountRequest(account_id=account_id),
        mgmt.DescribeAccountResponse,
    )


def list_accounts(
    *, parent_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListAccountsResponse]:
    """List the organization's accounts (optionally those directly under one parent)."""
    return _m(
        "ListAccounts",
        mgmt.ListAccountsRequest(parent_id=parent_id, marker=marker, max_items=max_items),
        mgmt.ListAccountsResponse,
    )


def create_organizational_unit(
    *, parent_id: str, name: str
) -> Call[mgmt.CreateOrganizationalUnitResponse]:
    """Create an organizational unit under "r-root" or another unit."""
    return _m(
        "CreateOrganizationalUnit",
        mgmt.CreateOrganizationalUnitRequest(parent_id=parent_id, name=name),
        mgmt.CreateOrganizationalUnitResponse,
    )


def list_organizational_units(
    *, parent_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListOrganizationalUnitsResponse]:
    """List the organizational units directly under a parent (default "r-root")."""
    return _m(
        "ListOrganizationalUnits",
        mgmt.ListOrganizationalUnitsRequest(
            parent_id=parent_id, marker=marker, max_items=max_items
        ),
        mgmt.ListOrganizationalUnitsResponse,
    )


def delete_organizational_unit(
    *, organizational_unit_id: str
) -> Call[mgmt.DeleteOrganizationalUnitResponse]:
    """Delete an empty organizational unit."""
    return _m(
        "DeleteOrganizationalUnit",
        mgmt.DeleteOrganizationalUnitRequest(organizational_unit_id=organizational_unit_id),
        mgmt.DeleteOrganizationalUnitResponse,
    )


def move_account(
    *, account_id: str, destination_parent_id: str, source_parent_id: str = ""
) -> Call[mgmt.MoveAccountResponse]:
    """Move an account to another parent."""
    return _m(
        "MoveAccount",
        mgmt.MoveAccountRequest(
            account_id=account_id,
            destination_parent_id=destination_parent_id,
            source_parent_id=source_parent_id,
        ),
        mgmt.MoveAccountResponse,
    )


def create_service_control_policy(
    *, name: str, document: str, description: str = ""
) -> Call[mgmt.CreateServiceControlPolicyResponse]:
    """Create a service control policy."""
    return _m(
        "CreateServiceControlPolicy",
        mgmt.CreateServiceControlPolicyRequest(
            name=name, description=description, document=document
        ),
        mgmt.CreateServiceControlPolicyResponse,
    )


def update_service_control_policy(
    *,
    policy_id: str,
    name: str | None = None,
    description: str | None = None,
    document: str | None = None,
) -> Call[mgmt.UpdateServiceControlPolicyResponse]:
    """Update a service control policy; None leaves a field unchanged."""
    return _m(
        "UpdateServiceControlPolicy",
        mgmt.UpdateServiceControlPolicyRequest(
            policy_id=policy_id, name=name, description=description, document=document
        ),
        mgmt.UpdateServiceControlPolicyResponse,
    )


def delete_service_control_policy(
    *, policy_id: str
) -> Call[mgmt.DeleteServiceControlPolicyResponse]:
    """Delete a detached service control policy."""
    return _m(
        "DeleteServiceControlPolicy",
        mgmt.DeleteServiceControlPolicyRequest(policy_id=policy_id),
        mgmt.DeleteServiceControlPolicyResponse,
    )


def list_service_control_policies(
    *, marker: str = "", max_items: int = 0
) -> Call[mgmt.ListServiceControlPoliciesResponse]:
    """List the organization's service control policies."""
    return _m(
        "ListServiceControlPolicies",
        mgmt.ListServiceControlPoliciesRequest(marker=marker, max_items=max_items),
        mgmt.ListServiceControlPoliciesResponse,
    )


def attach_service_control_policy(
    *, policy_id: str, target_id: str
) -> Call[mgmt.AttachServiceControlPolicyResponse]:
    """Attach an SCP to "r-root", an organizational unit or an account."""
    return _m(
        "AttachServiceControlPolicy",
        mgmt.AttachServiceControlPolicyRequest(policy_id=policy_id, target_id=target_id),
        mgmt.AttachServiceControlPolicyResponse,
    )


def detach_service_control_policy(
    *, policy_id: str, target_id: str
) -> Call[mgmt.DetachServiceControlPolicyResponse]:
    """Detach an SCP from a target."""
    return _m(
        "DetachServiceControlPolicy",
        mgmt.DetachServiceControlPolicyRequest(policy_id=policy_id, target_id=target_id),
        mgmt.DetachServiceControlPolicyResponse,
    )


def list_service_control_policies_for_target(
    *, target_id: str, marker: str = "", max_items: int = 0
) -> Call[mgmt.ListServiceControlPoliciesForTargetResponse]:
    """List the SCPs attached directly to a target."""
    return _m(
        "ListServiceControlPoliciesForTarget",
        mgmt.ListServiceControlPoliciesForTargetRequest(
            target_id=target_id, marker=marker, max_items=max_items
        ),
        mgmt.ListServiceControlPoliciesForTargetResponse,
    )


# ---- Users ---------------------------------------------------------------------------------


def create_user(
    *,
    user_name: str,
    account_id: str = "",
    path: str = "",
    tags: TagsArg = None,
    permissions_boundary: str = "",
) -> Call[mgmt.CreateUserResponse]:
    """Create a user."""
    return _m(
        "CreateUser",
        mgmt.CreateUserRequest(
            account_id=account_id,
            user_name=user_name,
            path=path,
            tags=to_tags(tags),
            permissions_boundary=permissions_boundary,
        ),
        mgmt.CreateUserResponse,
    )


def get_user(*, user_name: str = "", account_id: str = "") -> Call[mgmt.GetUserResponse]:
    """Get a user (empty user_name: the calling user)."""
    return _m(
        "GetUser",
        mgmt.GetUserRequest(account_id=account_id, user_name=user_name),
        mgmt.GetUserResponse,
    )


def list_users(
    *, account_id: str = "", path_prefix: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListUsersResponse]:
    """List users (one page)."""
    return _m(
        "ListUsers",
        mgmt.ListUsersRequest(
            account_id=account_id, path_prefix=path_prefix, marker=marker, max_items=max_items
        ),
        mgmt.ListUsersResponse,
    )


def update_user(
    *,
    user_name: str,
    account_id: str = "",
    new_user_name: str | None = None,
    new_path: str | None = None,
) -> Call[mgmt.UpdateUserResponse]:
    """Rename a user and/or change its path; None leaves a field unchanged."""
    return _m(
        "UpdateUser",
        mgmt.UpdateUserRequest(
            account_id=account_id,
            user_name=user_name,
            new_user_name=new_user_name,
            new_path=new_path,
        ),
        mgmt.UpdateUserResponse,
    )


def delete_user(*, user_name: str, account_id: str = "") -> Call[mgmt.DeleteUserResponse]:
    """Delete a user with nothing attached."""
    return _m(
        "DeleteUser",
        mgmt.DeleteUserRequest(account_id=account_id, user_name=user_name),
        mgmt.DeleteUserResponse,
    )


def tag_user(*, user_name: str, tags: TagsArg, account_id: str = "") -> Call[mgmt.TagUserResponse]:
    """Add or overwrite tags of a user."""
    return _m(
        "TagUser",
        mgmt.TagUserRequest(account_id=account_id, user_name=user_name, tags=to_tags(tags)),
        mgmt.TagUserResponse,
    )


def untag_user(
    *, user_name: str, tag_keys: Sequence[str], account_id: str = ""
) -> Call[mgmt.UntagUserResponse]:
    """Remove tags from a user."""
    return _m(
        "UntagUser",
        mgmt.UntagUserRequest(account_id=account_id, user_name=user_name, tag_keys=tag_keys),
        mgmt.UntagUserResponse,
    )


def list_user_tags(
    *, user_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListUserTagsResponse]:
    """List a user's tags (one page)."""
    return _m(
        "ListUserTags",
        mgmt.ListUserTagsRequest(
            account_id=account_id, user_name=user_name, marker=marker, max_items=max_items
        ),
        mgmt.ListUserTagsResponse,
    )


# ---- Groups --------------------------------------------------------------------------------


def create_group(
    *, group_name: str, account_id: str = "", path: str = ""
) -> Call[mgmt.CreateGroupResponse]:
    """Create a group."""
    return _m(
        "CreateGroup",
        mgmt.CreateGroupRequest(account_id=account_id, group_name=group_name, path=path),
        mgmt.CreateGroupResponse,
    )


def get_group(
    *, group_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.GetGroupResponse]:
    """Get a group and one page of its members."""
    return _m(
        "GetGroup",
        mgmt.GetGroupRequest(
            account_id=account_id, group_name=group_name, marker=marker, max_items=max_items
        ),
        mgmt.GetGroupResponse,
    )


def list_groups(
    *, account_id: str = "", path_prefix: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListGroupsResponse]:
    """List groups (one page)."""
    return _m(
        "ListGroups",
        mgmt.ListGroupsRequest(
            account_id=account_id, path_prefix=path_prefix, marker=marker, max_items=max_items
        ),
        mgmt.ListGroupsResponse,
    )


def delete_group(*, group_name: str, account_id: str = "") -> Call[mgmt.DeleteGroupResponse]:
    """Delete an empty group."""
    return _m(
        "DeleteGroup",
        mgmt.DeleteGroupRequest(account_id=account_id, group_name=group_name),
        mgmt.DeleteGroupResponse,
    )


def add_user_to_group(
    *, group_name: str, user_name: str, account_id: str = ""
) -> Call[mgmt.AddUserToGroupResponse]:
    """Add a user to a group."""
    return _m(
        "AddUserToGroup",
        mgmt.AddUserToGroupRequest(
            account_id=account_id, group_name=group_name, user_name=user_name
        ),
        mgmt.AddUserToGroupResponse,
    )


def remove_user_from_group(
    *, group_name: str, user_name: str, account_id: str = ""
) -> Call[mgmt.RemoveUserFromGroupResponse]:
    """Remove a user from a group."""
    return _m(
        "RemoveUserFromGroup",
        mgmt.RemoveUserFromGroupRequest(
            account_id=account_id, group_name=group_name, user_name=user_name
        ),
        mgmt.RemoveUserFromGroupResponse,
    )


def list_groups_for_user(
    *, user_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListGroupsForUserResponse]:
    """List the groups of a user (one page)."""
    return _m(
        "ListGroupsForUser",
        mgmt.ListGroupsForUserRequest(
            account_id=account_id, user_name=user_name, marker=marker, max_items=max_items
        ),
        mgmt.ListGroupsForUserResponse,
    )


# ---- Roles ---------------------------------------------------------------------------------


def create_role(
    *,
    role_name: str,
    assume_role_policy_document: str,
    account_id: str = "",
    path: str = "",
    description: str = "",
    max_session_duration: int | None = None,
    tags: TagsArg = None,
    permissions_boundary: str = "",
) -> Call[mgmt.CreateRoleResponse]:
    """Create a role with its trust policy."""
    return _m(
        "CreateRole",
        mgmt.CreateRoleRequest(
            account_id=account_id,
            role_name=role_name,
            path=path,
            assume_role_policy_document=assume_role_policy_document,
            description=description,
            max_session_duration=max_session_duration,
            tags=to_tags(tags),
            permissions_boundary=permissions_boundary,
        ),
        mgmt.CreateRoleResponse,
    )


def get_role(*, role_name: str, account_id: str = "") -> Call[mgmt.GetRoleResponse]:
    """Get a role."""
    return _m(
        "GetRole",
        mgmt.GetRoleRequest(account_id=account_id, role_name=role_name),
        mgmt.GetRoleResponse,
    )


def list_roles(
    *, account_id: str = "", path_prefix: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListRolesResponse]:
    """List roles (one page)."""
    return _m(
        "ListRoles",
        mgmt.ListRolesRequest(
            account_id=account_id, path_prefix=path_prefix, marker=marker, max_items=max_items
        ),
        mgmt.ListRolesResponse,
    )


def update_role(
    *,
    role_name: str,
    account_id: str = "",
    description: str | None = None,
    max_session_duration: int | None = None,
) -> Call[mgmt.UpdateRoleResponse]:
    """Change a role's description and/or maximum session duration; None = unchanged."""
    return _m(
        "UpdateRole",
        mgmt.UpdateRoleRequest(
            account_id=account_id,
            role_name=role_name,
            description=description,
            max_session_duration=max_session_duration,
        ),
        mgmt.UpdateRoleResponse,
    )


def update_assume_role_policy(
    *, role_name: str, policy_document: str, account_id: str = ""
) -> Call[mgmt.UpdateAssumeRolePolicyResponse]:
    """Replace a role's trust policy."""
    return _m(
        "UpdateAssumeRolePolicy",
        mgmt.UpdateAssumeRolePolicyRequest(
            account_id=account_id, role_name=role_name, policy_document=policy_document
        ),
        mgmt.UpdateAssumeRolePolicyResponse,
    )


def delete_role(*, role_name: str, account_id: str = "") -> Call[mgmt.DeleteRoleResponse]:
    """Delete a role with no policies."""
    return _m(
        "DeleteRole",
        mgmt.DeleteRoleRequest(account_id=account_id, role_name=role_name),
        mgmt.DeleteRoleResponse,
    )


def tag_role(*, role_name: str, tags: TagsArg, account_id: str = "") -> Call[mgmt.TagRoleResponse]:
    """Add or overwrite tags of a role."""
    return _m(
        "TagRole",
        mgmt.TagRoleRequest(account_id=account_id, role_name=role_name, tags=to_tags(tags)),
        mgmt.TagRoleResponse,
    )


def untag_role(
    *, role_name: str, tag_keys: Sequence[str], account_id: str = ""
) -> Call[mgmt.UntagRoleResponse]:
    """Remove tags from a role."""
    return _m(
        "UntagRole",
        mgmt.UntagRoleRequest(account_id=account_id, role_name=role_name, tag_keys=tag_keys),
        mgmt.UntagRoleResponse,
    )


def list_role_tags(
    *, role_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListRoleTagsResponse]:
    """List a role's tags (one page)."""
    return _m(
        "ListRoleTags",
        mgmt.ListRoleTagsRequest(
            account_id=account_id, role_name=role_name, marker=marker, max_items=max_items
        ),
        mgmt.ListRoleTagsResponse,
    )


# ---- Managed policies ----------------------------------------------------------------------


def create_policy(
    *,
    policy_name: str,
    policy_document: str,
    account_id: str = "",
    path: str = "",
    description: str = "",
    tags: TagsArg = None,
) -> Call[mgmt.CreatePolicyResponse]:
    """Create a managed policy."""
    return _m(
        "CreatePolicy",
        mgmt.CreatePolicyRequest(
            account_id=account_id,
            policy_name=policy_name,
            path=path,
            policy_document=policy_document,
            description=description,
            tags=to_tags(tags),
        ),
        mgmt.CreatePolicyResponse,
    )


def get_policy(*, policy_arn: str) -> Call[mgmt.GetPolicyResponse]:
    """Get a managed policy's metadata."""
    return _m("GetPolicy", mgmt.GetPolicyRequest(policy_arn=policy_arn), mgmt.GetPolicyResponse)


def list_policies(
    *,
    account_id: str = "",
    scope: mgmt.PolicyScope.ValueType = mgmt.POLICY_SCOPE_UNSPECIFIED,
    path_prefix: str = "",
    only_attached: bool = False,
    marker: str = "",
    max_items: int = 0,
) -> Call[mgmt.ListPoliciesResponse]:
    """List managed policies (one page)."""
    return _m(
        "ListPolicies",
        mgmt.ListPoliciesRequest(
            account_id=account_id,
            scope=scope,
            path_prefix=path_prefix,
            only_attached=only_attached,
            marker=marker,
            max_items=max_items,
        ),
        mgmt.ListPoliciesResponse,
    )


def delete_policy(*, policy_arn: str) -> Call[mgmt.DeletePolicyResponse]:
    """Delete a detached managed policy (and all its versions)."""
    return _m(
        "DeletePolicy", mgmt.DeletePolicyRequest(policy_arn=policy_arn), mgmt.DeletePolicyResponse
    )


def create_policy_version(
    *, policy_arn: str, policy_document: str, set_as_default: bool = False
) -> Call[mgmt.CreatePolicyVersionResponse]:
    """Add a version to a managed policy."""
    return _m(
        "CreatePolicyVersion",
        mgmt.CreatePolicyVersionRequest(
            policy_arn=policy_arn, policy_document=policy_document, set_as_default=set_as_default
        ),
        mgmt.CreatePolicyVersionResponse,
    )


def get_policy_version(*, policy_arn: str, version_id: str) -> Call[mgmt.GetPolicyVersionResponse]:
    """Get one version of a managed policy, with its document."""
    return _m(
        "GetPolicyVersion",
        mgmt.GetPolicyVersionRequest(policy_arn=policy_arn, version_id=version_id),
        mgmt.GetPolicyVersionResponse,
    )


def list_policy_versions(
    *, policy_arn: str, marker: str = "", max_items: int = 0
) -> Call[mgmt.ListPolicyVersionsResponse]:
    """List the versions of a managed policy (one page)."""
    return _m(
        "ListPolicyVersions",
        mgmt.ListPolicyVersionsRequest(policy_arn=policy_arn, marker=marker, max_items=max_items),
        mgmt.ListPolicyVersionsResponse,
    )


def delete_policy_version(
    *, policy_arn: str, version_id: str
) -> Call[mgmt.DeletePolicyVersionResponse]:
    """Delete a non-default version."""
    return _m(
        "DeletePolicyVersion",
        mgmt.DeletePolicyVersionRequest(policy_arn=policy_arn, version_id=version_id),
        mgmt.DeletePolicyVersionResponse,
    )


def set_default_policy_version(
    *, policy_arn: str, version_id: str
) -> Call[mgmt.SetDefaultPolicyVersionResponse]:
    """Make a version the default."""
    return _m(
        "SetDefaultPolicyVersion",
        mgmt.SetDefaultPolicyVersionRequest(policy_arn=policy_arn, version_id=version_id),
        mgmt.SetDefaultPolicyVersionResponse,
    )


# ---- Attachments ---------------------------------------------------------------------------


def attach_user_policy(
    *, user_name: str, policy_arn: str, account_id: str = ""
) -> Call[mgmt.AttachUserPolicyResponse]:
    """Attach a managed policy to a user."""
    return _m(
        "AttachUserPolicy",
        mgmt.AttachUserPolicyRequest(
            account_id=account_id, user_name=user_name, policy_arn=policy_arn
        ),
        mgmt.AttachUserPolicyResponse,
    )


def detach_user_policy(
    *, user_name: str, policy_arn: str, account_id: str = ""
) -> Call[mgmt.DetachUserPolicyResponse]:
    """Detach a managed policy from a user."""
    return _m(
        "DetachUserPolicy",
        mgmt.DetachUserPolicyRequest(
            account_id=account_id, user_name=user_name, policy_arn=policy_arn
        ),
        mgmt.DetachUserPolicyResponse,
    )


def list_attached_user_policies(
    *,
    user_name: str,
    account_id: str = "",
    path_prefix: str = "",
    marker: str = "",
    max_items: int = 0,
) -> Call[mgmt.ListAttachedUserPoliciesResponse]:
    """List the managed policies attached to a user (one page)."""
    return _m(
        "ListAttachedUserPolicies",
        mgmt.ListAttachedUserPoliciesRequest(
            account_id=account_id,
            user_name=user_name,
            path_prefix=path_prefix,
            marker=marker,
            max_items=max_items,
        ),
        mgmt.ListAttachedUserPoliciesResponse,
    )


def attach_group_policy(
    *, group_name: str, policy_arn: str, account_id: str = ""
) -> Call[mgmt.AttachGroupPolicyResponse]:
    """Attach a managed policy to a group."""
    return _m(
        "AttachGroupPolicy",
        mgmt.AttachGroupPolicyRequest(
            account_id=account_id, group_name=group_name, policy_arn=policy_arn
        ),
        mgmt.AttachGroupPolicyResponse,
    )


def detach_group_policy(
    *, group_name: str, policy_arn: str, account_id: str = ""
) -> Call[mgmt.DetachGroupPolicyResponse]:
    """Detach a managed policy from a group."""
    return _m(
        "DetachGroupPolicy",
        mgmt.DetachGroupPolicyRequest(
            account_id=account_id, group_name=group_name, policy_arn=policy_arn
        ),
        mgmt.DetachGroupPolicyResponse,
    )


def list_attached_group_policies(
    *,
    group_name: str,
    account_id: str = "",
    path_prefix: str = "",
    marker: str = "",
    max_items: int = 0,
) -> Call[mgmt.ListAttachedGroupPoliciesResponse]:
    """List the managed policies attached to a group (one page)."""
    return _m(
        "ListAttachedGroupPolicies",
        mgmt.ListAttachedGroupPoliciesRequest(
            account_id=account_id,
            group_name=group_name,
            path_prefix=path_prefix,
            marker=marker,
            max_items=max_items,
        ),
        mgmt.ListAttachedGroupPoliciesResponse,
    )


def attach_role_policy(
    *, role_name: str, policy_arn: str, account_id: str = ""
) -> Call[mgmt.AttachRolePolicyResponse]:
    """Attach a managed policy to a role."""
    return _m(
        "AttachRolePolicy",
        mgmt.AttachRolePolicyRequest(
            account_id=account_id, role_name=role_name, policy_arn=policy_arn
        ),
        mgmt.AttachRolePolicyResponse,
    )


def detach_role_policy(
    *, role_name: str, policy_arn: str, account_id: str = ""
) -> Call[mgmt.DetachRolePolicyResponse]:
    """Detach a managed policy from a role."""
    return _m(
        "DetachRolePolicy",
        mgmt.DetachRolePolicyRequest(
            account_id=account_id, role_name=role_name, policy_arn=policy_arn
        ),
        mgmt.DetachRolePolicyResponse,
    )


def list_attached_role_policies(
    *,
    role_name: str,
    account_id: str = "",
    path_prefix: str = "",
    marker: str = "",
    max_items: int = 0,
) -> Call[mgmt.ListAttachedRolePoliciesResponse]:
    """List the managed policies attached to a role (one page)."""
    return _m(
        "ListAttachedRolePolicies",
        mgmt.ListAttachedRolePoliciesRequest(
            account_id=account_id,
            role_name=role_name,
            path_prefix=path_prefix,
            marker=marker,
            max_items=max_items,
        ),
        mgmt.ListAttachedRolePoliciesResponse,
    )


# ---- Inline policies -----------------------------------------------------------------------


def put_user_policy(
    *, user_name: str, policy_name: str, policy_document: str, account_id: str = ""
) -> Call[mgmt.PutUserPolicyResponse]:
    """Create or replace an inline policy of a user."""
    return _m(
        "PutUserPolicy",
        mgmt.PutUserPolicyRequest(
            account_id=account_id,
            user_name=user_name,
            policy_name=policy_name,
            policy_document=policy_document,
        ),
        mgmt.PutUserPolicyResponse,
    )


def get_user_policy(
    *, user_name: str, policy_name: str, account_id: str = ""
) -> Call[mgmt.GetUserPolicyResponse]:
    """Get an inline policy of a user."""
    return _m(
        "GetUserPolicy",
        mgmt.GetUserPolicyRequest(
            account_id=account_id, user_name=user_name, policy_name=policy_name
        ),
        mgmt.GetUserPolicyResponse,
    )


def delete_user_policy(
    *, user_name: str, policy_name: str, account_id: str = ""
) -> Call[mgmt.DeleteUserPolicyResponse]:
    """Delete an inline policy of a user."""
    return _m(
        "DeleteUserPolicy",
        mgmt.DeleteUserPolicyRequest(
            account_id=account_id, user_name=user_name, policy_name=policy_name
        ),
        mgmt.DeleteUserPolicyResponse,
    )


def list_user_policies(
    *, user_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListUserPoliciesResponse]:
    """List the names of a user's inline policies (one page)."""
    return _m(
        "ListUserPolicies",
        mgmt.ListUserPoliciesRequest(
            account_id=account_id, user_name=user_name, marker=marker, max_items=max_items
        ),
        mgmt.ListUserPoliciesResponse,
    )


def put_group_policy(
    *, group_name: str, policy_name: str, policy_document: str, account_id: str = ""
) -> Call[mgmt.PutGroupPolicyResponse]:
    """Create or replace an inline policy of a group."""
    return _m(
        "PutGroupPolicy",
        mgmt.PutGroupPolicyRequest(
            account_id=account_id,
            group_name=group_name,
            policy_name=policy_name,
            policy_document=policy_document,
        ),
        mgmt.PutGroupPolicyResponse,
    )


def get_group_policy(
    *, group_name: str, policy_name: str, account_id: str = ""
) -> Call[mgmt.GetGroupPolicyResponse]:
    """Get an inline policy of a group."""
    return _m(
        "GetGroupPolicy",
        mgmt.GetGroupPolicyRequest(
            account_id=account_id, group_name=group_name, policy_name=policy_name
        ),
        mgmt.GetGroupPolicyResponse,
    )


def delete_group_policy(
    *, group_name: str, policy_name: str, account_id: str = ""
) -> Call[mgmt.DeleteGroupPolicyResponse]:
    """Delete an inline policy of a group."""
    return _m(
        "DeleteGroupPolicy",
        mgmt.DeleteGroupPolicyRequest(
            account_id=account_id, group_name=group_name, policy_name=policy_name
        ),
        mgmt.DeleteGroupPolicyResponse,
    )


def list_group_policies(
    *, group_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListGroupPoliciesResponse]:
    """List the names of a group's inline policies (one page)."""
    return _m(
        "ListGroupPolicies",
        mgmt.ListGroupPoliciesRequest(
            account_id=account_id, group_name=group_name, marker=marker, max_items=max_items
        ),
        mgmt.ListGroupPoliciesResponse,
    )


def put_role_policy(
    *, role_name: str, policy_name: str, policy_document: str, account_id: str = ""
) -> Call[mgmt.PutRolePolicyResponse]:
    """Create or replace an inline policy of a role."""
    return _m(
        "PutRolePolicy",
        mgmt.PutRolePolicyRequest(
            account_id=account_id,
            role_name=role_name,
            policy_name=policy_name,
            policy_document=policy_document,
        ),
        mgmt.PutRolePolicyResponse,
    )


def get_role_policy(
    *, role_name: str, policy_name: str, account_id: str = ""
) -> Call[mgmt.GetRolePolicyResponse]:
    """Get an inline policy of a role."""
    return _m(
        "GetRolePolicy",
        mgmt.GetRolePolicyRequest(
            account_id=account_id, role_name=role_name, policy_name=policy_name
        ),
        mgmt.GetRolePolicyResponse,
    )


def delete_role_policy(
    *, role_name: str, policy_name: str, account_id: str = ""
) -> Call[mgmt.DeleteRolePolicyResponse]:
    """Delete an inline policy of a role."""
    return _m(
        "DeleteRolePolicy",
        mgmt.DeleteRolePolicyRequest(
            account_id=account_id, role_name=role_name, policy_name=policy_name
        ),
        mgmt.DeleteRolePolicyResponse,
    )


def list_role_policies(
    *, role_name: str, account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListRolePoliciesResponse]:
    """List the names of a role's inline policies (one page)."""
    return _m(
        "ListRolePolicies",
        mgmt.ListRolePoliciesRequest(
            account_id=account_id, role_name=role_name, marker=marker, max_items=max_items
        ),
        mgmt.ListRolePoliciesResponse,
    )


# ---- Permissions boundaries ----------------------------------------------------------------


def put_user_permissions_boundary(
    *, user_name: str, permissions_boundary: str, account_id: str = ""
) -> Call[mgmt.PutUserPermissionsBoundaryResponse]:
    """Set a user's permissions boundary (a managed policy ARN)."""
    return _m(
        "PutUserPermissionsBoundary",
        mgmt.PutUserPermissionsBoundaryRequest(
            account_id=account_id, user_name=user_name, permissions_boundary=permissions_boundary
        ),
        mgmt.PutUserPermissionsBoundaryResponse,
    )


def delete_user_permissions_boundary(
    *, user_name: str, account_id: str = ""
) -> Call[mgmt.DeleteUserPermissionsBoundaryResponse]:
    """Remove a user's permissions boundary."""
    return _m(
        "DeleteUserPermissionsBoundary",
        mgmt.DeleteUserPermissionsBoundaryRequest(account_id=account_id, user_name=user_name),
        mgmt.DeleteUserPermissionsBoundaryResponse,
    )


def put_role_permissions_boundary(
    *, role_name: str, permissions_boundary: str, account_id: str = ""
) -> Call[mgmt.PutRolePermissionsBoundaryResponse]:
    """Set a role's permissions boundary (a managed policy ARN)."""
    return _m(
        "PutRolePermissionsBoundary",
        mgmt.PutRolePermissionsBoundaryRequest(
            account_id=account_id, role_name=role_name, permissions_boundary=permissions_boundary
        ),
        mgmt.PutRolePermissionsBoundaryResponse,
    )


def delete_role_permissions_boundary(
    *, role_name: str, account_id: str = ""
) -> Call[mgmt.DeleteRolePermissionsBoundaryResponse]:
    """Remove a role's permissions boundary."""
    return _m(
        "DeleteRolePermissionsBoundary",
        mgmt.DeleteRolePermissionsBoundaryRequest(account_id=account_id, role_name=role_name),
        mgmt.DeleteRolePermissionsBoundaryResponse,
    )


# ---- Access keys ---------------------------------------------------------------------------


def create_access_key(
    *, user_name: str = "", account_id: str = ""
) -> Call[mgmt.CreateAccessKeyResponse]:
    """Create an access key (empty user_name: the caller's own user, or root)."""
    return _m(
        "CreateAccessKey",
        mgmt.CreateAccessKeyRequest(account_id=account_id, user_name=user_name),
        mgmt.CreateAccessKeyResponse,
    )


def update_access_key(
    *, access_key_id: str, status: StatusArg, user_name: str = "", account_id: str = ""
) -> Call[mgmt.UpdateAccessKeyResponse]:
    """Activate or deactivate an access key (status "Active"/"Inactive" or the enum)."""
    return _m(
        "UpdateAccessKey",
        mgmt.UpdateAccessKeyRequest(
            account_id=account_id,
            user_name=user_name,
            access_key_id=access_key_id,
            status=access_key_status(status),
        ),
        mgmt.UpdateAccessKeyResponse,
    )


def delete_access_key(
    *, access_key_id: str, user_name: str = "", account_id: str = ""
) -> Call[mgmt.DeleteAccessKeyResponse]:
    """Delete an access key."""
    return _m(
        "DeleteAccessKey",
        mgmt.DeleteAccessKeyRequest(
            account_id=account_id, user_name=user_name, access_key_id=access_key_id
        ),
        mgmt.DeleteAccessKeyResponse,
    )


def list_access_keys(
    *, user_name: str = "", account_id: str = "", marker: str = "", max_items: int = 0
) -> Call[mgmt.ListAccessKeysResponse]:
    """List a user's access keys (one page)."""
    return _m(
        "ListAccessKeys",
        mgmt.ListAccessKeysRequest(
            account_id=account_id, user_name=user_name, marker=marker, max_items=max_items
        ),
        mgmt.ListAccessKeysResponse,
    )


# ---- Resource policies and ACLs ------------------------------------------------------------


def put_resource_policy(
    *, resource_arn: str, policy_document: str, owner_account_id: str = ""
) -> Call[mgmt.PutResourcePolicyResponse]:
    """Create or replace a resource's policy."""
    return _m(
        "PutResourcePolicy",
        mgmt.PutResourcePolicyRequest(
            resource_arn=resource_arn,
            owner_account_id=owner_account_id,
            policy_document=policy_document,
        ),
        mgmt.PutResourcePolicyResponse,
    )


def get_resource_policy(
    *, resource_arn: str, owner_account_id: str = ""
) -> Call[mgmt.GetResourcePolicyResponse]:
    """Get a resource's policy."""
    return _m(
        "GetResourcePolicy",
        mgmt.GetResourcePolicyRequest(resource_arn=resource_arn, owner_account_id=owner_account_id),
        mgmt.GetResourcePolicyResponse,
    )


def delete_resource_policy(
    *, resource_arn: str, owner_account_id: str = ""
) -> Call[mgmt.DeleteResourcePolicyResponse]:
    """Delete a resource's policy."""
    return _m(
        "DeleteResourcePolicy",
        mgmt.DeleteResourcePolicyRequest(
            resource_arn=resource_arn, owner_account_id=owner_account_id
        ),
        mgmt.DeleteResourcePolicyResponse,
    )


def put_resource_acl(
    *, resource_arn: str, grants: Iterable[types.AclGrant], owner_account_id: str = ""
) -> Call[mgmt.PutResourceAclResponse]:
    """Replace a resource's ACL (no grants: remove it)."""
    return _m(
        "PutResourceAcl",
        mgmt.PutResourceAclRequest(
            resource_arn=resource_arn, owner_account_id=owner_account_id, grants=grants
        ),
        mgmt.PutResourceAclResponse,
    )


def get_resource_acl(
    *, resource_arn: str, owner_account_id: str = ""
) -> Call[mgmt.GetResourceAclResponse]:
    """Get a resource's ACL."""
    return _m(
        "GetResourceAcl",
        mgmt.GetResourceAclRequest(resource_arn=resource_arn, owner_account_id=owner_account_id),
        mgmt.GetResourceAclResponse,
    )


# ---- Service definitions -------------------------------------------------------------------


def put_service_definition(
    *, definition: types.ServiceDefinition
) -> Call[mgmt.PutServiceDefinitionResponse]:
    """Create or replace a custom service definition."""
    return _m(
        "PutServiceDefinition",
        mgmt.PutServiceDefinitionRequest(definition=definition),
        mgmt.PutServiceDefinitionResponse,
    )


def get_service_definition(*, service_prefix: str) -> Call[mgmt.GetServiceDefinitionResponse]:
    """Get a service definition."""
    return _m(
        "GetServiceDefinition",
        mgmt.GetServiceDefinitionRequest(service_prefix=service_prefix),
        mgmt.GetServiceDefinitionResponse,
    )


def list_service_definitions(
    *, marker: str = "", max_items: int = 0
) -> Call[mgmt.ListServiceDefinitionsResponse]:
    """List service definitions (one page)."""
    return _m(
        "ListServiceDefinitions",
        mgmt.ListServiceDefinitionsRequest(marker=marker, max_items=max_items),
        mgmt.ListServiceDefinitionsResponse,
    )


def delete_service_definition(*, service_prefix: str) -> Call[mgmt.DeleteServiceDefinitionResponse]:
    """Delete a custom service definition."""
    return _m(
        "DeleteServiceDefinition",
        mgmt.DeleteServiceDefinitionRequest(service_prefix=service_prefix),
        mgmt.DeleteServiceDefinitionResponse,
    )


# ---- Audit ---------------------------------------------------------------------------------


def list_audit_events(
    *, account_id: str = "", since_revision: int = 0, marker: str = "", max_items: int = 0
) -> Call[mgmt.ListAuditEventsResponse]:
    """List an account's audit events after a revision (one page)."""
    return _m(
        "ListAuditEvents",
        mgmt.ListAuditEventsRequest(
            account_id=account_id,
            since_revision=since_revision,
            marker=marker,
            max_items=max_items,
        ),
        mgmt.ListAuditEventsResponse,
    )


# ---- Credentials: login profiles, password policy, OIDC providers, role sessions ----------


def create_login_profile(
    *,
    password: str,
    user_name: str = "",
    account_id: str = "",
    password_reset_required: bool = False,
) -> Call[mgmt.CreateLoginProfileResponse]:
    """Give a user a password (checked against the account's password policy)."""
    return _m(
        "CreateLoginProfile",
        mgmt.CreateLoginProfileRequest(
            account_id=account_id,
            user_name=user_name,
            password=password,
            password_reset_required=password_reset_required,
        ),
        mgmt.CreateLoginProfileResponse,
    )


def update_login_profile(
    *,
    user_name: str = "",
    account_id: str = "",
    password: str | None = None,
    password_reset_required: bool | None = None,
) -> Call[mgmt.UpdateLoginProfileResponse]:
    """Change a user's password and/or its reset-required flag; None leaves a field unchanged."""
    return _m(
        "UpdateLoginProfile",
        mgmt.UpdateLoginProfileRequest(
            account_id=account_id,
            user_name=user_name,
            password=password,
            password_reset_required=password_reset_required,
        ),
        mgmt.UpdateLoginProfileResponse,
    )


def delete_login_profile(
    *, user_name: str = "", account_id: str = ""
) -> Call[mgmt.DeleteLoginProfileResponse]:
    """Remove a user's password (the user can no longer log in)."""
    return _m(
        "DeleteLoginProfile",
        mgmt.DeleteLoginProfileRequest(account_id=account_id, user_name=user_name),
        mgmt.DeleteLoginProfileResponse,
    )


def get_login_profile(
    *, user_name: str = "", account_id: str = ""
) -> Call[mgmt.GetLoginProfileResponse]:
    """Get a user's login profile (never the password or its hash)."""
    return _m(
        "GetLoginProfile",
        mgmt.GetLoginProfileRequest(account_id=account_id, user_name=user_name),
        mgmt.GetLoginProfileResponse,
    )


def update_account_password_policy(
    *,
    account_id: str = "",
    minimum_password_length: int | None = None,
    require_symbols: bool = False,
    require_numbers: bool = False,
    require_uppercase_characters: bool = False,
    require_lowercase_characters: bool = False,
    allow_users_to_change_password: bool = False,
    max_password_age: int | None = None,
    password_reuse_prevention: int | None = None,
    hard_expiry: bool = False,
) -> Call[mgmt.UpdateAccountPasswordPolicyResponse]:
    """Replace the account's password policy (omitted fields revert to their defaults)."""
    return _m(
        "UpdateAccountPasswordPolicy",
        mgmt.UpdateAccountPasswordPolicyRequest(
            account_id=account_id,
            minimum_password_length=minimum_password_length,
            require_symbols=require_symbols,
            require_numbers=require_numbers,
            require_uppercase_characters=require_uppercase_characters,
            require_lowercase_characters=require_lowercase_characters,
            allow_users_to_change_password=allow_users_to_change_password,
            max_password_age=max_password_age,
            password_reuse_prevention=password_reuse_prevention,
            hard_expiry=hard_expiry,
        ),
        mgmt.UpdateAccountPasswordPolicyResponse,
    )


def get_account_password_policy(
    *, account_id: str = ""
) -> Call[mgmt.GetAccountPasswordPolicyResponse]:
    """Get the account's password policy (NotFound when none is set)."""
    return _m(
        "GetAccountPasswordPolicy",
        mgmt.GetAccountPasswordPolicyRequest(account_id=account_id),
        mgmt.GetAccountPasswordPolicyResponse,
    )


def delete_account_password_policy(
    *, account_id: str = ""
) -> Call[mgmt.DeleteAccountPasswordPolicyResponse]:
    """Remove the account's password policy."""
    return _m(
        "DeleteAccountPasswordPolicy",
        mgmt.DeleteAccountPasswordPolicyRequest(account_id=account_id),
        mgmt.DeleteAccountPasswordPolicyResponse,
    )


def create_open_id_connect_provider(
    *,
    url: str,
    client_ids: Sequence[str],
    jwks: str,
    jwks_url: str = "",
    account_id: str = "",
) -> Call[mgmt.CreateOpenIDConnectProviderResponse]:
    """Register an OpenID Connect provider: issuer URL, client ids and signing keys (JWKS)."""
    return _m(
        "CreateOpenIDConnectProvider",
        mgmt.CreateOpenIDConnectProviderRequest(
            account_id=account_id,
            url=url,
            client_ids=client_ids,
            jwks=jwks,
            jwks_url=jwks_url,
        ),
        mgmt.CreateOpenIDConnectProviderResponse,
    )


def get_open_id_connect_provider(
    *, open_id_connect_provider_arn: str
) -> Call[mgmt.GetOpenIDConnectProviderResponse]:
    """Get an OpenID Connect provider."""
    return _m(
        "GetOpenIDConnectProvider",
        mgmt.GetOpenIDConnectProviderRequest(
            open_id_connect_provider_arn=open_id_connect_provider_arn
        ),
        mgmt.GetOpenIDConnectProviderResponse,
    )


def list_open_id_connect_providers(
    *, account_id: str = ""
) -> Call[mgmt.ListOpenIDConnectProvidersResponse]:
    """List the OpenID Connect providers of an account (all of them: not paginated)."""
    return _m(
        "ListOpenIDConnectProviders",
        mgmt.ListOpenIDConnectProvidersRequest(account_id=account_id),
        mgmt.ListOpenIDConnectProvidersResponse,
    )


def update_open_id_connect_provider_jwks(
    *, open_id_connect_provider_arn: str, jwks: str = "", jwks_url: str | None = None
) -> Call[mgmt.UpdateOpenIDConnectProviderJwksResponse]:
    """Replace a provider's signing keys and/or JWKS URL; "" jwks or None jwks_url = unchanged."""
    return _m(
        "UpdateOpenIDConnectProviderJwks",
        mgmt.UpdateOpenIDConnectProviderJwksRequest(
            open_id_connect_provider_arn=open_id_connect_provider_arn,
            jwks=jwks,
            jwks_url=jwks_url,
        ),
        mgmt.UpdateOpenIDConnectProviderJwksResponse,
    )


def delete_open_id_connect_provider(
    *, open_id_connect_provider_arn: str
) -> Call[mgmt.DeleteOpenIDConnectProviderResponse]:
    """Remove an OpenID Connect provider (its tokens are no longer accepted)."""
    return _m(
        "DeleteOpenIDConnectProvider",
        mgmt.DeleteOpenIDConnectProviderRequest(
            open_id_connect_provider_arn=open_id_connect_provider_arn
        ),
        mgmt.DeleteOpenIDConnectProviderResponse,
    )


def revoke_role_sessions(
    *, role_name: str, account_id: str = ""
) -> Call[mgmt.RevokeRoleSessionsResponse]:
    """Make every session of a role issued before now fail (on every replica)."""
    return _m(
        "RevokeRoleSessions",
        mgmt.RevokeRoleSessionsRequest(account_id=account_id, role_name=role_name),
        mgmt.RevokeRoleSessionsResponse,
    )


def revoke_user_sessions(
    *, user_name: str = "", account_id: str = ""
) -> Call[mgmt.RevokeUserSessionsResponse]:
    """Make every session of a user (GetSessionToken, Login) issued before now fail (on every
    replica); its access keys keep working. Empty user_name: the calling user."""
    return _m(
        "RevokeUserSessions",
        mgmt.RevokeUserSessionsRequest(account_id=account_id, user_name=user_name),
        mgmt.RevokeUserSessionsResponse,
    )


# ---- Authorization -------------------------------------------------------------------------


def authorize(
    *,
    action: str,
    resource_arn: str = "",
    principal_arn: str = "",
    resource_owner_account: str = "",
    context: ContextArg = None,
    explain: bool = False,
    at_least_revision: int = 0,
) -> Call[authz.AuthorizeResponse]:
    """Decide one request (empty principal_arn: the caller itself)."""
    return make_call(
        AUTHORIZATION,
        "Authorize",
        authz.AuthorizeRequest(
            principal_arn=principal_arn,
            action=action,
            resource_arn=resource_arn,
            resource_owner_account=resource_owner_account,
            context=to_context(context),
            explain=explain,
            at_least_revision=at_least_revision,
        ),
        authz.AuthorizeResponse,
    )


def authorize_batch(
    *,
    checks: Iterable[authz.AuthorizeCheck],
    principal_arn: str = "",
    explain: bool = False,
    at_least_revision: int = 0,
) -> Call[authz.AuthorizeBatchResponse]:
    """Decide up to 1,000 checks against one snapshot (see `authorize_check`)."""
    return make_call(
        AUTHORIZATION,
        "AuthorizeBatch",
        authz.AuthorizeBatchRequest(
            principal_arn=principal_arn,
            checks=checks,
            explain=explain,
            at_least_revision=at_least_revision,
        ),
        authz.AuthorizeBatchResponse,
    )


def simulate_principal_policy(
    *,
    policy_source_arn: str,
    action_names: Sequence[str],
    policy_input_list: Sequence[str] = (),
    permissions_boundary_policy_input_list: Sequence[str] = (),
    resource_arns: Sequence[str] = (),
    resource_policy: str = "",
    resource_owner: str = "",
    caller_arn: str = "",
    context_entries: ContextArg = None,
    service_control_policy_input_list: Sequence[str] = (),
    session_policy_input_list: Sequence[str] = (),
    resource_control_policy_input_list: Sequence[str] = (),
    marker: str = "",
    max_items: int = 0,
) -> Call[authz.SimulatePrincipalPolicyResponse]:
    """Simulate a stored user's, group's or role's policies (plus optional extras)."""
    return make_call(
        AUTHORIZATION,
        "SimulatePrincipalPolicy",
        authz.SimulatePrincipalPolicyRequest(
            policy_source_arn=policy_source_arn,
            policy_input_list=policy_input_list,
            permissions_boundary_policy_input_list=permissions_boundary_policy_input_list,
            action_names=action_names,
            resource_arns=resource_arns,
            resource_policy=resource_policy,
            resource_owner=resource_owner,
            caller_arn=caller_arn,
            context_entries=to_context(context_entries),
            service_control_policy_input_list=service_control_policy_input_list,
            session_policy_input_list=session_policy_input_list,
            resource_control_policy_input_list=resource_control_policy_input_list,
            marker=marker,
            max_items=max_items,
        ),
        authz.SimulatePrincipalPolicyResponse,
    )


def simulate_custom_policy(
    *,
    action_names: Sequence[str],
    policy_input_list: Sequence[str] = (),
    permissions_boundary_policy_input_list: Sequence[str] = (),
    resource_arns: Sequence[str] = (),
    resource_policy: str = "",
    resource_owner: str = "",
    caller_arn: str = "",
    context_entries: ContextArg = None,
    service_control_policy_input_list: Sequence[str] = (),
    session_policy_input_list: Sequence[str] = (),
    resource_control_policy_input_list: Sequence[str] = (),
    marker: str = "",
    max_items: int = 0,
) -> Call[authz.SimulateCustomPolicyResponse]:
    """Simulate caller-supplied policies only."""
    return make_call(
        AUTHORIZATION,
        "SimulateCustomPolicy",
        authz.SimulateCustomPolicyRequest(
            policy_input_list=policy_input_list,
            permissions_boundary_policy_input_list=permissions_boundary_policy_input_list,
            action_names=action_names,
            resource_arns=resource_arns,
            resource_policy=resource_policy,
            resource_owner=resource_owner,
            caller_arn=caller_arn,
            context_entries=to_context(context_entries),
            service_control_policy_input_list=service_control_policy_input_list,
            session_policy_input_list=session_policy_input_list,
            resource_control_policy_input_list=resource_control_policy_input_list,
            marker=marker,
            max_items=max_items,
        ),
        authz.SimulateCustomPolicyResponse,
    )


# ---- Analysis ------------------------------------------------------------------------------

PolicyTypeArg: TypeAlias = analysis.PolicyType.ValueType | str


def to_policy_type(value: PolicyTypeArg) -> analysis.PolicyType.ValueType:
    """A PolicyType from the enum value or "IDENTITY_POLICY", "RESOURCE_POLICY", ... (any
    case)."""
    if isinstance(value, str):
        name = value.strip().upper()
        if not name.startswith("POLICY_TYPE_"):
            name = "POLICY_TYPE_" + name
        return analysis.PolicyType.Value(name)
    return value


def validate_policy(
    *,
    policy_document: str,
    policy_type: PolicyTypeArg = analysis.POLICY_TYPE_IDENTITY_POLICY,
    validate_policy_resource_type: str = "",
    marker: str = "",
    max_items: int = 0,
) -> Call[analysis.ValidatePolicyResponse]:
    """Check a policy document and return findings (AWS Access Analyzer's ValidatePolicy)."""
    return make_call(
        ANALYSIS,
        "ValidatePolicy",
        analysis.ValidatePolicyRequest(
            policy_document=policy_document,
            policy_type=to_policy_type(policy_type),
            validate_policy_resource_type=validate_policy_resource_type,
            marker=marker,
            max_items=max_items,
        ),
        analysis.ValidatePolicyResponse,
    )


# ---- STS -----------------------------------------------------------------------------------


def get_caller_identity() -> Call[sts.GetCallerIdentityResponse]:
    """Who the credentials belong to."""
    return make_call(
        STS, "GetCallerIdentity", sts.GetCallerIdentityRequest(), sts.GetCallerIdentityResponse
    )


def get_session_token(
    *, duration_seconds: int | None = None, serial_number: str = "", token_code: str = ""
) -> Call[sts.GetSessionTokenResponse]:
    """Temporary credentials for the calling user."""
    return make_call(
        STS,
        "GetSessionToken",
        sts.GetSessionTokenRequest(
            duration_seconds=duration_seconds, serial_number=serial_number, token_code=token_code
        ),
        sts.GetSessionTokenResponse,
    )


def assume_role(
    *,
    role_arn: str,
    role_session_name: str,
    duration_seconds: int | None = None,
    policy: str = "",
    policy_arns: Sequence[str] = (),
    tags: TagsArg = None,
    transitive_tag_keys: Sequence[str] = (),
    external_id: str = "",
    source_identity: str = "",
    serial_number: str = "",
    token_code: str = "",
) -> Call[sts.AssumeRoleResponse]:
    """Temporary credentials of a role session."""
    return make_call(
        STS,
        "AssumeRole",
        sts.AssumeRoleRequest(
            role_arn=role_arn,
            role_session_name=role_session_name,
            duration_seconds=duration_seconds,
            policy=policy,
            policy_arns=policy_arns,
            tags=to_tags(tags),
            transitive_tag_keys=transitive_tag_keys,
            external_id=external_id,
            source_identity=source_identity,
            serial_number=serial_number,
            token_code=token_code,
        ),
        sts.AssumeRoleResponse,
    )


def assume_role_with_web_identity(
    *,
    role_arn: str,
    role_session_name: str,
    web_identity_token: str,
    duration_seconds: int | None = None,
    policy: str = "",
    policy_arns: Sequence[str] = (),
) -> Call[sts.AssumeRoleWithWebIdentityResponse]:
    """Temporary credentials of a role session for an OIDC token (unsigned call)."""
    return make_call(
        STS,
        "AssumeRoleWithWebIdentity",
        sts.AssumeRoleWithWebIdentityRequest(
            role_arn=role_arn,
            role_session_name=role_session_name,
            web_identity_token=web_identity_token,
            duration_seconds=duration_seconds,
            policy=policy,
            policy_arns=policy_arns,
        ),
        sts.AssumeRoleWithWebIdentityResponse,
    )


def login(
    *, account: str, user_name: str, password: str, duration_seconds: int | None = None
) -> Call[sts.LoginResponse]:
    """Temporary credentials of an IAM user for its password (unsigned call)."""
    return make_call(
        STS,
        "Login",
        sts.LoginRequest(
            account=account,
            user_name=user_name,
            password=password,
            duration_seconds=duration_seconds,
        ),
        sts.LoginResponse,
    )
