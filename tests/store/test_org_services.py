"""Organization (accounts, OUs, SCPs), SCP levels in the loader, service definitions."""

from __future__ import annotations

import json

import pytest
from iamd_server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from iamd_server.store import Store

ADMIN = "arn:aws:iam::111111111111:root"
MGMT = "111111111111"
ACCT = "222222222222"


def doc(action: str = "s3:GetObject", resource: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
        }
    )


DENY_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
)


async def test_bootstrap_is_idempotent(store: Store) -> None:
    again = await store.bootstrap(management_account_id=MGMT)
    assert again.value.account_id == MGMT
    org = await store.get_organization()
    assert org is not None and org.management_account_id == MGMT and org.root_id.startswith("r-")
    accounts = await store.list_accounts()
    assert [a.account_id for a in accounts.items] == [MGMT, ACCT]
    with pytest.raises(AlreadyExists):
        await store.create_account(actor=ADMIN, name="dup", account_id=ACCT)
    generated = (await store.create_account(actor=ADMIN, name="gen")).value
    assert len(generated.account_id) == 12 and generated.root_arn.endswith(":root")


async def test_ous_scps_and_levels(store: Store) -> None:
    org = await store.get_organization()
    assert org is not None
    ou = (
        await store.create_organizational_unit(actor=ADMIN, parent_id=org.root_id, name="Eng")
    ).value
    assert ou.id.startswith("ou-")
    await store.move_account(actor=ADMIN, account_id=ACCT, destination_parent_id=ou.id)
    with pytest.raises(FailedPrecondition, match="not empty"):
        await store.delete_organizational_unit(actor=ADMIN, ou_id=ou.id)
    scp = (
        await store.create_service_control_policy(actor=ADMIN, name="deny", document=DENY_ALL)
    ).value
    assert scp.policy_id.startswith("p-")
    await store.attach_service_control_policy(actor=ADMIN, policy_id=scp.policy_id, target_id=ou.id)
    with pytest.raises(AlreadyExists):
        await store.attach_service_control_policy(
            actor=ADMIN, policy_id=scp.policy_id, target_id=ou.id
        )
    for_ou = await store.list_service_control_policies_for_target(target_id=ou.id)
    assert sorted(p.name for p in for_ou.items) == ["FullAWSAccess", "deny"]
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="u")
    loaded = await store.load_principal_policies(principal_arn=f"arn:aws:iam::{ACCT}:user/u")
    assert loaded is not None and not loaded.is_management_account
    levels = [{p.policy_id.rsplit("/", 1)[-1] for p in level} for level in loaded.scp_levels]
    full = "p-FullAWSAccess"
    assert levels == [{full}, {full, scp.policy_id}, {full}]
    mgmt_root = await store.load_principal_policies(principal_arn=f"arn:aws:iam::{MGMT}:root")
    assert mgmt_root is not None and mgmt_root.is_management_account and mgmt_root.scp_levels == ()
    with pytest.raises(FailedPrecondition, match="attached"):
        await store.delete_service_control_policy(actor=ADMIN, policy_id=scp.policy_id)
    await store.detach_service_control_policy(actor=ADMIN, policy_id=scp.policy_id, target_id=ou.id)
    with pytest.raises(FailedPrecondition, match="at least one"):
        await store.detach_service_control_policy(
            actor=ADMIN, policy_id="p-FullAWSAccess", target_id=ACCT
        )
    await store.update_service_control_policy(actor=ADMIN, policy_id=scp.policy_id, description="x")
    await store.delete_service_control_policy(actor=ADMIN, policy_id=scp.policy_id)
    await store.move_account(actor=ADMIN, account_id=ACCT, destination_parent_id="r-root")
    await store.delete_organizational_unit(actor=ADMIN, ou_id=ou.id)
    with pytest.raises(NotFound):
        await store.delete_organizational_unit(actor=ADMIN, ou_id=ou.id)


async def test_user_loader_collects_group_policies(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="u")
    await store.create_group(actor=ADMIN, account_id=ACCT, group_name="g")
    await store.add_user_to_group(actor=ADMIN, account_id=ACCT, group_name="g", user_name="u")
    m = (
        await store.create_policy(
            actor=ADMIN, account_id=ACCT, policy_name="m", policy_document=doc()
        )
    ).value
    await store.put_user_policy(
        actor=ADMIN, account_id=ACCT, user_name="u", policy_name="ui", policy_document=doc()
    )
    await store.put_group_policy(
        actor=ADMIN, account_id=ACCT, group_name="g", policy_name="gi", policy_document=doc()
    )
    await store.attach_group_policy(actor=ADMIN, account_id=ACCT, group_name="g", policy_arn=m.arn)
    await store.attach_user_policy(actor=ADMIN, account_id=ACCT, user_name="u", policy_arn=m.arn)
    await store.put_user_permissions_boundary(
        actor=ADMIN, account_id=ACCT, user_name="u", permissions_boundary=m.arn
    )
    loaded = await store.load_principal_policies(principal_arn=f"arn:aws:iam::{ACCT}:user/u")
    assert loaded is not None
    assert [(p.policy_id, p.source_policy_type) for p in loaded.identity] == [
        ("ui", "user"),
        (m.arn, "user-managed"),
        ("gi", "group"),
    ]
    assert loaded.boundary is not None and loaded.boundary.policy_id == m.arn
    assert loaded.group_arns == (f"arn:aws:iam::{ACCT}:group/g",)
    assert await store.load_principal_policies(principal_arn=f"arn:aws:iam::{ACCT}:user/x") is None


async def test_service_definitions(store: Store) -> None:
    definition = {
        "service_prefix": "orders",
        "actions": [{"name": "GetOrder", "resource_types": ["order"], "condition_keys": []}],
        "resource_types": [{"name": "order", "arn_pattern": "arn:aws:orders:::order/${OrderId}"}],
        "condition_keys": [{"name": "orders:Region", "type": "String"}],
    }
    w = await store.put_service_definition(actor=ADMIN, definition=definition)
    assert w.value.definition["resource_types"][0]["requires_resource_policy_grant"] is False
    got = await store.get_service_definition(service_prefix="orders")
    assert got.definition["actions"][0]["name"] == "GetOrder"
    assert [d.service_prefix for d in await store.load_service_definitions()] == ["orders"]
    with pytest.raises(FailedPrecondition):
        await store.put_service_definition(
            actor=ADMIN, definition={**definition, "service_prefix": "iam"}
        )
    bad = {**definition, "actions": [{"name": "X", "resource_types": ["nope"]}]}
    with pytest.raises(InvalidArgument):
        await store.put_service_definition(actor=ADMIN, definition=bad)
    await store.delete_service_definition(actor=ADMIN, service_prefix="orders")
    assert (await store.list_service_definitions()).items == []
