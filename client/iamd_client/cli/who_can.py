"""`iamctl who-can` and `iamctl what-can`: friendly forms of ListPrincipalsAllowed and
ListAllowedActions (every page), printed as a table unless --output says otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from iamd.v1 import analysis_pb2, authorization_pb2

from iamd_client.cli.flags import GLOBAL_EPILOG, HelpFormatter
from iamd_client.cli.options import GlobalOptions
from iamd_client.cli.output import check_format, emit
from iamd_client.cli.usage import Parser, UsageError
from iamd_client.client import Client

_ACCESS = {analysis_pb2.ACCESS_ALLOWED: "allowed", analysis_pb2.ACCESS_CONDITIONAL: "conditional"}
_TYPES = {
    analysis_pb2.PRINCIPAL_TYPE_USER: "user",
    analysis_pb2.PRINCIPAL_TYPE_ROLE: "role",
    analysis_pb2.PRINCIPAL_TYPE_GROUP: "group",
}


def _parser(prog: str, description: str) -> Parser:
    return Parser(
        prog=prog,
        description=description,
        epilog=GLOBAL_EPILOG,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )


def who_can_parser(prog: str = "iamctl who-can") -> Parser:
    p = _parser(
        prog,
        "The users and roles allowed an action on a resource (ListPrincipalsAllowed), each "
        "with the statements that decide; 'conditional' when the answer depends on the "
        "request context.",
    )
    p.add_argument("--action", required=True, help="the action, e.g. orders:GetOrder (required)")
    p.add_argument("--resource", required=True, help="the resource ARN, or * (required)")
    p.add_argument("--account", default="", help="whose principals (default: the resource's)")
    p.add_argument(
        "--include-groups", action="store_true", help="also list the groups that contribute"
    )
    return p


def what_can_parser(prog: str = "iamctl what-can") -> Parser:
    p = _parser(
        prog,
        "The actions a principal is allowed on a resource, or on any resource of a service "
        "(ListAllowedActions).",
    )
    p.add_argument("--principal", required=True, help="a user or role ARN (required)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--resource", help="a resource ARN: the actions of its service on it")
    where.add_argument("--service", help="a service prefix: its actions on *")
    return p


def _statements(explanation: authorization_pb2.Explanation) -> str:
    return ", ".join(
        f"{m.source_policy_id}[{m.statement_index}]" for m in explanation.matched_statements
    )


def _format(options: GlobalOptions) -> str:
    fmt = options.output or "table"
    check_format(fmt)
    return fmt


def _client(options: GlobalOptions) -> Client:
    return Client.from_environment(
        options.profile, endpoint=options.endpoint, timeout=options.timeout
    )


def run_who_can(argv: Sequence[str], options: GlobalOptions, out: TextIO) -> int:
    args = who_can_parser().parse_args(argv)
    fmt = _format(options)
    rows: list[dict[str, Any]] = []
    with _client(options) as client:
        for p in client.iter_principals_allowed(
            action=args.action,
            resource_arn=args.resource,
            account=args.account,
            include_groups=args.include_groups,
        ):
            row: dict[str, Any] = {
                "Principal": p.principal_arn,
                "Type": _TYPES.get(p.principal_type, ""),
                "Access": _ACCESS.get(p.access, ""),
                "Statements": _statements(p.explanation),
                "MissingContextKeys": " ".join(p.explanation.missing_context_keys),
            }
            if args.include_groups:
                row["Groups"] = " ".join(p.groups)
            rows.append(row)
    emit({"Principals": rows}, fmt, out, title="WhoCan", query=options.query)
    return 0


def run_what_can(argv: Sequence[str], options: GlobalOptions, out: TextIO) -> int:
    args = what_can_parser().parse_args(argv)
    if not (args.resource or args.service):
        raise UsageError("give --resource or --service")
    fmt = _format(options)
    rows: list[dict[str, Any]] = []
    with _client(options) as client:
        for a in client.iter_allowed_actions(
            principal_arn=args.principal,
            resource_arn=args.resource or "",
            service=args.service or "",
        ):
            rows.append(
                {
                    "Action": a.action,
                    "Access": _ACCESS.get(a.access, ""),
                    "Statements": _statements(a.explanation),
                    "MissingContextKeys": " ".join(a.explanation.missing_context_keys),
                }
            )
    emit({"Actions": rows}, fmt, out, title="WhatCan", query=options.query)
    return 0
