"""A role's trust policy names who may assume the role, and is consulted for that only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iamd_policy import PolicyKind, PolicyValidationError, parse_policy, validate_policy

from tests.policy.policy_helpers import ACCT, OTHER, OTHER_USER, USER, allow, decision, doc

ROLE = f"arn:aws:iam::{ACCT}:role/Target"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
TRUST_ACTIONS = (
    "sts:AssumeRole",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoleWithSAML",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
)


def trust(action: Any, principal: Any = None, field: str = "Action") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": principal or {"AWS": OTHER}, field: action}
            ],
        }
    )


@pytest.mark.parametrize(
    "action",
    [
        *TRUST_ACTIONS,
        "STS:assumerole",
        "sts:AssumeRole*",
        "sts:*",
        "sts:Set*",
        ["sts:AssumeRole", "sts:TagSession"],
    ],
)
def test_trust_actions_accepted(action: Any) -> None:
    validate_policy(trust(action), PolicyKind.TRUST)
    validate_policy(trust(action, field="NotAction"), PolicyKind.TRUST)


@pytest.mark.parametrize(
    "action",
    [
        "*",
        "s3:GetObject",
        "iam:*",
        "iam:PutRolePolicy",
        "sts:GetCallerIdentity",
        "sts:TagSessions",
        "sts:Get*",
        ["sts:AssumeRole", "iam:*"],
    ],
)
def test_other_actions_refused_in_trust_policies(action: Any) -> None:
    for field in ("Action", "NotAction"):
        with pytest.raises(PolicyValidationError) as info:
            validate_policy(trust(action, field=field), PolicyKind.TRUST)
        assert info.value.message == "AssumeRole policy may only specify STS AssumeRole actions."
        assert (info.value.statement_index, info.value.field) == (0, field)


def test_other_kinds_keep_any_action() -> None:
    validate_policy(doc(allow("*", "*", Principal={"AWS": OTHER})), PolicyKind.RESOURCE)
    validate_policy(doc(allow("*", "*")), PolicyKind.IDENTITY)


def test_stored_trust_policies_with_other_actions_still_load() -> None:
    """Written before the check existed: loading must not fail (it would deny every action
    on the role as UNAVAILABLE); evaluation confines them instead (next test)."""
    parse_policy(trust("*"), PolicyKind.TRUST)


def on_role(action: str, trust_document: str, caller: str, identity: list[str]) -> str:
    return decision(
        identity,
        action=action,
        resource=ROLE,
        caller=caller,
        resource_policy=trust_document,
        resource_kind=PolicyKind.TRUST,
    )


@pytest.mark.parametrize(
    "document",
    [
        trust("*", {"AWS": OTHER_ROOT}),
        trust("iam:*", {"AWS": OTHER_ROOT}),
        trust("iam:PutRolePolicy", {"AWS": OTHER_ROOT}),
        trust("sts:AssumeRole", {"AWS": OTHER_ROOT}, field="NotAction"),
        trust("*", "*"),
    ],
)
def test_trust_policy_is_no_resource_policy_for_other_actions(document: str) -> None:
    """The attack: account B's root, named by A's trust policy, writing A's role policy."""
    everything = [doc(allow("*", "*"))]
    other_root = OTHER_ROOT
    for action in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:GetRole", "s3:*"):
        assert on_role(action, document, other_root, []) == "implicitDeny", action
        assert on_role(action, document, OTHER_USER, everything) == "implicitDeny", action


def test_trust_policy_still_grants_the_trust_actions() -> None:
    everything = [doc(allow("*", "*"))]
    for action in TRUST_ACTIONS:
        assert on_role(action, trust("*"), OTHER_USER, everything) == "allowed", action
        assert on_role(action, trust("sts:*"), OTHER_USER, everything) == "allowed", action
    assert on_role("sts:AssumeRole", trust("sts:TagSession"), OTHER_USER, everything) == (
        "implicitDeny"
    )
    # NotAction: the trust actions it does not list.
    not_tag = trust("sts:TagSession", field="NotAction")
    assert on_role("sts:AssumeRole", not_tag, OTHER_USER, everything) == "allowed"
    assert on_role("sts:TagSession", not_tag, OTHER_USER, everything) == "implicitDeny"
    assert on_role("iam:PutRolePolicy", not_tag, OTHER_USER, everything) == "implicitDeny"
    # A Deny in a trust policy likewise only speaks to the trust actions.
    deny_all = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*"}],
        }
    )
    assert on_role("iam:GetRole", deny_all, USER, everything) == "allowed"
    assert on_role("sts:AssumeRole", deny_all, USER, everything) == "explicitDeny"
