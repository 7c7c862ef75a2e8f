"""OpenTelemetry export against a real server and a real OTLP/gRPC collector in the test."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd_server.insight import tracing
from iamd_server.startup import StartupError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as collector_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as collector_grpc
from opentelemetry.proto.common.v1 import common_pb2

from tests.harness import ServerProcess, start_server, stubs
from tests.insight.test_decision_log import setup_alice, wait_for

DENY_ROLES = "iam:GetRole"


class Collector(collector_grpc.TraceServiceServicer):
    """Keeps every span it is sent (with its resource attributes) and the raw requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.raw: list[bytes] = []
        self.spans: list[tuple[dict[str, Any], Any]] = []

    def Export(  # noqa: N802 (the generated interface)
        self, request: collector_pb.ExportTraceServiceRequest, context: Any
    ) -> collector_pb.ExportTraceServiceResponse:
        with self.lock:
            self.raw.append(request.SerializeToString())
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    self.spans.extend((resource, span) for span in scope.spans)
        return collector_pb.ExportTraceServiceResponse()

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [attributes(s.attributes) for _r, s in self.spans if s.name == name]


def attributes(values: Any) -> dict[str, Any]:
    def value(v: common_pb2.AnyValue) -> Any:
        kind = v.WhichOneof("value")
        return None if kind is None else getattr(v, kind)

    return {kv.key: value(kv.value) for kv in values}


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    sink = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    collector_grpc.add_TraceServiceServicer_to_server(sink, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield sink, port
    finally:
        server.stop(None)


def otel_env(port: int) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_SERVICE_NAME": "iamd-under-test",
    }


def started(database_url: str, directory: Path, port: int, args: list[str]) -> ServerProcess:
    return start_server(database_url, directory, extra_args=args, env=otel_env(port))


AUTHORIZE = "iamd.v1.AuthorizationService/Authorize"
BATCH = "iamd.v1.AuthorizationService/AuthorizeBatch"
MANAGE = "iamd.v1.ManagementService/"


def test_spans_carry_rpcs_and_decisions_but_no_secrets(
    database_url: str, tmp_path: Path, collector: tuple[Collector, int]
) -> None:
    sink, port = collector
    server = started(database_url, tmp_path / "iamd", port, ["--otel"])
    root = stubs(server.endpoint, server.root)
    try:
        alice = setup_alice(root)  # CreateUser, PutUserPolicy, Authorize as root
        key = root.management.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name="alice"))
        secret = key.access_key.secret_access_key
        assert len(secret) >= 20
        denied = root.authorization.Authorize(
            pb.AuthorizeRequest(principal_arn=alice, action=DENY_ROLES, resource_arn="*")
        )
        batch = root.authorization.AuthorizeBatch(
            pb.AuthorizeBatchRequest(
                principal_arn=alice,
                checks=[
                    pb.AuthorizeCheck(action="iam:GetUser", resource_arn="*"),
                    pb.AuthorizeCheck(action=DENY_ROLES, resource_arn="*"),
                    pb.AuthorizeCheck(action="iam:ListUsers", resource_arn="*"),
                ],
            )
        )
        with pytest.raises(grpc.RpcError) as missing:
            root.management.GetUser(mpb.GetUserRequest(user_name="nobody"))
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND

        wait_for(
            lambda: (
                len(sink.named(AUTHORIZE)) >= 2
                and sink.named(BATCH)
                and sink.named(MANAGE + "GetUser")
                and sink.named(MANAGE + "CreateAccessKey")
            ),
            timeout=15,
        )
        with sink.lock:
            resources = [r for r, _s in sink.spans]
            raw = b"".join(sink.raw)
        assert {r.get("service.name") for r in resources} == {"iamd-under-test"}

        authorize = sink.named(AUTHORIZE)
        deny = next(a for a in authorize if a.get("iamd.action") == DENY_ROLES)
        assert deny == {
            "rpc.system": "grpc",
            "rpc.service": "iamd.v1.AuthorizationService",
            "rpc.method": "Authorize",
            "rpc.grpc.status_code": 0,
            "iamd.decision": "explicit_deny",
            "iamd.action": DENY_ROLES,
            "iamd.resource": "*",
            "iamd.principal": alice,
            "iamd.revision": denied.revision,
        }
        allowed = next(a for a in authorize if a.get("iamd.action") == "iam:GetUser")
        assert allowed["iamd.decision"] == "allowed"
        assert allowed["iamd.principal"].endswith(":root")  # setup_alice asks as root

        (counts,) = sink.named(BATCH)
        assert counts["iamd.batch.size"] == 3
        assert counts["iamd.decisions.allowed"] == 1
        assert counts["iamd.decisions.explicit_deny"] == 1
        assert counts["iamd.decisions.implicit_deny"] == 1
        assert counts["iamd.decisions.unknown_principal"] == 0
        assert counts["iamd.revision"] == batch.revision

        (create,) = sink.named(MANAGE + "CreateUser")
        assert create["rpc.method"] == "CreateUser"
        assert create["rpc.grpc.status_code"] == 0
        assert not any(k.startswith("iamd.") for k in create)
        (not_found,) = sink.named(MANAGE + "GetUser")
        assert not_found["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]

        # Neither the new key's secret, the root's secret, nor a request signature leave.
        assert secret.encode() not in raw
        assert server.root.secret_access_key.encode() not in raw
        assert server.root.access_key_id.encode() not in raw
        assert b"x-iamd" not in raw.lower()  # no signing metadata
        # Health probes are not traced.
        with sink.lock:
            assert not [s for _r, s in sink.spans if "Health" in s.name]
    finally:
        root.close()
        assert server.stop() == 0


def test_no_spans_without_otel(
    database_url: str, tmp_path: Path, collector: tuple[Collector, int]
) -> None:
    sink, port = collector
    server = started(database_url, tmp_path / "iamd", port, [])
    root = stubs(server.endpoint, server.root)
    try:
        setup_alice(root)
        time.sleep(1.0)  # five export intervals, had an exporter been running
        assert sink.spans == []
    finally:
        root.close()
        assert server.stop() == 0


def test_otel_without_the_extra_fails_start_up_in_one_line(
    database_url: str, tmp_path: Path, collector: tuple[Collector, int]
) -> None:
    _sink, port = collector
    # A site directory in which the exporter cannot be imported, as without iamd[otel].
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.modules['opentelemetry.exporter.otlp.proto.grpc.trace_exporter'] = None\n"
    )
    env = {**otel_env(port), "PYTHONPATH": f"{site}:{':'.join(sys.path)}", "IAMD_OTEL": "true"}
    with pytest.raises(RuntimeError) as failed:
        start_server(database_url, tmp_path / "iamd", env=env)
    output = str(failed.value).splitlines()
    assert f"iamd: {tracing.MISSING_EXTRA}" in output
    assert not any("Traceback" in line for line in output)


def test_not_installed_branch_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(StartupError) as failed:
        tracing.start(True)
    assert "pip install 'iamd[otel]'" in str(failed.value)
    assert tracing.decision_hooks() == (None, None)


def test_off_installs_nothing() -> None:
    assert tracing.start(False) == ()
    assert tracing.decision_hooks() == (None, None)


def test_workers_export_spans(
    database_url: str, tmp_path: Path, collector: tuple[Collector, int]
) -> None:
    sink, port = collector
    server = started(database_url, tmp_path / "iamd", port, ["--otel", "--workers", "2"])
    root = stubs(server.endpoint, server.root)
    try:
        setup_alice(root)
        wait_for(lambda: sink.named(AUTHORIZE) and sink.named(MANAGE + "CreateUser"), timeout=15)
        assert sink.named(AUTHORIZE)[0]["iamd.decision"] == "allowed"
    finally:
        root.close()
        assert server.stop() == 0
