"""iamctl: argument parsing and AWS-shaped output (no server), then the installed `iamctl`
as a subprocess against a real `iamd serve`: JSON and table output, file:// documents,
--query, authorize --explain, and errors on stderr with the server's reason."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from iamd.v1 import authorization_pb2, management_pb2, types_pb2
from iamd_client import Client, iamctl
from iamd_client._convert import fill, parse_enum, to_aws
from iamd_client.errors import Unauthenticated
from iamd_client.signing import SigningCredentials

from tests.client.conftest import connect
from tests.client.conftest import iamctl as run_iamctl
from tests.harness import ServerProcess

# ---- no server -----------------------------------------------------------------------------


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    offline = ["--endpoint", "127.0.0.1:1"]  # usage errors are reported before any call
    code = iamctl.main(
        [*offline, "update-access-key", "--access-key-id", "AKIA", "--status", "Sleeping"]
    )
    assert code == 2
    assert "Active, Inactive" in capsys.readouterr().err
    assert iamctl.main([*offline, "create-user", "--user-name", "x", "--tags", "notatag"]) == 2
    assert iamctl.main([*offline, "get-caller-identity", "--query", "Users[x]"]) == 2
    assert "--query 'Users[x]'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        iamctl.main(["create-user"])  # --user-name is required
    capsys.readouterr()


def test_query_paths() -> None:
    assert iamctl.parse_query("Account") == ["Account"]
    assert iamctl.parse_query("User.Arn") == ["User", "Arn"]
    assert iamctl.parse_query("Users[0].UserName") == ["Users", 0, "UserName"]
    assert iamctl.parse_query("Users[-1]") == ["Users", -1]
    for bad in ("", ".Account", "User..Arn", "User.", "Users[x]", "Users[0", "a b"):
        with pytest.raises(iamctl.UsageError):
            iamctl.parse_query(bad)
    data = {"Users": [{"UserName": "a", "Tags": [{"Key": "k"}]}], "IsTruncated": False}
    assert iamctl.select(data, ["Users", 0, "Tags", 0, "Key"]) == "k"
    assert iamctl.select(data, ["Users", 5]) is None
    assert iamctl.select(data, ["Nope", "Deeper"]) is None
    assert iamctl.select(data, ["IsTruncated"]) is False


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


# ---- the installed iamctl against a real server --------------------------------------------


def cli(server: ServerProcess, *argv: str) -> Any:
    """Run iamctl (profile "default" of the server's credentials file); parsed JSON stdout."""
    result = run_iamctl(server.credentials_file, *argv)
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_create_and_get_user(server: ServerProcess, root: Client, account: str) -> None:
    out = cli(
        server, "create-user", "--user-name", "i-alice", "--tags", "team=a", "Key=env,Value=p"
    )
    assert out["User"]["UserName"] == "i-alice"
    assert out["User"]["Arn"] == f"arn:aws:iam::{account}:user/i-alice"
    assert isinstance(out["Revision"], int)
    tags = {t.key: t.value for t in root.list_user_tags(user_name="i-alice").tags}
    assert tags == {"team": "a", "env": "p"}
    user = cli(server, "get-user", "--user-name", "i-alice")["User"]
    assert {k: user[k] for k in ("UserName", "Arn", "Path", "AccountId")} == {
        "UserName": "i-alice",
        "Arn": f"arn:aws:iam::{account}:user/i-alice",
        "Path": "/",
        "AccountId": account,
    }
    assert user["UserId"].startswith("AIDA")


def test_put_user_policy_from_a_file(server: ServerProcess, root: Client, tmp_path: Path) -> None:
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
    )
    (tmp_path / "p.json").write_text(document)
    cli(server, "create-user", "--user-name", "i-carol")
    out = cli(
        server,
        "put-user-policy",
        "--user-name",
        "i-carol",
        "--policy-name",
        "p",
        "--policy-document",
        f"file://{tmp_path / 'p.json'}",
    )
    assert out["Revision"] > 0
    stored = root.get_user_policy(user_name="i-carol", policy_name="p").policy_document
    assert json.loads(stored) == json.loads(document)
    out = cli(server, "get-user-policy", "--user-name", "i-carol", "--policy-name", "p")
    assert json.loads(out["PolicyDocument"]) == json.loads(document)


def test_list_users_follows_markers_unless_paging_is_asked(
    server: ServerProcess, root: Client
) -> None:
    names = [f"i-page-{n}" for n in range(5)]
    for name in names:
        root.create_user(user_name=name, path="/i-page/")
    out = cli(server, "list-users", "--path-prefix", "/i-page/")
    assert [u["UserName"] for u in out["Users"]] == names
    assert "Marker" not in out and "IsTruncated" not in out
    page = cli(server, "list-users", "--path-prefix", "/i-page/", "--max-items", "2")
    assert [u["UserName"] for u in page["Users"]] == names[:2]
    assert page["IsTruncated"] is True and page["Marker"]
    rest = cli(server, "list-users", "--path-prefix", "/i-page/", "--marker", page["Marker"])
    assert [u["UserName"] for u in rest["Users"]][:1] == [names[2]]


def test_list_users_as_a_table(server: ServerProcess) -> None:
    cli(server, "create-user", "--user-name", "i-dora", "--path", "/i-table/")
    result = run_iamctl(
        server.credentials_file, "list-users", "--path-prefix", "/i-table/", "--output", "table"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "Users:"
    assert lines[1].split()[:3] == ["UserName", "UserId", "Arn"]
    assert set(lines[2]) == {"-", " "}
    assert lines[3].split()[0] == "i-dora"
    assert len(lines) == 4
    # Global options are accepted before the command too.
    result = run_iamctl(
        server.credentials_file, "--output", "table", "get-user", "--user-name", "i-dora"
    )
    assert any(line.startswith("User.Arn ") for line in result.stdout.splitlines())


def test_query(server: ServerProcess, root: Client, account: str) -> None:
    def query(*argv: str) -> str:
        return run_iamctl(server.credentials_file, *argv).stdout

    assert query("get-caller-identity", "--query", "Account") == f"{account}\n"
    root.create_user(user_name="i-query", path="/i-query/")
    assert query("get-user", "--user-name", "i-query", "--query", "User.Arn") == (
        f"arn:aws:iam::{account}:user/i-query/i-query\n"
    )
    listed = ("list-users", "--path-prefix", "/i-query/")
    assert query(*listed, "--query", "Users[0].UserName") == "i-query\n"
    assert json.loads(query(*listed, "--query", "Users[0]"))["UserName"] == "i-query"
    assert json.loads(query(*listed, "--query", "Users[1]")) is None
    secret = query(
        "create-access-key", "--user-name", "i-query", "--query", "AccessKey.SecretAccessKey"
    )
    assert len(secret.strip()) >= 40 and " " not in secret.strip()
    keys = query("list-access-keys", "--user-name", "i-query", "--query", "AccessKeyMetadata")
    assert [k["Status"] for k in json.loads(keys)] == ["Active"]


def test_authorize_explain(server: ServerProcess, root: Client, account: str) -> None:
    root.create_user(user_name="i-reader")
    written = root.put_user_policy(
        user_name="i-reader",
        policy_name="read",
        policy_document=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadUsers",
                        "Effect": "Allow",
                        "Action": "iam:GetUser",
                        "Resource": "*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                    }
                ],
            }
        ),
    )
    principal = f"arn:aws:iam::{account}:user/i-reader"
    argv = [
        *("authorize", "--principal", principal, "--action", "iam:GetUser"),
        *("--resource", principal, "--at-least-revision", str(written.revision)),
    ]
    out = cli(server, *argv, "--context", "aws:SourceIp=ip:10.0.0.1", "--explain")
    assert out["Decision"] == "allowed"
    assert out["PrincipalArn"] == principal
    assert out["Revision"] >= written.revision
    (matched,) = out["Explain"]["MatchedStatements"]
    assert matched["SourcePolicyId"] == f"{principal}#read"
    assert matched["Sid"] == "ReadUsers"
    denied = cli(server, *argv, "--explain")
    assert denied["Decision"] == "implicitDeny"
    assert "aws:SourceIp" in denied["Explain"]["MissingContextKeys"]


def test_api_errors_go_to_stderr(server: ServerProcess) -> None:
    cli(server, "create-user", "--user-name", "i-bob")
    result = run_iamctl(server.credentials_file, "create-user", "--user-name", "i-bob", check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "iamctl: EntityAlreadyExists: User i-bob already exists\n"
    result = run_iamctl(server.credentials_file, "get-user", "--user-name", "i-nobody", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("iamctl: NoSuchEntity: ")
    result = run_iamctl(
        server.credentials_file, "create-user", "--user-name", "bad name!", check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith("iamctl: ")
    assert "user_name" in result.stderr


def test_revoke_user_sessions(server: ServerProcess, root: Client) -> None:
    """iamctl revoke-user-sessions ends the user's sessions issued so far, not later ones."""
    root.create_user(user_name="i-revoked")
    key = root.create_access_key(user_name="i-revoked").access_key
    with connect(server.endpoint, key_credentials(key)) as user:
        before = user.get_session_token().credentials
    with connect(server.endpoint, session_of(before)) as session:
        assert session.get_caller_identity().arn.endswith(":user/i-revoked")
        out = cli(server, "revoke-user-sessions", "--user-name", "i-revoked")
        assert out["Revision"] > 0 and out["RevokedBefore"]
        with pytest.raises(Unauthenticated):
            session.get_caller_identity()
    with connect(server.endpoint, key_credentials(key)) as user:
        after = user.get_session_token().credentials
        assert user.get_caller_identity().arn.endswith(":user/i-revoked")  # keys keep working
    with connect(server.endpoint, session_of(after)) as session:
        assert session.get_caller_identity().arn.endswith(":user/i-revoked")


def key_credentials(key: Any) -> SigningCredentials:
    return SigningCredentials(key.access_key_id, key.secret_access_key)


def session_of(credentials: Any) -> SigningCredentials:
    return SigningCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
