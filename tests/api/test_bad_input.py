"""Garbage in: every RPC answers with a clear client error, never INTERNAL, and writes nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import message, message_factory
from google.protobuf.descriptor import FieldDescriptor
from iamd.v1 import authorization_pb2, management_pb2, sts_pb2, types_pb2

from tests.api.management_support import expect_error, unique
from tests.harness import ServerProcess, Stubs, stubs

# Values that have broken services before: NUL (PostgreSQL text cannot hold it), huge or
# empty strings, wildcards, lookalike ARNs, quoting, non-ASCII and malformed JSON.
NASTY = (
    "",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "é",
    "\U0001f600",
    " ",
    "*",
    "arn:aws:iam::123456789012:user/x",
    "arn:aws:iam::123456789012:root",
    "'; DROP TABLE iamd_users;--",
    "%s%s",
    "{",
    '{"Version":"2012-10-17","Statement":[]}',
    "123456789012",
    "AKIAAAAAAAAAAAAAAAAA",
    "/",
    "//",
)
INTEGERS = (0, -1, 1, 2**31 - 1, -(2**31), 900, 43200)
# A revision far ahead makes Authorize wait for it until the deadline: a documented
# UNAVAILABLE, not an error of the kind this test looks for.
SKIPPED_FIELDS = frozenset({"at_least_revision"})


def _fill(msg: message.Message, rng: random.Random, depth: int = 0) -> None:
    for field in msg.DESCRIPTOR.fields:
        if field.name in SKIPPED_FIELDS or rng.random() < 0.3:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            nested = field.message_type
            if depth > 3 or nested is None or nested.full_name.startswith("google.protobuf"):
                continue
            if nested.GetOptions().map_entry:
                continue
            if field.is_repeated:
                for _ in range(rng.randint(0, 3)):
                    _fill(getattr(msg, field.name).add(), rng, depth + 1)
            else:
                _fill(getattr(msg, field.name), rng, depth + 1)
            continue
        values = [_value(field, rng) for _ in range(2 if field.is_repeated else 1)]
        if values[0] is None:
            continue
        try:
            if field.is_repeated:
                getattr(msg, field.name).extend(values)
            else:
                setattr(msg, field.name, values[0])
        except (TypeError, ValueError):
            continue


def _value(field: Any, rng: random.Random) -> object:  # a (upb) FieldDescriptor
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(NASTY)
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        return rng.choice(INTEGERS)
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64):
        return rng.choice((0, 1, 2**32 - 1))
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return rng.choice([v.number for v in field.enum_type.values] + [99])
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.choice((b"", b"\x00\xff"))
    return None


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    try:
        yield client
    finally:
        client.close()


def _rpcs() -> list[tuple[str, str]]:
    out = []
    for module, service in (
        (management_pb2, "ManagementService"),
        (authorization_pb2, "AuthorizationService"),
        (sts_pb2, "StsService"),
    ):
        for method in module.DESCRIPTOR.services_by_name[service].methods:
            out.append((service, method.name))
    return out


@pytest.mark.parametrize(("service", "rpc"), _rpcs())
def test_garbage_never_breaks_an_rpc(root: Stubs, service: str, rpc: str) -> None:
    module = {
        "ManagementService": management_pb2,
        "AuthorizationService": authorization_pb2,
        "StsService": sts_pb2,
    }[service]
    method = module.DESCRIPTOR.services_by_name[service].methods_by_name[rpc]
    request_class = message_factory.GetMessageClass(method.input_type)
    stub = {
        "ManagementService": root.management,
        "AuthorizationService": root.authorization,
        "StsService": root.sts,
    }[service]
    rng = random.Random(f"{service}/{rpc}")
    for _ in range(6):
        request = request_class()
        _fill(request, rng)
        try:
            getattr(stub, rpc)(request, timeout=10)
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)
            assert error.code() not in (
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            ), f"{rpc}: {error.code()} {error.details()} for {request}"


def test_nul_characters_are_named_and_nothing_is_written(root: Stubs) -> None:
    name = unique("nul")
    expect_error(
        lambda: root.management.CreateUser(
            management_pb2.CreateUserRequest(user_name=name + "\x00")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="user_name",
    )
    expect_error(
        lambda: root.management.CreateUser(
            management_pb2.CreateUserRequest(
                user_name=name,
                tags=[types_pb2.Tag(key="team", value="a"), types_pb2.Tag(key="x\x00", value="b")],
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="tags[1].key",
    )
    # Names that reach PostgreSQL without a format check are caught before it, by field.
    expect_error(
        lambda: root.management.DetachServiceControlPolicy(
            management_pb2.DetachServiceControlPolicyRequest(policy_id="p-\x00", target_id="r")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="policy_id",
    )
    listed = root.management.ListUsers(management_pb2.ListUsersRequest(max_items=1000))
    assert name not in {user.user_name for user in listed.users}
