"""Global options: accepted anywhere on the line (before or after the command), as in the
AWS CLI, and taken out before the command's own flags are parsed."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from iamd_client.cli.commands import suggest
from iamd_client.cli.usage import UsageError, did_you_mean
from iamd_client.credentials import (
    DEFAULT_ENDPOINT,
    DEFAULT_PROFILE,
    ENV_CREDENTIALS_FILE,
    ENV_ENDPOINT,
    ENV_PROFILE,
)

OUTPUT_FORMATS = ("json", "table", "text", "yaml")
ENV_OUTPUT = "IAMD_DEFAULT_OUTPUT"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    metavar: str  # "" for a flag without value
    help: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "--profile",
        "NAME",
        f"profile of the credentials file (env {ENV_PROFILE}; default: {DEFAULT_PROFILE})",
    ),
    Option(
        "--endpoint",
        "HOST:PORT",
        f"server address (env {ENV_ENDPOINT}; default: the profile's endpoint, else "
        f"{DEFAULT_ENDPOINT})",
    ),
    Option(
        "--output",
        "FORMAT",
        f"{', '.join(OUTPUT_FORMATS)} (env {ENV_OUTPUT}; default: the profile's output "
        "setting, else json)",
    ),
    Option(
        "--query",
        "JMESPATH",
        "a JMESPath expression applied to the response, as in the AWS CLI "
        "(e.g. Account, Users[*].UserName, Users[?Path=='/dev/'].Arn)",
    ),
    Option(
        "--no-paginate",
        "",
        "list commands make one call and print the first page, with IsTruncated and Marker "
        "(default: every page is fetched)",
    ),
    Option(
        "--timeout",
        "SECONDS",
        f"deadline of each call in seconds (default: {DEFAULT_TIMEOUT:g})",
    ),
)
_BY_NAME = {o.name: o for o in OPTIONS}

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    (ENV_ENDPOINT, "server address (host:port), instead of the profile's"),
    ("IAMD_ACCESS_KEY_ID", "access key id, instead of the profile's (with the secret)"),
    ("IAMD_SECRET_ACCESS_KEY", "the access key's secret"),
    ("IAMD_SESSION_TOKEN", "session token of temporary (ASIA...) credentials"),
    (ENV_PROFILE, f"profile to use (default: {DEFAULT_PROFILE})"),
    (ENV_CREDENTIALS_FILE, "credentials file (default: ~/.iamd/credentials)"),
    (ENV_OUTPUT, "output format (default: the profile's output setting, else json)"),
)


@dataclass(frozen=True, slots=True)
class GlobalOptions:
    profile: str | None = None
    endpoint: str | None = None
    output: str | None = None
    """None: from the environment or the profile (see `output_format`)."""
    query: ParsedResult | None = None
    paginate: bool = True
    timeout: float = DEFAULT_TIMEOUT


def _output(value: str, where: str) -> str:
    if value not in OUTPUT_FORMATS:
        raise UsageError(f"{where}: {value!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    return value


def _query(text: str) -> ParsedResult:
    try:
        return jmespath.compile(text)
    except JMESPathError as e:
        message = " ".join(str(e).split())
        raise UsageError(f"--query {text!r}: not a JMESPath expression: {message}") from e


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= 3600):
        raise UsageError(f"--timeout {text!r}: expected seconds, more than 0 and at most 3600")
    return value


def split(argv: Sequence[str]) -> tuple[GlobalOptions, list[str]]:
    """The global options anywhere in `argv` (``--name value`` or ``--name=value``), and the
    other arguments in order. Everything after ``--`` is left alone."""
    values: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        name, eq, inline = token.partition("=")
        option = _BY_NAME.get(name)
        if option is None:
            rest.append(token)
        elif not option.metavar:
            if eq:
                raise UsageError(f"{name} takes no value")
            values[name] = ""
        elif eq:
            values[name] = inline
        elif i + 1 < len(argv):
            i += 1
            values[name] = argv[i]
        else:
            raise UsageError(f"{name} needs a value ({option.metavar})")
        i += 1
    query = values.get("--query")
    output = values.get("--output")
    timeout = values.get("--timeout")
    return (
        GlobalOptions(
            profile=values.get("--profile") or None,
            endpoint=values.get("--endpoint") or None,
            output=_output(output, "--output") if output is not None else None,
            query=_query(query) if query is not None else None,
            paginate="--no-paginate" not in values,
            timeout=_timeout(timeout) if timeout is not None else DEFAULT_TIMEOUT,
        ),
        rest,
    )


def unknown_option(token: str) -> UsageError:
    """The error for an option given where only global options may be."""
    names = [o.name for o in OPTIONS]
    return UsageError(f"unknown option {token}{did_you_mean(suggest(token, names))}")


def output_format(options: GlobalOptions, profile_settings: dict[str, str] | None) -> str:
    """--output, else IAMD_DEFAULT_OUTPUT, else the profile's `output`, else json."""
    if options.output is not None:
        return options.output
    from_env = os.environ.get(ENV_OUTPUT)
    if from_env:
        return _output(from_env, ENV_OUTPUT)
    from_profile = (profile_settings or {}).get("output")
    if from_profile:
        return _output(from_profile, "the profile's output setting")
    return "json"
