"""Managed policies, versions, attachments, inline policies and boundaries."""

from __future__ import annotations

import json

import asyncpg
import pytest
from iamd_server.errors import (
    AlreadyExists,
    FailedPrecondition,
    LimitExceeded,
    MalformedPolicyDocument,
    NotFound,
)
from iamd_server.store import Quotas, Store

ADMIN = "arn:aws:iam::111111111111:root"
ACCT = "222222222222"


def doc(action: str = "s3:GetObject", resource: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
        }
    )


async def _policy(store: Store, name: str = "P") -> str:
    w = await store.create_policy(
        actor=ADMIN, account_id=ACCT, policy_name=name, policy_document=doc(), path="/x/"
    )
    return w.value.arn


async def test_policy_versions(store: Store) -> None:
    arn = await _policy(store)
    assert arn == f"arn:aws:iam::{ACCT}:policy/x/P"
    got = await store.get_policy(policy_arn=arn)
    assert got.default_version_id == "v1" and got.policy_id.startswith("ANPA")
    with pytest.raises(AlreadyExists):
        await _policy(store, "p")
    for i in range(2, 6):
        v = await store.create_policy_version(
            actor=ADMIN, policy_arn=arn, policy_document=doc(f"s3:A{i}"), set_as_default=i == 3
        )
        assert v.value.version_id == f"v{i}"
    with pytest.raises(LimitExceeded, match="5 versions"):
        await store.create_policy_version(actor=ADMIN, policy_arn=arn, policy_document=doc())
    with pytest.raises(FailedPrecondition, match="default"):
        await store.delete_policy_version(actor=ADMIN, policy_arn=arn, version_id="v3")
    await store.delete_policy_version(actor=ADMIN, policy_arn=arn, version_id="v5")
    v6 = await store.create_policy_version(actor=ADMIN, policy_arn=arn, policy_document=doc())
    assert v6.value.version_id == "v6"  # never reused
    versions = await store.list_policy_versions(policy_arn=arn, max_items=2)
    assert [v.version_id for v in versions.items] == ["v6", "v4"] and versions.is_truncated
    rest = await store.list_policy_versions(policy_arn=arn, marker=versions.marker)
    assert [v.version_id for v in rest.items] == ["v3", "v2", "v1"]
    await store.set_default_policy_version(actor=ADMIN, policy_arn=arn, version_id="v6")
    current = await store.get_policy_version(policy_arn=arn, version_id="v6")
    assert current.is_default_version
    with pytest.raises(NotFound):
        await store.get_policy_version(policy_arn=arn, version_id="v5")


async def test_policy_document_checks(store: Store) -> None:
    legacy = (
        '{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    )
    with pytest.raises(MalformedPolicyDocument, match="2012-10-17"):
        await store.create_policy(
            actor=ADMIN, account_id=ACCT, policy_name="L", policy_document=legacy
        )
    with pytest.raises(MalformedPolicyDocument):
        await store.create_policy(
            actor=ADMIN, account_id=ACCT, policy_name="L", policy_document="{nope"
        )
    big = doc(resource="arn:aws:s3:::" + "b" * 7000)
    with pytest.raises(LimitExceeded):
        await store.create_policy(
            actor=ADMIN, account_id=ACCT, policy_name="B", policy_document=big
        )


async def test_attachments_and_delete_conflicts(db_pool: asyncpg.Pool, store: Store) -> None:
    small = Store(db_pool, Quotas(user_attached_policies=2))
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="u")
    arns = [await _policy(store, f"P{i}") for i in range(3)]
    await small.attach_user_policy(actor=ADMIN, account_id=ACCT, user_name="u", policy_arn=arns[0])
    await small.attach_user_policy(actor=ADMIN, account_id=ACCT, user_name="u", policy_arn=arns[1])
    with pytest.raises(LimitExceeded, match="PoliciesPerUser"):
        await small.attach_user_policy(
            actor=ADMIN, account_id=ACCT, user_name="u", policy_arn=arns[2]
        )
    attached = await store.list_attached_user_policies(account_id=ACCT, user_name="u")
    assert [a.policy_name for a in attached.items] == ["P0", "P1"]
    assert (await store.get_policy(policy_arn=arns[0])).attachment_count == 1
    only = await store.list_policies(account_id=ACCT, only_attached=True)
    assert [p.policy_name for p in only.items] == ["P0", "P1"]
    with pytest.raises(FailedPrecondition, match="attachment"):
        await store.delete_policy(actor=ADMIN, policy_arn=arns[0])
    await store.detach_user_policy(actor=ADMIN, account_id=ACCT, user_name="u", policy_arn=arns[0])
    await store.delete_policy(actor=ADMIN, policy_arn=arns[0])
    with pytest.raises(NotFound):
        await store.get_policy(policy_arn=arns[0])
    # Groups and roles share the code path.
    await store.create_group(actor=ADMIN, account_id=ACCT, group_name="g")
    await store.attach_group_policy(
        actor=ADMIN, account_id=ACCT, group_name="g", policy_arn=arns[2]
    )
    page = await store.list_attached_group_policies(account_id=ACCT, group_name="g")
    assert [a.policy_arn for a in page.items] == [arns[2]]


async def test_boundary(store: Store) -> None:
    arn = await _policy(store)
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="u")
    await store.put_user_permissions_boundary(
        actor=ADMIN, account_id=ACCT, user_name="u", permissions_boundary=arn
    )
    assert (await store.get_user(account_id=ACCT, user_name="u")).permissions_boundary_arn == arn
    assert (await store.get_policy(policy_arn=arn)).permissions_boundary_usage_count == 1
    with pytest.raises(FailedPrecondition, match="boundary"):
        await store.delete_policy(actor=ADMIN, policy_arn=arn)
    await store.delete_user_permissions_boundary(actor=ADMIN, account_id=ACCT, user_name="u")
    await store.delete_policy(actor=ADMIN, policy_arn=arn)


async def test_inline_policies_and_size_sum(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="u")
    one = doc(resource="arn:aws:s3:::" + "a" * 900)
    await store.put_user_policy(
        actor=ADMIN, account_id=ACCT, user_name="u", policy_name="one", policy_document=one
    )
    await store.put_user_policy(
        actor=ADMIN, account_id=ACCT, user_name="u", policy_name="two", policy_document=one
    )
    with pytest.raises(LimitExceeded, match="2048"):
        await store.put_user_policy(
            actor=ADMIN, account_id=ACCT, user_name="u", policy_name="three", policy_document=one
        )
    # Replacing a policy counts its new size, not old + new.
    await store.put_user_policy(
        actor=ADMIN, account_id=ACCT, user_name="u", policy_name="two", policy_document=one
    )
    names = await store.list_user_policies(account_id=ACCT, user_name="u")
    assert names.items == ["one", "two"]
    got = await store.get_user_policy(account_id=ACCT, user_name="u", policy_name="one")
    assert got.document == one
    await store.delete_user_policy(actor=ADMIN, account_id=ACCT, user_name="u", policy_name="one")
    with pytest.raises(NotFound):
        await store.get_user_policy(account_id=ACCT, user_name="u", policy_name="one")
