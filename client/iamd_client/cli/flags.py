"""The flags of an RPC command: one per request field (``--user-name``), described from the
API's documentation, plus the pagination flags of list commands."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from iamd.v1 import types_pb2

from iamd_client import _calls
from iamd_client._convert import enum_choices, enum_type, message_type, snake
from iamd_client.cli import docs, paging, preview
from iamd_client.cli.commands import RpcCommand
from iamd_client.cli.usage import Parser

# Extra spellings of some flags (AWS CLI habits and the short forms of `authorize`).
ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Authorize", "principal_arn"): ("--principal",),
    ("Authorize", "resource_arn"): ("--resource",),
    ("Authorize", "resource_owner_account"): ("--resource-owner",),
    ("AuthorizeBatch", "principal_arn"): ("--principal",),
}

_INT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
    }
)
_METAVARS = {"Tag": "Key=k,Value=v|k=v", "ContextEntry": "key=type:value"}

GLOBAL_EPILOG = """\
Values of the form file://PATH are read from the file. Global options (--profile,
--endpoint, --output, --query, --no-paginate, --timeout) go before or after the command;
`iamctl help` describes them and the environment variables."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34)


def builder(method: MethodDescriptor) -> Callable[..., Any] | None:
    found: Callable[..., Any] | None = getattr(_calls, snake(method.name), None)
    return found


def required_fields(method: MethodDescriptor) -> set[str]:
    """Required flags: the SDK builder's keyword parameters without a default."""
    build = builder(method)
    if build is None:
        return set()
    return {
        p.name
        for p in inspect.signature(build).parameters.values()
        if p.default is inspect.Parameter.empty
    }


def summary(command: RpcCommand) -> str:
    """One line about the command: the RPC's documentation (the SDK's docstring else)."""
    text = docs.rpc_summary(command.service, command.method)
    if not text:
        build = builder(command.method)
        text = docs.one_line((build.__doc__ or "").split(".")[0]) if build else ""
    return text or command.method.name


def _field_help(method: MethodDescriptor, field: FieldDescriptor, required: bool) -> str:
    text = docs.field_help(method.input_type, field).rstrip(".")
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if message_type(field).name not in _METAVARS:
            text += "; JSON (PascalCase or snake_case keys)"
        elif message_type(field).name == "ContextEntry":
            kinds = ", ".join(enum_choices(types_pb2.ContextKeyType.DESCRIPTOR))
            text += f"; key=type:value (type: {kinds}; default: string) or JSON"
    if field.is_repeated:
        text += "; one or more values"
    if (
        field.type == FieldDescriptor.TYPE_BOOL
        and not field.has_presence
        and "default" not in text.lower()
    ):
        text += "; default: false"
    if required:
        text += " (required)"
    return text.replace("%", "%%")  # argparse formats help with %


def _add_field(
    parser: argparse.ArgumentParser,
    method: MethodDescriptor,
    field: FieldDescriptor,
    required: bool,
) -> None:
    flags = (docs.flag(field.name), *ALIASES.get((method.name, field.name), ()))
    kwargs: dict[str, Any] = {
        "dest": field.name,
        "default": None,
        "help": _field_help(method, field, required),
    }
    if field.type == FieldDescriptor.TYPE_BOOL and not field.is_repeated:
        parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        return
    kwargs["required"] = required
    if field.is_repeated:
        kwargs.update(nargs="+", action="extend")
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        name = message_type(field).name
        kwargs["metavar"] = _METAVARS.get(name, "JSON")
    elif field.type == FieldDescriptor.TYPE_ENUM:
        kwargs["metavar"] = "|".join(enum_choices(enum_type(field)))
    elif field.type in _INT_TYPES:
        kwargs.update(metavar="N", type=int)
    else:
        kwargs["metavar"] = field.name.upper()
    parser.add_argument(*flags, **kwargs)


def command_parser(command: RpcCommand, prog: str) -> Parser:
    method = command.method
    parser = Parser(
        prog=prog,
        description=summary(command),
        epilog=GLOBAL_EPILOG,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    items = paging.result_field(method)
    required = required_fields(method)
    for field in method.input_type.fields:
        if items is not None and field.name in ("marker", "max_items"):
            continue  # replaced by the pagination flags
        _add_field(parser, method, field, field.name in required)
    if items is not None:
        paging.add_flags(parser)
    preview.add_flag(parser, method)
    return parser
