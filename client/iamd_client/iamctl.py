"""iamctl: the command line of iamd, shaped like `aws iam` / `aws sts`.

    iamctl create-user --user-name alice
    iamctl put-user-policy --user-name alice --policy-name p --policy-document file://p.json
    iamctl list-users --path-prefix /dev/
    iamctl simulate-principal-policy --policy-source-arn ARN --action-names s3:GetObject
    iamctl authorize --principal ARN --action s3:GetObject --resource ARN \\
        --context aws:SourceIp=ip:10.0.0.1 aws:TagKeys=stringList:a,b --explain
    iamctl assume-role --role-arn ARN --role-session-name s
    iamctl apply -f desired.yaml [--dry-run]
    iamctl configure --endpoint host:port --access-key-id AKIA... --secret-access-key ...

Every RPC of iamd.v1 is a command named like the RPC in kebab case; its flags are the request
fields (``--user-name``). Values of the form file://PATH are read from the file; message-typed
values take JSON (PascalCase or snake_case keys), lists of tags also ``Key=k,Value=v`` or
``k=v``, context entries ``key=type:value`` (list types: comma-separated values). List
commands follow markers and print everything unless --max-items or --marker is given.
Output is JSON shaped like AWS responses (--output table for people); --query PATH picks a
part of it (dotted keys and [N] indexes, a subset of AWS CLI's JMESPath: ``Account``,
``Users[0].UserName``), printed as plain text when it is a scalar. Errors go to stderr with
the server's reason; the exit status is 1 for API errors and 2 for usage errors.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from iamd.v1 import analysis_pb2, authorization_pb2, management_pb2, sts_pb2, types_pb2

from iamd_client import _apply, _calls
from iamd_client._convert import (
    enum_choices,
    enum_type,
    fill,
    message_type,
    parse_enum,
    snake,
    to_aws,
)
from iamd_client.client import Client
from iamd_client.credentials import (
    CredentialsError,
    default_credentials_file,
    write_profile,
)
from iamd_client.errors import IamdError

SERVICES: tuple[ServiceDescriptor, ...] = (
    management_pb2.DESCRIPTOR.services_by_name["ManagementService"],
    authorization_pb2.DESCRIPTOR.services_by_name["AuthorizationService"],
    sts_pb2.DESCRIPTOR.services_by_name["StsService"],
    analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"],
)

# Extra spellings of some flags (AWS CLI habits and the short forms of `authorize`).
ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Authorize", "principal_arn"): ("--principal",),
    ("Authorize", "resource_arn"): ("--resource",),
    ("Authorize", "resource_owner_account"): ("--resource-owner",),
    ("AuthorizeBatch", "principal_arn"): ("--principal",),
}

EXIT_API_ERROR = 1
EXIT_USAGE = 2


class UsageError(ValueError):
    """Bad command-line input (exit status 2)."""


def kebab(name: str) -> str:
    return snake(name).replace("_", "-")


def _flag(field: FieldDescriptor) -> str:
    return "--" + field.name.replace("_", "-")


# ---- value parsing -------------------------------------------------------------------------


def read_value(text: str) -> str:
    """file://PATH -> the file's content; anything else unchanged."""
    if text.startswith("file://"):
        path = Path(text[len("file://") :]).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e}") from e
    return text


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{what}: invalid JSON: {e}") from e


def parse_context(text: str) -> dict[str, Any]:
    """``key=type:value`` (type optional, default string; list values comma-separated)."""
    key, sep, rest = text.partition("=")
    if not sep or not key:
        raise UsageError(f"context entry {text!r}: expected key=type:value")
    type_name, colon, value = rest.partition(":")
    enum = types_pb2.ContextKeyType.DESCRIPTOR
    try:
        type_number = parse_enum(enum, type_name) if colon else None
    except ValueError:
        type_number = None
    if type_number is None or type_number == 0:
        type_number, value = types_pb2.CONTEXT_KEY_TYPE_STRING, rest
    is_list = enum.values_by_number[type_number].name.endswith("_LIST")
    values = [v for v in value.split(",") if v] if is_list else [value]
    return {"key": key, "type": type_number, "values": values}


_CONTEXT_AWS_KEYS = {
    "ContextKeyName": "key",
    "ContextKeyType": "type",
    "ContextKeyValues": "values",
}


def _shorthand(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"{text!r}: expected Key=Value[,Key=Value...] or JSON")
        out[key.strip()] = value
    return out


def parse_items(field: FieldDescriptor, texts: Sequence[str]) -> list[Any]:
    """Items of a repeated message field from JSON, file://, or shorthand forms."""
    items: list[Any] = []
    name = message_type(field).full_name
    for raw in texts:
        text = read_value(raw)
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            value = _json(text, _flag(field))
            items.extend(value if isinstance(value, list) else [value])
        elif name == "iamd.v1.ContextEntry":
            items.append(parse_context(text))
        elif name == "iamd.v1.Tag" and not text.startswith(("Key=", "key=")):
            key, sep, value = text.partition("=")
            if not sep:
                raise UsageError(f"tag {text!r}: expected key=value")
            items.append({"key": key, "value": value})
        else:
            items.append(_shorthand(text))
    if name == "iamd.v1.ContextEntry":
        items = [
            {_CONTEXT_AWS_KEYS.get(k, k): v for k, v in item.items()}
            if isinstance(item, dict)
            else item
            for item in items
        ]
    return items


def request_data(method: MethodDescriptor, args: argparse.Namespace) -> dict[str, Any]:
    """The request fields given on the command line, as a dict for `fill`."""
    data: dict[str, Any] = {}
    for field in method.input_type.fields:
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                data[field.name] = parse_items(field, value)
            else:
                data[field.name] = _json(read_value(value), _flag(field))
        elif field.is_repeated:
            data[field.name] = [read_value(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            data[field.name] = read_value(value)
        else:
            data[field.name] = value
    return data


# ---- output --------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str) -> dict[str, str]:
    """Nested dicts become "Parent.Child" keys; lists are joined (or JSON when nested)."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return {prefix: ", ".join(str(v) for v in value)}
        return {prefix: json.dumps(value, separators=(",", ":"))}
    return {prefix: "" if value is None else str(value)}


def _cell(text: str, width: int = 80) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def _grid(rows: list[dict[str, str]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
    return lines


def render_table(data: dict[str, Any]) -> str:
    """A plain-text rendering: scalars as key/value lines, lists of objects as grids."""
    lines: list[str] = []
    scalars: dict[str, str] = {}
    tables: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            scalars.update(_flatten(value, key))
    if scalars:
        width = max(len(k) for k in scalars)
        lines.extend(f"{k.ljust(width)}  {_cell(v, 100)}".rstrip() for k, v in scalars.items())
    for key, rows in tables:
        if lines:
            lines.append("")
        lines.append(f"{key}:")
        lines.extend(_grid([_flatten(r, "") for r in rows]))
    return "\n".join(lines)


_QUERY_KEY = r"[A-Za-z0-9_:-]+"
_QUERY_FIRST = re.compile(rf"({_QUERY_KEY})|\[(-?\d+)\]")
_QUERY_NEXT = re.compile(rf"\.({_QUERY_KEY})|\[(-?\d+)\]")


def parse_query(text: str) -> list[str | int]:
    """``Users[0].UserName`` -> ["Users", 0, "UserName"] (dotted keys and [N] indexes)."""
    path: list[str | int] = []
    position = 0
    while position < len(text) or not path:
        pattern = _QUERY_NEXT if path else _QUERY_FIRST
        match = pattern.match(text, position)
        if match is None:
            raise UsageError(
                f"--query {text!r}: expected dotted keys and [N] indexes, e.g. Users[0].UserName"
            )
        key, index = match.group(1), match.group(2)
        path.append(key if key is not None else int(index))
        position = match.end()
    return path


def select(data: Any, path: Sequence[str | int]) -> Any:
    """The value at `path` in `data`; None when a key or index is missing (like JMESPath)."""
    value = data
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return None
            value = value[part]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
    return value


def emit(data: dict[str, Any], output: str, out: TextIO, query: str | None = None) -> None:
    value: Any = data
    if query is not None:
        value = select(data, parse_query(query))
        if isinstance(value, str):
            out.write(value + "\n")  # a scalar prints as plain text, for $(iamctl ...)
            return
    if output == "table" and isinstance(value, dict | list):
        if isinstance(value, list):
            value = {query or "": value}
        text = render_table(value)
        if text:
            out.write(text + "\n")
    else:
        out.write(json.dumps(value, indent=4, ensure_ascii=False) + "\n")


# ---- commands ------------------------------------------------------------------------------


def _builder(method: MethodDescriptor) -> Callable[..., Any] | None:
    builder: Callable[..., Any] | None = getattr(_calls, snake(method.name), None)
    return builder


def _required(method: MethodDescriptor) -> set[str]:
    """Required flags: the builder's keyword parameters without a default."""
    builder = _builder(method)
    if builder is None:
        return set()
    return {
        p.name
        for p in inspect.signature(builder).parameters.values()
        if p.default is inspect.Parameter.empty
    }


def _add_field(
    parser: argparse.ArgumentParser,
    method: MethodDescriptor,
    field: FieldDescriptor,
    required: bool,
) -> None:
    flags = (_flag(field), *ALIASES.get((method.name, field.name), ()))
    kwargs: dict[str, Any] = {"dest": field.name, "default": None, "required": required}
    if field.type == FieldDescriptor.TYPE_BOOL and not field.is_repeated:
        kwargs.pop("required")
        parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        return
    if field.is_repeated:
        kwargs.update(nargs="+", action="extend")
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        name = message_type(field).name
        kwargs["metavar"] = {
            "Tag": "Key=k,Value=v|k=v",
            "ContextEntry": "key=type:value",
        }.get(name, f"{name}-JSON")
    elif field.type == FieldDescriptor.TYPE_ENUM:
        kwargs["metavar"] = "|".join(enum_choices(enum_type(field)))
    elif field.type in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
    ):
        kwargs["type"] = int
    parser.add_argument(*flags, **kwargs)


def _help(method: MethodDescriptor) -> str:
    builder = _builder(method)
    doc = (builder.__doc__ or "") if builder else ""
    return doc.strip().splitlines()[0] if doc.strip() else method.name


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--profile", default=default(None), help="credentials file profile")
    parser.add_argument("--endpoint", default=default(None), help="server host:port")
    parser.add_argument(
        "--output", choices=("json", "table"), default=default("json"), help="output format"
    )
    parser.add_argument(
        "--query",
        default=default(None),
        metavar="PATH",
        help="print only this part of the output (e.g. Account, Users[0].UserName)",
    )
    parser.add_argument(
        "--timeout", type=float, default=default(10.0), help="per-call deadline in seconds"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iamctl",
        description="Command line of iamd (AWS IAM semantics).",
        epilog="Values file://PATH are read from files. See `iamctl COMMAND --help`.",
    )
    _common_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for service in SERVICES:
        for method in service.methods:
            sub = commands.add_parser(kebab(method.name), parents=[common], help=_help(method))
            required = _required(method)
            for field in method.input_type.fields:
                _add_field(sub, method, field, field.name in required)
            sub.set_defaults(handler=functools.partial(run_rpc, service, method))

    apply = commands.add_parser(
        "apply", parents=[common], help="make an account match a desired-state file"
    )
    apply.add_argument("-f", "--file", required=True, type=Path, help="YAML or JSON file")
    apply.add_argument("--dry-run", action="store_true", help="print the plan only")
    apply.set_defaults(handler=run_apply)

    configure = commands.add_parser(
        "configure", parents=[common], help="write a profile to the credentials file"
    )
    configure.add_argument("--access-key-id", required=True)
    configure.add_argument("--secret-access-key", required=True)
    configure.add_argument("--session-token")
    configure.add_argument(
        "--credentials-file", type=Path, help=f"default {default_credentials_file()}"
    )
    configure.set_defaults(handler=run_configure)
    return parser


def _client(args: argparse.Namespace) -> Client:
    return Client.from_environment(args.profile, endpoint=args.endpoint, timeout=args.timeout)


def run_rpc(
    service: ServiceDescriptor, method: MethodDescriptor, args: argparse.Namespace, out: TextIO
) -> int:
    request_cls: type[Message] = GetMessageClass(method.input_type)
    response_cls: type[Message] = GetMessageClass(method.output_type)
    try:
        request = fill(request_cls(), request_data(method, args))
    except ValueError as e:
        raise UsageError(str(e)) from e
    if args.query is not None:
        parse_query(args.query)  # a malformed path is a usage error before any call
    fields = method.input_type.fields_by_name
    follow = "marker" in fields and args.marker is None and getattr(args, "max_items", None) is None
    with _client(args) as client:
        call = _calls.make_call(service.full_name, method.name, request, response_cls)
        response: Any = client.call(call)
        paged: Any = request
        while follow and response.is_truncated and response.marker:
            if response.marker == paged.marker:
                break  # a repeated marker would loop forever
            paged.marker = response.marker
            page: Any = client.call(call)
            for field in method.output_type.fields:
                if field.is_repeated:
                    getattr(response, field.name).extend(getattr(page, field.name))
            response.is_truncated = page.is_truncated
            response.marker = page.marker
    data = to_aws(response)
    if follow:
        for key in ("Marker", "IsTruncated", "marker", "isTruncated"):
            data.pop(key, None)
    emit(data, args.output, out, args.query)
    return 0


def run_apply(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.file
    spec = _apply.load_spec(path)
    with _client(args) as client:
        steps = _apply.plan(client, spec, base_dir=path.parent)
        _apply.print_plan(steps, out)
        if args.dry_run or not any(s.run for s in steps):
            if args.dry_run:
                out.write("Dry run: nothing changed.\n")
            return 0
        revision = _apply.execute(steps, out)
    out.write(f"Applied (revision {revision}).\n")
    return 0


def run_configure(args: argparse.Namespace, out: TextIO) -> int:
    if not args.endpoint:
        raise UsageError("configure needs --endpoint")
    target = write_profile(
        args.credentials_file or default_credentials_file(),
        args.profile or "default",
        args.endpoint,
        args.access_key_id,
        args.secret_access_key,
        session_token=args.session_token,
    )
    out.write(f"Wrote profile {args.profile or 'default'} to {target}\n")
    return 0


def _describe(e: IamdError) -> str:
    parts = [e.reason or type(e).__name__]
    if e.field and not e.message.startswith(f"{e.field}:"):
        parts.append(e.field)  # the server's message usually names the field already
    parts.append(e.message)
    return ": ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, TextIO], int] = args.handler
    try:
        return handler(args, sys.stdout)
    except IamdError as e:
        print(f"iamctl: {_describe(e)}", file=sys.stderr)
        return EXIT_API_ERROR
    except (UsageError, _apply.SpecError, CredentialsError) as e:
        print(f"iamctl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
