"""The README's tour and SDK example, run exactly as written against a real server.

The shell block between ``<!-- tour:start -->`` and ``<!-- tour:end -->`` runs under bash
with the venv's `iamctl` on PATH; the Python block between the sdk markers runs afterwards
(it reads alice, whom the tour created). Both read the server's `default` profile through
IAMD_SHARED_CREDENTIALS_FILE. Editing either block so it no longer works fails these tests.
"""

from __future__ import annotations

import json
import os
import re
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

    rows = {line.split()[0]: line.split() for line in table.splitlines() if "orders:" in line}
    assert set(rows) == {"orders:GetOrder", "orders:CancelOrder"}, table
    assert "allowed" in rows["orders:GetOrder"]
    assert "implicitDeny" in rows["orders:CancelOrder"]


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
