"""The README's tour, role example and SDK example, run exactly as written against a real
server.

The shell block between ``<!-- tour:start -->`` and ``<!-- tour:end -->`` runs under bash
with the venv's `iamctl` on PATH; the role example (``role`` markers) and the Python block
between the sdk markers run afterwards (they use alice, whom the tour created). All read the
server's `default` profile through IAMD_SHARED_CREDENTIALS_FILE (the role example a copy of
that file, since it adds profiles). Editing a block so it no longer works fails these tests.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from iamd_client import Client

from tests.harness import ServerProcess

README = Path(__file__).resolve().parent.parent / "README.md"
BIN = Path(sys.executable).parent


def fenced_block(name: str, language: str) -> str:
    """The fenced `language` block between the README's `name` markers."""
    text = README.read_text(encoding="utf-8")
    section = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, flags=re.DOTALL)
    assert section is not None, f"README.md has no {name} markers"
    block = re.fullmatch(rf"\s*```{language}\n(.*?)```\s*", section.group(1), flags=re.DOTALL)
    assert block is not None, f"the {name} section must hold one ```{language} block"
    return block.group(1)


def json_documents(text: str) -> tuple[list[dict[str, Any]], str]:
    """The JSON objects printed one after another at the start of `text`, and the rest."""
    decoder = json.JSONDecoder()
    documents: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if not text.startswith("{", position):
            return documents, text[position:]
        document, position = decoder.raw_decode(text, position)
        documents.append(document)


@pytest.fixture(scope="module")
def environment(server: ServerProcess) -> dict[str, str]:
    """Only the credentials file configures the commands: no stray IAMD_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAMD_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["IAMD_SHARED_CREDENTIALS_FILE"] = str(server.credentials_file)
    return env


@pytest.fixture(scope="module")
def account(server: ServerProcess) -> str:
    root = server.root
    with Client(
        endpoint=server.endpoint,
        access_key_id=root.access_key_id,
        secret_access_key=root.secret_access_key,
    ) as client:
        return client.get_caller_identity().account


@pytest.fixture(scope="module")
def tour(environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    script = "set -euo pipefail\n" + fenced_block("tour", "sh")
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path_factory.mktemp("tour"),
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"tour failed:\n{result.stdout}\n{result.stderr}"
    assert result.stderr == ""
    return result.stdout


def test_tour_runs_as_written(tour: str, account: str) -> None:
    documents, table = json_documents(tour)
    decisions = [d for d in documents if "Decision" in d]
    assert len(decisions) == 2, tour
    allowed, denied = decisions
    alice = f"arn:aws:iam::{account}:user/support/alice"

    assert allowed["Decision"] == "allowed"
    assert allowed["PrincipalArn"] == alice
    matched = allowed["Explain"]["MatchedStatements"]
    assert [m["SourcePolicyId"] for m in matched] == [
        f"arn:aws:iam::{account}:group/support#read-orders"
    ]
    assert matched[0]["SourcePolicyType"] == "group"
    assert matched[0].get("StatementIndex", 0) == 0

    assert denied["Decision"] == "implicitDeny"
    assert "Explain" not in denied

    created = [d["User"] for d in documents if "User" in d]
    assert [u["Arn"] for u in created] == [alice]

    # The AWS CLI's table: boxed sections of "| key | value |" rows (80 columns, no terminal).
    assert table.splitlines()[1].strip("| ") == "SimulatePrincipalPolicy", table
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]
    pairs = [(row[0], row[1]) for row in cells if len(row) == 2]
    actions = [value for key, value in pairs if key == "EvalActionName"]
    outcomes = [value for key, value in pairs if key == "EvalDecision"]
    assert list(zip(actions, outcomes, strict=True)) == [
        ("orders:GetOrder", "allowed"),
        ("orders:CancelOrder", "implicitDeny"),
    ], table


def test_role_example_runs_as_written(
    tour: str, environment: dict[str, str], account: str, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    shutil.copyfile(environment["IAMD_SHARED_CREDENTIALS_FILE"], credentials)
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + fenced_block("role", "sh")],
        cwd=work,
        env={**environment, "IAMD_SHARED_CREDENTIALS_FILE": str(credentials)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"role example failed:\n{result.stdout}\n{result.stderr}"
    documents, rest = json_documents(result.stdout)
    (role,) = [d["Role"] for d in documents if "Role" in d]
    assert role["Arn"] == f"arn:aws:iam::{account}:role/reader"
    trust = role["AssumeRolePolicyDocument"]  # a JSON value, as the AWS CLI prints it
    assert trust["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{account}:user/support/alice"
    }

    lines = rest.splitlines()
    assert lines[:2] == [
        f"Wrote profile alice to {credentials}",
        f"Wrote profile reader-session to {credentials}",
    ]
    assert lines[2] == f"arn:aws:sts::{account}:assumed-role/reader/alice-audit"
    assert "alice" in lines[3].split("\t")
    assert lines[4] == "list-roles: denied by the session policy"
    revoked, after = json_documents("\n".join(lines[5:]))
    assert revoked[0]["Revision"] > 0
    assert after.strip() == "the session is revoked"
    assert result.stderr.splitlines() == [
        f"iamctl: AccessDenied: arn:aws:sts::{account}:assumed-role/reader/alice-audit is not "
        "authorized to perform iam:ListRoles on resource * (implicitDeny: session policy "
        "does not allow the action)",
        "iamctl: Unauthenticated: the session has been revoked",
    ]

    profiles = configparser.ConfigParser(interpolation=None)
    profiles.read(credentials)
    assert profiles["alice"]["access_key_id"].startswith("AKIA")
    assert profiles["reader-session"]["access_key_id"].startswith("ASIA")
    assert profiles["reader-session"]["session_token"]
    assert profiles["reader-session"]["endpoint"] == profiles["default"]["endpoint"]
    assert credentials.stat().st_mode & 0o777 == 0o600


def test_sdk_example_runs_as_written(
    tour: str, environment: dict[str, str], account: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", fenced_block("sdk", "python")],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "DECISION_ALLOWED"
    assert lines[1] == f"arn:aws:iam::{account}:user/support/alice"
    assert len(lines) == 3
    assert lines[2].startswith("NoSuchEntity ")
    assert "nobody" in lines[2]
