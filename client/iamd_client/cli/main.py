"""iamctl's entry point: global options, then the command (with or without its AWS CLI
namespace), then the command's flags; errors are printed here, once."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from iamd_client import _apply, _call
from iamd_client._convert import fill
from iamd_client.cli import (
    apply,
    completion,
    configure,
    options,
    overview,
    paging,
    preview,
    who_can,
)
from iamd_client.cli.commands import NAMESPACES, RpcCommand, lookup, suggest
from iamd_client.cli.flags import command_parser
from iamd_client.cli.output import check_format, emit
from iamd_client.cli.shape import response_data
from iamd_client.cli.usage import (
    EXIT_API_ERROR,
    EXIT_USAGE,
    HINT,
    Parser,
    UsageError,
    did_you_mean,
)
from iamd_client.cli.values import request_data
from iamd_client.client import Client
from iamd_client.credentials import (
    DEFAULT_PROFILE,
    ENV_CREDENTIALS_FILE,
    ENV_PROFILE,
    CredentialsError,
    default_credentials_file,
    read_profile,
)
from iamd_client.errors import IamdError

_HELP_WORDS = ("help", "-h", "--help")


@dataclass(frozen=True, slots=True)
class _Target:
    command: RpcCommand | str  # an RPC command or the name of a local one
    prog: str  # how the line named it, e.g. "iamctl iam list-users"
    argv: list[str]  # the command's own arguments


def _resolve(tokens: list[str]) -> _Target | str:
    """The command named at the start of `tokens`, or a namespace's name when only that is
    given."""
    first, rest = tokens[0], tokens[1:]
    if first.startswith("-"):
        raise options.unknown_option(first)
    namespace = None
    if first in NAMESPACES:
        if not rest or rest[0] in _HELP_WORDS:
            return first
        namespace, (first, rest) = first, (rest[0], rest[1:])
        if first.startswith("-"):
            raise options.unknown_option(first)
    command = lookup(namespace, first)
    prog = " ".join(["iamctl", *([namespace] if namespace else []), first])
    return _Target(command, prog, rest)


def _parser(target: _Target) -> Parser:
    if isinstance(target.command, RpcCommand):
        return command_parser(target.command, target.prog)
    local = {
        "apply": apply.parser,
        "configure": configure.parser,
        "completion": completion.parser,
        "who-can": who_can.who_can_parser,
        "what-can": who_can.what_can_parser,
    }
    factory = local.get(target.command)
    if factory is None:
        raise UsageError("help takes a command: iamctl help [COMMAND]")
    return factory(target.prog)


def _help(words: list[str], out: TextIO) -> int:
    if not words:
        out.write(overview.top_help())
        return 0
    found = _resolve(words)
    if isinstance(found, str):
        out.write(overview.namespace_help(found))
    else:
        out.write(_parser(found).format_help())
    return 0


def _unknown_option(parser: Parser, token: str) -> UsageError:
    known = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    hint = did_you_mean(suggest(token.partition("=")[0], known))
    return UsageError(f"unknown option {token}{hint}", usage=parser.format_usage())


def _parse(parser: Parser, argv: Sequence[str]) -> Any:
    try:
        args, extras = parser.parse_known_args(argv)
    except UsageError:
        # A mistyped flag explains a missing required one better than argparse does.
        known = {s for a in parser._actions for s in a.option_strings}
        for token in argv:
            if token.startswith("--") and token.partition("=")[0] not in known:
                raise _unknown_option(parser, token) from None
        raise
    if extras:
        if extras[0].startswith("-"):
            raise _unknown_option(parser, extras[0])
        raise UsageError(f"unexpected argument {extras[0]!r}", usage=parser.format_usage())
    return args


def _profile_settings(opts: options.GlobalOptions) -> dict[str, str] | None:
    path = Path(os.environ.get(ENV_CREDENTIALS_FILE) or default_credentials_file()).expanduser()
    return read_profile(path, opts.profile or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE)


def run_rpc(target: _Target, opts: options.GlobalOptions, out: TextIO) -> int:
    assert isinstance(target.command, RpcCommand)
    service, method = target.command.service, target.command.method
    parser = command_parser(target.command, target.prog)
    args = _parse(parser, target.argv)
    try:
        request: Any = fill(GetMessageClass(method.input_type)(), request_data(method, args))
    except ValueError as e:
        raise UsageError(str(e), usage=parser.format_usage()) from e
    if getattr(args, "preview", False):
        return preview.run(method, request, opts, out)
    items = paging.result_field(method)
    limits = paging.Limits.from_args(args)
    follow = items is not None and opts.paginate and args.marker is None
    if items is not None and not follow:
        if limits.starting_token:
            raise UsageError("--starting-token resumes pagination: drop --no-paginate/--marker")
        request.max_items = limits.page_size or limits.max_items or 0
    output = options.output_format(opts, _profile_settings(opts))
    check_format(output)
    response_type: type[Message] = GetMessageClass(method.output_type)

    with Client.from_environment(
        opts.profile, endpoint=opts.endpoint, timeout=opts.timeout
    ) as client:

        def invoke(message: Message) -> Message:
            return client.call(
                _call.make_call(service.full_name, method.name, message, response_type)
            )

        next_token = None
        if follow and items is not None:
            response, next_token = paging.fetch_all(invoke, request, items, limits)
        else:
            response = invoke(request)
    data = response_data(response)
    if follow:
        # Access Analyzer's messages print camelCase keys.
        for key in ("IsTruncated", "Marker", "isTruncated", "marker"):
            data.pop(key, None)
        if next_token:
            data["NextToken"] = next_token
    emit(data, output, out, title=method.name, query=opts.query)
    return 0


def _run(argv: list[str], out: TextIO) -> int:
    opts, rest = options.split(argv)
    if not rest:
        raise UsageError("a command is required", hint=HINT)
    if rest[0] in ("-h", "--help"):
        out.write(overview.top_help())
        return 0
    if rest[0] == "help":
        return _help(rest[1:], out)
    found = _resolve(rest)
    if isinstance(found, str):
        raise UsageError(
            f"iamctl {found}: a command is required",
            hint=f"Run `iamctl {found} help` for its commands.",
        )
    if found.argv == ["help"]:  # `iamctl iam list-users help`, as `aws iam list-users help`
        out.write(_parser(found).format_help())
        return 0
    if isinstance(found.command, RpcCommand):
        return run_rpc(found, opts, out)
    if found.command == "apply":
        return apply.run(found.argv, opts, out)
    if found.command == "configure":
        return configure.run(found.argv, opts, out)
    if found.command == "completion":
        return completion.run(found.argv, out)
    if found.command == "who-can":
        return who_can.run_who_can(found.argv, opts, out)
    if found.command == "what-can":
        return who_can.run_what_can(found.argv, opts, out)
    return _help(found.argv, out)


def _describe(e: IamdError) -> str:
    reason = e.reason or type(e).__name__
    message = e.message.removeprefix(f"{reason}: ")  # the server's text may lead with it
    parts = [reason]
    if e.field and not message.startswith(f"{e.field}:"):
        parts.append(e.field)  # the server's message usually names the field already
    parts.append(message)
    return ": ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run iamctl with `argv` (default: the process's arguments); the exit status."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv), sys.stdout)
    except UsageError as e:
        sys.stderr.write(e.usage)
        print(f"iamctl: error: {e}", file=sys.stderr)
        if e.hint:
            print(e.hint, file=sys.stderr)
        return EXIT_USAGE
    except IamdError as e:
        print(f"iamctl: {_describe(e)}", file=sys.stderr)
        return EXIT_API_ERROR
    except (_apply.SpecError, CredentialsError) as e:
        print(f"iamctl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # argparse's --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`iamctl list-users | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
