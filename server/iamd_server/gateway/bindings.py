"""HTTP bindings of service actions: path templates, their validation, and the route table
that maps a request to one action and resource ARN.

A binding is a method and a path template ("/orders/{OrderId}"): each "/"-separated segment
is a literal or a whole-segment variable, which matches exactly one non-empty segment. No two
bindings of a service may match one request (checked when the definition is written), so a
request matches at most one. Matching uses no regex and never backtracks: bindings are
grouped by method and segment count, and each segment narrows a bitset of candidates with
one dict lookup, so a match costs one pass over the request's segments.
"""

from __future__ import annotations

import string
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_BINDINGS_PER_ACTION = 20
MAX_BINDINGS_PER_SERVICE = 2000
MAX_SEGMENTS = 32
MAX_TEMPLATE_LENGTH = 1024
MAX_METHOD_LENGTH = 20
# ARN variables a gateway fills from its route configuration, never from the path.
CONFIGURED = frozenset({"Partition", "Region", "Account"})
# Literal template characters: RFC 3986 unreserved and sub-delimiters, ":" and "@", without
# ";" (path parameters, which some servers strip before routing).
_LITERAL = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,=:@")
_NAME = frozenset(string.ascii_letters + string.digits + "_")
_METHOD = frozenset(string.ascii_uppercase)
_HEX = frozenset(string.hexdigits)


class BindingError(ValueError):
    """An invalid binding; ``field`` is its path within the definition, e.g.
    ``actions[1].http[0].path``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MalformedTarget(ValueError):
    """A request target no well-behaved client sends: dot segments, bad percent-encoding,
    encoded slashes or control characters, path parameters."""


class BindingLike(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def resource_type(self) -> str: ...


class ActionLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def resource_types(self) -> tuple[str, ...]: ...
    @property
    def http(self) -> Sequence[BindingLike]: ...


@dataclass(frozen=True, slots=True)
class ArnTemplate:
    """An ARN pattern split into literal text and variables."""

    pieces: tuple[tuple[bool, str], ...]  # (is a variable, literal text or variable name)
    variables: frozenset[str]
    # Variables within the first five ":"-separated parts, where a value must not add a ":".
    head_variables: frozenset[str]

    def build(self, values: Mapping[str, str]) -> str:
        return "".join(values[text] if variable else text for variable, text in self.pieces)


def parse_arn_pattern(pattern: str) -> ArnTemplate:
    """`arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}` -> pieces; ValueError
    for an unclosed or empty variable, or a `*` (such a pattern names no single resource)."""
    pieces: list[tuple[bool, str]] = []
    head: set[str] = set()
    position = 0
    while True:
        start = pattern.find("${", position)
        literal = pattern[position:] if start < 0 else pattern[position:start]
        if "*" in literal:
            raise ValueError("its ARN pattern contains * and cannot name one resource")
        if literal:
            pieces.append((False, literal))
        if start < 0:
            break
        end = pattern.find("}", start)
        name = pattern[start + 2 : end] if end >= 0 else ""
        if not name or not set(name) <= _NAME:
            raise ValueError("its ARN pattern has a malformed ${...} variable")
        pieces.append((True, name))
        if pattern.count(":", 0, start) < 5:
            head.add(name)
        position = end + 1
    return ArnTemplate(tuple(pieces), frozenset(t for v, t in pieces if v), frozenset(head))


def parse_template(path: str) -> tuple[tuple[bool, str], ...]:
    """A path template -> its segments as (is a variable, literal text or variable name)."""
    if not path.startswith("/"):
        raise ValueError("must start with /")
    if len(path) > MAX_TEMPLATE_LENGTH:
        raise ValueError(f"must be at most {MAX_TEMPLATE_LENGTH} characters")
    if path == "/":
        return ()
    parts = path[1:].split("/")
    if len(parts) > MAX_SEGMENTS:
        raise ValueError(f"must have at most {MAX_SEGMENTS} segments")
    segments: list[tuple[bool, str]] = []
    seen: set[str] = set()
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if not name or not set(name) <= _NAME:
                raise ValueError(f"variable {part!r} must be {{Name}} with Name of [A-Za-z0-9_]")
            if name in seen:
                raise ValueError(f"variable {{{name}}} appears twice")
            seen.add(name)
            segments.append((True, name))
        elif not part:
            raise ValueError("must not have empty segments (// or a trailing /)")
        elif part in (".", ".."):
            raise ValueError("must not have . or .. segments")
        elif not set(part) <= _LITERAL:
            raise ValueError(
                f"segment {part[:64]!r}: a literal is made of unreserved characters and"
                " !$&'()*+,=:@, and a variable is a whole segment {Name}"
            )
        else:
            segments.append((False, part))
    return tuple(segments)


@dataclass(frozen=True, slots=True)
class Route:
    """One binding, compiled: what a matching request is."""

    action: str  # "orders:GetOrder"
    method: str
    template: str
    # (segment index, variable name) of each path variable.
    positions: tuple[tuple[int, str], ...]
    arn: ArnTemplate | None  # None: the action takes no resource (authorized on "*")

    def resource(
        self, segments: Sequence[str], *, partition: str, region: str, account: str
    ) -> str:
        """The resource ARN a matched request names (MalformedTarget for a value that would
        change the ARN's shape)."""
        arn = self.arn
        if arn is None:
            return "*"
        values = {"Partition": partition, "Region": region, "Account": account}
        for index, name in self.positions:
            value = segments[index]
            if ":" in value and name in arn.head_variables:
                raise MalformedTarget(f"the path segment for {{{name}}} must not contain ':'")
            values[name] = value
        return arn.build(values)


class _Group:
    """The routes of one method and segment count, indexed by position."""

    __slots__ = ("all", "literals", "routes", "variables")

    def __init__(self, size: int) -> None:
        self.literals: list[dict[str, int]] = [{} for _ in range(size)]
        self.variables = [0] * size  # bitset of routes with a variable at each position
        self.routes: list[Route] = []
        self.all = 0

    def overlapping(self, segments: Sequence[tuple[bool, str]]) -> int:
        """Bitset of routes that match some request these segments match."""
        candidates = self.all
        for index, (variable, text) in enumerate(segments):
            if not variable:  # a variable matches what any route's segment matches
                candidates &= self.literals[index].get(text, 0) | self.variables[index]
                if not candidates:
                    break
        return candidates

    def add(self, route: Route, segments: Sequence[tuple[bool, str]]) -> None:
        bit = 1 << len(self.routes)
        self.routes.append(route)
        self.all |= bit
        for index, (variable, text) in enumerate(segments):
            if variable:
                self.variables[index] |= bit
            else:
                literals = self.literals[index]
                literals[text] = literals.get(text, 0) | bit


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    segments: tuple[str, ...]


class RouteTable:
    """The compiled bindings of one service (see `compile_routes`)."""

    __slots__ = ("_groups", "_written")

    def __init__(self) -> None:
        self._groups: dict[tuple[str, int], _Group] = {}
        self._written: dict[int, tuple[str, str]] = {}  # id(route) -> (field, "GET /path")

    def __len__(self) -> int:
        return sum(len(g.routes) for g in self._groups.values())

    def match(self, method: str, segments: tuple[str, ...]) -> Match | None:
        """The one route matching the request, or None. Linear in the segments."""
        group = self._groups.get((method, len(segments)))
        if group is None:
            return None
        candidates = group.all
        literals = group.literals
        variables = group.variables
        for index, segment in enumerate(segments):
            allowed = literals[index].get(segment, 0)
            if segment:  # a variable matches one non-empty segment
                allowed |= variables[index]
            candidates &= allowed
            if not candidates:
                return None
        if candidates & (candidates - 1):
            return None  # two routes: validation forbids it; fail closed all the same
        return Match(group.routes[candidates.bit_length() - 1], segments)


def compile_routes(
    prefix: str, actions: Sequence[ActionLike], arn_patterns: Mapping[str, str]
) -> RouteTable:
    """Validates every binding of a service and compiles them; BindingError names the first
    invalid one (``actions[i].http[j].field``)."""
    table = RouteTable()
    templates: dict[str, ArnTemplate | ValueError] = {}
    for name, pattern in arn_patterns.items():
        try:
            templates[name] = parse_arn_pattern(pattern)
        except ValueError as exc:
            templates[name] = exc
    total = 0
    for a, action in enumerate(actions):
        bindings = action.http
        if len(bindings) > MAX_BINDINGS_PER_ACTION:
            raise BindingError(
                f"actions[{a}].http", f"at most {MAX_BINDINGS_PER_ACTION} bindings per action"
            )
        total += len(bindings)
        if total > MAX_BINDINGS_PER_SERVICE:
            raise BindingError(
                f"actions[{a}].http", f"at most {MAX_BINDINGS_PER_SERVICE} bindings per service"
            )
        types = tuple(dict.fromkeys(t.rstrip("*") for t in action.resource_types))
        for b, binding in enumerate(bindings):
            field = f"actions[{a}].http[{b}]"
            route, segments = _compile_one(prefix, action.name, types, binding, templates, field)
            key = (route.method, len(segments))
            group = table._groups.get(key)
            if group is None:
                group = table._groups[key] = _Group(len(segments))
            clash = group.overlapping(segments)
            if clash:
                other = group.routes[(clash & -clash).bit_length() - 1]
                where, shape = table._written[id(other)]
                raise BindingError(
                    f"{field}.path",
                    f"{binding.method} {binding.path} overlaps {where} ({shape}):"
                    " some requests match both",
                )
            group.add(route, segments)
            table._written[id(route)] = (field, f"{binding.method} {binding.path}")
    return table


def _compile_one(
    prefix: str,
    action: str,
    types: tuple[str, ...],
    binding: BindingLike,
    templates: Mapping[str, ArnTemplate | ValueError],
    field: str,
) -> tuple[Route, tuple[tuple[bool, str], ...]]:
    method = binding.method
    if not (0 < len(method) <= MAX_METHOD_LENGTH and set(method) <= _METHOD):
        raise BindingError(f"{field}.method", "must be an HTTP method in upper case, e.g. GET")
    try:
        segments = parse_template(binding.path)
    except ValueError as exc:
        raise BindingError(f"{field}.path", str(exc)) from None
    variables = [text for variable, text in segments if variable]
    type_name = binding.resource_type
    if type_name and type_name not in types:
        raise BindingError(
            f"{field}.resource_type", f"{type_name!r} is not a resource type of {action}"
        )
    if not type_name and len(types) > 1:
        raise BindingError(
            f"{field}.resource_type", f"{action} has several resource types: name one"
        )
    if not type_name and types:
        type_name = types[0]
    arn: ArnTemplate | None = None
    if type_name:
        template = templates.get(type_name)
        if template is None or isinstance(template, ValueError):
            reason = str(template) if template is not None else "is not defined"
            raise BindingError(f"{field}.resource_type", f"resource type {type_name!r}: {reason}")
        arn = template
        for name in variables:
            if name in CONFIGURED:
                raise BindingError(
                    f"{field}.path",
                    f"{{{name}}} comes from the gateway's configuration, not from the path",
                )
            if name not in arn.variables:
                raise BindingError(
                    f"{field}.path",
                    f"{{{name}}} is not a variable of the ARN pattern of {type_name!r}",
                )
        missing = sorted(arn.variables - CONFIGURED - set(variables))
        if missing:
            raise BindingError(
                f"{field}.path",
                f"the path does not fill ${{{missing[0]}}} of the ARN pattern of {type_name!r}",
            )
    elif variables:
        raise BindingError(
            f"{field}.path",
            f"{action} takes no resource, so the path can have no variables",
        )
    positions = tuple((i, text) for i, (variable, text) in enumerate(segments) if variable)
    route = Route(f"{prefix}:{action}", method, binding.path, positions, arn)
    return route, segments


def request_segments(target: str) -> tuple[str, ...]:
    """The percent-decoded segments of a request target's path (query and fragment are not
    part of it); MalformedTarget for what no well-behaved client sends. Linear in the target;
    the caller bounds its length."""
    if not target.startswith("/"):
        raise MalformedTarget("the request target must be a path starting with /")
    end = len(target)
    for separator in "?#":
        found = target.find(separator, 0, end)
        if found >= 0:
            end = found
    if end == 1:
        return ()
    segments: list[str] = []
    for raw in target[1:end].split("/"):
        if ";" in raw:
            raise MalformedTarget("path parameters (;) are not accepted")
        segment = _decode(raw) if "%" in raw else raw
        if segment in (".", ".."):
            raise MalformedTarget("the path must not have . or .. segments")
        for character in segment:
            if character in "/\\" or character < " " or character == "\x7f":
                raise MalformedTarget(
                    "a path segment must not hold /, \\ or control characters once decoded"
                )
        segments.append(segment)
    return tuple(segments)


def _decode(raw: str) -> str:
    index = raw.find("%")
    while index >= 0:
        if index + 2 >= len(raw) or raw[index + 1] not in _HEX or raw[index + 2] not in _HEX:
            raise MalformedTarget("the path has a malformed percent-encoding")
        index = raw.find("%", index + 3)
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedTarget("the path is not UTF-8 once percent-decoded") from None
