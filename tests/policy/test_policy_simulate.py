"""The pure simulation function shared by the CLI and the SimulateCustomPolicy RPC."""

from __future__ import annotations

import json

import pytest
from iamd_server.policy import (
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
