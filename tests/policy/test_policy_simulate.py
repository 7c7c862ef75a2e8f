"""The pure simulation function shared by the CLI and the SimulateCustomPolicy RPC."""

from __future__ import annotations

import json

import pytest
from iamd_policy import (
    ContextError,
    InvalidInputError,
    PolicyValidationError,
    SimulationInput,
    result_to_json,
    simulate_custom_policy,
)

from tests.policy.policy_helpers import ACCT, USER, allow, doc

ROLE = f"arn:aws:iam::{ACCT}:role/Target"


def request(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "PolicyInputList": [doc(allow("sts:AssumeRole"))],
        "ActionNames": ["sts:AssumeRole", "sts:TagSession"],
        "ResourceArns": [ROLE],
        "CallerArn": USER,
        "ResourceOwner": f"arn:aws:iam::{ACCT}:root",
    }
    base.update(extra)
    return base


def test_trust_policy_without_resource_element() -> None:
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole"},
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": USER},
                    "Action": "sts:*",
                    "Resource": "*",
                },
            ],
        }
    )
    results = simulate_custom_policy(SimulationInput.from_request(request(ResourcePolicy=trust)))
    assert [(r.action, r.resource, r.result.decision.value) for r in results] == [
        ("sts:AssumeRole", ROLE, "allowed"),
        ("sts:TagSession", ROLE, "implicitDeny"),
    ]
    shaped = result_to_json(results[0])
    assert shaped["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    assert {m["SourcePolicyId"] for m in shaped["MatchedStatements"]} == {
        "PolicyInputList.1",
        "ResourcePolicy",
    }


def test_default_resource_is_star() -> None:
    simulation = SimulationInput.from_request(
        request(ActionNames=["iam:ListUsers"], ResourceArns=None)
    )
    assert simulation.resource_arns == ("*",)
    (result,) = simulate_custom_policy(simulation)
    assert result.resource == "*" and result.result.decision.value == "implicitDeny"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"ActionNames": ["s3:*"]}, InvalidInputError),
        ({"ActionNames": []}, InvalidInputError),
        ({"ActionNames": None}, InvalidInputError),
        ({"ActionNames": ["GetObject"]}, InvalidInputError),
        ({"PolicyInputList": "x"}, InvalidInputError),
        ({"CallerArn": "bob"}, InvalidInputError),
        ({"CallerArn": 5}, InvalidInputError),
        ({"ContextEntries": {"a": 1}}, InvalidInputError),
        (
            {
                "ContextEntries": [
                    {
                        "ContextKeyName": "k:a",
                        "ContextKeyType": "numeric",
                        "ContextKeyValues": ["x"],
                    }
                ]
            },
            ContextError,
        ),
        ({"PolicyInputList": ['{"Statement": {}}']}, PolicyValidationError),
        (
            {"PermissionsBoundaryPolicyInputList": [doc(allow(), version=None)]},
            PolicyValidationError,
        ),
        ({"ResourcePolicy": doc(allow())}, PolicyValidationError),
    ],
)
def test_bad_input(extra: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        simulate_custom_policy(SimulationInput.from_request(request(**extra)))


def test_policy_errors_name_the_input() -> None:
    with pytest.raises(PolicyValidationError) as info:
        simulate_custom_policy(
            SimulationInput.from_request(request(PolicyInputList=[doc(allow()), '{"x": 1}']))
        )
    assert info.value.message.startswith("PolicyInputList.2: Syntax errors in policy.")


def test_statement_trace_explains_matches() -> None:
    """The trace names the resource entry as substituted, the principal match, and for each
    condition the policy value (block, resolved pattern) each context value matched."""
    identity = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::${aws:PrincipalTag/team}-data/*",
                    "Condition": {
                        "IpAddress": {"aws:SourceIp": ["2001:db8::/32", "10.0.0.0/8"]},
                        "StringLike": {"s3:prefix": ["home/${aws:username}/*", "pub/*"]},
                    },
                },
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
            ],
        }
    )
    resource_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{ACCT}:user/mallory"},
                "Action": "s3:*",
                "NotResource": "arn:aws:s3:::dev-data/secret*",
            },
        }
    )
    simulation = SimulationInput.from_request(
        {
            "PolicyInputList": [identity],
            "ResourcePolicy": resource_policy,
            "ActionNames": ["s3:GetObject"],
            "ResourceArns": ["arn:aws:s3:::dev-data/home/alice/a.txt"],
            "CallerArn": USER,
            "ResourceOwner": f"arn:aws:iam::{ACCT}:root",
            "ContextEntries": [
                {
                    "ContextKeyName": "aws:PrincipalTag/team",
                    "ContextKeyType": "string",
                    "ContextKeyValues": ["dev"],
                },
                {
                    "ContextKeyName": "aws:username",
                    "ContextKeyType": "string",
                    "ContextKeyValues": ["alice"],
                },
                {
                    "ContextKeyName": "aws:SourceIp",
                    "ContextKeyType": "ip",
                    "ContextKeyValues": ["::ffff:10.1.2.3"],
                },
                {
                    "ContextKeyName": "s3:prefix",
                    "ContextKeyType": "string",
                    "ContextKeyValues": ["home/alice/a.txt"],
                },
            ],
        }
    )
    (item,) = simulate_custom_policy(simulation, trace=True)
    assert item.result.decision.value == "allowed"
    out = result_to_json(item)
    first, denied = out["StatementTrace"]  # the PutObject statement is not listed
    assert first["Applies"] is True
    assert first["MatchedResource"] == "arn:aws:s3:::${aws:PrincipalTag/team}-data/*"
    assert first["SubstitutedResource"] == "arn:aws:s3:::dev-data/*"
    ip_condition, like = first["Conditions"]
    assert ip_condition["Matches"] == [
        {"ContextValue": "::ffff:10.1.2.3", "PolicyValue": "10.0.0.0/8", "Substituted": None}
    ]
    assert like["Matches"] == [
        {
            "ContextValue": "home/alice/a.txt",
            "PolicyValue": "home/${aws:username}/*",
            "Substituted": "home/alice/*",
        }
    ]
    assert denied["PolicyKind"] == "RESOURCE"
    assert denied["ResourceElement"] == "NotResource"
    assert denied["MatchedResource"] is None
    assert denied["PrincipalMatched"] is False
    assert denied["Applies"] is False
    assert "StatementTrace" not in result_to_json(simulate_custom_policy(simulation)[0])
