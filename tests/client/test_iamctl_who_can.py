"""`iamctl who-can` and `iamctl what-can` against a real server: a table by default, JSON on
request, every page fetched, usage errors before any call."""

from __future__ import annotations

import json

from iamd_client import Client

from tests.client.conftest import allow, policy
from tests.client.conftest import iamctl as run_iamctl
from tests.harness import ServerProcess


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]


def test_who_can_and_what_can(server: ServerProcess, root: Client, account: str) -> None:
    reader = root.create_user(user_name="wc-reader").user.arn
    root.put_user_policy(
        user_name="wc-reader",
        policy_name="read",
        policy_document=policy(allow(["iam:GetUser", "iam:ListUsers"])),
    )
    office = root.create_user(user_name="wc-office").user.arn
    statement = allow("iam:GetUser") | {"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    root.put_user_policy(
        user_name="wc-office", policy_name="office", policy_document=policy(statement)
    )
    nobody = root.create_user(user_name="wc-nobody").user.arn
    revision = root.create_user(user_name="wc-last").revision
    root.authorize(action="iam:GetUser", at_least_revision=revision)
    target = f"arn:aws:iam::{account}:user/wc-last"

    result = run_iamctl(
        server.credentials_file,
        *("who-can", "--action", "iam:GetUser", "--resource", target),
        env={"COLUMNS": "250"},
    )
    rows = _rows(result.stdout)
    assert rows[1] == ["WhoCan"]
    header = next(r for r in rows if "Principal" in r)
    assert header == ["Access", "MissingContextKeys", "Principal", "Statements", "Type"]
    by_principal = {r[2]: r for r in rows if len(r) == 5 and r[2].startswith("arn:")}
    assert set(by_principal) == {reader, office}
    assert nobody not in result.stdout
    access = header.index("Access")
    assert by_principal[reader][access] == "allowed"
    assert by_principal[office][access] == "conditional"
    assert by_principal[office][header.index("MissingContextKeys")] == "aws:SourceIp"

    out = json.loads(
        run_iamctl(
            server.credentials_file,
            *("who-can", "--action", "iam:GetUser", "--resource", target, "--output", "json"),
        ).stdout
    )
    assert [p["Principal"] for p in out["Principals"]] == sorted([reader, office])
    assert out["Principals"][1]["Statements"] == f"{reader}#read[0]"

    out = json.loads(
        run_iamctl(
            server.credentials_file,
            *("--output", "json", "what-can", "--principal", reader, "--service", "iam"),
        ).stdout
    )
    assert [(a["Action"], a["Access"]) for a in out["Actions"]] == [
        ("iam:GetUser", "allowed"),
        ("iam:ListUsers", "allowed"),
    ]
    # On a user ARN only the actions that act on users count: ListUsers acts on "*".
    out = json.loads(
        run_iamctl(
            server.credentials_file,
            *("--output", "json", "what-can", "--principal", reader, "--resource", target),
        ).stdout
    )
    assert [a["Action"] for a in out["Actions"]] == ["iam:GetUser"]


def test_what_can_usage(server: ServerProcess) -> None:
    result = run_iamctl(
        server.credentials_file,
        *("what-can", "--principal", "arn:aws:iam::123456789012:user/x"),
        check=False,
    )
    assert result.returncode == 2
    assert "--resource" in result.stderr and result.stdout == ""


def test_preview_flag_on_writes(server: ServerProcess, root: Client, account: str) -> None:
    user = root.create_user(user_name="wc-preview").user.arn
    revision = root.create_user(user_name="wc-preview-target").revision
    root.authorize(action="iam:GetUser", at_least_revision=revision)
    target = f"arn:aws:iam::{account}:user/wc-preview-target"
    write = (
        *("put-user-policy", "--user-name", "wc-preview", "--policy-name", "p"),
        *("--policy-document", policy(allow("iam:GetUser", target)), "--preview"),
    )
    out = json.loads(run_iamctl(server.credentials_file, *write, "--output", "json").stdout)
    assert out["Truncated"] is False and out["Checked"] >= 1
    changes = {tuple(c[k] for k in ("Principal", "Action", "Resource", "Before", "After"))
               for c in out["Changes"]}  # fmt: skip
    assert changes == {(user, "iam:GetUser", target, "implicitDeny", "allowed")}
    # A table by default, and nothing was written.
    table = run_iamctl(server.credentials_file, *write, env={"COLUMNS": "250"}).stdout
    assert _rows(table)[1] == ["PreviewPolicyChange"]
    assert "implicitDeny" in table and user in table
    assert root.list_user_policies(user_name="wc-preview").policy_names == []
    # Commands that are not policy writes have no --preview.
    result = run_iamctl(
        server.credentials_file, "get-user", "--user-name", "wc-preview", "--preview", check=False
    )
    assert result.returncode == 2 and "--preview" in result.stderr
