"""Roles with trust policies, resource policies, ACLs: principals kept by unique id."""

from __future__ import annotations

import json

import pytest
from iamd_server.errors import InvalidArgument, MalformedPolicyDocument
from iamd_server.store import Store
from iamd_server.store.records import AclGrant

ADMIN = "arn:aws:iam::111111111111:root"
ACCT = "222222222222"


def doc(action: str = "s3:GetObject", resource: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
        }
    )


def trust(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": list(principals)},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


ALICE = f"arn:aws:iam::{ACCT}:user/alice"
OUTSIDER = "arn:aws:iam::999999999999:user/someone"


def _principals(document: str) -> list[str]:
    return list(json.loads(document)["Statement"][0]["Principal"]["AWS"])


async def test_role_trust_by_unique_id(store: Store) -> None:
    alice = (await store.create_user(actor=ADMIN, account_id=ACCT, user_name="alice")).value
    role = (
        await store.create_role(
            actor=ADMIN,
            account_id=ACCT,
            role_name="R",
            assume_role_policy_document=trust(ALICE, OUTSIDER),
            max_session_duration=7200,
            description="d",
        )
    ).value
    assert role.role_id.startswith("AROA") and role.max_session_duration == 7200
    loaded = await store.load_principal_policies(principal_arn=role.arn)
    assert loaded is not None and loaded.trust_policy is not None
    assert _principals(loaded.trust_policy) == [ALICE, OUTSIDER]
    # Delete and re-create alice: the grant stays with the old unique id.
    await store.delete_user(actor=ADMIN, account_id=ACCT, user_name="alice")
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="alice")
    loaded = await store.load_principal_policies(principal_arn=role.arn)
    assert loaded is not None and loaded.trust_policy is not None
    assert _principals(loaded.trust_policy) == [alice.user_id, OUTSIDER]
    shown = (await store.get_role(account_id=ACCT, role_name="r")).assume_role_policy_document
    assert _principals(shown) == [alice.user_id, OUTSIDER]


async def test_trust_follows_rename(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="alice")
    await store.create_role(
        actor=ADMIN, account_id=ACCT, role_name="R", assume_role_policy_document=trust(ALICE)
    )
    await store.update_user(actor=ADMIN, account_id=ACCT, user_name="alice", new_user_name="al")
    role = await store.get_role(account_id=ACCT, role_name="R")
    assert _principals(role.assume_role_policy_document) == [f"arn:aws:iam::{ACCT}:user/al"]


async def test_unknown_principal_in_known_account(store: Store) -> None:
    with pytest.raises(MalformedPolicyDocument, match="Invalid principal in policy"):
        await store.create_role(
            actor=ADMIN, account_id=ACCT, role_name="R", assume_role_policy_document=trust(ALICE)
        )


async def test_role_update_and_validation(store: Store) -> None:
    await store.create_role(
        actor=ADMIN,
        account_id=ACCT,
        role_name="R",
        assume_role_policy_document=trust(f"arn:aws:iam::{ACCT}:root"),
    )
    w = await store.update_role(
        actor=ADMIN, account_id=ACCT, role_name="R", description="new", max_session_duration=43200
    )
    assert w.value.description == "new" and w.value.max_session_duration == 43200
    with pytest.raises(InvalidArgument):
        await store.update_role(actor=ADMIN, account_id=ACCT, role_name="R", max_session_duration=1)
    await store.put_role_policy(
        actor=ADMIN, account_id=ACCT, role_name="R", policy_name="i", policy_document=doc()
    )
    loaded = await store.load_principal_policies(principal_arn=f"arn:aws:iam::{ACCT}:role/R")
    assert loaded is not None
    assert [(p.policy_id, p.source_policy_type) for p in loaded.identity] == [("i", "role")]
    session = f"arn:aws:sts::{ACCT}:assumed-role/R/s1"
    assert await store.get_account_for_principal(principal_arn=session) == ACCT
    await store.delete_role_policy(actor=ADMIN, account_id=ACCT, role_name="R", policy_name="i")
    await store.delete_role(actor=ADMIN, account_id=ACCT, role_name="R")
    assert (await store.list_roles(account_id=ACCT)).items == []


async def test_resource_policy_and_acl(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="alice")
    arn = f"arn:aws:s3:::bucket-{ACCT}"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ALICE},
                    "Action": "s3:GetObject",
                    "Resource": f"{arn}/*",
                }
            ],
        }
    )
    with pytest.raises(InvalidArgument, match="owner_account_id"):
        await store.put_resource_policy(actor=ADMIN, resource_arn=arn, policy_document=policy)
    await store.put_resource_policy(
        actor=ADMIN, resource_arn=arn, policy_document=policy, owner_account_id=ACCT
    )
    assert (await store.get_resource_policy(resource_arn=arn)).document == policy
    await store.put_resource_acl(
        actor=ADMIN,
        resource_arn=arn,
        owner_account_id=ACCT,
        grants=[AclGrant("*", "READ"), AclGrant(ACCT, "FULL_CONTROL")],
    )
    assert await store.get_resource_acl(resource_arn=arn) == [
        AclGrant("*", "READ"),
        AclGrant(ACCT, "FULL_CONTROL"),
    ]
    alice_id = (await store.get_user(account_id=ACCT, user_name="alice")).user_id
    await store.delete_user(actor=ADMIN, account_id=ACCT, user_name="alice")
    loaded = await store.load_resource_policy(resource_arn=arn)
    assert loaded is not None and loaded.document is not None and loaded.account_id == ACCT
    principal = json.loads(loaded.document)["Statement"][0]["Principal"]["AWS"]
    assert principal == alice_id and len(loaded.acl) == 2
    await store.delete_resource_policy(actor=ADMIN, resource_arn=arn)
    await store.put_resource_acl(actor=ADMIN, resource_arn=arn, owner_account_id=ACCT, grants=[])
    assert await store.load_resource_policy(resource_arn=arn) is None
