"""ValidatePolicy against a real `iamd serve`: findings in AWS's shape over gRPC, checked
against the live service definitions; bad input named by field; authorization as
iamd:ValidatePolicy; nothing written, and writes still refuse only what they refused."""

from __future__ import annotations

import functools
import json
import random
import secrets
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from iamd.v1 import analysis_pb2 as pb
from iamd.v1 import analysis_pb2_grpc, types_pb2
from iamd.v1 import management_pb2 as mpb

from tests.api.management_support import (
    document,
    eventually,
    expect_error,
    new_user,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
ERROR = pb.VALIDATE_POLICY_FINDING_TYPE_ERROR
SECURITY = pb.VALIDATE_POLICY_FINDING_TYPE_SECURITY_WARNING
WARNING = pb.VALIDATE_POLICY_FINDING_TYPE_WARNING


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def analysis(client: Stubs) -> analysis_pb2_grpc.AnalysisServiceStub:
    return analysis_pb2_grpc.AnalysisServiceStub(client.channel)


def validate(client: Stubs, text: str, **fields: Any) -> pb.ValidatePolicyResponse:
    request = pb.ValidatePolicyRequest(policy_document=text, **fields)
    response: pb.ValidatePolicyResponse = analysis(client).ValidatePolicy(request, timeout=30)
    return response


def codes(response: pb.ValidatePolicyResponse) -> list[str]:
    return [f.issue_code for f in response.findings]


def steps(location: pb.PolicyLocation) -> list[Any]:
    return [getattr(step, step.WhichOneof("element") or "value") for step in location.path]


def test_findings_in_aws_shape(root: Stubs) -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["iam:GetRole", "iam:PassRole"], "Resource": "*"}
            ],
        },
        indent=2,
    )
    response = validate(root, text)
    assert codes(response) == ["PASS_ROLE_WITH_STAR_IN_RESOURCE"]
    finding = response.findings[0]
    assert finding.finding_type == SECURITY
    assert "iam:PassedToService" in finding.finding_details
    assert finding.learn_more_link.endswith("security-warning-pass-role-with-star-in-resource")
    action, resource = finding.locations
    assert steps(action) == ["Statement", 0, "Action", 1]
    assert steps(resource) == ["Statement", 0, "Resource"]
    start, end = action.span.start, action.span.end
    assert text[start.offset : end.offset] == '"iam:PassRole"'
    line = text.splitlines()[start.line - 1]
    assert line[start.column : end.column] == '"iam:PassRole"'
    assert not response.is_truncated and response.marker == ""


def test_a_document_that_is_not_json_gets_a_finding(root: Stubs) -> None:
    response = validate(root, "{not json")
    assert codes(response) == ["JSON_SYNTAX_ERROR"]
    assert response.findings[0].finding_type == ERROR
    assert response.findings[0].locations[0].span.start.offset == 1


def test_policy_types(root: Stubs) -> None:
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": "sts:AssumeRole",
                    "Resource": "*",
                }
            ],
        }
    )
    # A generic resource policy may name a Resource; a role trust policy may not.
    assert codes(validate(root, trust, policy_type=pb.POLICY_TYPE_RESOURCE_POLICY)) == []
    as_trust = validate(
        root,
        trust,
        policy_type=pb.POLICY_TYPE_RESOURCE_POLICY,
        validate_policy_resource_type="AWS::IAM::AssumeRolePolicyDocument",
    )
    assert codes(as_trust) == ["ROLE_TRUST_POLICY_SYNTAX_ERROR_RESOURCE"]
    # The same document as an identity policy: a Principal is not allowed there.
    assert codes(validate(root, trust)) == ["UNSUPPORTED_PRINCIPAL"]
    scp = document("iam:PassRole")
    assert codes(validate(root, scp, policy_type=pb.POLICY_TYPE_SERVICE_CONTROL_POLICY)) == []


def test_bad_input_is_named(root: Stubs) -> None:
    ok = document("iam:GetUser")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"policy_document": ""}, "policy_document"),
        ({"policy_document": " " * 131_073}, "policy_document"),
        ({"policy_document": ok.replace("GetUser", "Get\x00User")}, "policy_document"),
        ({"policy_document": ok, "policy_type": 99}, "policy_type"),
        (
            {"policy_document": ok, "validate_policy_resource_type": "AWS::S3::Bucket"},
            "validate_policy_resource_type",
        ),
        ({"policy_document": ok, "max_items": 1001}, "max_items"),
        ({"policy_document": ok, "marker": "%%%"}, "marker"),
    ]
    for fields, field in cases:
        request = pb.ValidatePolicyRequest(**fields)
        expect_error(
            functools.partial(analysis(root).ValidatePolicy, request),
            INVALID,
            field=field,
        )
    # The largest accepted document is answered (with a finding: it is not a policy).
    large = validate(root, "[" + " " * 131_070 + "]")
    assert codes(large) == ["DATA_TYPE_MISMATCH"]


def test_authorized_as_iamd_validate_policy(root: Stubs, server: ServerProcess) -> None:
    _, nobody = new_user(root, server.endpoint, policy=document("iam:GetUser"))
    _, allowed = new_user(root, server.endpoint, policy=document("iamd:ValidatePolicy"))
    unsigned = stubs(server.endpoint, None)
    try:
        error = expect_error(
            lambda: validate(nobody, document("iam:GetUser")), grpc.StatusCode.PERMISSION_DENIED
        )
        assert "iamd:ValidatePolicy" in (error.details() or "")
        expect_error(
            lambda: validate(unsigned, document("iam:GetUser")), grpc.StatusCode.UNAUTHENTICATED
        )
        assert codes(validate(allowed, document("iam:PassRole"))) == [
            "PASS_ROLE_WITH_STAR_IN_RESOURCE"
        ]
    finally:
        nobody.close()
        allowed.close()
        unsigned.close()


def test_checked_against_the_live_service_definitions(root: Stubs) -> None:
    prefix = "svc-" + secrets.token_hex(4)
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [f"{prefix}:GetWidget", f"{prefix}:GetGadget"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {f"{prefix}:colour": "red"}},
                }
            ],
        }
    )
    assert sorted(codes(validate(root, text))) == [
        "INVALID_SERVICE_IN_ACTION",
        "INVALID_SERVICE_IN_ACTION",
        "UNREACHABLE_STATEMENT",
    ]
    root.management.PutServiceDefinition(
        mpb.PutServiceDefinitionRequest(
            definition=types_pb2.ServiceDefinition(
                service_prefix=prefix,
                actions=[types_pb2.ServiceAction(name="GetWidget")],
                condition_keys=[
                    types_pb2.ServiceConditionKey(name=f"{prefix}:color", type="String")
                ],
            )
        )
    )

    def registered() -> None:
        assert sorted(codes(validate(root, text))) == ["INVALID_ACTION", "UNKNOWN_CONDITION_KEY"]

    eventually(registered)


def test_findings_page(root: Stubs) -> None:
    actions = [f"iam:Nope{i}" for i in range(7)]
    text = document(actions)
    everything = validate(root, text)
    assert len(everything.findings) == 8  # seven undeclared actions, an unreachable statement
    seen: list[pb.ValidatePolicyFinding] = []
    marker = ""
    while True:
        page = validate(root, text, max_items=3, marker=marker)
        seen.extend(page.findings)
        if not page.is_truncated:
            break
        marker = page.marker
    assert seen == list(everything.findings)


def test_findings_are_advice_and_nothing_is_written(root: Stubs) -> None:
    events = root.management.ListAuditEvents(mpb.ListAuditEventsRequest(max_items=1000))
    since = max((e.revision for e in events.events), default=0)
    flagged = document(["iam:PassRole", "iam:Nope"])
    assert set(codes(validate(root, flagged))) >= {"PASS_ROLE_WITH_STAR_IN_RESOURCE"}
    later = root.management.ListAuditEvents(
        mpb.ListAuditEventsRequest(since_revision=since, max_items=1000)
    )
    assert list(later.events) == []
    # Writes keep accepting what AWS accepts, findings or not.
    name = unique("advised")
    root.management.CreateUser(mpb.CreateUserRequest(user_name=name))
    root.management.PutUserPolicy(
        mpb.PutUserPolicyRequest(user_name=name, policy_name="p", policy_document=flagged)
    )


def test_garbage_never_breaks_validate_policy(root: Stubs) -> None:
    rng = random.Random("ValidatePolicy")
    alphabet = '{}[]":,* \n\\u0041abcAllowDenyStatementVersion2012-10-17\x7f\u00e9\u0101'
    for _ in range(40):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        request = pb.ValidatePolicyRequest(
            policy_document=text,
            policy_type=rng.choice(list(pb.PolicyType.values())),
            max_items=rng.choice([0, 1, 1000]),
        )
        try:
            analysis(root).ValidatePolicy(request, timeout=30)
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)
            assert error.code() == INVALID, (error.code(), error.details(), text)
