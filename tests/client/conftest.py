"""Fixtures of the SDK tests: real `iamd serve` processes (see tests/conftest.py) and helpers.

No fake server: every call goes over a real channel to a real server on its own PostgreSQL
database, which verifies each signature over the exact bytes received.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iamd_client import Client
from iamd_client.signing import SigningCredentials

from tests.harness import ServerProcess

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def connect(endpoint: str, credentials: SigningCredentials | None, **options: Any) -> Client:
    """A Client signed with `credentials` (None: unsigned)."""
    if credentials is None:
        return Client(endpoint=endpoint, **options)
    return Client(
        endpoint=endpoint,
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
        **options,
    )


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Client]:
    """The management account's root, from the profile the server wrote at bootstrap."""
    with connect(server.endpoint, server.root) as client:
        yield client


@pytest.fixture(scope="module")
def account(root: Client) -> str:
    return root.get_caller_identity().account


def iamctl_env(credentials_file: Path, **extra: str) -> dict[str, str]:
    """The environment of an iamctl subprocess: the venv on PATH, only this profile file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAMD_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["IAMD_SHARED_CREDENTIALS_FILE"] = str(credentials_file)
    env.update(extra)
    return env


def iamctl(
    credentials_file: Path,
    *argv: str,
    cwd: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `iamctl` as a subprocess (`env`: extra environment variables)."""
    result = subprocess.run(
        [str(BIN / "iamctl"), *argv],
        env=iamctl_env(credentials_file, **(env or {})),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, f"iamctl {' '.join(argv)}: {result.stderr}"
    return result
