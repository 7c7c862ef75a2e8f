"""Manage API: organization (accounts, OUs, SCPs) and member-account root credentials."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb

from tests.api.management_support import (
    document,
    expect_error,
    management_account,
    new_member_account,
    new_user,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def test_accounts(root: Stubs) -> None:
    m = root.management
    mgmt = management_account(root)
    name = unique("acct")
    created = m.CreateAccount(pb.CreateAccountRequest(name=name, email=f"{name}@example.com"))
    account = created.account
    assert len(account.account_id) == 12 and account.account_id.isdigit()
    assert account.name == name and account.email == f"{name}@example.com"
    assert account.parent_id == "r-root"
    assert account.root_arn == f"arn:aws:iam::{account.account_id}:root"
    assert account.arn.startswith(f"arn:aws:organizations::{mgmt}:account/o-")
    assert account.arn.endswith("/" + account.account_id)
    assert created.revision > 0

    described = m.DescribeAccount(pb.DescribeAccountRequest(account_id=account.account_id))
    assert described.account == account
    no_email = m.CreateAccount(pb.CreateAccountRequest(name=unique("acct"))).account
    assert not no_email.HasField("email")
    listed = {a.account_id for a in m.ListAccounts(pb.ListAccountsRequest(max_items=1000)).accounts}
    assert {mgmt, account.account_id, no_email.account_id} <= listed

    expect_error(
        lambda: m.CreateAccount(pb.CreateAccountRequest(name="")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="name",
    )
    expect_error(
        lambda: m.CreateAccount(pb.CreateAccountRequest(name="x", email="nope")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="email",
    )
    expect_error(
        lambda: m.DescribeAccount(pb.DescribeAccountRequest(account_id="000000000001")),
        grpc.StatusCode.NOT_FOUND,
    )


def test_organizational_units_and_moves(root: Stubs) -> None:
    m = root.management
    ou = m.CreateOrganizationalUnit(
        pb.CreateOrganizationalUnitRequest(parent_id="r-root", name=unique("ou"))
    ).organizational_unit
    assert ou.id.startswith("ou-") and ou.parent_id == "r-root"
    child = m.CreateOrganizationalUnit(
        pb.CreateOrganizationalUnitRequest(parent_id=ou.id, name=unique("child"))
    ).organizational_unit
    assert child.parent_id == ou.id
    top = m.ListOrganizationalUnits(pb.ListOrganizationalUnitsRequest()).organizational_units
    assert ou.id in {o.id for o in top}
    under = m.ListOrganizationalUnits(pb.ListOrganizationalUnitsRequest(parent_id=ou.id))
    assert [o.id for o in under.organizational_units] == [child.id]

    account = m.CreateAccount(pb.CreateAccountRequest(name=unique("mover"))).account
    expect_error(
        lambda: m.MoveAccount(
            pb.MoveAccountRequest(
                account_id=account.account_id,
                destination_parent_id=child.id,
                source_parent_id=ou.id,
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    m.MoveAccount(
        pb.MoveAccountRequest(
            account_id=account.account_id, destination_parent_id=child.id, source_parent_id="r-root"
        )
    )
    moved = m.DescribeAccount(pb.DescribeAccountRequest(account_id=account.account_id)).account
    assert moved.parent_id == child.id
    in_child = m.ListAccounts(pb.ListAccountsRequest(parent_id=child.id)).accounts
    assert [a.account_id for a in in_child] == [account.account_id]

    expect_error(
        lambda: m.DeleteOrganizationalUnit(
            pb.DeleteOrganizationalUnitRequest(organizational_unit_id=ou.id)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    expect_error(
        lambda: m.DeleteOrganizationalUnit(
            pb.DeleteOrganizationalUnitRequest(organizational_unit_id=child.id)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    m.MoveAccount(
        pb.MoveAccountRequest(account_id=account.account_id, destination_parent_id="r-root")
    )
    m.DeleteOrganizationalUnit(pb.DeleteOrganizationalUnitRequest(organizational_unit_id=child.id))
    m.DeleteOrganizationalUnit(pb.DeleteOrganizationalUnitRequest(organizational_unit_id=ou.id))
    expect_error(
        lambda: m.DeleteOrganizationalUnit(
            pb.DeleteOrganizationalUnitRequest(organizational_unit_id=ou.id)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    expect_error(
        lambda: m.CreateOrganizationalUnit(
            pb.CreateOrganizationalUnitRequest(parent_id="ou-none-12345678", name="x")
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_service_control_policies(root: Stubs) -> None:
    m = root.management
    name = unique("deny-s3")
    created = m.CreateServiceControlPolicy(
        pb.CreateServiceControlPolicyRequest(
            name=name, description="no s3", document=document("s3:*", effect="Deny")
        )
    )
    scp = created.policy
    assert scp.policy_id.startswith("p-") and not scp.aws_managed
    assert scp.name == name and scp.description == "no s3"

    updated = m.UpdateServiceControlPolicy(
        pb.UpdateServiceControlPolicyRequest(policy_id=scp.policy_id, description="still no s3")
    )
    assert updated.policy.description == "still no s3" and updated.policy.name == name
    assert updated.revision > created.revision

    listed = m.ListServiceControlPolicies(pb.ListServiceControlPoliciesRequest()).policies
    ids = {p.policy_id for p in listed}
    assert {"p-FullAWSAccess", scp.policy_id} <= ids
    full = next(p for p in listed if p.policy_id == "p-FullAWSAccess")
    assert full.aws_managed

    account = m.CreateAccount(pb.CreateAccountRequest(name=unique("guarded"))).account
    m.AttachServiceControlPolicy(
        pb.AttachServiceControlPolicyRequest(policy_id=scp.policy_id, target_id=account.account_id)
    )
    on_account = m.ListServiceControlPoliciesForTarget(
        pb.ListServiceControlPoliciesForTargetRequest(target_id=account.account_id)
    ).policies
    assert {p.policy_id for p in on_account} == {"p-FullAWSAccess", scp.policy_id}
    on_root = m.ListServiceControlPoliciesForTarget(
        pb.ListServiceControlPoliciesForTargetRequest(target_id="r-root")
    ).policies
    assert "p-FullAWSAccess" in {p.policy_id for p in on_root}

    expect_error(
        lambda: m.DeleteServiceControlPolicy(
            pb.DeleteServiceControlPolicyRequest(policy_id=scp.policy_id)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    m.DetachServiceControlPolicy(
        pb.DetachServiceControlPolicyRequest(policy_id=scp.policy_id, target_id=account.account_id)
    )
    # A target keeps at least one SCP.
    expect_error(
        lambda: m.DetachServiceControlPolicy(
            pb.DetachServiceControlPolicyRequest(
                policy_id="p-FullAWSAccess", target_id=account.account_id
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    m.DeleteServiceControlPolicy(pb.DeleteServiceControlPolicyRequest(policy_id=scp.policy_id))
    expect_error(
        lambda: m.UpdateServiceControlPolicy(
            pb.UpdateServiceControlPolicyRequest(policy_id=scp.policy_id, name="x")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    expect_error(
        lambda: m.CreateServiceControlPolicy(
            pb.CreateServiceControlPolicyRequest(name=unique("bad"), document="[]")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    expect_error(
        lambda: m.UpdateServiceControlPolicy(
            pb.UpdateServiceControlPolicyRequest(policy_id="p-FullAWSAccess", name="mine")
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )


def test_member_root_credentials_rule(root: Stubs, server: ServerProcess) -> None:
    """The management root may create a member root's FIRST key, nothing more."""
    account_id, member = new_member_account(root, server.endpoint)
    try:
        # The member root works in its own account...
        user = unique("member-user")
        created = member.management.CreateUser(pb.CreateUserRequest(user_name=user)).user
        assert created.account_id == account_id
        keys = member.management.ListAccessKeys(pb.ListAccessKeysRequest()).access_key_metadata
        assert len(keys) == 1 and keys[0].account_id == account_id
        # ...and manages its own keys from now on; the management root no longer can.
        expect_error(
            lambda: root.management.CreateAccessKey(
                pb.CreateAccessKeyRequest(account_id=account_id)
            ),
            DENIED,
        )
        expect_error(
            lambda: root.management.ListAccessKeys(pb.ListAccessKeysRequest(account_id=account_id)),
            DENIED,
        )
        # The management root cannot create keys for the member's users either.
        expect_error(
            lambda: root.management.CreateAccessKey(
                pb.CreateAccessKeyRequest(account_id=account_id, user_name=user)
            ),
            DENIED,
        )
        # Organization calls belong to the management account only.
        expect_error(
            lambda: member.management.CreateAccount(pb.CreateAccountRequest(name="sneaky")),
            DENIED,
        )
        expect_error(lambda: member.management.ListAccounts(pb.ListAccountsRequest()), DENIED)
        expect_error(lambda: member.management.DescribeAccount(pb.DescribeAccountRequest()), DENIED)
        # A member root cannot seed another member's root.
        other = root.management.CreateAccount(pb.CreateAccountRequest(name=unique("o"))).account
        expect_error(
            lambda: member.management.CreateAccessKey(
                pb.CreateAccessKeyRequest(account_id=other.account_id)
            ),
            DENIED,
        )
    finally:
        member.close()
    expect_error(
        lambda: root.management.CreateAccessKey(
            pb.CreateAccessKeyRequest(account_id="000000000002")
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_management_account_users_need_organizations_permissions(
    root: Stubs, server: ServerProcess
) -> None:
    _, plain = new_user(root, server.endpoint, policy=document("iam:*"))
    _, admin = new_user(root, server.endpoint, policy=document("organizations:*"))
    try:
        expect_error(lambda: plain.management.ListAccounts(pb.ListAccountsRequest()), DENIED)
        accounts = admin.management.ListAccounts(pb.ListAccountsRequest()).accounts
        assert management_account(root) in {a.account_id for a in accounts}
        created = admin.management.CreateOrganizationalUnit(
            pb.CreateOrganizationalUnitRequest(parent_id="r-root", name=unique("ou"))
        )
        assert created.organizational_unit.id.startswith("ou-")
    finally:
        plain.close()
        admin.close()
