"""Endpoint and credential resolution, and writing profiles."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from iamd_client import Client
from iamd_client.credentials import CredentialsError, read_profile, resolve, write_profile
from iamd_client.errors import ConfigurationError


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "credentials"
    path.write_text(text)
    return path


PROFILES = """
[default]
endpoint = file-host:1
access_key_id = AKIAFILE
secret_access_key = file-secret

[ops]
endpoint = ops-host:2
aws_access_key_id = AKIAOPS
aws_secret_access_key = ops-secret
session_token = ops-token
tls = true
ca_file = /etc/ca.pem
"""


def test_explicit_arguments_win(tmp_path: Path) -> None:
    env = {
        "IAMD_ENDPOINT": "env-host:9",
        "IAMD_ACCESS_KEY_ID": "AKIAENV",
        "IAMD_SECRET_ACCESS_KEY": "env-secret",
        "IAMD_SHARED_CREDENTIALS_FILE": str(_file(tmp_path, PROFILES)),
    }
    config = resolve(
        endpoint="arg-host:1", access_key_id="AKIAARG", secret_access_key="s", environ=env
    )
    assert (config.endpoint, config.access_key_id, config.credentials_source) == (
        "arg-host:1",
        "AKIAARG",
        "explicit",
    )
    assert config.session_token is None


def test_environment_before_file(tmp_path: Path) -> None:
    env = {
        "IAMD_ACCESS_KEY_ID": "AKIAENV",
        "IAMD_SECRET_ACCESS_KEY": "env-secret",
        "IAMD_SESSION_TOKEN": "env-token",
        "IAMD_SHARED_CREDENTIALS_FILE": str(_file(tmp_path, PROFILES)),
    }
    config = resolve(environ=env)
    assert config.access_key_id == "AKIAENV"
    assert config.session_token == "env-token"
    assert config.credentials_source == "environment"
    # The endpoint still comes from the file: settings resolve one by one.
    assert config.endpoint == "file-host:1"


def test_file_default_and_named_profiles(tmp_path: Path) -> None:
    path = _file(tmp_path, PROFILES)
    default = resolve(environ={"IAMD_SHARED_CREDENTIALS_FILE": str(path)})
    assert (default.access_key_id, default.secret_access_key, default.tls) == (
        "AKIAFILE",
        "file-secret",
        False,
    )
    assert default.profile == "default"
    ops = resolve(environ={"IAMD_SHARED_CREDENTIALS_FILE": str(path), "IAMD_PROFILE": "ops"})
    assert (ops.endpoint, ops.access_key_id, ops.session_token) == (
        "ops-host:2",
        "AKIAOPS",
        "ops-token",
    )
    assert ops.tls and ops.ca_file == "/etc/ca.pem"
    assert resolve(profile="ops", credentials_file=path, environ={}).access_key_id == "AKIAOPS"


def test_secrets_never_in_repr(tmp_path: Path) -> None:
    path = _file(tmp_path, PROFILES)
    config = resolve(credentials_file=path, environ={})
    assert "file-secret" not in repr(config)


def test_missing_named_profile_is_an_error(tmp_path: Path) -> None:
    path = _file(tmp_path, PROFILES)
    with pytest.raises(CredentialsError, match="nope"):
        resolve(profile="nope", credentials_file=path, environ={})


def test_nothing_configured(tmp_path: Path) -> None:
    config = resolve(credentials_file=tmp_path / "absent", environ={})
    assert config.endpoint == "127.0.0.1:50051"
    assert config.access_key_id is None
    assert config.credentials_source == "none"
    assert config.profile is None


def test_key_id_and_secret_go_together(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent")
    with pytest.raises(CredentialsError):
        resolve(environ={"IAMD_ACCESS_KEY_ID": "AKIA", "IAMD_SHARED_CREDENTIALS_FILE": absent})
    with pytest.raises(CredentialsError):
        resolve(access_key_id="AKIA", environ={"IAMD_SHARED_CREDENTIALS_FILE": absent})


def test_invalid_tls_value(tmp_path: Path) -> None:
    path = _file(tmp_path, "[default]\ntls = maybe\n")
    with pytest.raises(CredentialsError, match="tls"):
        resolve(credentials_file=path, environ={})


def test_write_profile_creates_private_file(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".iamd" / "credentials"
    write_profile(path, "default", "h:1", "AKIA1", "secret-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_profile(path, "default") == {
        "endpoint": "h:1",
        "access_key_id": "AKIA1",
        "secret_access_key": "secret-1",
    }


def test_write_profile_keeps_other_profiles_and_settings(tmp_path: Path) -> None:
    path = _file(tmp_path, PROFILES)
    path.chmod(0o644)
    write_profile(path, "ops", "new-host:3", "AKIANEW", "new-secret")
    ops = read_profile(path, "ops")
    assert ops is not None
    assert (ops["endpoint"], ops["access_key_id"], ops["secret_access_key"]) == (
        "new-host:3",
        "AKIANEW",
        "new-secret",
    )
    assert "session_token" not in ops and "aws_access_key_id" not in ops
    assert ops["tls"] == "true"
    default = read_profile(path, "default")
    assert default is not None and default["access_key_id"] == "AKIAFILE"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_profile(path, "new", "h:4", "AKIA4", "s4", session_token="t4")
    assert resolve(profile="new", credentials_file=path, environ={}).session_token == "t4"


def test_audience_from_arguments_environment_or_profile(tmp_path: Path) -> None:
    path = _file(tmp_path, PROFILES + "\n[named]\naudience = iam-prod\n")
    env = {"IAMD_SHARED_CREDENTIALS_FILE": str(path)}
    assert resolve(environ=env).audience == "iamd"
    assert resolve(environ=env, profile="named").audience == "iam-prod"
    assert resolve(environ={**env, "IAMD_AUDIENCE": "orders"}, profile="named").audience == (
        "orders"
    )
    assert resolve(environ=env, profile="named", audience="x.y").audience == "x.y"
    # A separator in the audience could make two strings to sign alike: refused.
    with pytest.raises(CredentialsError, match="audience"):
        resolve(environ={**env, "IAMD_AUDIENCE": "orders\n/iamd.v1"})
    with pytest.raises(ConfigurationError, match="audience"):
        Client(endpoint="127.0.0.1:1", audience="a b")
