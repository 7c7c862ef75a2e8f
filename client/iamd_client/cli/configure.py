"""`iamctl configure`: write a profile of the credentials file, as `aws configure` does.

On a terminal it asks for each value and shows the current one (masked but for its last
four characters, for keys and secrets); Enter keeps it. The secret and the session token
are read without echo, so they appear in neither `ps` nor the shell's history. When
standard input is not a terminal, the answers are read from it, one line each in the same
order (access key ID, secret access key, session token, endpoint, default output format),
so a pipe can feed it. Flags give values without asking; with both --access-key-id and
--secret-access-key nothing is asked (scripts).
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from iamd_client.cli.flags import HelpFormatter
from iamd_client.cli.options import OUTPUT_FORMATS, GlobalOptions
from iamd_client.cli.usage import Parser, UsageError
from iamd_client.credentials import (
    DEFAULT_ENDPOINT,
    DEFAULT_PROFILE,
    ENV_CREDENTIALS_FILE,
    ENV_ENDPOINT,
    ENV_PROFILE,
    default_credentials_file,
    read_profile,
    write_profile,
)


@dataclass(frozen=True, slots=True)
class _Question:
    key: str
    label: str
    masked: bool
    secret: bool


QUESTIONS = (
    _Question("access_key_id", "Access key ID", masked=True, secret=False),
    _Question("secret_access_key", "Secret access key", masked=True, secret=True),
    _Question("session_token", "Session token", masked=True, secret=True),
    _Question("endpoint", "Endpoint", masked=False, secret=False),
    _Question("output", "Default output format", masked=False, secret=False),
)


def parser(prog: str = "iamctl configure") -> Parser:
    p = Parser(
        prog=prog,
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
        epilog="The profile is --profile (env IAMD_PROFILE; default: default); the endpoint "
        "may also come from the global --endpoint.",
    )
    p.add_argument("--access-key-id", metavar="ID", help="the access key ID (AKIA... or ASIA...)")
    p.add_argument(
        "--secret-access-key",
        metavar="SECRET",
        help="the key's secret; visible to other users in `ps` and kept in the shell's "
        "history: prefer the prompt or a pipe",
    )
    p.add_argument(
        "--session-token",
        metavar="TOKEN",
        help="session token of temporary credentials (default: none; a stale one is dropped)",
    )
    p.add_argument(
        "--default-output",
        metavar="FORMAT",
        choices=OUTPUT_FORMATS,
        help=f"output format of commands run with this profile: {', '.join(OUTPUT_FORMATS)} "
        "(default: unchanged, else json)",
    )
    p.add_argument(
        "--credentials-file",
        type=Path,
        metavar="PATH",
        help=f"the file to write (env {ENV_CREDENTIALS_FILE}; default: ~/.iamd/credentials)",
    )
    return p


def mask(value: str | None) -> str:
    if not value:
        return "None"
    return "*" * 16 + (value[-4:] if len(value) > 8 else "")


class _Answers:
    """Answers from the terminal (with prompts) or, without one, from stdin's lines."""

    def __init__(self, stdin: TextIO) -> None:
        self._stdin = stdin
        self._tty = stdin.isatty()

    def ask(self, question: _Question, current: str | None) -> str:
        if not self._tty:
            return self._stdin.readline().strip()
        shown = mask(current) if question.masked else (current or "None")
        prompt = f"{question.label} [{shown}]: "
        try:
            if question.secret:
                return getpass.getpass(prompt).strip()
            return input(prompt).strip()
        except EOFError:
            return ""


def _fallback_endpoint(path: Path, options: GlobalOptions) -> str:
    """The endpoint a new profile gets unless told: the one in effect now."""
    default_profile = read_profile(path, DEFAULT_PROFILE) or {}
    return (
        options.endpoint
        or os.environ.get(ENV_ENDPOINT)
        or default_profile.get("endpoint")
        or DEFAULT_ENDPOINT
    )


def run(
    argv: Sequence[str], options: GlobalOptions, out: TextIO, stdin: TextIO | None = None
) -> int:
    args = parser().parse_args(argv)
    path = Path(
        args.credentials_file or os.environ.get(ENV_CREDENTIALS_FILE) or default_credentials_file()
    ).expanduser()
    profile = options.profile or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE
    current = read_profile(path, profile) or {}
    given: dict[str, str | None] = {
        "access_key_id": args.access_key_id,
        "secret_access_key": args.secret_access_key,
        "session_token": args.session_token,
        "endpoint": options.endpoint,
        "output": args.default_output,
    }
    shown = dict(current)
    shown.setdefault("endpoint", _fallback_endpoint(path, options))
    interactive = not (args.access_key_id and args.secret_access_key)
    answers = _Answers(stdin or sys.stdin)
    values: dict[str, str] = {}
    for question in QUESTIONS:
        value = given[question.key]
        if value is None and interactive:
            value = answers.ask(question, shown.get(question.key))
        if value:
            values[question.key] = value

    key_id = values.get("access_key_id") or current.get("access_key_id")
    same_key = key_id == current.get("access_key_id")
    secret = values.get("secret_access_key") or (
        current.get("secret_access_key") if same_key else None
    )
    if not key_id or not secret:
        raise UsageError("configure: an access key ID and its secret access key are required")
    token = values.get("session_token") or (
        current.get("session_token") if same_key and interactive else None
    )
    output = values.get("output")
    if output is not None and output not in OUTPUT_FORMATS:
        raise UsageError(f"default output format {output!r}: expected {', '.join(OUTPUT_FORMATS)}")
    target = write_profile(
        path,
        profile,
        values.get("endpoint") or shown["endpoint"],
        key_id,
        secret,
        session_token=token,
        settings={"output": output} if output else None,
    )
    out.write(f"Wrote profile {profile} to {target}\n")
    return 0
