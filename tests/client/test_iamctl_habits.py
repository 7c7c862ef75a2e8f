"""iamctl as someone who knows `aws iam` uses it: the installed `iamctl` as a subprocess (or
on a pseudo-terminal) against a real `iamd serve`, one test per habit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from iamd_client import Client

from tests.client.conftest import BIN, iamctl, iamctl_env, policy
from tests.client.terminal import converse
from tests.harness import ServerProcess


def run(server: ServerProcess, *argv: str, **kwargs: Any) -> str:
    result = iamctl(server.credentials_file, *argv, **kwargs)
    assert result.stderr == ""
    return result.stdout


def test_aws_cli_namespaces(server: ServerProcess, root: Client, account: str) -> None:
    root.create_user(user_name="h-ns", path="/h-ns/")
    listed = json.loads(run(server, "iam", "list-users", "--path-prefix", "/h-ns/"))
    assert [u["UserName"] for u in listed["Users"]] == ["h-ns"]
    assert json.loads(run(server, "sts", "get-caller-identity"))["Account"] == account
    accounts = json.loads(run(server, "organizations", "list-accounts"))["Accounts"]
    assert account in [a["AccountId"] for a in accounts]

    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:user/h-ns/h-ns"},
            "Action": "sts:AssumeRole",
        }
    )
    root.create_role(role_name="h-ns-role", assume_role_policy_document=trust)
    key = root.create_access_key(user_name="h-ns").access_key
    as_user = {
        "IAMD_ACCESS_KEY_ID": key.access_key_id,
        "IAMD_SECRET_ACCESS_KEY": key.secret_access_key,
    }
    role_arn = f"arn:aws:iam::{account}:role/h-ns-role"
    assumed = json.loads(
        run(
            server,
            *("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "s1"),
            env=as_user,
        )
    )
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/h-ns-role/s1"
    assert assumed["Credentials"]["AccessKeyId"].startswith("ASIA")

    # A command under the wrong namespace says where it lives.
    wrong = iamctl(server.credentials_file, "sts", "list-users", check=False)
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert "list-users is an iam command: iamctl iam list-users" in wrong.stderr


def test_a_typo_suggests_the_command(server: ServerProcess) -> None:
    result = iamctl(server.credentials_file, "list-usres", check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "iamctl: error: unknown command 'list-usres'; did you mean list-users?" in (
        result.stderr
    )
    assert result.stderr.startswith("usage: iamctl [GLOBAL OPTIONS]")
    assert len(result.stderr) < 400  # the short usage, not every command
    result = iamctl(server.credentials_file, "iam", "get-usr", "--user-name", "x", check=False)
    assert result.returncode == 2
    assert "unknown iam command 'get-usr'; did you mean get-user?" in result.stderr


def test_query_is_jmespath(server: ServerProcess, root: Client) -> None:
    for name, path in (("h-q1", "/h-q/a/"), ("h-q2", "/h-q/b/"), ("h-q3", "/h-q/a/")):
        root.create_user(user_name=name, path=path)
    listed = ("list-users", "--path-prefix", "/h-q/")
    names = json.loads(run(server, *listed, "--query", "Users[*].UserName"))
    assert names == ["h-q1", "h-q2", "h-q3"]
    filtered = run(
        server, *listed, "--query", "Users[?Path=='/h-q/a/'].UserName", "--output", "text"
    )
    assert filtered == "h-q1\th-q3\n"
    assert json.loads(run(server, *listed, "--query", "length(Users)")) == 3
    picked = json.loads(run(server, *listed, "--query", "Users[1].{Name: UserName, Path: Path}"))
    assert picked == {"Name": "h-q2", "Path": "/h-q/b/"}


def test_text_output(server: ServerProcess, root: Client, account: str) -> None:
    root.create_user(user_name="h-t1", path="/h-t/")
    root.create_user(user_name="h-t2", path="/h-t/")
    text = run(server, "list-users", "--path-prefix", "/h-t/", "--output", "text")
    rows = [line.split("\t") for line in text.splitlines()]
    # One record per line, led by the list's name, scalar columns in key order.
    assert [r[0] for r in rows] == ["USERS", "USERS"]
    assert [r[-1] for r in rows] == ["h-t1", "h-t2"]
    assert rows[0][1:3] == [account, f"arn:aws:iam::{account}:user/h-t/h-t1"]
    assert rows[0][4] == "/h-t/" and rows[0][5].startswith("AIDA")
    identity = run(server, "get-caller-identity", "--output", "text")
    assert identity == f"{account}\tarn:aws:iam::{account}:root\t{account}\n"


def test_list_commands_fetch_every_page(server: ServerProcess, root: Client) -> None:
    names = [f"h-page-{n:03}" for n in range(105)]  # more than the server's page of 100
    for name in names:
        root.create_user(user_name=name, path="/h-page/")
    listed = ("list-users", "--path-prefix", "/h-page/")
    everything = json.loads(run(server, *listed))
    assert [u["UserName"] for u in everything["Users"]] == names
    assert set(everything) == {"Users"}  # no IsTruncated, Marker or NextToken
    small_pages = run(server, *listed, "--page-size", "7", "--query", "Users[*].UserName")
    assert json.loads(small_pages) == names

    # --max-items stops part-way through a page and says where to go on.
    first = json.loads(run(server, *listed, "--page-size", "10", "--max-items", "15"))
    assert [u["UserName"] for u in first["Users"]] == names[:15]
    token = first["NextToken"]
    rest = json.loads(run(server, *listed, "--starting-token", token, "--max-items", "100"))
    assert [u["UserName"] for u in rest["Users"]] == names[15:]
    assert "NextToken" not in rest
    text = run(server, *listed, "--max-items", "2", "--output", "text").splitlines()
    assert [line.split("\t")[0] for line in text] == ["USERS", "USERS", "NEXTTOKEN"]

    # --no-paginate: the server's first page as it was sent.
    page = json.loads(run(server, *listed, "--no-paginate"))
    assert [u["UserName"] for u in page["Users"]] == names[:100]
    assert page["IsTruncated"] is True and page["Marker"]

    bad = iamctl(server.credentials_file, *listed, "--starting-token", "nope", check=False)
    assert bad.returncode == 2 and "not a NextToken printed by iamctl" in bad.stderr


def test_get_user_and_decoded_policy_documents(
    server: ServerProcess, root: Client, account: str, tmp_path: Path
) -> None:
    me = json.loads(run(server, "iam", "get-user"))["User"]
    assert me["Arn"] == f"arn:aws:iam::{account}:root"
    assert me["UserId"] == account and "UserName" not in me

    trust = policy({"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"})
    (tmp_path / "trust.json").write_text(trust + "\n")  # the file's newline is not printed
    created = json.loads(
        run(
            server,
            *("create-role", "--role-name", "h-doc", "--assume-role-policy-document"),
            f"file://{tmp_path / 'trust.json'}",
        )
    )
    assert created["Role"]["AssumeRolePolicyDocument"] == json.loads(trust)
    got = json.loads(run(server, "get-role", "--role-name", "h-doc"))["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(trust)
    inline = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    root.put_role_policy(role_name="h-doc", policy_name="p", policy_document=inline)
    got = json.loads(run(server, "get-role-policy", "--role-name", "h-doc", "--policy-name", "p"))
    assert got["PolicyDocument"] == json.loads(inline)
    arn = root.create_policy(policy_name="h-doc", policy_document=inline).policy.arn
    version = json.loads(
        run(server, "get-policy-version", "--policy-arn", arn, "--version-id", "v1")
    )
    assert version["PolicyVersion"]["Document"] == json.loads(inline)
    document = run(
        server,
        *("get-role-policy", "--role-name", "h-doc", "--policy-name", "p"),
        *("--query", "PolicyDocument.Statement[0].Action", "--output", "text"),
    )
    assert document == "s3:GetObject\n"


def test_configure_asks_on_a_terminal(
    server: ServerProcess, root: Client, account: str, tmp_path: Path
) -> None:
    root.create_user(user_name="h-conf")
    key = root.create_access_key(user_name="h-conf").access_key
    root.put_user_policy(
        user_name="h-conf",
        policy_name="me",
        policy_document=policy({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}),
    )
    credentials = tmp_path / "credentials"
    env = iamctl_env(credentials, IAMD_ENDPOINT=server.endpoint)
    configure = [str(BIN / "iamctl"), "configure", "--profile", "ops"]

    first = converse(
        configure,
        env,
        [
            ("Access key ID [None]: ", key.access_key_id),
            ("Secret access key [None]: ", key.secret_access_key),
            ("Session token [None]: ", ""),
            (f"Endpoint [{server.endpoint}]: ", ""),
            ("Default output format [None]: ", "text"),
        ],
    )
    assert first.failed_at is None, first.transcript
    assert first.exit_status == 0, first.transcript
    assert f"Wrote profile ops to {credentials}" in first.transcript
    assert key.access_key_id in first.transcript  # typed answers are echoed...
    assert key.secret_access_key not in first.transcript  # ...but not the secret
    assert credentials.stat().st_mode & 0o777 == 0o600
    saved = credentials.read_text()
    assert f"secret_access_key = {key.secret_access_key}" in saved
    assert "output = text" in saved

    # Asked again, the current values show masked, and Enter keeps them.
    again = converse(
        configure,
        env,
        [
            (f"Access key ID [****************{key.access_key_id[-4:]}]: ", ""),
            (f"Secret access key [****************{key.secret_access_key[-4:]}]: ", ""),
            ("Session token [None]: ", ""),
            (f"Endpoint [{server.endpoint}]: ", ""),
            ("Default output format [text]: ", ""),
        ],
    )
    assert again.failed_at is None and again.exit_status == 0, again.transcript
    assert credentials.read_text() == saved

    # The profile works (its endpoint, its key), with its default output format: text.
    result = iamctl(credentials, "--profile", "ops", "get-user", "--query", "User.UserName")
    assert result.stdout == "h-conf\n", result.stderr


def test_shell_completion(server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "iamctl.bash"
    script.write_text(run(server, "completion", "bash"))

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        probe = (
            f"source {script}\n"
            f"COMP_WORDS=({line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
            '_iamctl; printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        result = subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", probe],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0 and result.stderr == "", result.stderr
        return result.stdout.split()

    assert "list-users" in complete("iamctl", "list-u")
    assert all(c.startswith("list-u") for c in complete("iamctl", "list-u"))
    assert sorted(complete("iamctl", "list-use")) == [
        "list-user-policies",
        "list-user-tags",
        "list-users",
    ]
    assert sorted(complete("iamctl", "iam", "list-users", "--pa")) == [
        "--page-size",
        "--path-prefix",
    ]
    assert complete("iamctl", "sts", "assume-role-w") == ["assume-role-with-web-identity"]
    assert complete("iamctl", "org") == ["organizations"]
    assert complete("iamctl", "--profile", "x", "create-user", "--user-") == ["--user-name"]
    assert sorted(complete("iamctl", "list-users", "--output", "t")) == ["table", "text"]
    zsh = run(server, "completion", "zsh")
    assert "bashcompinit" in zsh and zsh.endswith(script.read_text())
