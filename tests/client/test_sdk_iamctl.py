"""iamctl: argument parsing and AWS-shaped output (no server), then the installed `iamctl`
as a subprocess against a real `iamd serve`: JSON and table output, file:// documents,
--query, authorize --explain, and errors on stderr with the server's reason."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from iamd.v1 import authorization_pb2, management_pb2, types_pb2
from iamd_client import Client
from iamd_client._convert import fill, parse_enum, to_aws
from iamd_client.cli import main, values
from iamd_client.cli.commands import SERVICES, kebab, rpc_commands
from iamd_client.errors import Unauthenticated
from iamd_client.signing import SigningCredentials

from tests.client.conftest import connect
from tests.client.conftest import iamctl as run_iamctl
from tests.harness import ServerProcess

# ---- no server -----------------------------------------------------------------------------

OFFLINE = ["--endpoint", "127.0.0.1:1"]  # usage errors are reported before any call


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*OFFLINE, "update-access-key", "--access-key-id", "AKIA", "--status", "Sleeping"])
    assert code == 2
    assert "Active, Inactive" in capsys.readouterr().err
    assert main([*OFFLINE, "create-user", "--user-name", "x", "--tags", "notatag"]) == 2
    capsys.readouterr()
    assert main([*OFFLINE, "get-caller-identity", "--query", "Users[x"]) == 2
    err = capsys.readouterr().err
    assert "--query 'Users[x': not a JMESPath expression" in err
    assert main(["create-user"]) == 2  # --user-name is required
    err = capsys.readouterr().err
    assert err.startswith("usage: iamctl create-user")
    assert "the following arguments are required: --user-name" in err
    assert main(["create-user", "--usr-name", "x"]) == 2
    assert "unknown option --usr-name; did you mean --user-name?" in capsys.readouterr().err


def test_parse_context() -> None:
    assert values.parse_context("aws:SourceIp=ip:10.0.0.1") == {
        "key": "aws:SourceIp",
        "type": types_pb2.CONTEXT_KEY_TYPE_IP,
        "values": ["10.0.0.1"],
    }
    assert values.parse_context("k=stringList:a,b")["values"] == ["a", "b"]
    assert values.parse_context("k=numeric:5")["type"] == types_pb2.CONTEXT_KEY_TYPE_NUMERIC
    # Without a known type the whole value is a string, colons included.
    arn = values.parse_context("aws:SourceArn=arn:aws:sns:us-east-1:1:t")
    assert arn["type"] == types_pb2.CONTEXT_KEY_TYPE_STRING
    assert arn["values"] == ["arn:aws:sns:us-east-1:1:t"]
    assert values.parse_context("k=plain")["values"] == ["plain"]


def test_context_entries_json_in_aws_shape() -> None:
    field = authorization_pb2.SimulateCustomPolicyRequest.DESCRIPTOR.fields_by_name[
        "context_entries"
    ]
    items = values.parse_items(
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
    commands = rpc_commands()
    for service in SERVICES:
        for method in service.methods:
            assert commands[kebab(method.name)].method is method
    assert commands["simulate-principal-policy"].namespace == "iam"
    assert commands["assume-role"].namespace == "sts"
    assert commands["list-accounts"].namespace == "organizations"
    assert commands["attach-service-control-policy"].namespace == "organizations"
    assert commands["update-account-password-policy"].namespace == "iam"


def test_configure_with_flags_writes_a_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "creds"
    argv = ["--profile", "ops", "--endpoint", "h:1", "configure", "--access-key-id", "AKIA9"]
    code = main([*argv, "--secret-access-key", "s9", "--credentials-file", str(target)])
    assert code == 0
    text = target.read_text()
    assert "[ops]" in text and "endpoint = h:1" in text and "secret_access_key = s9" in text
    assert capsys.readouterr().out == f"Wrote profile ops to {target}\n"


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
    (tmp_path / "p.json").write_text(document + "\n")
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
    assert out["PolicyDocument"] == json.loads(document)  # printed as JSON, not a string


def test_list_users_as_a_table(server: ServerProcess) -> None:
    cli(server, "create-user", "--user-name", "i-dora", "--path", "/i-table/")
    result = run_iamctl(
        server.credentials_file,
        *("list-users", "--path-prefix", "/i-table/", "--output", "table"),
        env={"COLUMNS": "200"},  # the terminal's width (on a pipe: 80)
    )
    lines = result.stdout.splitlines()
    # The AWS CLI's shape: a title box, then a section per list, columns sorted by name.
    assert lines[0] == "-" * len(lines[0])
    assert lines[1].strip("| ") == "ListUsers"
    assert lines[3].strip("| ") == "Users"
    header = [c.strip() for c in lines[5].strip("|").split("|")]
    assert header == ["AccountId", "Arn", "CreateDate", "Path", "UserId", "UserName"]
    row = [c.strip() for c in lines[7].strip("|").split("|")]
    assert row[3:4] == ["/i-table/"] and row[5] == "i-dora"
    assert len({len(line) for line in lines}) == 1, result.stdout  # a rectangle
    # Global options are accepted before the command too; one record turns vertical in 80
    # columns, as in the AWS CLI.
    result = run_iamctl(
        server.credentials_file, "--output", "table", "get-user", "--user-name", "i-dora"
    )
    pairs = [[c.strip() for c in line.strip("|").split("|")] for line in result.stdout.splitlines()]
    assert ["UserName", "i-dora"] in pairs


def test_query(server: ServerProcess, root: Client, account: str) -> None:
    def query(*argv: str) -> str:
        return run_iamctl(server.credentials_file, *argv).stdout

    assert query("get-caller-identity", "--query", "Account", "--output", "text") == f"{account}\n"
    assert query("get-caller-identity", "--query", "Account") == f'"{account}"\n'  # JSON
    root.create_user(user_name="i-query", path="/i-query/")
    assert query(
        "get-user", "--user-name", "i-query", "--query", "User.Arn", "--output", "text"
    ) == (f"arn:aws:iam::{account}:user/i-query/i-query\n")
    listed = ("list-users", "--path-prefix", "/i-query/")
    assert json.loads(query(*listed, "--query", "Users[0].UserName")) == "i-query"
    assert json.loads(query(*listed, "--query", "Users[0]"))["UserName"] == "i-query"
    assert json.loads(query(*listed, "--query", "Users[1]")) is None
    secret = query(
        "create-access-key",
        "--user-name",
        "i-query",
        "--query",
        "AccessKey.SecretAccessKey",
        "--output",
        "text",
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


def test_api_errors_go_to_stderr(server: ServerProcess, root: Client) -> None:
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
    # The reason is said once, even when the server's message leads with it.
    root.create_access_key(user_name="i-bob")
    result = run_iamctl(server.credentials_file, "delete-user", "--user-name", "i-bob", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("iamctl: DeleteConflict: cannot delete user i-bob")
    assert result.stderr.count("DeleteConflict") == 1


def test_the_client_distribution_ships_every_package() -> None:
    """client/pyproject.toml lists its packages by hand: a new subpackage must be listed."""
    client = Path(__file__).resolve().parents[2] / "client"
    listed = set(
        tomllib.loads((client / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(client).parts)
        for init in client.glob("iamd*/**/__init__.py")
    }
    assert found <= listed, found - listed


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
