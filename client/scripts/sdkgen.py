"""Write the SDK's mechanical layer from the API's descriptors (with their comments).

For every RPC of every service in proto/iamd/v1 this writes

- a request builder in iamd_client/_calls.py: keyword-only arguments named as the request
  fields, typed by field type, required when the field's comment starts with "Required",
  defaulting to the field's empty value otherwise (None where the field has presence); the
  docstring is the RPC's comment plus one line per field from the field comments;
- an entry of the method table in iamd_client/_api.py (a method of Client and AsyncClient),
  and an `iter_*` pager when the RPC is paginated (request `marker` and `max_items`,
  response `marker`, `is_truncated` and exactly one list).

The output is formatted as `ruff format` leaves it (exploded calls with trailing commas) and
depends only on the descriptors. The only hand-kept choices are the tables below: argument
conversions by message type, and pager names that the rule does not give.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FieldDescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
    MethodDescriptorProto,
    MethodOptions,
    ServiceDescriptorProto,
    SourceCodeInfo,
)

MARKER = "# Generated from proto/iamd/v1 by client/scripts/gen_protos.py; do not edit.\n"
WIDTH = 100
F = FieldDescriptorProto
Level: TypeAlias = MethodOptions.IdempotencyLevel.ValueType

# Message types whose fields take a friendlier argument, in every RPC:
# (full name, repeated) -> (annotation, converter), both from iamd_client._args.
ADAPTERS: dict[tuple[str, bool], tuple[str, str]] = {
    ("iamd.v1.Tag", True): ("_args.TagsArg", "_args.to_tags"),
    ("iamd.v1.ContextEntry", True): ("_args.ContextArg", "_args.to_context"),
    ("google.protobuf.Timestamp", False): ("_args.TimestampArg", "_args.to_timestamp"),
    ("google.protobuf.Duration", False): ("_args.DurationArg", "_args.to_duration"),
}
# Adapter annotations that already include None (so the argument defaults to None).
_NONE_INCLUDED = frozenset({"_args.TagsArg", "_args.ContextArg"})
# Pagers named otherwise than "iter_" + the List call's subject.
PAGER_NAMES = {"iamd.v1.ManagementService.GetGroup": "iter_group_members"}

_SCALARS: dict[int, tuple[str, str]] = {
    F.TYPE_STRING: ("str", '""'),
    F.TYPE_BYTES: ("bytes", 'b""'),
    F.TYPE_BOOL: ("bool", "False"),
    F.TYPE_DOUBLE: ("float", "0.0"),
    F.TYPE_FLOAT: ("float", "0.0"),
    **{
        t: ("int", "0")
        for t in (
            F.TYPE_INT32,
            F.TYPE_INT64,
            F.TYPE_UINT32,
            F.TYPE_UINT64,
            F.TYPE_SINT32,
            F.TYPE_SINT64,
            F.TYPE_FIXED32,
            F.TYPE_FIXED64,
            F.TYPE_SFIXED32,
            F.TYPE_SFIXED64,
        )
    },
}
_REQUIRED = re.compile(r"Required\b")
_RETRY_NOTE: dict[Level, str] = {
    MethodOptions.NO_SIDE_EFFECTS: "Retried after UNAVAILABLE (declared free of side effects).",
    MethodOptions.IDEMPOTENT: "Retried after UNAVAILABLE (declared idempotent).",
}
_SENT_ONCE = "Not retried after UNAVAILABLE (not declared idempotent)."


def snake(name: str) -> str:
    """CreateOpenIDConnectProvider -> create_open_id_connect_provider (as iamd_client._convert)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _comment(location: SourceCodeInfo.Location | None) -> str:
    """A leading comment as one paragraph per blank-line-separated block."""
    if location is None:
        return ""
    paragraphs = location.leading_comments.strip().split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _section(comments: Sequence[str]) -> str:
    """The title of a "---- Title ----" comment standing alone before an RPC, or "".

    protoc hands such a comment to the next RPC as a detached comment, or to the service as
    its trailing comment when it opens the service's body."""
    for comment in comments:
        match = re.fullmatch(r"\s*-{2,}\s*(.*?)\s*-{2,}\s*", comment.strip().split("\n")[0])
        if match:
            return match.group(1)
    return ""


# ---- the API as read from the descriptors --------------------------------------------------


@dataclass
class TypeRef:
    """A message or enum type: the module it is generated in and its Python name there."""

    module: str
    """Import path of the _pb2 module, e.g. "iamd.v1.management_pb2"."""
    name: str
    """Qualified name in the module, e.g. "CreateUserRequest" or "Outer.Inner"."""
    full_name: str
    """Proto full name without the leading dot, e.g. "iamd.v1.CreateUserRequest"."""
    message: DescriptorProto | None = None
    enum: EnumDescriptorProto | None = None
    comments: dict[int, str] = field(default_factory=dict)
    """Field number -> comment (messages)."""
    comment: str = ""

    @property
    def alias(self) -> str:
        return self.module.rsplit(".", 1)[-1]

    @property
    def expr(self) -> str:
        return f"{self.alias}.{self.name}"


class Index:
    """Every message and enum of the descriptor set, by full name."""

    def __init__(self, files: Sequence[FileDescriptorProto]) -> None:
        self.types: dict[str, TypeRef] = {}
        for file in files:
            locations = {tuple(loc.path): loc for loc in file.source_code_info.location}
            module = file.name.removesuffix(".proto").replace("/", ".") + "_pb2"
            prefix = f"{file.package}." if file.package else ""
            for i, message in enumerate(file.message_type):
                self._message(message, module, prefix, "", (4, i), locations)
            for enum in file.enum_type:
                self._add(TypeRef(module, enum.name, prefix + enum.name, enum=enum))
        aliases: dict[str, str] = {}
        for ref in self.types.values():
            if aliases.setdefault(ref.alias, ref.module) != ref.module:
                raise SystemExit(f"two proto files generate modules named {ref.alias}")

    def _add(self, ref: TypeRef) -> None:
        self.types[ref.full_name] = ref

    def _message(
        self,
        message: DescriptorProto,
        module: str,
        prefix: str,
        outer: str,
        path: tuple[int, ...],
        locations: dict[tuple[int, ...], SourceCodeInfo.Location],
    ) -> None:
        name = f"{outer}{message.name}"
        comments = {
            f.number: _comment(locations.get((*path, 2, j))) for j, f in enumerate(message.field)
        }
        self._add(
            TypeRef(
                module,
                name,
                prefix + name,
                message=message,
                comments=comments,
                comment=_comment(locations.get(path)),
            )
        )
        for i, nested in enumerate(message.nested_type):
            self._message(nested, module, prefix, f"{name}.", (*path, 3, i), locations)
        for enum in message.enum_type:
            self._add(
                TypeRef(module, f"{name}.{enum.name}", f"{prefix}{name}.{enum.name}", enum=enum)
            )

    def get(self, type_name: str) -> TypeRef:
        return self.types[type_name.lstrip(".")]


@dataclass
class Param:
    """One keyword argument of a builder."""

    name: str
    field: str
    annotation: str
    default: str | None
    """Python default; None when the argument is required."""
    doc: str
    convert: tuple[str, ...] = ()
    """How the argument becomes the field's value: a function and the arguments before the
    parameter itself (empty: passed as is)."""
    oneof: int | None = None
    """The oneof the field belongs to (not the synthetic one of a proto3 `optional`)."""


@dataclass
class Rpc:
    service: str
    """Full service name, e.g. "iamd.v1.ManagementService"."""
    name: str
    request: TypeRef
    response: TypeRef
    params: list[Param]
    doc: str
    level: Level
    section: str
    items: str | None
    """The response's list when the RPC is paginated."""

    @property
    def builder(self) -> str:
        return snake(self.name)

    @property
    def pager(self) -> str:
        default = "iter_" + self.builder.removeprefix("list_")
        return PAGER_NAMES.get(f"{self.service}.{self.name}", default)


class Imports:
    """The modules a generated file refers to."""

    def __init__(self) -> None:
        self.modules: set[str] = set()

    def use(self, ref: TypeRef) -> str:
        self.modules.add(ref.module)
        return ref.expr


def _param(index: Index, imports: Imports, request: TypeRef, f: FieldDescriptorProto) -> Param:
    assert request.message is not None
    doc = request.comments.get(f.number, "")
    required = bool(_REQUIRED.match(doc))
    name = f"{f.name}_" if keyword.iskeyword(f.name) else f.name
    repeated = f.label == F.LABEL_REPEATED
    presence = f.proto3_optional or f.HasField("oneof_index") or f.type == F.TYPE_MESSAGE
    convert: tuple[str, ...] = ()
    ref = index.get(f.type_name) if f.type_name else None
    if ref is not None and ref.message is not None and ref.message.options.map_entry:
        key, val = (_element(index, imports, e)[0] for e in ref.message.field)
        annotation, default = f"Mapping[{key}, {val}] | None", "None"
        if required:
            annotation = f"Mapping[{key}, {val}]"
    elif ref is not None and (ref.full_name, repeated) in ADAPTERS:
        annotation, converter = ADAPTERS[(ref.full_name, repeated)]
        convert = (converter,)
        default = "None"
        if not required and annotation not in _NONE_INCLUDED:
            annotation += " | None"
    elif repeated:
        element, _ = _element(index, imports, f)
        if ref is not None and ref.enum is not None:
            convert = ("_args.enum_values", imports.use(ref))
        kind = "Iterable" if f.type == F.TYPE_MESSAGE else "Sequence"
        annotation, default = f"{kind}[{element}]", "()"
    else:
        annotation, default = _element(index, imports, f)
        if ref is not None and ref.enum is not None:
            convert = ("_args.enum_value", imports.use(ref))
        if presence and not required:
            annotation, default = f"{annotation} | None", "None"
    oneof = f.oneof_index if f.HasField("oneof_index") and not f.proto3_optional else None
    return Param(name, f.name, annotation, None if required else default, doc, convert, oneof)


def _element(index: Index, imports: Imports, f: FieldDescriptorProto) -> tuple[str, str]:
    """The annotation of one value of field `f` and its empty value."""
    if f.type in _SCALARS:
        return _SCALARS[f.type]
    ref = index.get(f.type_name)
    expr = imports.use(ref)
    if ref.enum is not None:
        zero = ref.enum.value[0].name
        outer = expr.rsplit(".", 1)[0] if "." in ref.name else ref.alias
        return f"{expr}.ValueType | str", f"{outer}.{zero}"
    return expr, "None"


def _items(request: DescriptorProto, response: DescriptorProto) -> str | None:
    """The list a paginated RPC returns (the rule iamctl's paging uses), or None."""
    asked = {f.name for f in request.field}
    answered = {f.name for f in response.field}
    if not {"marker", "max_items"} <= asked or not {"marker", "is_truncated"} <= answered:
        return None
    lists = [f.name for f in response.field if f.label == F.LABEL_REPEATED]
    return lists[0] if len(lists) == 1 else None


def _doc(rpc_comment: str, request: TypeRef, params: list[Param], level: Level) -> str:
    parts = [rpc_comment or f"Call {request.name.removesuffix('Request')}."]
    extra = re.fullmatch(r"Request of \w+\.\s*(.+)", request.comment, flags=re.DOTALL)
    if extra:
        parts.append(extra.group(1))
    if params:
        parts.append("Args:\n" + "\n".join(f"{p.name}: {p.doc or '-'}" for p in params))
    parts.append(_RETRY_NOTE.get(level, _SENT_ONCE))
    return "\n\n".join(parts)


def read_api(fds: FileDescriptorSet, files: Sequence[str]) -> tuple[list[Rpc], Imports]:
    """Every RPC of the services in `files` (proto paths such as "iamd/v1/sts.proto")."""
    index = Index(fds.file)
    imports = Imports()
    rpcs: list[Rpc] = []
    for file in fds.file:
        if file.name not in files:
            continue
        locations = {tuple(loc.path): loc for loc in file.source_code_info.location}
        for s, service in enumerate(file.service):
            rpcs.extend(_service_rpcs(index, imports, file, s, service, locations))
    seen: dict[str, str] = {}
    for rpc in rpcs:
        other = seen.setdefault(rpc.builder, f"{rpc.service}.{rpc.name}")
        if other != f"{rpc.service}.{rpc.name}":
            raise SystemExit(
                f"{rpc.service}.{rpc.name} and {other} would both be Client.{rpc.builder}; "
                "RPC names must be unique across the services of iamd.v1"
            )
    return rpcs, imports


def _service_rpcs(
    index: Index,
    imports: Imports,
    file: FileDescriptorProto,
    s: int,
    service: ServiceDescriptorProto,
    locations: dict[tuple[int, ...], SourceCodeInfo.Location],
) -> Iterator[Rpc]:
    full = f"{file.package}.{service.name}" if file.package else service.name
    opening = locations.get((6, s))
    section = _section([opening.trailing_comments] if opening else []) or service.name
    for m, method in enumerate(service.method):
        if method.client_streaming or method.server_streaming:
            # Streams (ReplicationService.Watch) are followed by hand-written code (the
            # sidecar's upstream), not by a request/response builder.
            continue
        location = locations.get((6, s, 2, m))
        section = _section(location.leading_detached_comments if location else []) or section
        request, response = index.get(method.input_type), index.get(method.output_type)
        assert request.message is not None and response.message is not None
        imports.use(request)
        imports.use(response)
        params = [_param(index, imports, request, f) for f in request.message.field]
        yield Rpc(
            service=full,
            name=method.name,
            request=request,
            response=response,
            params=params,
            doc=_doc(_comment(location), request, _signature(params), _level(method)),
            level=_level(method),
            section=section,
            items=_items(request.message, response.message),
        )


def _signature(params: list[Param]) -> list[Param]:
    """Parameters in signature order: the required ones first, else in proto order."""
    return sorted(params, key=lambda p: p.default is not None)


def _level(method: MethodDescriptorProto) -> Level:
    return method.options.idempotency_level


# ---- writing Python ------------------------------------------------------------------------


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _docstring(text: str, indent: str) -> list[str]:
    """A docstring wrapped to WIDTH; "Args:" entries get a hanging indent."""
    if '"""' in text:
        raise SystemExit(f'a comment holds """: {text[:60]!r}')
    quote = 'r"""' if "\\" in text else '"""'
    lines: list[str] = []
    for n, paragraph in enumerate(text.split("\n\n")):
        if paragraph.startswith("Args:\n"):
            lines += ["", f"{indent}Args:"]
            for entry in paragraph.split("\n")[1:]:
                lines += _wrap(entry, indent + "    ", indent + "        ")
        else:
            lines += [""] if n else []
            lines += _wrap(paragraph, indent + (quote if n == 0 else ""), indent)
    if len(lines) == 1 and len(lines[0]) + 3 <= WIDTH:
        return [lines[0] + '"""']
    return [*lines, f'{indent}"""']


def _rule(title: str, indent: str = "") -> str:
    text = f"{indent}# ---- {title} "
    return text + "-" * max(4, WIDTH - len(text))


def _call_lines(head: str, args: Sequence[str], indent: str, *, explode: bool = False) -> list[str]:
    """`head(args)` on one line when it fits, else one argument per line with a trailing comma
    (which `ruff format` keeps exploded). An argument may span lines (already indented)."""
    one = f"{indent}{head}({', '.join(args)})"
    # One column kept for the comma that follows when the call is itself an argument.
    if not explode and len(one) < WIDTH and not any("\n" in a for a in args):
        return [one]
    lines = [f"{indent}{head}("]
    for arg in args:
        first, *rest = arg.split("\n")
        lines += [f"{indent}    {first}", *rest]
        lines[-1] += ","
    lines.append(f"{indent})")
    return lines


def _builder(rpc: Rpc, imports: Imports) -> list[str]:
    """A builder, preceded by the type aliases its long parameter lines need."""
    response = imports.use(rpc.response)
    returns = f"Call[{response}]"
    aliases: list[str] = []
    head = (
        [f"def {rpc.builder}(", "    *,"] if rpc.params else [f"def {rpc.builder}() -> {returns}:"]
    )
    for p in _signature(rpc.params):
        default = "" if p.default is None else f" = {p.default}"
        line = f"    {p.name}: {p.annotation}{default},"
        if len(line) > WIDTH:  # a union ruff would split: name it
            alias = "_" + "".join(w.capitalize() for w in f"{rpc.builder}_{p.name}".split("_"))
            aliases += [*_assignment(f"{alias}: TypeAlias", p.annotation), "", ""]
            line = f"    {p.name}: {alias}{default},"
            if len(line) > WIDTH:  # atoms only: ruff leaves it as is
                line += "  # noqa: E501"
        head.append(line)
    if rpc.params:
        head.append(f") -> {returns}:")
    kwargs: list[str] = []
    oneofs: dict[int, list[str]] = {}
    for p in rpc.params:
        if p.oneof is None:
            kwargs.append(_kwarg(p, " " * 12))
            continue
        # The stubs refuse None for a oneof member: pass only the members that are set.
        if p.oneof not in oneofs:
            kwargs.append(f"<oneof {p.oneof}>")
        oneofs.setdefault(p.oneof, []).append(_kwarg(p, " " * 16))
    for index, members in oneofs.items():
        present = _call_lines("**_args.present", members, " " * 12)
        kwargs[kwargs.index(f"<oneof {index}>")] = _lines(present)
    request = _call_lines(imports.use(rpc.request), kwargs, " " * 8)
    args = [f'"{rpc.service}"', f'"{rpc.name}"', "\n".join([request[0].lstrip(), *request[1:]])]
    body = _call_lines("return make_call", [*args, response], "    ", explode=True)
    return [*aliases, *head, *_docstring(rpc.doc, "    "), *body]


def _lines(lines: list[str]) -> str:
    """Lines rendered at their final indentation, as one argument of `_call_lines`."""
    return "\n".join([lines[0].lstrip(), *lines[1:]])


def _kwarg(p: Param, indent: str) -> str:
    """`field=value` for the request constructor (value converted when the type needs it)."""
    key = f"{p.field}=" if p.name == p.field else ""
    if p.convert:
        function, *first = p.convert
        lines = _call_lines(f"{key}{function}", [*first, p.name], indent)
    else:
        lines = [f"{indent}{key}{p.name}"]
    if not key:  # a field named like a Python keyword
        lines[0] = lines[0].replace(indent, f'{indent}**{{"{p.field}": ', 1)
        lines[-1] += "}"
    return _lines(lines)


def _assignment(target: str, value: str) -> list[str]:
    """`target = value`, parenthesized over lines when long, as ruff formats it."""
    one = f"{target} = {value}"
    if len(one) <= WIDTH:
        return [one]
    if len(value) + 4 > WIDTH:
        raise SystemExit(f"cannot fit {value} in {WIDTH} columns; shorten the proto names")
    return [f"{target} = (", f"    {value}", ")"]


def calls_module(rpcs: Sequence[Rpc], imports: Imports) -> str:
    """iamd_client/_calls.py."""
    body: list[str] = []
    section = ""
    for rpc in rpcs:
        if rpc.section != section:
            section = rpc.section
            body += ["", "", _rule(section)]
        body += ["", "", *_builder(rpc, imports)]
    code = "\n".join(body)
    abc = [n for n in ("Iterable", "Mapping", "Sequence") if re.search(rf"\b{n}\[", code)]
    header = [
        MARKER.rstrip("\n"),
        '"""One request builder per RPC of iamd.v1: keyword arguments in, a typed `Call` out.',
        "",
        "Generated by client/scripts/gen_protos.py from the protos: the arguments are the request",
        'fields (required when the field\'s comment starts with "Required"), the docstrings the',
        "API's comments, and whether a call is retried follows the RPC's idempotency_level option",
        "(see `_call`). The sync and async clients bind these builders through the method table",
        "of `_api`, generated too. Builders do no I/O; they only assemble request messages.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    stdlib = [f"from collections.abc import {', '.join(abc)}"] if abc else []
    if ": TypeAlias = " in code:
        stdlib.append("from typing import TypeAlias")
    header += [*stdlib, ""] if stdlib else []
    packages: dict[str, list[str]] = {}
    for module in sorted(imports.modules):
        package, _, name = module.rpartition(".")
        packages.setdefault(package, []).append(name)
    for package, names in sorted(packages.items()):
        one = f"from {package} import {', '.join(names)}"
        if len(one) <= WIDTH:
            header.append(one)
        else:
            header += [f"from {package} import (", *[f"    {n}," for n in names], ")"]
    header.append("")
    if "_args." in code:
        header.append("from iamd_client import _args")
    header += [
        "from iamd_client._call import Call as Call",
        "from iamd_client._call import make_call",
    ]
    return _checked("\n".join(header + body[1:]) + "\n")  # one blank line after the imports


def api_module(rpcs: Sequence[Rpc]) -> str:
    """iamd_client/_api.py."""
    out = [
        MARKER.rstrip("\n"),
        '"""The method table shared by `Client` and `AsyncClient`: one entry per RPC, plus pagers.',
        "",
        "Generated by client/scripts/gen_protos.py. Each entry binds a request builder of",
        "`_calls`; see `_binding` for how the same entry becomes a blocking method on `Client`",
        "and a coroutine method on `AsyncClient`. Responses are the generated `iamd.v1` messages.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from iamd_client import _calls as c",
        "from iamd_client._binding import pager, rpc",
        "",
        "",
        "class ApiMethods:",
        '    """One method per RPC (snake_case, keyword-only) and an `iter_*` pager per paginated',
        '    call."""',
        "",
        "    __slots__ = ()",
    ]
    section = ""
    for r in rpcs:
        if r.section != section:
            section = r.section
            out += ["", f"    # ---- {section} ----"]
        out += _call_lines(f"{r.builder} = rpc", [f"c.{r.builder}"], "    ")
    pagers = [r for r in rpcs if r.items is not None]
    if pagers:
        out += ["", "    # ---- Pagers: iterate over the items of every page ----"]
    for r in pagers:
        out += _call_lines(
            f"{r.pager} = pager", [f"c.{r.builder}", f"lambda r: r.{r.items}"], "    "
        )
    return _checked("\n".join(out) + "\n")


def _checked(module: str) -> str:
    """`module`, once every line is known to fit (as ruff check and ruff format want)."""
    for line in module.splitlines():
        if len(line) > WIDTH and not line.endswith("# noqa: E501"):
            raise SystemExit(f"generated line longer than {WIDTH} columns: {line.strip()[:80]}")
    return module
