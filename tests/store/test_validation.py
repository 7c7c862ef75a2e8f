"""Field validators (names, paths, tags, ids, ARNs)."""

from __future__ import annotations

import pytest
from iamd_server import validation
from iamd_server.errors import InvalidArgument


def test_names_and_paths() -> None:
    assert validation.user_name("a+b=c,d.e@f_g-h") == "a+b=c,d.e@f_g-h"
    assert validation.group_name("g" * 128)
    for bad in ("", "a b", "x" * 65, "a/b"):
        with pytest.raises(InvalidArgument):
            validation.user_name(bad)
    assert validation.path("/") == "/" and validation.path("/a/b/") == "/a/b/"
    for bad in ("", "a/", "/a", "/a b/", "/" + "a" * 511 + "/"):
        with pytest.raises(InvalidArgument):
            validation.path(bad)


def test_tags_and_ids() -> None:
    validation.tags([("Team", "a b"), ("k", "")], case_insensitive_keys=True)
    with pytest.raises(InvalidArgument, match="duplicate"):
        validation.tags([("Team", "a"), ("team", "b")], case_insensitive_keys=True)
    validation.tags([("Team", "a"), ("team", "b")], case_insensitive_keys=False)
    with pytest.raises(InvalidArgument, match="reserved"):
        validation.tags([("Aws:x", "1")], case_insensitive_keys=False)
    with pytest.raises(InvalidArgument):
        validation.tags([(f"k{i}", "") for i in range(51)], case_insensitive_keys=False)
    with pytest.raises(InvalidArgument):
        validation.account_id("12345678901")
    with pytest.raises(InvalidArgument):
        validation.max_session_duration(3599)
    with pytest.raises(InvalidArgument):
        validation.description("d" * 1001)


def test_arns() -> None:
    parsed = validation.iam_arn("arn:aws:iam::123456789012:user/a/b/Bob", "user")
    assert (parsed.account_id, parsed.path, parsed.name) == ("123456789012", "/a/b/", "Bob")
    assert validation.iam_arn("arn:aws:iam::123456789012:policy/P", "policy").path == "/"
    with pytest.raises(InvalidArgument):
        validation.iam_arn("arn:aws:iam::123456789012:role/R", "user")
    assert (
        validation.arn("arn:aws:s3:::bucket/key:with:colons").resource == "bucket/key:with:colons"
    )
    with pytest.raises(InvalidArgument):
        validation.arn("not-an-arn")
