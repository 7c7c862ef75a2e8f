"""Where the client finds its endpoint and credentials (stdlib only: the server imports it).

Resolution follows the AWS SDKs, each setting from the first source that has it:

1. explicit arguments;
2. environment: ``IAMD_ENDPOINT``, ``IAMD_ACCESS_KEY_ID``, ``IAMD_SECRET_ACCESS_KEY``,
   ``IAMD_SESSION_TOKEN`` (the key id and secret count only as a pair), ``IAMD_AUDIENCE``;
3. a profile of the credentials file (INI; ``IAMD_SHARED_CREDENTIALS_FILE`` or
   ``~/.iamd/credentials``; profile ``IAMD_PROFILE`` or ``default``)::

       [default]
       endpoint = iamd.internal:50051
       access_key_id = AKIA...
       secret_access_key = ...
       session_token = ...          ; optional
       tls = true                   ; optional
       ca_file = /etc/iamd/ca.pem   ; optional
       client_cert_file = ...       ; optional (mutual TLS)
       client_key_file = ...        ; optional
       audience = iamd              ; optional: the server's --service-name

Access keys are taken as a unit (id + secret + token) from one source, never mixed.
"""

from __future__ import annotations

import configparser
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iamd_client.signing import DEFAULT_AUDIENCE, is_audience

ENV_ENDPOINT = "IAMD_ENDPOINT"
ENV_ACCESS_KEY_ID = "IAMD_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "IAMD_SECRET_ACCESS_KEY"
ENV_SESSION_TOKEN = "IAMD_SESSION_TOKEN"
ENV_PROFILE = "IAMD_PROFILE"
ENV_CREDENTIALS_FILE = "IAMD_SHARED_CREDENTIALS_FILE"
ENV_AUDIENCE = "IAMD_AUDIENCE"

DEFAULT_PROFILE = "default"
DEFAULT_ENDPOINT = "127.0.0.1:50051"


def default_credentials_file() -> Path:
    return Path("~/.iamd/credentials").expanduser()


class CredentialsError(ValueError):
    """The configuration cannot be resolved (unknown profile, unreadable or invalid file)."""


@dataclass(frozen=True, slots=True, repr=False)
class ClientConfig:
    """Everything needed to open a signed connection to iamd."""

    endpoint: str
    """host:port of the server."""
    access_key_id: str | None = None
    """Access key id (AKIA... or ASIA...); None = unsigned calls."""
    secret_access_key: str | None = None
    """The key's secret; never shown by repr()."""
    session_token: str | None = None
    """Session token of temporary (ASIA...) credentials."""
    tls: bool = False
    """Use TLS (also implied by ca_file or a client certificate)."""
    ca_file: str | None = None
    """PEM bundle of trusted CAs; None = system roots."""
    client_cert_file: str | None = None
    """PEM client certificate for mutual TLS."""
    client_key_file: str | None = None
    """PEM private key of the client certificate."""
    profile: str | None = None
    """The profile the file settings came from (None when no file was used)."""
    credentials_source: str = "none"
    """Where the access key came from: "explicit", "environment", "profile" or "none"."""
    audience: str = DEFAULT_AUDIENCE
    """The service name calls are signed for (the server's --service-name)."""

    def __repr__(self) -> str:  # never show secrets
        return (
            f"ClientConfig(endpoint={self.endpoint!r}, access_key_id={self.access_key_id!r}, "
            f"tls={self.tls}, profile={self.profile!r}, "
            f"credentials_source={self.credentials_source!r})"
        )


def _parse_bool(value: str, *, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise CredentialsError(f"{where}: expected true or false, got {value!r}")


def read_profile(path: Path, profile: str) -> dict[str, str] | None:
    """The settings of one profile, or None when the file or the profile does not exist."""
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise CredentialsError(f"cannot read {path}: {e}") from e
    if not parser.has_section(profile):
        return None
    section = parser[profile]
    settings = {k.strip().lower(): v.strip() for k, v in section.items()}
    # Accept the AWS spelling of the key names too.
    for name in ("access_key_id", "secret_access_key", "session_token"):
        alias = f"aws_{name}"
        if alias in settings and name not in settings:
            settings[name] = settings[alias]
    return settings


def resolve(
    *,
    endpoint: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    profile: str | None = None,
    credentials_file: str | os.PathLike[str] | None = None,
    tls: bool | None = None,
    ca_file: str | None = None,
    client_cert_file: str | None = None,
    client_key_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    audience: str | None = None,
) -> ClientConfig:
    """Resolve the client configuration (see the module docstring for the order)."""
    env = os.environ if environ is None else environ

    explicit_profile = profile or env.get(ENV_PROFILE) or None
    profile_name = explicit_profile or DEFAULT_PROFILE
    file_path = Path(
        credentials_file or env.get(ENV_CREDENTIALS_FILE) or default_credentials_file()
    ).expanduser()
    settings = read_profile(file_path, profile_name)
    if settings is None and explicit_profile is not None:
        raise CredentialsError(f"profile {profile_name!r} not found in {file_path}")
    file_settings = settings or {}
    where = f"{file_path} [{profile_name}]"

    key_id: str | None
    secret: str | None
    token: str | None
    if access_key_id or secret_access_key:
        if not (access_key_id and secret_access_key):
            raise CredentialsError("access_key_id and secret_access_key must be given together")
        key_id, secret, token, source = access_key_id, secret_access_key, session_token, "explicit"
    elif env.get(ENV_ACCESS_KEY_ID) or env.get(ENV_SECRET_ACCESS_KEY):
        key_id, secret = env.get(ENV_ACCESS_KEY_ID), env.get(ENV_SECRET_ACCESS_KEY)
        if not (key_id and secret):
            raise CredentialsError(
                f"{ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY} must be set together"
            )
        token, source = env.get(ENV_SESSION_TOKEN) or None, "environment"
    elif file_settings.get("access_key_id") or file_settings.get("secret_access_key"):
        key_id = file_settings.get("access_key_id")
        secret = file_settings.get("secret_access_key")
        if not (key_id and secret):
            raise CredentialsError(f"{where}: access_key_id and secret_access_key go together")
        token, source = file_settings.get("session_token") or None, "profile"
    else:
        key_id = secret = token = None
        source = "none"

    resolved_endpoint = (
        endpoint or env.get(ENV_ENDPOINT) or file_settings.get("endpoint") or DEFAULT_ENDPOINT
    )
    resolved_ca = ca_file or file_settings.get("ca_file") or None
    resolved_cert = client_cert_file or file_settings.get("client_cert_file") or None
    resolved_key = client_key_file or file_settings.get("client_key_file") or None
    if tls is None:
        tls = _parse_bool(file_settings.get("tls", ""), where=f"{where} tls")
    resolved_audience = (
        audience or env.get(ENV_AUDIENCE) or file_settings.get("audience") or DEFAULT_AUDIENCE
    )
    if not is_audience(resolved_audience):
        raise CredentialsError(
            f"audience {resolved_audience[:80]!r} must be 1-64 characters of [A-Za-z0-9._-]"
        )
    return ClientConfig(
        endpoint=resolved_endpoint,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=token,
        tls=tls or bool(resolved_ca or resolved_cert),
        ca_file=resolved_ca,
        client_cert_file=resolved_cert,
        client_key_file=resolved_key,
        profile=profile_name if settings is not None else None,
        credentials_source=source,
        audience=resolved_audience,
    )


def write_profile(
    path: str | os.PathLike[str],
    profile: str,
    endpoint: str,
    access_key_id: str,
    secret_access_key: str,
    *,
    session_token: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> Path:
    """Create or update one profile of a credentials file, keeping the other profiles.

    ``settings`` adds or replaces other keys of the profile (e.g. ``tls``, ``ca_file``).

    Settings of the profile that are not written here (tls, ca_file, ...) are kept; a stale
    session_token is dropped unless a new one is given. The file is created with mode 0600
    (its directory 0700) and replaced atomically, so a reader never sees half a file.
    """
    target = Path(path).expanduser()
    directory = target.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask

    parser = configparser.ConfigParser(interpolation=None)
    if target.exists():
        try:
            with target.open(encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, configparser.Error) as e:
            raise CredentialsError(f"cannot read {target}: {e}") from e
    if not parser.has_section(profile):
        parser.add_section(profile)
    section = parser[profile]
    section["endpoint"] = endpoint
    section["access_key_id"] = access_key_id
    section["secret_access_key"] = secret_access_key
    for alias in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        section.pop(alias, None)
    if session_token:
        section["session_token"] = session_token
    else:
        section.pop("session_token", None)
    for key, value in (settings or {}).items():
        section[key] = value

    fd, tmp_name = tempfile.mkstemp(prefix=".credentials-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            parser.write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_PROFILE",
    "ENV_ACCESS_KEY_ID",
    "ENV_AUDIENCE",
    "ENV_CREDENTIALS_FILE",
    "ENV_ENDPOINT",
    "ENV_PROFILE",
    "ENV_SECRET_ACCESS_KEY",
    "ENV_SESSION_TOKEN",
    "ClientConfig",
    "CredentialsError",
    "default_credentials_file",
    "read_profile",
    "resolve",
    "write_profile",
]
