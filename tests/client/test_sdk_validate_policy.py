"""ValidatePolicy from the SDK (Client, AsyncClient, the pager) and from the installed
`iamctl validate-policy` against a real `iamd serve`, with output shaped like AWS's
`aws accessanalyzer validate-policy` (camelCase keys, upper-case finding types)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from iamd.v1 import analysis_pb2
from iamd_client import AsyncClient, Client
from iamd_client._convert import to_aws
from iamd_client.cli.commands import RpcCommand, lookup
from iamd_client.cli.flags import command_parser
from iamd_client.errors import InvalidArgument

from tests.client.conftest import allow, policy
from tests.client.conftest import iamctl as run_iamctl
from tests.harness import ServerProcess

PASS_ROLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iam:GetRole", "iam:PassRole"], "Resource": "*"}
        ],
    },
    indent=2,
)


def test_output_shape_without_a_server() -> None:
    response = analysis_pb2.ValidatePolicyResponse(
        findings=[
            analysis_pb2.ValidatePolicyFinding(
                finding_details="d",
                finding_type=analysis_pb2.VALIDATE_POLICY_FINDING_TYPE_SECURITY_WARNING,
                issue_code="PASS_ROLE_WITH_STAR_IN_RESOURCE",
                locations=[
                    analysis_pb2.PolicyLocation(
                        path=[
                            analysis_pb2.PolicyPathElement(value="Statement"),
                            analysis_pb2.PolicyPathElement(index=0),
                            analysis_pb2.PolicyPathElement(key="Foo"),
                        ],
                        span=analysis_pb2.PolicySpan(
                            start=analysis_pb2.PolicyPosition(line=1, column=0, offset=0),
                            end=analysis_pb2.PolicyPosition(line=1, column=5, offset=5),
                        ),
                    )
                ],
            )
        ]
    )
    assert to_aws(response) == {
        "findings": [
            {
                "findingDetails": "d",
                "findingType": "SECURITY_WARNING",
                "issueCode": "PASS_ROLE_WITH_STAR_IN_RESOURCE",
                "locations": [
                    {
                        "path": [{"value": "Statement"}, {"index": 0}, {"key": "Foo"}],
                        "span": {
                            "start": {"line": 1, "column": 0, "offset": 0},
                            "end": {"line": 1, "column": 5, "offset": 5},
                        },
                    }
                ],
            }
        ],
        "isTruncated": False,
    }
    command = lookup("accessanalyzer", "validate-policy")
    assert isinstance(command, RpcCommand) and lookup(None, "validate-policy") == command
    args = command_parser(command, "iamctl accessanalyzer validate-policy").parse_args(
        ["--policy-document", "{}", "--policy-type", "RESOURCE_POLICY"]
    )
    assert args.policy_type == "RESOURCE_POLICY" and args.policy_document == "{}"


def test_sdk_client_and_pager(root: Client) -> None:
    response = root.validate_policy(policy_document=PASS_ROLE)
    assert [f.issue_code for f in response.findings] == ["PASS_ROLE_WITH_STAR_IN_RESOURCE"]
    finding = response.findings[0]
    assert finding.finding_type == analysis_pb2.VALIDATE_POLICY_FINDING_TYPE_SECURITY_WARNING
    start, end = finding.locations[0].span.start, finding.locations[0].span.end
    assert PASS_ROLE[start.offset : end.offset] == '"iam:PassRole"'
    trust = policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"})
    as_trust = root.validate_policy(
        policy_document=trust,
        policy_type="resource_policy",
        validate_policy_resource_type="AWS::IAM::AssumeRolePolicyDocument",
    )
    assert [f.issue_code for f in as_trust.findings] == ["PUBLIC_ACCESS_WITHOUT_CONDITION"]
    many = policy(allow([f"iam:Nope{i}" for i in range(5)]))
    codes = [f.issue_code for f in root.iter_validate_policy(policy_document=many, max_items=2)]
    assert sorted(codes) == ["INVALID_ACTION"] * 5 + ["UNREACHABLE_STATEMENT"]
    with pytest.raises(InvalidArgument) as error:
        root.validate_policy(policy_document="")
    assert error.value.field == "policy_document"


async def test_async_client(server: ServerProcess) -> None:
    credentials = server.root
    async with AsyncClient(
        endpoint=server.endpoint,
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
    ) as client:
        response = await client.validate_policy(policy_document="{")
        assert [f.issue_code for f in response.findings] == ["JSON_SYNTAX_ERROR"]


def cli(server: ServerProcess, *argv: str) -> Any:
    result = run_iamctl(server.credentials_file, *argv)
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_iamctl_validate_policy(server: ServerProcess, tmp_path: Path) -> None:
    source = tmp_path / "p.json"
    source.write_text(PASS_ROLE)
    out = cli(server, "validate-policy", "--policy-document", f"file://{source}")
    assert list(out) == ["findings"]  # all pages followed: no marker, no isTruncated
    [finding] = out["findings"]
    assert finding["findingType"] == "SECURITY_WARNING"
    assert finding["issueCode"] == "PASS_ROLE_WITH_STAR_IN_RESOURCE"
    assert finding["learnMoreLink"].startswith("https://docs.aws.amazon.com/IAM/")
    action, resource = finding["locations"]
    assert action["path"] == [
        {"value": "Statement"},
        {"index": 0},
        {"value": "Action"},
        {"index": 1},
    ]
    offset = PASS_ROLE.index('"iam:PassRole"')
    line_start = PASS_ROLE.rindex("\n", 0, offset) + 1
    assert action["span"]["start"] == {
        "line": PASS_ROLE.count("\n", 0, offset) + 1,
        "column": offset - line_start,
        "offset": offset,
    }
    assert PASS_ROLE[action["span"]["start"]["offset"] : action["span"]["end"]["offset"]] == (
        '"iam:PassRole"'
    )
    assert resource["path"] == [{"value": "Statement"}, {"index": 0}, {"value": "Resource"}]
    code = run_iamctl(
        server.credentials_file,
        "validate-policy",
        "--policy-document",
        f"file://{source}",
        "--policy-type",
        "SERVICE_CONTROL_POLICY",
        "--query",
        "findings",
    )
    assert json.loads(code.stdout) == []  # SCPs grant nothing: no PassRole warning
    query = run_iamctl(
        server.credentials_file,
        "validate-policy",
        "--policy-document",
        "{not json",
        "--query",
        "findings[0].issueCode",
        "--output",
        "text",
    )
    assert query.stdout == "JSON_SYNTAX_ERROR\n"


def test_iamctl_validate_policy_pages_and_errors(server: ServerProcess) -> None:
    many = policy(allow([f"iam:Nope{i}" for i in range(5)]))
    page = cli(server, "validate-policy", "--policy-document", many, "--max-items", "2")
    assert len(page["findings"]) == 2 and page["NextToken"] and "isTruncated" not in page
    rest = cli(
        server,
        "validate-policy",
        "--policy-document",
        many,
        "--starting-token",
        page["NextToken"],
    )
    everything = cli(server, "validate-policy", "--policy-document", many)
    assert len(everything["findings"]) == 6
    assert page["findings"] + rest["findings"] == everything["findings"]
    table = run_iamctl(
        server.credentials_file, "validate-policy", "--policy-document", many, "--output", "table"
    )
    assert "INVALID_ACTION" in table.stdout and "findingType" in table.stdout
    empty = run_iamctl(
        server.credentials_file, "validate-policy", "--policy-document", "", check=False
    )
    assert empty.returncode == 1
    assert "policy_document" in empty.stderr and empty.stdout == ""
    usage = run_iamctl(
        server.credentials_file,
        "validate-policy",
        "--policy-document",
        "{}",
        "--policy-type",
        "BUCKET_POLICY",
        check=False,
    )
    assert usage.returncode == 2 and "IDENTITY_POLICY" in usage.stderr
