"""Manage API: users (real server, real PostgreSQL, signed channel)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import (
    document,
    expect_error,
    management_account,
    new_member_account,
    new_user,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def test_create_get_update_delete_user(root: Stubs) -> None:
    m = root.management
    name = unique("alice")
    created = m.CreateUser(
        pb.CreateUserRequest(
            user_name=name, path="/eng/", tags=[types_pb2.Tag(key="team", value="core")]
        )
    )
    user = created.user
    account = user.account_id
    assert user.user_name == name
    assert user.arn == f"arn:aws:iam::{account}:user/eng/{name}"
    assert user.path == "/eng/"
    assert user.user_id.startswith("AIDA") and len(user.user_id) == 21
    assert user.create_date.seconds > 0
    assert [(t.key, t.value) for t in user.tags] == [("team", "core")]
    assert created.revision > 0

    fetched = m.GetUser(pb.GetUserRequest(user_name=name.upper())).user
    assert fetched.user_id == user.user_id and fetched.arn == user.arn

    renamed = m.UpdateUser(
        pb.UpdateUserRequest(user_name=name, new_user_name=name + "-x", new_path="/ops/")
    )
    assert renamed.user.arn == f"arn:aws:iam::{account}:user/ops/{name}-x"
    assert renamed.user.user_id == user.user_id
    assert renamed.revision > created.revision

    deleted = m.DeleteUser(pb.DeleteUserRequest(user_name=name + "-x"))
    assert deleted.revision > renamed.revision
    expect_error(
        lambda: m.GetUser(pb.GetUserRequest(user_name=name + "-x")),
        grpc.StatusCode.NOT_FOUND,
        reason="NoSuchEntity",
    )


def test_user_names_are_unique_case_insensitively(root: Stubs) -> None:
    name = unique("Bob")
    root.management.CreateUser(pb.CreateUserRequest(user_name=name))
    expect_error(
        lambda: root.management.CreateUser(pb.CreateUserRequest(user_name=name.lower())),
        grpc.StatusCode.ALREADY_EXISTS,
        reason="EntityAlreadyExists",
    )


def test_user_validation_names_the_field(root: Stubs) -> None:
    m = root.management
    expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name="")), INVALID, field="user_name"
    )
    expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name="bad name!")),
        INVALID,
        field="user_name",
    )
    expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name="x" * 65)), INVALID, field="user_name"
    )
    expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name=unique("p"), path="no-slash")),
        INVALID,
        field="path",
    )
    expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(account_id="12ab", user_name=unique("a"))),
        INVALID,
        field="account_id",
    )
    bad_tag = types_pb2.Tag(key="aws:reserved", value="v")
    error = expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name=unique("t"), tags=[bad_tag])), INVALID
    )
    assert "tags[0].key" in dict(error.trailing_metadata() or ()).get("iamd-error-field", "")
    expect_error(
        lambda: m.ListUsers(pb.ListUsersRequest(max_items=1001)), INVALID, field="max_items"
    )


def test_get_user_without_a_name_is_the_caller(root: Stubs, server: ServerProcess) -> None:
    # As AWS: the calling user, or for an account root the root itself (no UserName or Path,
    # UserId = the account id).
    me = root.management.GetUser(pb.GetUserRequest()).user
    account = management_account(root)
    assert me.arn == f"arn:aws:iam::{account}:root"
    assert me.user_id == account and me.account_id == account
    assert me.user_name == "" and me.path == ""
    assert me.create_date.seconds > 0
    described = root.management.DescribeAccount(pb.DescribeAccountRequest()).account
    assert me.create_date == described.create_date

    name, user = new_user(root, server.endpoint, policy=document("iam:GetUser"), path="/me/")
    try:
        own = user.management.GetUser(pb.GetUserRequest()).user
        assert own.user_name == name
        assert own.arn == f"arn:aws:iam::{account}:user/me/{name}"
    finally:
        user.close()

    # Without iam:GetUser a user may not read itself, with or without the name.
    name, bare = new_user(root, server.endpoint)
    try:
        expect_error(lambda: bare.management.GetUser(pb.GetUserRequest()), DENIED)
    finally:
        bare.close()

    # Another account's root is not "the caller": a name is required there.
    member, member_root = new_member_account(root, server.endpoint)
    try:
        assert member_root.management.GetUser(pb.GetUserRequest()).user.arn == (
            f"arn:aws:iam::{member}:root"
        )
    finally:
        member_root.close()
    expect_error(
        lambda: root.management.GetUser(pb.GetUserRequest(account_id=member)),
        INVALID,
        field="user_name",
    )


def test_user_not_found_everywhere(root: Stubs) -> None:
    m = root.management
    ghost = unique("ghost")
    for call in (
        lambda: m.GetUser(pb.GetUserRequest(user_name=ghost)),
        lambda: m.DeleteUser(pb.DeleteUserRequest(user_name=ghost)),
        lambda: m.UpdateUser(pb.UpdateUserRequest(user_name=ghost, new_path="/x/")),
        lambda: m.TagUser(
            pb.TagUserRequest(user_name=ghost, tags=[types_pb2.Tag(key="k", value="v")])
        ),
        lambda: m.UntagUser(pb.UntagUserRequest(user_name=ghost, tag_keys=["k"])),
        lambda: m.ListUserTags(pb.ListUserTagsRequest(user_name=ghost)),
        lambda: m.ListGroupsForUser(pb.ListGroupsForUserRequest(user_name=ghost)),
    ):
        expect_error(call, grpc.StatusCode.NOT_FOUND)


def test_tags_merge_case_insensitively_and_are_capped(root: Stubs) -> None:
    m = root.management
    name = unique("tagged")
    m.CreateUser(pb.CreateUserRequest(user_name=name, tags=[types_pb2.Tag(key="Dept", value="a")]))
    first = m.TagUser(
        pb.TagUserRequest(
            user_name=name,
            tags=[types_pb2.Tag(key="dept", value="b"), types_pb2.Tag(key="cost", value="1")],
        )
    )
    tags = m.ListUserTags(pb.ListUserTagsRequest(user_name=name)).tags
    assert sorted((t.key.lower(), t.value) for t in tags) == [("cost", "1"), ("dept", "b")]
    second = m.UntagUser(pb.UntagUserRequest(user_name=name, tag_keys=["COST", "unknown"]))
    assert second.revision > first.revision
    tags = m.ListUserTags(pb.ListUserTagsRequest(user_name=name)).tags
    assert [(t.key.lower(), t.value) for t in tags] == [("dept", "b")]

    many = [types_pb2.Tag(key=f"k{i}", value="v") for i in range(49)]
    m.TagUser(pb.TagUserRequest(user_name=name, tags=many))  # 50 in all
    expect_error(
        lambda: m.TagUser(
            pb.TagUserRequest(user_name=name, tags=[types_pb2.Tag(key="one-more", value="v")])
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        reason="LimitExceeded",
    )
    too_many = [types_pb2.Tag(key=f"t{i}", value="v") for i in range(51)]
    expect_error(
        lambda: m.CreateUser(pb.CreateUserRequest(user_name=unique("many"), tags=too_many)),
        INVALID,
        field="tags",
    )


def test_list_users_paginates_and_filters_by_path(root: Stubs) -> None:
    m = root.management
    path = f"/{unique('page')}/"
    names = sorted(unique("pu") for _ in range(5))
    for name in names:
        m.CreateUser(pb.CreateUserRequest(user_name=name, path=path))
    seen: list[str] = []
    marker = ""
    pages = 0
    while True:
        page = m.ListUsers(pb.ListUsersRequest(path_prefix=path, marker=marker, max_items=2))
        pages += 1
        seen.extend(u.user_name for u in page.users)
        assert all(not u.tags for u in page.users)
        if not page.is_truncated:
            assert page.marker == ""
            break
        assert page.marker
        marker = page.marker
    assert seen == names
    assert pages == 3
    everyone = m.ListUsers(pb.ListUsersRequest(max_items=1000)).users
    assert set(names) <= {u.user_name for u in everyone}


def test_delete_user_with_access_key_is_a_conflict(root: Stubs) -> None:
    m = root.management
    name = unique("keyed")
    m.CreateUser(pb.CreateUserRequest(user_name=name))
    key = m.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    expect_error(
        lambda: m.DeleteUser(pb.DeleteUserRequest(user_name=name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="DeleteConflict",
    )
    m.DeleteAccessKey(pb.DeleteAccessKeyRequest(user_name=name, access_key_id=key.access_key_id))
    m.DeleteUser(pb.DeleteUserRequest(user_name=name))


def test_writes_return_increasing_revisions(root: Stubs) -> None:
    m = root.management
    revisions = []
    for _ in range(5):
        revisions.append(m.CreateUser(pb.CreateUserRequest(user_name=unique("rev"))).revision)
    assert revisions == sorted(revisions)
    assert len(set(revisions)) == len(revisions)
