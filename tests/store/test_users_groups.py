"""Users and groups: CRUD, case-insensitive uniqueness, tags, pagination, delete conflicts."""

from __future__ import annotations

import json

import pytest
from iamd_server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    LimitExceeded,
    NotFound,
)
from iamd_server.store import Store
from iamd_server.store.records import Tag

ADMIN = "arn:aws:iam::111111111111:root"
ACCT = "222222222222"


def doc(action: str = "s3:GetObject", resource: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
        }
    )


async def test_user_crud(store: Store) -> None:
    w = await store.create_user(
        actor=ADMIN, account_id=ACCT, user_name="Alice", path="/dev/", tags=[Tag("team", "a")]
    )
    user = w.value
    assert user.arn == f"arn:aws:iam::{ACCT}:user/dev/Alice"
    assert user.user_id.startswith("AIDA") and len(user.user_id) == 21
    assert w.revision > 0
    assert (await store.get_user(account_id=ACCT, user_name="alice")).user_id == user.user_id
    with pytest.raises(AlreadyExists):
        await store.create_user(actor=ADMIN, account_id=ACCT, user_name="ALICE")
    renamed = await store.update_user(
        actor=ADMIN, account_id=ACCT, user_name="alice", new_user_name="Alicia", new_path="/"
    )
    assert renamed.value.arn == f"arn:aws:iam::{ACCT}:user/Alicia"
    assert renamed.revision > w.revision
    await store.delete_user(actor=ADMIN, account_id=ACCT, user_name="Alicia")
    with pytest.raises(NotFound, match="User Alicia not found"):
        await store.get_user(account_id=ACCT, user_name="Alicia")


async def test_user_validation(store: Store) -> None:
    with pytest.raises(InvalidArgument):
        await store.create_user(actor=ADMIN, account_id=ACCT, user_name="bad name")
    with pytest.raises(InvalidArgument):
        await store.create_user(actor=ADMIN, account_id=ACCT, user_name="x" * 65)
    with pytest.raises(InvalidArgument):
        await store.create_user(actor=ADMIN, account_id=ACCT, user_name="ok", path="/no-slash")
    with pytest.raises(InvalidArgument, match="reserved"):
        await store.create_user(
            actor=ADMIN, account_id=ACCT, user_name="ok", tags=[Tag("AWS:x", "1")]
        )
    with pytest.raises(NotFound):
        await store.create_user(actor=ADMIN, account_id="999999999999", user_name="ok")


async def test_list_users_paginates_and_filters(store: Store) -> None:
    for i in range(7):
        path = "/a/" if i % 2 else "/b/"
        await store.create_user(actor=ADMIN, account_id=ACCT, user_name=f"u{i}", path=path)
    names: list[str] = []
    marker = None
    while True:
        page = await store.list_users(account_id=ACCT, marker=marker, max_items=3)
        names += [u.user_name for u in page.items]
        if not page.is_truncated:
            assert page.marker is None
            break
        marker = page.marker
    assert names == [f"u{i}" for i in range(7)]
    only_a = await store.list_users(account_id=ACCT, path_prefix="/a/")
    assert [u.user_name for u in only_a.items] == ["u1", "u3", "u5"]
    with pytest.raises(InvalidArgument):
        await store.list_users(account_id=ACCT, max_items=0)


async def test_user_tags(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="t")
    await store.tag_user(
        actor=ADMIN, account_id=ACCT, user_name="t", tags=[Tag("Department", "x"), Tag("k", "")]
    )
    await store.tag_user(actor=ADMIN, account_id=ACCT, user_name="t", tags=[Tag("department", "y")])
    tags = (await store.list_user_tags(account_id=ACCT, user_name="t")).items
    assert tags == [Tag("k", ""), Tag("department", "y")]
    await store.untag_user(actor=ADMIN, account_id=ACCT, user_name="t", tag_keys=["K"])
    assert (await store.get_user(account_id=ACCT, user_name="t")).tags == (Tag("department", "y"),)
    many = [Tag(f"k{i}", "v") for i in range(50)]
    with pytest.raises(LimitExceeded, match="Tags"):
        await store.tag_user(actor=ADMIN, account_id=ACCT, user_name="t", tags=many)


async def test_groups_and_membership(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="bob")
    g = (await store.create_group(actor=ADMIN, account_id=ACCT, group_name="Devs")).value
    assert g.arn == f"arn:aws:iam::{ACCT}:group/Devs" and g.group_id.startswith("AGPA")
    with pytest.raises(AlreadyExists):
        await store.create_group(actor=ADMIN, account_id=ACCT, group_name="devs")
    await store.add_user_to_group(actor=ADMIN, account_id=ACCT, group_name="devs", user_name="bob")
    group, members = await store.get_group(account_id=ACCT, group_name="Devs")
    assert group.group_name == "Devs"
    assert [u.user_name for u in members.items] == ["bob"]
    groups = await store.list_groups_for_user(account_id=ACCT, user_name="bob")
    assert [x.group_name for x in groups.items] == ["Devs"]
    with pytest.raises(FailedPrecondition, match="member"):
        await store.delete_group(actor=ADMIN, account_id=ACCT, group_name="Devs")
    with pytest.raises(FailedPrecondition, match="group membership"):
        await store.delete_user(actor=ADMIN, account_id=ACCT, user_name="bob")
    await store.remove_user_from_group(
        actor=ADMIN, account_id=ACCT, group_name="Devs", user_name="bob"
    )
    with pytest.raises(NotFound):
        await store.remove_user_from_group(
            actor=ADMIN, account_id=ACCT, group_name="Devs", user_name="bob"
        )
    await store.delete_group(actor=ADMIN, account_id=ACCT, group_name="Devs")
    assert (await store.list_groups(account_id=ACCT)).items == []


async def test_groups_per_user_quota(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="bob")
    for i in range(11):
        await store.create_group(actor=ADMIN, account_id=ACCT, group_name=f"g{i}")
    for i in range(10):
        await store.add_user_to_group(
            actor=ADMIN, account_id=ACCT, group_name=f"g{i}", user_name="bob"
        )
    with pytest.raises(LimitExceeded, match="GroupsPerUser"):
        await store.add_user_to_group(
            actor=ADMIN, account_id=ACCT, group_name="g10", user_name="bob"
        )


async def test_delete_user_lists_what_remains(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="c")
    await store.put_user_policy(
        actor=ADMIN, account_id=ACCT, user_name="c", policy_name="p", policy_document=doc()
    )
    p = (
        await store.create_policy(
            actor=ADMIN, account_id=ACCT, policy_name="m", policy_document=doc()
        )
    ).value
    await store.attach_user_policy(actor=ADMIN, account_id=ACCT, user_name="c", policy_arn=p.arn)
    await store.create_access_key(
        actor=ADMIN,
        account_id=ACCT,
        user_name="c",
        access_key_id="AKIAAAAAAAAAAAAAAAAA",
        encrypted_secret=b"x",
    )
    with pytest.raises(FailedPrecondition) as err:
        await store.delete_user(actor=ADMIN, account_id=ACCT, user_name="c")
    reason = err.value.reason
    assert "access key" in reason and "inline" in reason and "attached" in reason
