"""The route table of HTTP bindings (pure): request targets split and decoded, one binding
matched, resource ARNs built; and, on random tables, the same answers as matching every
binding one by one."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iamd_policy import ActionDefinition, HttpBinding
from iamd_server.gateway.bindings import (
    BindingError,
    MalformedTarget,
    compile_routes,
    parse_template,
    request_segments,
)

ARN = "arn:aws:orders:eu-west-1:111122223333:"
PATTERNS = {
    "order": "arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}",
    "line": "arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}/line/${LineId}",
    "shard": "arn:${Partition}:orders:${Region}-${Shard}:${Account}:shard",
}
ACTIONS = [
    ActionDefinition("ListOrders", http=(HttpBinding("GET", "/orders"),)),
    ActionDefinition("GetOrder", ("order",), http=(HttpBinding("GET", "/orders/{OrderId}"),)),
    ActionDefinition(
        "GetLine", ("line",), http=(HttpBinding("GET", "/orders/{OrderId}/lines/{LineId}"),)
    ),
    ActionDefinition("Search", http=(HttpBinding("GET", "/orders/x/search"),)),
    ActionDefinition("GetShard", ("shard",), http=(HttpBinding("GET", "/shards/{Shard}"),)),
    ActionDefinition("Root", http=(HttpBinding("GET", "/"),)),
]


def _resolve(method: str, target: str) -> tuple[str, str] | None:
    table = compile_routes("orders", ACTIONS, PATTERNS)
    found = table.match(method, request_segments(target))
    if found is None:
        return None
    arn = found.route.resource(
        found.segments, partition="aws", region="eu-west-1", account="111122223333"
    )
    return found.route.action, arn


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/orders", ("orders:ListOrders", "*")),
        ("GET", "/orders?page=2#top", ("orders:ListOrders", "*")),
        ("GET", "/", ("orders:Root", "*")),
        ("GET", "/?x=1", ("orders:Root", "*")),
        ("GET", "/orders/42", ("orders:GetOrder", f"{ARN}order/42")),
        ("GET", "/orders/a%20b", ("orders:GetOrder", f"{ARN}order/a b")),
        ("GET", "/orders/%C3%A9t%C3%A9", ("orders:GetOrder", f"{ARN}order/été")),
        ("GET", "/orders/42/lines/7",
         ("orders:GetLine", f"{ARN}order/42/line/7")),
        ("GET", "/orders/x/search", ("orders:Search", "*")),
        ("GET", "/orders/y/search", None),
        ("GET", "/orders/x/lines/1",
         ("orders:GetLine", f"{ARN}order/x/line/1")),
        ("GET", "/shards/7", ("orders:GetShard", "arn:aws:orders:eu-west-1-7:111122223333:shard")),
        ("HEAD", "/orders/42", None),
        ("get", "/orders/42", None),
        ("GET", "/orders/", None),  # a variable matches one non-empty segment
        ("GET", "/orders//", None),
        ("GET", "//orders", None),
        ("GET", "/Orders/42", None),  # literals are case-sensitive
        ("GET", "/orders/42/lines", None),
        ("GET", "/orders/42/lines/7/extra", None),
    ],
)  # fmt: skip
def test_requests_match_one_binding(
    method: str, target: str, expected: tuple[str, str] | None
) -> None:
    assert _resolve(method, target) == expected


@pytest.mark.parametrize(
    "target",
    [
        "/orders/..", "/orders/.", "/../orders", "/orders/%2E%2e", "/orders/%2e",
        "/orders/a%2fb", "/orders/a%5cb", "/orders/a\\b", "/orders/%0a", "/orders/%7F",
        "/orders/%", "/orders/%4", "/orders/%g1", "/orders/%c3", "/orders/1;v=2",
        "orders", "", "*", "https://example.test/orders",
    ],
)  # fmt: skip
def test_malformed_targets(target: str) -> None:
    with pytest.raises(MalformedTarget):
        request_segments(target)


def test_a_value_cannot_add_arn_parts() -> None:
    # {Shard} sits in the region part: a ":" there would shift the account.
    with pytest.raises(MalformedTarget):
        _resolve("GET", "/shards/x:222233334444")
    # In the resource part a ":" is just a character.
    assert _resolve("GET", "/orders/a:b") == (
        "orders:GetOrder",
        f"{ARN}order/a:b",
    )


def test_templates() -> None:
    assert parse_template("/") == ()
    assert parse_template("/a/{B}/c") == ((False, "a"), (True, "B"), (False, "c"))
    for bad in ("", "a", "/a/", "/a//b", "/{}", "/{a-b}", "/a{B}", "/{B}x", "/a?b", "/%20"):
        with pytest.raises(ValueError):
            parse_template(bad)


def test_patterns_that_name_no_single_resource_cannot_be_bound() -> None:
    actions = [ActionDefinition("Get", ("any",), http=(HttpBinding("GET", "/x/{Id}"),))]
    with pytest.raises(BindingError) as info:
        compile_routes("s", actions, {"any": "arn:${Partition}:s:::thing/*/${Id}"})
    assert info.value.field == "actions[0].http[0].resource_type"


# -- random tables -------------------------------------------------------------------------

SEGMENTS = st.sampled_from(["a", "b", "c", "{V}"])
METHODS = st.sampled_from(["GET", "POST"])


@dataclass(frozen=True)
class _Binding:
    method: str
    path: str
    resource_type: str = ""


@dataclass(frozen=True)
class _Action:
    name: str
    resource_types: tuple[str, ...]
    http: tuple[_Binding, ...]


def _template(segments: list[str]) -> str:
    # Number the variables so each path names distinct ones.
    out, n = [], 0
    for segment in segments:
        if segment == "{V}":
            n += 1
            out.append(f"{{V{n}}}")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _matches(path: str, method: str, request_method: str, segments: tuple[str, ...]) -> bool:
    template = parse_template(path)
    if method != request_method or len(template) != len(segments):
        return False
    return all(
        (bool(s) if variable else text == s)
        for (variable, text), s in zip(template, segments, strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(METHODS, st.lists(SEGMENTS, max_size=4)), min_size=1, max_size=8),
    st.lists(st.tuples(METHODS, st.lists(st.sampled_from(["a", "b", "c", "d", ""]), max_size=4)),
             min_size=1, max_size=10),
)  # fmt: skip
def test_the_table_agrees_with_matching_one_by_one(
    bindings: list[tuple[str, list[str]]], requests: list[tuple[str, list[str]]]
) -> None:
    actions = []
    patterns = {}
    for n, (method, shape) in enumerate(bindings):
        path = _template(shape)
        variables = [t for v, t in parse_template(path) if v]
        if variables:
            patterns[f"t{n}"] = "arn:aws:s:::x/" + "/".join(f"${{{v}}}" for v in variables)
        types = (f"t{n}",) if variables else ()
        actions.append(_Action(f"A{n}", types, (_Binding(method, path),)))
    overlapping = any(
        _witness(a.http[0], b.http[0]) for i, a in enumerate(actions) for b in actions[:i]
    )
    try:
        table = compile_routes("s", actions, patterns)
    except BindingError as exc:
        # Refused exactly when some request matches two bindings.
        assert "overlaps" in exc.reason and overlapping
        return
    assert not overlapping
    for method, parts in requests:
        request = tuple(parts)
        expected = [
            a.name for a in actions if _matches(a.http[0].path, a.http[0].method, method, request)
        ]
        found = table.match(method, request)
        assert (found.route.action.split(":")[1] if found else None) == (
            expected[0] if expected else None
        )


def _witness(first: _Binding, second: _Binding) -> bool:
    """Whether one request, made from the two templates, matches both."""
    a, b = parse_template(first.path), parse_template(second.path)
    if first.method != second.method or len(a) != len(b):
        return False
    request = tuple(
        x if not vx else y if not vy else "z" for (vx, x), (vy, y) in zip(a, b, strict=True)
    )
    return _matches(first.path, first.method, first.method, request) and _matches(
        second.path, second.method, first.method, request
    )
