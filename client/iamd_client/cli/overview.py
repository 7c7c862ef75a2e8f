"""`iamctl help`: the global options, the environment, and the commands by namespace."""

from __future__ import annotations

import shutil
import textwrap

from iamd_client.cli import flags
from iamd_client.cli.commands import LOCAL_COMMANDS, NAMESPACES, commands_in
from iamd_client.cli.options import ENVIRONMENT, OPTIONS
from iamd_client.cli.usage import SHORT_USAGE

_ABOUT = """\
iamctl: the command line of iamd (identity and access management with AWS IAM semantics),
shaped like the AWS CLI: `iamctl iam list-users` or just `iamctl list-users`.
"""

_NOTES = """\
Flags are the request's fields (--user-name); values of the form file://PATH are read from
the file. Output is JSON shaped like AWS responses unless --output says otherwise. Errors go
to stderr with the server's reason; the exit status is 1 for API errors, 2 for usage errors.
`iamctl COMMAND --help` (or `iamctl help COMMAND`) describes a command's flags.
"""


def _rows(rows: list[tuple[str, str]], indent: int = 2) -> list[str]:
    """Two columns; the right one wrapped to the terminal (at most 100 columns)."""
    width = min(max((len(a) for a, _ in rows), default=0), 30)
    total = min(shutil.get_terminal_size((100, 24)).columns, 100)
    right_width = max(total - indent - width - 2, 30)
    lines = []
    for left, right in rows:
        wrapped = textwrap.wrap(right, right_width) or [""]
        if len(left) > width:
            lines.append(" " * indent + left)
        else:
            lines.append(" " * indent + left.ljust(width) + "  " + wrapped.pop(0))
        lines.extend(" " * (indent + width + 2) + line for line in wrapped)
    return lines


def global_options_help() -> list[str]:
    rows = [(f"{o.name} {o.metavar}".rstrip(), o.help) for o in OPTIONS]
    return ["Global options (before or after the command):", *_rows(rows)]


def environment_help() -> list[str]:
    return ["Environment variables:", *_rows(list(ENVIRONMENT))]


def namespace_lines(namespace: str) -> list[str]:
    rows = [(c.name, flags.summary(c)) for c in commands_in(namespace)]
    return [f"{namespace} commands (iamctl {namespace} COMMAND, or iamctl COMMAND):", *_rows(rows)]


def namespace_help(namespace: str) -> str:
    return "\n".join([SHORT_USAGE.rstrip("\n"), "", *namespace_lines(namespace)]) + "\n"


def top_help() -> str:
    lines = [SHORT_USAGE.rstrip("\n"), "", _ABOUT.rstrip("\n"), ""]
    lines += [*global_options_help(), ""]
    for namespace in NAMESPACES:
        lines += [*namespace_lines(namespace), ""]
    lines += ["iamctl's own commands:", *_rows(list(LOCAL_COMMANDS.items())), ""]
    lines += [*environment_help(), ""]
    lines.append(_NOTES.rstrip("\n"))
    return "\n".join(lines) + "\n"
