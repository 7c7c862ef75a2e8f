"""`iamctl apply -f FILE`: make an account match a desired-state file (see `_apply`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from iamd_client import _apply
from iamd_client.cli.flags import GLOBAL_EPILOG, HelpFormatter
from iamd_client.cli.options import GlobalOptions
from iamd_client.cli.usage import Parser
from iamd_client.client import Client


def parser(prog: str = "iamctl apply") -> Parser:
    p = Parser(
        prog=prog,
        description="Make an account match a desired-state file: users, groups, roles and "
        "managed policies with their policies, memberships, tags and boundaries. Prints the "
        "plan, then applies it. The format is described in client/README.md.",
        epilog=GLOBAL_EPILOG,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "-f",
        "--file",
        required=True,
        type=Path,
        metavar="PATH",
        help="the desired state, YAML (.yaml, .yml; needs PyYAML) or JSON (required)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and change nothing (default: off)"
    )
    return p


def run(argv: Sequence[str], options: GlobalOptions, out: TextIO) -> int:
    args = parser().parse_args(argv)
    path: Path = args.file
    spec = _apply.load_spec(path)
    with Client.from_environment(
        options.profile, endpoint=options.endpoint, timeout=options.timeout
    ) as client:
        steps = _apply.plan(client, spec, base_dir=path.parent)
        _apply.print_plan(steps, out)
        if args.dry_run or not any(s.run for s in steps):
            if args.dry_run:
                out.write("Dry run: nothing changed.\n")
            return 0
        revision = _apply.execute(steps, out)
    out.write(f"Applied (revision {revision}).\n")
    return 0
