"""Manage API: service definitions (built-in read-only ones and custom ones)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import types_pb2

from tests.api.management_support import document, expect_error, new_member_account, new_user
from tests.harness import ServerProcess, Stubs, stubs

BUILT_IN = {"iam", "iamd", "kms", "organizations", "sts"}


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def _prefix() -> str:
    return "svc-" + secrets.token_hex(4)


def _definition(prefix: str) -> types_pb2.ServiceDefinition:
    return types_pb2.ServiceDefinition(
        service_prefix=prefix,
        actions=[
            types_pb2.ServiceAction(
                name="GetWidget", resource_types=["widget"], condition_keys=[f"{prefix}:color"]
            ),
            types_pb2.ServiceAction(name="ListWidgets"),
        ],
        resource_types=[
            types_pb2.ServiceResourceType(
                name="widget",
                arn_pattern=f"arn:${{Partition}}:{prefix}::${{Account}}:widget/${{WidgetId}}",
            )
        ],
        condition_keys=[types_pb2.ServiceConditionKey(name=f"{prefix}:color", type="String")],
    )


def test_custom_definition_lifecycle(root: Stubs) -> None:
    m = root.management
    prefix = _prefix()
    put = m.PutServiceDefinition(pb.PutServiceDefinitionRequest(definition=_definition(prefix)))
    assert put.revision > 0
    got = m.GetServiceDefinition(pb.GetServiceDefinitionRequest(service_prefix=prefix)).definition
    assert got.service_prefix == prefix and not got.built_in
    assert [a.name for a in got.actions] == ["GetWidget", "ListWidgets"]
    assert list(got.actions[0].resource_types) == ["widget"]
    assert got.resource_types[0].arn_pattern.endswith(":widget/${WidgetId}")
    assert [(k.name, k.type) for k in got.condition_keys] == [(f"{prefix}:color", "String")]

    # Replacing keeps one definition per prefix.
    changed = _definition(prefix)
    del changed.actions[1]
    again = m.PutServiceDefinition(pb.PutServiceDefinitionRequest(definition=changed))
    assert again.revision > put.revision
    got = m.GetServiceDefinition(pb.GetServiceDefinitionRequest(service_prefix=prefix)).definition
    assert [a.name for a in got.actions] == ["GetWidget"]

    deleted = m.DeleteServiceDefinition(pb.DeleteServiceDefinitionRequest(service_prefix=prefix))
    assert deleted.revision > again.revision
    expect_error(
        lambda: m.GetServiceDefinition(pb.GetServiceDefinitionRequest(service_prefix=prefix)),
        grpc.StatusCode.NOT_FOUND,
    )
    expect_error(
        lambda: m.DeleteServiceDefinition(pb.DeleteServiceDefinitionRequest(service_prefix=prefix)),
        grpc.StatusCode.NOT_FOUND,
    )


def test_built_in_definitions_are_listed_and_read_only(root: Stubs) -> None:
    m = root.management
    iam = m.GetServiceDefinition(pb.GetServiceDefinitionRequest(service_prefix="iam")).definition
    assert iam.built_in and "CreateUser" in {a.name for a in iam.actions}
    expect_error(
        lambda: m.PutServiceDefinition(
            pb.PutServiceDefinitionRequest(definition=_definition("iam"))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    expect_error(
        lambda: m.DeleteServiceDefinition(pb.DeleteServiceDefinitionRequest(service_prefix="kms")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    custom = [_prefix() for _ in range(3)]
    for prefix in custom:
        m.PutServiceDefinition(pb.PutServiceDefinitionRequest(definition=_definition(prefix)))
    seen: list[types_pb2.ServiceDefinition] = []
    marker = ""
    while True:
        page = m.ListServiceDefinitions(
            pb.ListServiceDefinitionsRequest(marker=marker, max_items=2)
        )
        assert len(page.definitions) <= 2
        seen.extend(page.definitions)
        if not page.is_truncated:
            break
        marker = page.marker
    prefixes = [d.service_prefix for d in seen]
    assert prefixes == sorted(prefixes) and len(prefixes) == len(set(prefixes))
    assert BUILT_IN | set(custom) <= set(prefixes)
    assert {d.service_prefix for d in seen if d.built_in} == BUILT_IN


def test_service_definition_validation(root: Stubs) -> None:
    m = root.management
    bad = _definition(_prefix())
    bad.actions[0].resource_types.append("gadget")
    expect_error(
        lambda: m.PutServiceDefinition(pb.PutServiceDefinitionRequest(definition=bad)),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="definition.actions[0].resource_types",
    )
    expect_error(
        lambda: m.PutServiceDefinition(
            pb.PutServiceDefinitionRequest(definition=_definition("Bad Prefix"))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="definition.service_prefix",
    )
    expect_error(
        lambda: m.GetServiceDefinition(pb.GetServiceDefinitionRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="service_prefix",
    )


def test_only_the_management_account_changes_definitions(
    root: Stubs, server: ServerProcess
) -> None:
    _, member = new_member_account(root, server.endpoint)
    _, reader = new_user(root, server.endpoint, policy=document("iamd:GetServiceDefinition"))
    _, writer = new_user(root, server.endpoint, policy=document("iamd:*"))
    try:
        expect_error(
            lambda: member.management.PutServiceDefinition(
                pb.PutServiceDefinitionRequest(definition=_definition(_prefix()))
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        # Reading the catalog is an ordinary permission in one's own account.
        got = member.management.GetServiceDefinition(
            pb.GetServiceDefinitionRequest(service_prefix="sts")
        )
        assert got.definition.built_in
        assert reader.management.GetServiceDefinition(
            pb.GetServiceDefinitionRequest(service_prefix="sts")
        ).definition.built_in
        expect_error(
            lambda: reader.management.ListServiceDefinitions(pb.ListServiceDefinitionsRequest()),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        prefix = _prefix()
        writer.management.PutServiceDefinition(
            pb.PutServiceDefinitionRequest(definition=_definition(prefix))
        )
        writer.management.DeleteServiceDefinition(
            pb.DeleteServiceDefinitionRequest(service_prefix=prefix)
        )
    finally:
        member.close()
        reader.close()
        writer.close()
