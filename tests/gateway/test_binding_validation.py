"""PutServiceDefinition with HTTP bindings, against a real server: bindings are stored and
returned, and every invalid one is INVALID_ARGUMENT naming the binding and the reason, with
nothing written."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from iamd.v1 import management_pb2 as pb

from tests.api.management_support import expect_error, unique
from tests.gateway.gateway_support import orders_definition, put_definition
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def test_bindings_are_stored_and_returned(root: Stubs) -> None:
    prefix = unique("orders")
    put_definition(root, orders_definition(prefix))
    got = root.management.GetServiceDefinition(
        pb.GetServiceDefinitionRequest(service_prefix=prefix)
    ).definition
    http = {a.name: [(b.method, b.path, b.resource_type) for b in a.http] for a in got.actions}
    assert http == {
        "GetOrder": [("GET", "/orders/{OrderId}", "")],
        "CancelOrder": [
            ("POST", "/orders/{OrderId}/cancel", ""),
            ("DELETE", "/orders/{OrderId}", ""),
        ],
        "ListOrders": [("GET", "/orders", "")],
    }


def _with(prefix: str, action: int, bindings: list[dict[str, str]]) -> dict[str, Any]:
    definition = copy.deepcopy(orders_definition(prefix))
    definition["Actions"][action]["Http"] = bindings
    return definition


def _refused(root: Stubs, definition: dict[str, Any], field: str, words: str) -> None:
    error = expect_error(lambda: put_definition(root, definition), INVALID, field=field)
    assert words in (error.details() or ""), error.details()


@pytest.mark.parametrize(
    ("bindings", "field", "words"),
    [
        ([{"Method": "GET", "Path": "/orders/{Id}"}], "path", "{Id} is not a variable"),
        ([{"Method": "GET", "Path": "/orders"}], "path", "does not fill ${OrderId}"),
        ([{"Method": "GET", "Path": "/{Account}/orders/{OrderId}"}], "path", "configuration"),
        ([{"Method": "get", "Path": "/orders/{OrderId}"}], "method", "upper case"),
        ([{"Method": "GET", "Path": "orders/{OrderId}"}], "path", "must start with /"),
        ([{"Method": "GET", "Path": "/orders/{OrderId}/"}], "path", "empty segments"),
        ([{"Method": "GET", "Path": "/orders//{OrderId}"}], "path", "empty segments"),
        ([{"Method": "GET", "Path": "/orders/../{OrderId}"}], "path", ". or .."),
        ([{"Method": "GET", "Path": "/orders/{OrderId}?x=1"}], "path", "{Name}"),
        ([{"Method": "GET", "Path": "/orders/id-{OrderId}"}], "path", "whole segment"),
        ([{"Method": "GET", "Path": "/orders/%41/{OrderId}"}], "path", "unreserved"),
        ([{"Method": "GET", "Path": "/o/{OrderId}/{OrderId}"}], "path", "appears twice"),
        ([{"Method": "GET", "Path": "/" + "/".join(["a"] * 33)}], "path", "at most 32"),
        ([{"Method": "GET", "Path": "/orders/{OrderId}", "ResourceType": "invoice"}],
         "resource_type", "not a resource type"),
        ([{"Method": "GET"}], "path", "required"),
    ],
)  # fmt: skip
def test_invalid_bindings_are_refused_by_name(
    root: Stubs, bindings: list[dict[str, str]], field: str, words: str
) -> None:
    prefix = unique("orders")
    _refused(root, _with(prefix, 1, bindings), f"definition.actions[1].http[0].{field}", words)
    expect_error(
        lambda: root.management.GetServiceDefinition(
            pb.GetServiceDefinitionRequest(service_prefix=prefix)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


@pytest.mark.parametrize(
    ("bindings", "other"),
    [
        # Same method and path as GetOrder's.
        ([{"Method": "GET", "Path": "/orders/{OrderId}"}], "actions[0].http[0]"),
        # A literal where GetOrder has a variable: "/orders/search" matches both.
        ([{"Method": "GET", "Path": "/orders/search"}], "actions[0].http[0]"),
        # Variables where CancelOrder has literals and the other way round.
        ([{"Method": "POST", "Path": "/{OrderId}/1/cancel"}], "actions[1].http[0]"),
    ],
)
def test_overlapping_bindings_are_refused(
    root: Stubs, bindings: list[dict[str, str]], other: str
) -> None:
    definition = orders_definition(unique("orders"))
    types = ["order"] if "{" in bindings[0]["Path"] else []
    definition["Actions"].append({"Name": "Extra", "ResourceTypes": types, "Http": bindings})
    error = expect_error(
        lambda: put_definition(root, definition),
        INVALID,
        field="definition.actions[3].http[0].path",
    )
    assert f"overlaps {other}" in (error.details() or ""), error.details()


def test_bindings_that_never_match_one_request_together_are_accepted(root: Stubs) -> None:
    definition = orders_definition(unique("orders"))
    definition["Actions"].append(
        {
            "Name": "Extra",
            "ResourceTypes": ["order"],
            "Http": [
                {"Method": "PUT", "Path": "/orders/{OrderId}"},  # another method
                {"Method": "GET", "Path": "/orders/{OrderId}/lines"},  # another length
                {"Method": "GET", "Path": "/a/{OrderId}/c"},
            ],
        }
    )
    definition["Actions"].append(
        {"Name": "Other", "Http": [{"Method": "GET", "Path": "/a/b/d"}]}  # differs at "d"
    )
    assert put_definition(root, definition) > 0


def test_several_resource_types_need_a_choice(root: Stubs) -> None:
    prefix = unique("orders")
    definition = orders_definition(prefix)
    definition["ResourceTypes"].append(
        {
            "Name": "customer",
            "ArnPattern": f"arn:${{Partition}}:{prefix}::${{Account}}:customer/${{Id}}",
        }
    )
    definition["Actions"][0]["ResourceTypes"] = ["order", "customer"]
    _refused(root, definition, "definition.actions[0].http[0].resource_type", "name one")
    definition["Actions"][0]["Http"][0]["ResourceType"] = "order"
    assert put_definition(root, definition) > 0
    # An action without resource types takes "*": its path can have no variables.
    definition["Actions"][2]["Http"] = [{"Method": "GET", "Path": "/orders/page/{Page}"}]
    _refused(root, definition, "definition.actions[2].http[0].path", "takes no resource")


def test_limits(root: Stubs) -> None:
    many = [{"Method": "GET", "Path": f"/orders/{{OrderId}}/v{n}"} for n in range(21)]
    _refused(root, _with(unique("orders"), 0, many), "definition.actions[0].http", "at most 20")
