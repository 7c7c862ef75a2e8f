"""Conversions between protobuf messages and the AWS-shaped JSON iamctl reads and prints.

Output keys are PascalCase (``user_name`` -> ``UserName``), 64-bit integers stay numbers,
timestamps are RFC 3339, and enum values read like AWS (``Active``, ``explicitDeny``).
Input accepts PascalCase or snake_case keys and any spelling of an enum value that matches
after dropping case and underscores (``explicit_deny``, ``EXPLICIT_DENY``, ``explicitDeny``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

M = TypeVar("M", bound=Message)

_TIMESTAMP = "google.protobuf.Timestamp"
_INT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
# How enum values are spelled in output, per enum: AWS's simulator writes decisions and
# context key types in camelCase, S3 writes ACL permissions in upper case.
_CAMEL_ENUMS = frozenset({"iamd.v1.Decision", "iamd.v1.ContextKeyType"})
_UPPER_ENUMS = frozenset(
    {"iamd.v1.AclPermission", "iamd.v1.PolicyType", "iamd.v1.ValidatePolicyFindingType"}
)
# Messages of these files print camelCase keys, as the AWS API they mirror does (Access
# Analyzer: findingType, issueCode, ...); every other message prints PascalCase (IAM, STS).
_CAMEL_FILES = frozenset({"iamd/v1/analysis.proto"})


def descriptor(message: Message) -> Descriptor:
    """The message's descriptor, typed as the pure-Python class (the upb one behaves alike)."""
    return cast(Descriptor, message.DESCRIPTOR)


def fields(message_type: Descriptor) -> Sequence[FieldDescriptor]:
    return message_type.fields


def message_type(field: FieldDescriptor) -> Descriptor:
    """The message type of a message field."""
    if field.message_type is None:
        raise TypeError(f"{field.name} is not a message field")
    return field.message_type


def enum_type(field: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum field."""
    if field.enum_type is None:
        raise TypeError(f"{field.name} is not an enum field")
    return field.enum_type


def pascal(name: str) -> str:
    """snake_case -> PascalCase."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def camel(name: str) -> str:
    """snake_case -> camelCase."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """PascalCase or camelCase -> snake_case (snake_case stays); acronyms are words:
    OpenIDConnectProviderArn -> open_id_connect_provider_arn."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _enum_prefix(enum: EnumDescriptor) -> str:
    return snake(enum.name).upper() + "_"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def enum_text(enum: EnumDescriptor, number: int) -> str:
    """The AWS-style spelling of an enum value."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    short = value.name.removeprefix(_enum_prefix(enum))
    if enum.full_name in _UPPER_ENUMS:
        return short
    words = short.lower().split("_")
    if enum.full_name in _CAMEL_ENUMS:
        return words[0] + "".join(w.capitalize() for w in words[1:])
    return "".join(w.capitalize() for w in words)


def enum_choices(enum: EnumDescriptor) -> list[str]:
    """Accepted spellings to show in help (UNSPECIFIED left out)."""
    return [enum_text(enum, v.number) for v in enum.values if v.number != 0]


def parse_enum(enum: EnumDescriptor, text: str | int) -> int:
    """An enum number from any reasonable spelling (or the number itself)."""
    if isinstance(text, int):
        return text
    wanted = _norm(text)
    prefix = _norm(_enum_prefix(enum))
    for value in enum.values:
        full = _norm(value.name)
        if wanted in (full, full.removeprefix(prefix)):
            return value.number
    raise ValueError(f"invalid value {text!r}; expected one of: {', '.join(enum_choices(enum))}")


# ---- message -> AWS-shaped dict ------------------------------------------------------------


def _value_out(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if message_type(field).full_name == _TIMESTAMP:
            ts: Timestamp = value
            return ts.ToJsonString()
        return to_aws(value, top=False)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_text(enum_type(field), value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return value.hex()
    return value


def to_aws(message: Message, *, top: bool = True) -> dict[str, Any]:
    """A message as an AWS-shaped dict.

    Unset messages, unset optional fields, empty strings and UNSPECIFIED enums are left out;
    empty lists are kept only at the top level ("Users": [] reads better than nothing).
    """
    out: dict[str, Any] = {}
    key_of = camel if descriptor(message).file.name in _CAMEL_FILES else pascal
    for field in fields(descriptor(message)):
        key = key_of(field.name)
        if field.is_repeated:
            values = getattr(message, field.name)
            if values or top:
                out[key] = [_value_out(field, v) for v in values]
        elif field.type == FieldDescriptor.TYPE_MESSAGE or field.has_presence:
            if message.HasField(field.name):
                out[key] = _value_out(field, getattr(message, field.name))
        else:
            value = getattr(message, field.name)
            if value == "" or (field.type == FieldDescriptor.TYPE_ENUM and value == 0):
                continue
            out[key] = _value_out(field, value)
    return out


# ---- dict -> message -----------------------------------------------------------------------


def _scalar_in(field: FieldDescriptor, value: Any) -> Any:
    where = field.name
    if field.type == FieldDescriptor.TYPE_ENUM:
        return parse_enum(enum_type(field), value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if field.type in _INT_TYPES:
        if isinstance(value, bool):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected an integer, got {value!r}") from None
    if field.type in _FLOAT_TYPES:
        return float(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    return value


def fill(message: M, data: Mapping[str, Any]) -> M:
    """Set fields of `message` from a dict with PascalCase or snake_case keys."""
    by_name = {f.name: f for f in fields(descriptor(message))}
    for raw_key, value in data.items():
        name = snake(raw_key)
        field = by_name.get(name)
        if field is None:
            known = ", ".join(pascal(f) for f in by_name)
            raise ValueError(f"unknown key {raw_key!r} for {descriptor(message).name} ({known})")
        if value is None:
            continue
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if field.is_repeated:
            items = value if isinstance(value, list) else [value]
            container = getattr(message, name)
            for item in items:
                if is_message:
                    if not isinstance(item, Mapping):
                        raise ValueError(f"{name}: expected objects, got {item!r}")
                    fill(container.add(), item)
                else:
                    container.append(_scalar_in(field, item))
        elif is_message:
            target = getattr(message, name)
            if message_type(field).full_name == _TIMESTAMP:
                target.FromJsonString(str(value))
            elif isinstance(value, Mapping):
                fill(target, value)
            else:
                raise ValueError(f"{name}: expected an object, got {value!r}")
        else:
            setattr(message, name, _scalar_in(field, value))
    return message
