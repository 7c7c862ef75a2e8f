"""Flag values -> request fields: file:// contents, JSON, and the shorthand forms of tags
(``Key=k,Value=v`` or ``k=v``) and context entries (``key=type:value``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from iamd.v1 import types_pb2

from iamd_client._convert import message_type, parse_enum
from iamd_client.cli.docs import flag
from iamd_client.cli.usage import UsageError


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
            value = _json(text, flag(field.name))
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
                data[field.name] = _json(read_value(value), flag(field.name))
        elif field.is_repeated:
            data[field.name] = [read_value(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            data[field.name] = read_value(value)
        else:
            data[field.name] = value
    return data
