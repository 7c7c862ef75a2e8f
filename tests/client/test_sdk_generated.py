"""The SDK's builders and method table are generated from the protos, and cannot drift.

- every RPC of every service in proto/iamd/v1 has a builder, a Client method, and a retry
  decision equal to its `idempotency_level` option, read from the .proto sources here;
- the retry decisions themselves are pinned by verb (reads retried, creations sent once, ...);
- `gen_protos.py --check` fails when a generated file is edited by hand (run on a copy);
- a new proto file's service gets builders, Client methods and pagers with nothing written
  by hand, and the generated code is ruff-clean and mypy --strict-clean.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc_tools  # type: ignore[import-untyped]
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorSet, MethodOptions
from google.protobuf.message_factory import GetMessageClass
from iamd.v1 import authorization_pb2, management_pb2, types_pb2
from iamd_client import Client, _calls
from iamd_client._binding import rpc
from iamd_client._call import Call, is_idempotent, make_call
from iamd_client._convert import snake

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
RETRIED = (MethodOptions.NO_SIDE_EFFECTS, MethodOptions.IDEMPOTENT)


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Full method name -> idempotency_level, compiled here from the .proto sources."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out = tmp_path_factory.mktemp("descriptors") / "api.binpb"
    files = sorted(p.relative_to(PROTO).as_posix() for p in (PROTO / "iamd" / "v1").glob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO}",
            f"--proto_path={well_known}",
            f"--descriptor_set_out={out}",
            *files,
        ],
        check=True,
    )
    found: dict[str, int] = {}
    for file in FileDescriptorSet.FromString(out.read_bytes()).file:
        for service in file.service:
            for method in service.method:
                if method.client_streaming or method.server_streaming:
                    continue  # streams (Watch) have no request/response builder
                full = f"/{file.package}.{service.name}/{method.name}"
                found[full] = method.options.idempotency_level
    return found


def _method(full: str) -> MethodDescriptor:
    service, rpc = full.lstrip("/").split("/")
    return descriptor_pool.Default().FindServiceByName(service).methods_by_name[rpc]


def _sample(field: FieldDescriptor) -> Any:
    """Some valid value of a request field, for a required argument."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        value: Any = GetMessageClass(field.message_type)()
    elif field.type == FieldDescriptor.TYPE_ENUM:
        value = 1
    elif field.type == FieldDescriptor.TYPE_BOOL:
        value = True
    elif field.type == FieldDescriptor.TYPE_STRING:
        value = "x"
    else:
        value = 1
    return [value] if field.is_repeated else value


def _build(full: str) -> Call[Any]:
    """The generated builder of `full`, called with a value for each required argument."""
    method = _method(full)
    build = getattr(_calls, snake(method.name))
    fields = method.input_type.fields_by_name
    required = {
        name: _sample(fields[name])
        for name, p in inspect.signature(build).parameters.items()
        if p.default is inspect.Parameter.empty
    }
    call: Call[Any] = build(**required)
    return call


def test_every_rpc_has_a_builder_and_a_client_method(levels: dict[str, int]) -> None:
    assert len(levels) > 100
    for full in levels:
        name = snake(full.rsplit("/", 1)[-1])
        assert callable(getattr(_calls, name, None)), full
        assert isinstance(inspect.getattr_static(Client, name), rpc), full
        call = _build(full)
        assert call.method == full
        assert type(call.request).DESCRIPTOR is _method(full).input_type


def test_retry_table_matches_the_proto_options(levels: dict[str, int]) -> None:
    for full, level in levels.items():
        retried = level in RETRIED
        assert _build(full).idempotent is retried, full
        assert is_idempotent(full) is retried, full
        method = _method(full)
        generic = make_call(
            method.containing_service.full_name,
            method.name,
            GetMessageClass(method.input_type)(),
            GetMessageClass(method.output_type),
        )
        assert generic.idempotent is retried, full
        # The docstring says so too (Client methods carry it).
        doc = getattr(Client, snake(method.name)).__doc__ or ""
        assert ("Not retried" not in doc) is retried, full
    assert not is_idempotent("/iamd.v1.ManagementService/NoSuchRpc")
    assert not is_idempotent("/iamd.v1.NoSuchService/GetUser")


def _rpcs(levels: dict[str, int], *prefixes: str) -> Iterator[tuple[str, int]]:
    for full, level in levels.items():
        if full.rsplit("/", 1)[-1].startswith(prefixes):
            yield full, level


def test_retry_decisions_by_verb(levels: dict[str, int]) -> None:
    reads = ("Get", "List", "Describe", "Simulate", "Authorize")
    once = ("Create", "AssumeRole", "GetSessionToken", "Login", "Revoke", "UpdateLoginProfile")
    writes = ("Put", "Update", "Set", "Delete", "Attach", "Detach", "Tag", "Untag", "Add", "Remove")
    for full, level in _rpcs(levels, *once):
        assert level not in RETRIED, f"{full}: a repeat would create twice or differ"
    for full, level in _rpcs(levels, *reads):
        if not full.endswith(once):
            assert level == MethodOptions.NO_SIDE_EFFECTS, full
    for full, level in _rpcs(levels, *writes):
        if not full.endswith(once):
            assert level == MethodOptions.IDEMPOTENT, full
    assert levels["/iamd.v1.ManagementService/MoveAccount"] == MethodOptions.IDEMPOTENT


def test_unsigned_calls(levels: dict[str, int]) -> None:
    unsigned = [full for full in levels if not _build(full).signed]
    assert unsigned == [
        "/iamd.v1.StsService/AssumeRoleWithWebIdentity",
        "/iamd.v1.StsService/Login",
    ]


def test_arguments_follow_the_field_types() -> None:
    created = _calls.create_user(user_name="u", tags={"team": "a"}).request
    assert isinstance(created, management_pb2.CreateUserRequest)
    assert [(t.key, t.value) for t in created.tags] == [("team", "a")]
    updated = _calls.update_access_key(access_key_id="AKIA", status="inactive").request
    assert isinstance(updated, management_pb2.UpdateAccessKeyRequest)
    assert updated.status == types_pb2.ACCESS_KEY_STATUS_INACTIVE
    listed = _calls.list_policies(scope="Local").request
    assert isinstance(listed, management_pb2.ListPoliciesRequest)
    assert listed.scope == management_pb2.POLICY_SCOPE_LOCAL
    with pytest.raises(ValueError, match="expected one of: Active, Inactive"):
        _calls.update_access_key(access_key_id="AKIA", status="paused")
    decided = _calls.authorize(action="s3:GetObject", context={"aws:SecureTransport": True})
    assert isinstance(decided.request, authorization_pb2.AuthorizeRequest)
    (entry,) = decided.request.context
    assert (entry.key, list(entry.values)) == ("aws:SecureTransport", ["true"])
    renamed = _calls.update_user(user_name="u").request
    assert isinstance(renamed, management_pb2.UpdateUserRequest)
    assert not renamed.HasField("new_user_name")


# ---- the generator, run on a copy of the repository ---------------------------------------


def _copy(tmp: Path) -> Path:
    root = tmp / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(PROTO, root / "proto", ignore=ignore)
    for part in ("iamd", "iamd_client", "iamd_policy", "scripts"):
        shutil.copytree(ROOT / "client" / part, root / "client" / part, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _gen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "client" / "scripts" / "gen_protos.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("gen"))


def test_check_passes_on_the_committed_files(copy: Path) -> None:
    result = _gen(copy, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        # A hand-edited builder: another default.
        ("client/iamd_client/_calls.py", 'path: str = "",', 'path: str = "/",'),
        # A hand-edited method table: one method less.
        ("client/iamd_client/_api.py", "    login = rpc(c.login)\n", ""),
    ],
)
def test_check_fails_when_a_generated_file_is_edited(
    tmp_path: Path, path: str, old: str, new: str
) -> None:
    root = _copy(tmp_path)
    edited = root / path
    text = edited.read_text(encoding="utf-8")
    assert old in text
    edited.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = _gen(root, "--check")
    assert result.returncode == 1
    assert f"  {path}" in result.stdout.splitlines()
    # Regenerating restores the file.
    assert _gen(root).returncode == 0
    assert edited.read_text(encoding="utf-8") == text


EXAMPLE_PROTO = """\
syntax = "proto3";

package iamd.v1;

import "google/protobuf/timestamp.proto";
import "iamd/v1/types.proto";

// An example service, as another team would add one.
service ExampleService {
  // Read an example.
  rpc GetExample(GetExampleRequest) returns (GetExampleResponse) {
    option idempotency_level = NO_SIDE_EFFECTS;
  }
  // List examples.
  rpc ListExamples(ListExamplesRequest) returns (ListExamplesResponse) {
    option idempotency_level = NO_SIDE_EFFECTS;
  }
  // Start an example (each call starts another).
  rpc StartExample(StartExampleRequest) returns (StartExampleResponse);
}

// Request of GetExample.
message GetExampleRequest {
  // Required. The example's id.
  string example_id = 1;
}

// Response of GetExample.
message GetExampleResponse {
  // The name.
  string name = 1;
}

// Request of ListExamples.
message ListExamplesRequest {
  // Opaque pagination marker; empty = first page.
  string marker = 1;
  // Page size; 0 = default.
  int32 max_items = 2;
}

// Response of ListExamples.
message ListExamplesResponse {
  // The ids.
  repeated string example_ids = 1;
  // More follow.
  bool is_truncated = 2;
  // Next page.
  string marker = 3;
}

// Request of StartExample. Fields of every kind.
message StartExampleRequest {
  // How the example runs.
  enum Mode {
    MODE_UNSPECIFIED = 0;
    MODE_FAST = 1;
  }
  // Required. When it starts.
  google.protobuf.Timestamp start_time = 1;
  // Labels.
  map<string, string> labels = 2;
  // The mode; UNSPECIFIED = fast.
  Mode mode = 3;
  // Statuses to watch.
  repeated AccessKeyStatus statuses = 4;
  // Tags.
  repeated Tag tags = 5;
  // Optional weight.
  optional double weight = 6;
  // A field named like a Python keyword.
  string from = 7;
  oneof target {
    // A user.
    string user_name = 8;
    // A role.
    string role_name = 9;
  }
  // Raw bytes.
  bytes payload = 10;
}

// Response of StartExample.
message StartExampleResponse {}
"""

EXAMPLE_USE = """\
import datetime
from iamd_client import Client, _calls as c
from iamd_client._api import ApiMethods

got = c.get_example(example_id="e-1")
assert got.method == "/iamd.v1.ExampleService/GetExample" and got.idempotent
started = c.start_example(
    start_time=datetime.datetime(2030, 1, 2, tzinfo=datetime.timezone.utc),
    labels={"a": "b"},
    mode="fast",
    statuses=["Active", 2],
    tags={"k": "v"},
    weight=0.5,
    from_="here",
    role_name="r",
    payload=b"\\x00",
)
request = started.request
assert not started.idempotent
assert request.start_time.ToJsonString() == "2030-01-02T00:00:00Z"
assert dict(request.labels) == {"a": "b"} and request.mode == 1
assert list(request.statuses) == [1, 2] and request.tags[0].key == "k"
assert request.weight == 0.5 and getattr(request, "from") == "here"
assert request.WhichOneof("target") == "role_name" and request.payload == b"\\x00"
assert not c.start_example(start_time=datetime.datetime.now()).request.HasField("weight")
assert hasattr(Client, "start_example") and hasattr(ApiMethods, "iter_examples")
assert "Required. When it starts." in (c.start_example.__doc__ or "")
print("ok")
"""


def test_a_new_proto_file_is_generated_without_hand_work(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "proto" / "iamd" / "v1" / "example.proto").write_text(EXAMPLE_PROTO, "utf-8")
    result = _gen(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _gen(root, "--check").returncode == 0
    generated = [root / "client" / "iamd_client" / n for n in ("_calls.py", "_api.py")]
    tools = Path(sys.executable).parent
    for check in (["ruff", "check"], ["ruff", "format", "--check"], ["mypy"]):
        linted = subprocess.run(
            [str(tools / check[0]), *check[1:], *map(str, generated)],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr
    env = {**os.environ, "PYTHONPATH": str(root / "client")}
    used = subprocess.run(
        [sys.executable, "-c", EXAMPLE_USE], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout == "ok\n"
