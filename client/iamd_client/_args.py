"""Argument conversions of the generated builders, chosen by field type, not by RPC.

- enums accept the generated value or a name in any reasonable spelling ("Active",
  "ACCESS_KEY_STATUS_ACTIVE", "explicitDeny"), wherever an enum field appears;
- repeated Tag fields accept a {key: value} mapping, repeated ContextEntry fields a
  {key: value} mapping whose value types are inferred (see `context_entry`);
- Timestamp and Duration fields accept a datetime and a timedelta;
- a oneof's members default to None and only those given are set.

`client/scripts/sdkgen.py` holds the table that maps a field's message type to the alias and
converter used here.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from iamd.v1 import authorization_pb2 as authz
from iamd.v1 import types_pb2 as types

from iamd_client._convert import parse_enum

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

V = TypeVar("V", bound=int)

TagsArg: TypeAlias = Mapping[str, str] | Iterable[types.Tag] | None
ContextValue: TypeAlias = str | bool | int | float | Sequence[str]
ContextArg: TypeAlias = Mapping[str, ContextValue] | Iterable[types.ContextEntry] | None
TimestampArg: TypeAlias = datetime.datetime | Timestamp
DurationArg: TypeAlias = datetime.timedelta | Duration


@overload
def enum_value(enum: _EnumTypeWrapper[V], value: V | str) -> V: ...
@overload
def enum_value(enum: _EnumTypeWrapper[V], value: None) -> None: ...
def enum_value(enum: _EnumTypeWrapper[V], value: V | str | None) -> V | None:
    """An enum value from the value itself or its name (case and underscores do not matter,
    the enum's prefix may be left out); None stays None (the field is left unset)."""
    if isinstance(value, str):
        number = parse_enum(enum.DESCRIPTOR, value)
        return enum.Value(enum.DESCRIPTOR.values_by_number[number].name)
    return value


def enum_values(enum: _EnumTypeWrapper[V], values: Iterable[V | str]) -> list[V]:
    """Enum values from values or names (see `enum_value`)."""
    return [enum_value(enum, v) for v in values]


def present(**fields: object) -> dict[str, Any]:
    """The fields that are set (not None): a oneof's members go to the constructor only when
    given."""
    return {k: v for k, v in fields.items() if v is not None}


def to_tags(value: TagsArg) -> list[types.Tag]:
    """Tags from a {key: value} mapping or Tag messages."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [types.Tag(key=k, value=v) for k, v in value.items()]
    return list(value)


def context_entry(
    key: str, value: ContextValue, type: types.ContextKeyType.ValueType | None = None
) -> types.ContextEntry:
    """A context entry; the type is inferred when not given (str -> STRING, bool -> BOOLEAN,
    int/float -> NUMERIC, sequence of str -> STRING_LIST). Pass `type` for IP, DATE, BINARY."""
    if isinstance(value, bool):
        values = ["true" if value else "false"]
        inferred = types.CONTEXT_KEY_TYPE_BOOLEAN
    elif isinstance(value, int | float):
        values = [repr(value) if isinstance(value, float) else str(value)]
        inferred = types.CONTEXT_KEY_TYPE_NUMERIC
    elif isinstance(value, str):
        values = [value]
        inferred = types.CONTEXT_KEY_TYPE_STRING
    else:
        values = [str(v) for v in value]
        inferred = types.CONTEXT_KEY_TYPE_STRING_LIST
    return types.ContextEntry(key=key, type=inferred if type is None else type, values=values)


def to_context(value: ContextArg) -> list[types.ContextEntry]:
    """Context entries from a {key: value} mapping (types inferred) or ContextEntry messages."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [context_entry(k, v) for k, v in value.items()]
    return list(value)


def to_timestamp(value: TimestampArg | None) -> Timestamp | None:
    """A Timestamp from a datetime (naive means UTC, as in protobuf and the AWS SDKs) or a
    Timestamp."""
    if value is None or isinstance(value, Timestamp):
        return value
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def to_duration(value: DurationArg | None) -> Duration | None:
    """A Duration from a timedelta (or a Duration)."""
    if value is None or isinstance(value, Duration):
        return value
    duration = Duration()
    duration.FromTimedelta(value)
    return duration


def authorize_check(
    *,
    action: str,
    resource_arn: str = "",
    principal_arn: str = "",
    resource_owner_account: str = "",
    context: ContextArg = None,
) -> authz.AuthorizeCheck:
    """One check of an authorize_batch call."""
    return authz.AuthorizeCheck(
        principal_arn=principal_arn,
        action=action,
        resource_arn=resource_arn,
        resource_owner_account=resource_owner_account,
        context=to_context(context),
    )
