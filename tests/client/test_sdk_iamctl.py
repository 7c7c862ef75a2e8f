"""iamctl: argument parsing, AWS-shaped output, errors, against the in-memory server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from iamd.v1 import authorization_pb2, management_pb2, types_pb2
from iamd_client import iamctl
from iamd_client._convert import fill, parse_enum, to_aws

from tests.client.sdk_fake_server import ACCESS_KEY_ID, SECRET, RunningServer


@pytest.fixture
def cli(
    fake: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Run iamctl against the fake server; returns (exit code, parsed stdout or text, stderr)."""
    monkeypatch.setenv("IAMD_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("IAMD_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("IAMD_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-file"))
    monkeypatch.delenv("IAMD_PROFILE", raising=False)

    def run(*argv: str) -> tuple[int, Any, str]:
        code = iamctl.main(["--endpoint", fake.endpoint, *argv])
        out, err = capsys.readouterr()
        try:
            return code, json.loads(out), err
        except json.JSONDecodeError:
            return code, out, err

    return run


def test_create_and_get_user(cli: Any, fake: RunningServer) -> None:
    code, out, _ = cli(
        "create-user", "--user-name", "alice", "--tags", "team=a", "Key=env,Value=prod"
    )
    assert code == 0
    assert out["User"]["UserName"] == "alice"
    assert out["User"]["Arn"] == "arn:aws:iam::111122223333:user/alice"
    assert isinstance(out["Revision"], int)
    assert fake.fake.entities[("user", "alice")].tags == {"team": "a", "env": "prod"}
    code, out, _ = cli("get-user", "--user-name", "alice")
    assert out == {
        "User": {
            "UserName": "alice",
            "UserId": "AIDAALICE",
            "Arn": "arn:aws:iam::111122223333:user/alice",
            "Path": "/",
            "AccountId": "111122223333",
        }
    }


def test_list_follows_markers_unless_paging_is_asked(cli: Any) -> None:
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert cli("create-user", "--user-name", name)[0] == 0
    code, out, _ = cli("list-users")
    assert code == 0
    assert [u["UserName"] for u in out["Users"]] == ["u1", "u2", "u3", "u4", "u5"]
    assert "Marker" not in out and "IsTruncated" not in out
    code, out, _ = cli("list-users", "--max-items", "2")
    assert code == 0
    assert len(out["Users"]) == 2
    assert out["IsTruncated"] is True and out["Marker"] == "2"
    _, out, _ = cli("list-users", "--marker", "4")
    assert [u["UserName"] for u in out["Users"]] == ["u5"]
    assert out["IsTruncated"] is False


def test_api_errors_go_to_stderr(cli: Any) -> None:
    cli("create-user", "--user-name", "bob")
    code, out, err = cli("create-user", "--user-name", "bob")
    assert code == 1
    assert out == ""
    assert err.strip() == (
        "iamctl: EntityAlreadyExists: user_name: user with name bob already exists"
    )


def test_documents_from_files(cli: Any, fake: RunningServer, tmp_path: Path) -> None:
    document = '{"Version": "2012-10-17", "Statement": []}'
    (tmp_path / "p.json").write_text(document)
    cli("create-user", "--user-name", "carol")
    code, _, _ = cli(
        "put-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "p",
        "--policy-document",
        f"file://{tmp_path / 'p.json'}",
    )
    assert code == 0
    assert fake.fake.entities[("user", "carol")].inline == {"p": document}
    code, out, _ = cli("get-user-policy", "--user-name", "carol", "--policy-name", "p")
    assert out["PolicyDocument"] == document


def test_authorize_command(cli: Any) -> None:
    code, out, _ = cli(
        "authorize",
        "--principal",
        "arn:aws:iam::111122223333:user/alice",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/k",
        "--context",
        "aws:SourceIp=ip:10.0.0.1",
        "aws:TagKeys=stringList:a,b",
        "--context",
        "s3:prefix=arn:aws:thing",
        "--explain",
    )
    assert code == 0
    assert out["Decision"] == "allowed"
    assert out["Revision"] == 7
    assert out["PrincipalArn"] == "arn:aws:iam::111122223333:user/alice"
    assert out["Explain"]["MissingContextKeys"] == ["aws:SourceIp", "aws:TagKeys", "s3:prefix"]


def test_table_output(cli: Any) -> None:
    cli("create-user", "--user-name", "dora", "--path", "/x/")
    code, out, _ = cli("--output", "table", "list-users")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Users:"
    assert lines[1].split() == ["UserName", "UserId", "Arn", "Path", "AccountId"]
    assert lines[3].split()[0] == "dora"
    # Global options are accepted after the command too.
    code, out, _ = cli("get-user", "--user-name", "dora", "--output", "table")
    assert "User.Arn" in out


def test_usage_errors(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli("update-access-key", "--access-key-id", "AKIA", "--status", "Sleeping")
    assert code == 2
    assert "Active, Inactive" in err
    code, _, err = cli("create-user", "--user-name", "x", "--tags", "notatag")
    assert code == 2
    with pytest.raises(SystemExit):
        iamctl.main(["create-user"])  # --user-name is required
    capsys.readouterr()


def test_parse_context() -> None:
    assert iamctl.parse_context("aws:SourceIp=ip:10.0.0.1") == {
        "key": "aws:SourceIp",
        "type": types_pb2.CONTEXT_KEY_TYPE_IP,
        "values": ["10.0.0.1"],
    }
    assert iamctl.parse_context("k=stringList:a,b")["values"] == ["a", "b"]
    assert iamctl.parse_context("k=numeric:5")["type"] == types_pb2.CONTEXT_KEY_TYPE_NUMERIC
    # Without a known type the whole value is a string, colons included.
    arn = iamctl.parse_context("aws:SourceArn=arn:aws:sns:us-east-1:1:t")
    assert arn["type"] == types_pb2.CONTEXT_KEY_TYPE_STRING
    assert arn["values"] == ["arn:aws:sns:us-east-1:1:t"]
    assert iamctl.parse_context("k=plain")["values"] == ["plain"]


def test_context_entries_json_in_aws_shape() -> None:
    field = authorization_pb2.SimulateCustomPolicyRequest.DESCRIPTOR.fields_by_name[
        "context_entries"
    ]
    items = iamctl.parse_items(
        field,
        [
            '{"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyType": "boolean", '
            '"ContextKeyValues": ["true"]}'
        ],
    )
    request = fill(authorization_pb2.SimulateCustomPolicyRequest(), {"context_entries": items})
    entry = request.context_entries[0]
    assert (entry.key, entry.type, list(entry.values)) == (
        "aws:MultiFactorAuthPresent",
        types_pb2.CONTEXT_KEY_TYPE_BOOLEAN,
        ["true"],
    )


def test_aws_shaped_output() -> None:
    created = Timestamp()
    created.FromJsonString("2024-05-01T10:00:00Z")
    keys = management_pb2.ListAccessKeysResponse(
        access_key_metadata=[
            types_pb2.AccessKeyMetadata(
                access_key_id="AKIA1",
                status=types_pb2.ACCESS_KEY_STATUS_INACTIVE,
                create_date=created,
            )
        ]
    )
    assert to_aws(keys) == {
        "AccessKeyMetadata": [
            {"AccessKeyId": "AKIA1", "Status": "Inactive", "CreateDate": "2024-05-01T10:00:00Z"}
        ],
        "IsTruncated": False,
    }
    result = authorization_pb2.EvaluationResult(
        eval_action_name="s3:GetObject",
        eval_decision=types_pb2.DECISION_EXPLICIT_DENY,
        allowed_by_organizations=False,
    )
    assert to_aws(result, top=False) == {
        "EvalActionName": "s3:GetObject",
        "EvalDecision": "explicitDeny",
        "AllowedByOrganizations": False,
    }
    assert to_aws(management_pb2.CreateUserResponse(revision=2**40)) == {"Revision": 2**40}


def test_enum_spellings() -> None:
    enum = types_pb2.Decision.DESCRIPTOR
    for text in ("explicitDeny", "EXPLICIT_DENY", "explicit_deny", "DECISION_EXPLICIT_DENY"):
        assert parse_enum(enum, text) == types_pb2.DECISION_EXPLICIT_DENY
    with pytest.raises(ValueError, match="allowed, explicitDeny, implicitDeny"):
        parse_enum(enum, "maybe")


def test_every_rpc_has_a_command() -> None:
    parser = iamctl.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    choices = commands.choices
    for service in iamctl.SERVICES:
        for method in service.methods:
            assert iamctl.kebab(method.name) in choices
    assert "simulate-principal-policy" in choices
    assert "assume-role" in choices
    assert "apply" in choices


def test_configure_writes_a_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "creds"
    code = iamctl.main(
        [
            "--profile",
            "ops",
            "--endpoint",
            "h:1",
            "configure",
            "--access-key-id",
            "AKIA9",
            "--secret-access-key",
            "s9",
            "--credentials-file",
            str(target),
        ]
    )
    assert code == 0
    assert "[ops]" in target.read_text()
    capsys.readouterr()
