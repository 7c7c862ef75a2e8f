"""The method table shared by `Client` and `AsyncClient` (one entry per RPC, plus pagers).

Each entry binds a request builder of `_calls`; see `_binding` for how the same entry becomes
a blocking method on `Client` and a coroutine method on `AsyncClient`. Responses are the
generated `iamd.v1` messages.
"""

from __future__ import annotations

from iamd_client import _calls as c
from iamd_client._binding import pager, rpc


class ApiMethods:
    """One method per RPC (snake_case, keyword-only) and an `iter_*` pager per paginated List."""

    __slots__ = ()

    # ---- Organization ----
    create_account = rpc(c.create_account)
    describe_account = rpc(c.describe_account)
    list_accounts = rpc(c.list_accounts)
    create_organizational_unit = rpc(c.create_organizational_unit)
    list_organizational_units = rpc(c.list_organizational_units)
    delete_organizational_unit = rpc(c.delete_organizational_unit)
    move_account = rpc(c.move_account)
    create_service_control_policy = rpc(c.create_service_control_policy)
    update_service_control_policy = rpc(c.update_service_control_policy)
    delete_service_control_policy = rpc(c.delete_service_control_policy)
    list_service_control_policies = rpc(c.list_service_control_policies)
    attach_service_control_policy = rpc(c.attach_service_control_policy)
    detach_service_control_policy = rpc(c.detach_service_control_policy)
    list_service_control_policies_for_target = rpc(c.list_service_control_policies_for_target)

    # ---- Users ----
    create_user = rpc(c.create_user)
    get_user = rpc(c.get_user)
    list_users = rpc(c.list_users)
    update_user = rpc(c.update_user)
    delete_user = rpc(c.delete_user)
    tag_user = rpc(c.tag_user)
    untag_user = rpc(c.untag_user)
    list_user_tags = rpc(c.list_user_tags)

    # ---- Groups ----
    create_group = rpc(c.create_group)
    get_group = rpc(c.get_group)
    list_groups = rpc(c.list_groups)
    delete_group = rpc(c.delete_group)
    add_user_to_group = rpc(c.add_user_to_group)
    remove_user_from_group = rpc(c.remove_user_from_group)
    list_groups_for_user = rpc(c.list_groups_for_user)

    # ---- Roles ----
    create_role = rpc(c.create_role)
    get_role = rpc(c.get_role)
    list_roles = rpc(c.list_roles)
    update_role = rpc(c.update_role)
    update_assume_role_policy = rpc(c.update_assume_role_policy)
    delete_role = rpc(c.delete_role)
    tag_role = rpc(c.tag_role)
    untag_role = rpc(c.untag_role)
    list_role_tags = rpc(c.list_role_tags)

    # ---- Managed policies ----
    create_policy = rpc(c.create_policy)
    get_policy = rpc(c.get_policy)
    list_policies = rpc(c.list_policies)
    delete_policy = rpc(c.delete_policy)
    create_policy_version = rpc(c.create_policy_version)
    get_policy_version = rpc(c.get_policy_version)
    list_policy_versions = rpc(c.list_policy_versions)
    delete_policy_version = rpc(c.delete_policy_version)
    set_default_policy_version = rpc(c.set_default_policy_version)

    # ---- Attachments ----
    attach_user_policy = rpc(c.attach_user_policy)
    detach_user_policy = rpc(c.detach_user_policy)
    list_attached_user_policies = rpc(c.list_attached_user_policies)
    attach_group_policy = rpc(c.attach_group_policy)
    detach_group_policy = rpc(c.detach_group_policy)
    list_attached_group_policies = rpc(c.list_attached_group_policies)
    attach_role_policy = rpc(c.attach_role_policy)
    detach_role_policy = rpc(c.detach_role_policy)
    list_attached_role_policies = rpc(c.list_attached_role_policies)

    # ---- Inline policies ----
    put_user_policy = rpc(c.put_user_policy)
    get_user_policy = rpc(c.get_user_policy)
    delete_user_policy = rpc(c.delete_user_policy)
    list_user_policies = rpc(c.list_user_policies)
    put_group_policy = rpc(c.put_group_policy)
    get_group_policy = rpc(c.get_group_policy)
    delete_group_policy = rpc(c.delete_group_policy)
    list_group_policies = rpc(c.list_group_policies)
    put_role_policy = rpc(c.put_role_policy)
    get_role_policy = rpc(c.get_role_policy)
    delete_role_policy = rpc(c.delete_role_policy)
    list_role_policies = rpc(c.list_role_policies)

    # ---- Permissions boundaries ----
    put_user_permissions_boundary = rpc(c.put_user_permissions_boundary)
    delete_user_permissions_boundary = rpc(c.delete_user_permissions_boundary)
    put_role_permissions_boundary = rpc(c.put_role_permissions_boundary)
    delete_role_permissions_boundary = rpc(c.delete_role_permissions_boundary)

    # ---- Access keys ----
    create_access_key = rpc(c.create_access_key)
    update_access_key = rpc(c.update_access_key)
    delete_access_key = rpc(c.delete_access_key)
    list_access_keys = rpc(c.list_access_keys)

    # ---- Resource policies and ACLs ----
    put_resource_policy = rpc(c.put_resource_policy)
    get_resource_policy = rpc(c.get_resource_policy)
    delete_resource_policy = rpc(c.delete_resource_policy)
    put_resource_acl = rpc(c.put_resource_acl)
    get_resource_acl = rpc(c.get_resource_acl)

    # ---- Service definitions ----
    put_service_definition = rpc(c.put_service_definition)
    get_service_definition = rpc(c.get_service_definition)
    list_service_definitions = rpc(c.list_service_definitions)
    delete_service_definition = rpc(c.delete_service_definition)

    # ---- Audit ----
    list_audit_events = rpc(c.list_audit_events)

    # ---- Credentials: login profiles, password policy, OIDC providers, sessions ----
    create_login_profile = rpc(c.create_login_profile)
    update_login_profile = rpc(c.update_login_profile)
    delete_login_profile = rpc(c.delete_login_profile)
    get_login_profile = rpc(c.get_login_profile)
    update_account_password_policy = rpc(c.update_account_password_policy)
    get_account_password_policy = rpc(c.get_account_password_policy)
    delete_account_password_policy = rpc(c.delete_account_password_policy)
    create_open_id_connect_provider = rpc(c.create_open_id_connect_provider)
    get_open_id_connect_provider = rpc(c.get_open_id_connect_provider)
    list_open_id_connect_providers = rpc(c.list_open_id_connect_providers)  # not paginated
    update_open_id_connect_provider_jwks = rpc(c.update_open_id_connect_provider_jwks)
    delete_open_id_connect_provider = rpc(c.delete_open_id_connect_provider)
    revoke_role_sessions = rpc(c.revoke_role_sessions)
    revoke_user_sessions = rpc(c.revoke_user_sessions)

    # ---- Authorization ----
    authorize = rpc(c.authorize)
    authorize_batch = rpc(c.authorize_batch)
    simulate_principal_policy = rpc(c.simulate_principal_policy)
    simulate_custom_policy = rpc(c.simulate_custom_policy)

    # ---- Analysis ----
    validate_policy = rpc(c.validate_policy)

    # ---- STS ----
    get_caller_identity = rpc(c.get_caller_identity)
    get_session_token = rpc(c.get_session_token)
    assume_role = rpc(c.assume_role)
    assume_role_with_web_identity = rpc(c.assume_role_with_web_identity)
    login = rpc(c.login)

    # ---- Pagers: iterate over the items of every page ----
    iter_accounts = pager(c.list_accounts, lambda r: r.accounts)
    iter_organizational_units = pager(c.list_organizational_units, lambda r: r.organizational_units)
    iter_service_control_policies = pager(c.list_service_control_policies, lambda r: r.policies)
    iter_service_control_policies_for_target = pager(
        c.list_service_control_policies_for_target, lambda r: r.policies
    )
    iter_users = pager(c.list_users, lambda r: r.users)
    iter_user_tags = pager(c.list_user_tags, lambda r: r.tags)
    iter_groups = pager(c.list_groups, lambda r: r.groups)
    iter_group_members = pager(c.get_group, lambda r: r.users)
    iter_groups_for_user = pager(c.list_groups_for_user, lambda r: r.groups)
    iter_roles = pager(c.list_roles, lambda r: r.roles)
    iter_role_tags = pager(c.list_role_tags, lambda r: r.tags)
    iter_policies = pager(c.list_policies, lambda r: r.policies)
    iter_policy_versions = pager(c.list_policy_versions, lambda r: r.versions)
    iter_attached_user_policies = pager(
        c.list_attached_user_policies, lambda r: r.attached_policies
    )
    iter_attached_group_policies = pager(
        c.list_attached_group_policies, lambda r: r.attached_policies
    )
    iter_attached_role_policies = pager(
        c.list_attached_role_policies, lambda r: r.attached_policies
    )
    iter_user_policies = pager(c.list_user_policies, lambda r: r.policy_names)
    iter_group_policies = pager(c.list_group_policies, lambda r: r.policy_names)
    iter_role_policies = pager(c.list_role_policies, lambda r: r.policy_names)
    iter_access_keys = pager(c.list_access_keys, lambda r: r.access_key_metadata)
    iter_service_definitions = pager(c.list_service_definitions, lambda r: r.definitions)
    iter_audit_events = pager(c.list_audit_events, lambda r: r.events)
    iter_simulate_principal_policy = pager(
        c.simulate_principal_policy, lambda r: r.evaluation_results
    )
    iter_simulate_custom_policy = pager(c.simulate_custom_policy, lambda r: r.evaluation_results)
    iter_validate_policy = pager(c.validate_policy, lambda r: r.findings)
