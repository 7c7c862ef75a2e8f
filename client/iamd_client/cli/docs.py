"""Help texts taken from the API's own documentation.

The comments of proto/iamd/v1 travel with the client as docstrings of the generated stubs
(iamd/v1/*.pyi): one per RPC, one per request field. They are read only when help is shown,
and reworded for a command line (field names become flags, "empty = X" becomes
"default: X").
"""

from __future__ import annotations

import ast
import functools
import re
from importlib import resources

from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)

from iamd_client._convert import pascal

# Fields whose API wording does not fit the command line.
_FIELD_HELP: dict[tuple[str, str], str] = {
    ("GetUserRequest", "user_name"): (
        "1-64 chars; default: the calling user (for an account's root credentials, the root)"
    ),
}

_RPC_HELP: dict[str, str] = {
    "GetUser": "Get a user (without --user-name: the caller, or the root for root credentials).",
}

# Proto phrasing -> command-line phrasing, applied in order.
_REWORDING: tuple[tuple[str, str], ...] = (
    ("absent = unchanged, empty = none", 'default: unchanged; "" removes it'),
    ("absent or 0 = ", "omitted or 0: "),
    ("absent = ", "default: "),
    ("empty = ", "default: "),
    ("Empty = ", "Default: "),
    ("UNSPECIFIED = ", "default: "),
)


_REQUIRED = re.compile(r"^Required\b[.,:]?\s*")
_SNAKE = re.compile(r"(?<![-\w])[a-z]+(?:_[a-z]+)+\b")


def _docstring_after(body: list[ast.stmt], index: int) -> str:
    if index + 1 < len(body):
        node = body[index + 1]
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str):
                return value
    return ""


@functools.cache
def _stub_docs(module: str) -> dict[str, dict[str, str]]:
    """{class: {member: docstring}} of the top-level classes of iamd/v1/<module>.pyi."""
    try:
        source = resources.files("iamd.v1").joinpath(f"{module}.pyi").read_text("utf-8")
    except (OSError, ModuleNotFoundError):
        return {}  # stubs not installed: help without descriptions
    classes: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        members: dict[str, str] = {}
        for i, item in enumerate(node.body):
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                name, doc = item.target.id, _docstring_after(node.body, i)
            elif isinstance(item, ast.FunctionDef):
                name, doc = item.name, ast.get_docstring(item) or ""
            else:
                continue
            if doc:
                members[name] = doc
        classes[node.name] = members
    return classes


def _module(proto_file: str, suffix: str) -> str:
    """ "iamd/v1/management.proto" -> "management_pb2" (or another suffix)."""
    return proto_file.rsplit("/", 1)[-1].removesuffix(".proto") + suffix


def one_line(text: str) -> str:
    return " ".join(text.split())


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def rpc_summary(service: ServiceDescriptor, method: MethodDescriptor) -> str:
    """The RPC's documentation, one line ("" when unknown)."""
    special = _RPC_HELP.get(method.name)
    if special is not None:
        return special
    servicer = _stub_docs(_module(service.file.name, "_pb2_grpc")).get(f"{service.name}Servicer")
    text = (servicer or {}).get(method.name, "")
    # The last paragraph: a comment that opens a section of the service comes first.
    return _reword(one_line(text.strip().split("\n\n")[-1]), method.input_type)


def field_help(message: Descriptor, field: FieldDescriptor) -> str:
    """A request field's documentation, worded for the command line."""
    special = _FIELD_HELP.get((message.name, field.name))
    if special is not None:
        return special
    fields = _stub_docs(_module(message.file.name, "_pb2")).get(message.name, {})
    # "Required." opens the comment of a required field; the flag's help says "(required)".
    text = _REQUIRED.sub("", one_line(fields.get(field.name, "")))
    return _reword(text, message)


def _reword(text: str, message: Descriptor) -> str:
    for old, new in _REWORDING:
        text = text.replace(old, new)
    for field in message.fields:
        if "_" in field.name:  # one-word names are ordinary words in the prose
            text = re.sub(rf"\b{field.name}\b", flag(field.name), text)
    # Fields of other messages are named as the output shows them (max_session_duration ->
    # MaxSessionDuration).
    return _SNAKE.sub(lambda m: pascal(m.group()), text)
