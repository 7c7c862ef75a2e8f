"""The decision log against a real server: its lines, sampling, a stalled writer, SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_server.insight.decision_log import _BATCH

from tests.harness import ServerProcess, Stubs, start_server, stubs

ALLOW_READ = json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Sid": "ReadUsers", "Effect": "Allow", "Action": "iam:GetUser",
                    "Resource": "*"},
                   {"Sid": "NoRoles", "Effect": "Deny", "Action": "iam:GetRole",
                    "Resource": "*"}]}
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not exported")


def lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def setup_alice(s: Stubs) -> str:
    user = s.management.CreateUser(mpb.CreateUserRequest(user_name="alice")).user
    reply = s.management.PutUserPolicy(
        mpb.PutUserPolicyRequest(user_name="alice", policy_name="read", policy_document=ALLOW_READ)
    )
    s.authorization.Authorize(
        pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=reply.revision)
    )
    return str(user.arn)


@pytest.fixture
def logged(database_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    path = tmp_path / "decisions.log"
    server = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=["--decision-log", str(path), "--decision-log-sample-allows", "1"],
    )
    try:
        yield server, path
    finally:
        server.stop()


def test_lines_name_the_decision_and_its_statement_and_hold_no_secret(
    logged: tuple[ServerProcess, Path],
) -> None:
    server, path = logged
    s = stubs(server.endpoint, server.root)
    try:
        alice = setup_alice(s)
        account = alice.split(":")[4]
        target = f"arn:aws:iam::{account}:user/bob"
        role = f"arn:aws:iam::{account}:role/r"
        metadata = (("x-request-id", "req-42"),)
        allowed = s.authorization.Authorize(
            pb.AuthorizeRequest(principal_arn=alice, action="iam:GetUser", resource_arn=target),
            metadata=metadata,
        )
        assert allowed.decision == tpb.DECISION_ALLOWED
        denied = s.authorization.Authorize(
            pb.AuthorizeRequest(principal_arn=alice, action="iam:GetRole", resource_arn=role)
        )
        assert denied.decision == tpb.DECISION_EXPLICIT_DENY
        s.authorization.AuthorizeBatch(
            pb.AuthorizeBatchRequest(
                principal_arn=alice,
                checks=[
                    pb.AuthorizeCheck(action="iam:GetUser", resource_arn=target),
                    pb.AuthorizeCheck(action="iam:ListUsers"),
                ],
            )
        )
        wait_for(lambda: len([e for e in lines(path) if e["principal"] == alice]) >= 4)
        mine = [e for e in lines(path) if e["principal"] == alice]
        single = [e for e in mine if e["source"] == "Authorize"]
        batch = [e for e in mine if e["source"] == "AuthorizeBatch"]
        allow = next(e for e in single if e["action"] == "iam:GetUser")
        assert allow["decision"] == "allowed"
        assert allow["caller"] == f"arn:aws:iam::{account}:root"
        assert allow["resource"] == target
        assert allow["request_id"] == "req-42"
        assert allow["decided_by"] == "IDENTITY"
        statement = allow["statement"]
        assert isinstance(statement, dict)
        assert statement["sid"] == "ReadUsers" and statement["index"] == 0
        assert statement["kind"] == "IDENTITY" and "read" in str(statement["policy"])
        assert isinstance(allow["revision"], int) and allow["revision"] > 0
        assert isinstance(allow["latency_ms"], float) and allow["latency_ms"] >= 0
        assert str(allow["time"]).endswith("+00:00")
        deny = next(e for e in single if e["action"] == "iam:GetRole")
        assert deny["decision"] == "explicit_deny"
        assert isinstance(deny["statement"], dict) and deny["statement"]["sid"] == "NoRoles"
        assert {e["check"] for e in batch} == {0, 1}
        assert {e["decision"] for e in batch} == {"allowed", "implicit_deny"}
        implicit = next(e for e in batch if e["decision"] == "implicit_deny")
        assert implicit["statement"] is None and implicit["reason"] == "no_allow"
        assert len({e["request_id"] for e in batch}) == 1  # one request, one id
        text = path.read_text()
        assert server.root.secret_access_key not in text
        assert "x-iamd-signature" not in text and "signature" not in text.lower()
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    finally:
        s.close()


def test_sampling_keeps_denials_and_drops_allows(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "decisions.log"
    server = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=["--decision-log", str(path), "--decision-log-sample-allows", "0"],
    )
    s = stubs(server.endpoint, server.root)
    try:
        alice = setup_alice(s)
        for _ in range(20):
            s.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=alice, action="iam:GetUser")
            )
        for _ in range(5):
            s.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=alice, action="iam:ListUsers")
            )
        wait_for(lambda: len([e for e in lines(path) if e["principal"] == alice]) >= 5)
        time.sleep(0.3)
        mine = [e for e in lines(path) if e["principal"] == alice]
        assert len(mine) == 5
        assert all(e["decision"] == "implicit_deny" and e["sample_rate"] == 1.0 for e in mine)
    finally:
        s.close()
        server.stop()


def _authorize_times(s: Stubs, alice: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        s.authorization.Authorize(pb.AuthorizeRequest(principal_arn=alice, action="iam:GetUser"))
        times.append(time.perf_counter() - started)
    return times


def test_a_stalled_writer_drops_and_counts_lines_without_delaying_decisions(
    database_url: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "decisions.fifo"
    os.mkfifo(fifo)
    # A reader that never reads: the pipe fills, then the writer thread blocks in write().
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    port = free_port()
    server = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=[
            "--decision-log", str(fifo), "--decision-log-sample-allows", "1",
            "--metrics-listen", f"127.0.0.1:{port}",
        ],
    )  # fmt: skip
    s = stubs(server.endpoint, server.root)
    try:
        alice = setup_alice(s)
        baseline = _authorize_times(s, alice, 200)
        checks = [pb.AuthorizeCheck(action="iam:GetUser")] * 1000
        for _ in range(15):  # more lines than the pipe and the queue (10,000) hold
            s.authorization.AuthorizeBatch(
                pb.AuthorizeBatchRequest(principal_arn=alice, checks=checks)
            )
        wait_for(lambda: metric(port, "iamd_decision_log_dropped_total") > 0)
        stalled = _authorize_times(s, alice, 200)
        # Still answering as before: no decision waits for the log.
        assert statistics.median(stalled) < statistics.median(baseline) * 5 + 0.005
        assert sorted(stalled)[-3] < 0.25
        dropped = metric(port, "iamd_decision_log_dropped_total")
        # All but what the queue, the pipe and the batch the blocked writer holds can take.
        assert dropped >= 15 * 1000 + 200 - 10_000 - 64 * 1024 // 100 - _BATCH
        # Reading again unstalls the writer: the queued lines follow.
        written_before = metric(port, "iamd_decision_log_written_total")
        # The blocked write() may hold a whole batch (megabytes): read until it completes.
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline
            and metric(port, "iamd_decision_log_written_total") <= written_before
        ):
            try:
                while os.read(reader, 1 << 16):
                    pass
            except BlockingIOError:
                time.sleep(0.01)
        assert metric(port, "iamd_decision_log_written_total") > written_before
    finally:
        s.close()
        os.close(reader)
        server.stop()


def test_sighup_reopens_the_file(logged: tuple[ServerProcess, Path]) -> None:
    server, path = logged
    s = stubs(server.endpoint, server.root)
    try:
        alice = setup_alice(s)
        s.authorization.Authorize(pb.AuthorizeRequest(principal_arn=alice, action="iam:GetUser"))
        wait_for(lambda: any(e["principal"] == alice for e in lines(path)))
        rotated = path.with_name("decisions.log.1")
        path.rename(rotated)
        server.process.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        s.authorization.Authorize(pb.AuthorizeRequest(principal_arn=alice, action="iam:ListUsers"))
        wait_for(lambda: any(e["action"] == "iam:ListUsers" for e in lines(path)))
        assert not any(e["action"] == "iam:ListUsers" for e in lines(rotated))
        assert server.process.poll() is None  # SIGHUP did not stop the server
    finally:
        s.close()


def test_workers_share_the_file_and_reopen_on_the_supervisors_sighup(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "decisions.log"
    server = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=[
            "--workers", "2", "--decision-log", str(path), "--decision-log-sample-allows", "1",
        ],
    )  # fmt: skip
    clients = [stubs(server.endpoint, server.root) for _ in range(4)]  # connections spread
    try:
        alice = setup_alice(clients[0])
        checks = [pb.AuthorizeCheck(action="iam:GetUser")] * 200
        for client in clients:
            client.authorization.AuthorizeBatch(
                pb.AuthorizeBatchRequest(principal_arn=alice, checks=checks)
            )
        wait_for(lambda: len([e for e in lines(path) if e["principal"] == alice]) >= 800)
        rotated = path.with_name("decisions.log.1")
        path.rename(rotated)
        server.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        for client in clients:
            client.authorization.Authorize(
                pb.AuthorizeRequest(principal_arn=alice, action="iam:ListUsers")
            )
        wait_for(lambda: len([e for e in lines(path) if e["action"] == "iam:ListUsers"]) >= 4)
        assert not any(e["action"] == "iam:ListUsers" for e in lines(rotated))
        assert server.process.poll() is None
    finally:
        for client in clients:
            client.close()
        server.stop()
