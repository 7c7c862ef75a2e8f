"""`iamd serve --workers 2`: worker processes behind one port and one supervisor, each a real
process; which worker answered is told by the supervisor's merged metrics (per-pid
`iamd_worker_rpcs`) and by the process tree."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import authorization_pb2_grpc, management_pb2_grpc, sts_pb2, sts_pb2_grpc
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_client.signing import SigningCredentials
from iamd_server.runtime.cli import _build_parser
from iamd_server.store import Store
from iamd_server.store.pool import create_pool

from tests.api.test_jwks_refresh import Recorder, jwks, provider, stored_kid
from tests.api.test_jwks_refresh import serve as serve_jwks
from tests.harness import ServerProcess, SigningInterceptor, Stubs, start_server
from tests.launch import assert_one_line_failure, launch, run_to_exit, serve_argv
from tests.test_embedded import _alive as pg_alive
from tests.test_embedded import _dispose, _postmaster

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
T = TypeVar("T")
ALLOW_LIST_USERS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_workers(database_url: str, directory: Path) -> tuple[ServerProcess, str]:
    port = free_port()
    server = start_server(
        database_url,
        directory,
        extra_args=["--workers", "2", "--metrics-listen", f"127.0.0.1:{port}"],
    )
    return server, f"http://127.0.0.1:{port}/metrics"


def fresh_channel(endpoint: str) -> grpc.Channel:
    """A channel with a TCP connection of its own (gRPC otherwise shares connections between
    channels of one process), so the kernel picks a worker for each."""
    return grpc.insecure_channel(endpoint, options=[("grpc.use_local_subchannel_pool", 1)])


@contextmanager
def fresh_stubs(endpoint: str, credentials: SigningCredentials) -> Iterator[Stubs]:
    channel = grpc.intercept_channel(fresh_channel(endpoint), SigningInterceptor(credentials))
    own = Stubs(
        channel,
        management_pb2_grpc.ManagementServiceStub(channel),
        authorization_pb2_grpc.AuthorizationServiceStub(channel),
        sts_pb2_grpc.StsServiceStub(channel),
    )
    try:
        yield own
    finally:
        channel.close()


def health(endpoint: str, timeout: float = 2.0) -> int | None:
    """The health status one fresh connection gets, or None if it got no answer."""
    try:
        with fresh_channel(endpoint) as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            reply = check(health_pb2.HealthCheckRequest(), timeout=timeout)
            return int(reply.status)
    except grpc.RpcError:
        return None


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels = {}
        for part in rest.rstrip("}").split(","):
            if part:
                key, _, quoted = part.partition("=")
                labels[key] = json.loads(quoted)
        samples.append((name, labels, float(value)))
    return samples


def per_worker_rpcs(url: str) -> dict[int, float]:
    return {int(labels["pid"]): v for name, labels, v in scrape(url) if name == "iamd_worker_rpcs"}


def eventually(check: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def settled_rpcs(url: str, total: int) -> dict[int, float]:
    """Each worker's RPC count once the metrics show ``total`` calls in all (workers write
    their figures for the supervisor every second)."""
    return eventually(lambda: m if sum((m := per_worker_rpcs(url)).values()) == total else None)


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def worker_of_index(supervisor: int, index: int) -> int:
    """The pid of the worker process of ``index`` once it runs iamd, else 0."""
    for pid in children(supervisor):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if (
                b"--worker-index" in argv
                and argv[argv.index(b"--worker-index") + 1] == str(index).encode()
            ):
                return pid
    return 0


def authorize_as_root(endpoint: str, credentials: SigningCredentials) -> pb.AuthorizeResponse:
    with fresh_stubs(endpoint, credentials) as s:
        return s.authorization.Authorize(pb.AuthorizeRequest(action="iam:GetUser"), timeout=10)


def test_workers_share_the_port_and_their_metrics_add_up(database_url: str, tmp_path: Path) -> None:
    server, metrics = start_workers(database_url, tmp_path)
    try:
        workers = children(server.process.pid)
        assert len(workers) == 2
        assert health(server.endpoint) == SERVING
        calls = 40
        for _ in range(calls):
            assert authorize_as_root(server.endpoint, server.root).decision == tpb.DECISION_ALLOWED
        rpcs = settled_rpcs(metrics, calls)
        # Both workers answered, and nobody else.
        assert set(rpcs) == workers
        assert all(count > 0 for count in rpcs.values()), rpcs
        samples = scrape(metrics)
        authorized = [
            v
            for name, labels, v in samples
            if name == "iamd_rpc_total" and labels == {"method": "Authorize", "code": "OK"}
        ]
        assert authorized == [calls]  # one series, summed over the workers
        assert sum(v for name, _, v in samples if name == "iamd_rpc_total") == calls
        count = [v for name, labels, v in samples if name == "iamd_rpc_seconds_count"]
        assert count == [calls]
        # Every gauge has a chosen way to merge: only the per-worker one carries a pid.
        assert {name for name, labels, _ in samples if "pid" in labels} == {"iamd_worker_rpcs"}
        values = {name: v for name, labels, v in samples if not labels}
        assert values["iamd_workers"] == 2
        assert values["iamd_workers_ready"] == 2
        assert values["iamd_change_feed_connected"] == 1
    finally:
        assert server.stop() == 0


def test_a_change_through_one_worker_is_seen_by_every_worker_within_a_second(
    database_url: str, tmp_path: Path
) -> None:
    server, metrics = start_workers(database_url, tmp_path)
    root = server.root
    made = 0
    try:
        with fresh_stubs(server.endpoint, root) as admin:
            arn = admin.management.CreateUser(mpb.CreateUserRequest(user_name="carol")).user.arn
            made += 1
            request = pb.AuthorizeRequest(principal_arn=arn, action="iam:ListUsers")
            # Cache carol's entry on both workers first: the change must invalidate it.
            for _ in range(20):
                with fresh_stubs(server.endpoint, root) as s:
                    reply = s.authorization.Authorize(request, timeout=10)
                    assert reply.decision == tpb.DECISION_IMPLICIT_DENY
                made += 1
            before = settled_rpcs(metrics, made)
            assert len(before) == 2 and all(before.values()), before
            revision = admin.management.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name="carol", policy_name="p", policy_document=ALLOW_LIST_USERS
                )
            ).revision
            made += 1
            written = time.monotonic()
        # A second after the write, whichever worker answers has it.
        time.sleep(max(0.0, written + 1.0 - time.monotonic()))
        answers = 30
        for _ in range(answers):
            with fresh_stubs(server.endpoint, root) as s:
                reply = s.authorization.Authorize(request, timeout=10)
            assert reply.decision == tpb.DECISION_ALLOWED
            assert reply.revision >= revision
        after = settled_rpcs(metrics, made + answers)
        answered_by = {pid for pid in after if after[pid] > before.get(pid, 0)}
        assert len(answered_by) == 2, (before, after)
    finally:
        assert server.stop() == 0


def test_a_killed_worker_is_replaced_while_the_others_answer(
    database_url: str, tmp_path: Path
) -> None:
    server, metrics = start_workers(database_url, tmp_path)
    try:
        workers = children(server.process.pid)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        # Until the kernel has closed its socket, a new connection may still be queued there
        # and then reset: once the supervisor has reaped it, every connection is answered.
        eventually(lambda: True if victim not in children(server.process.pid) else None)
        statuses: list[int | None] = []
        answered = 0
        # The survivor keeps answering; health says NOT_SERVING until the replacement is
        # ready, then SERVING again.
        while not (NOT_SERVING in statuses and statuses[-1] == SERVING):
            assert time.monotonic() - killed < 30, statuses
            statuses.append(health(server.endpoint))
            reply = authorize_as_root(server.endpoint, server.root)
            assert reply.decision == tpb.DECISION_ALLOWED
            answered += 1
        assert None not in statuses, statuses
        replaced = children(server.process.pid)
        assert len(replaced) == 2 and victim not in replaced
        assert len(replaced & workers) == 1
        # The dead worker's per-process figures are dropped; its calls stay counted.
        rpcs = eventually(lambda: m if set(m := per_worker_rpcs(metrics)) == replaced else None)
        assert sum(rpcs.values()) <= answered
        samples = scrape(metrics)
        assert [v for name, _, v in samples if name == "iamd_worker_restarts_total"] == [1]
        total = sum(v for name, _, v in samples if name == "iamd_rpc_total")
        assert total <= answered
        assert "was killed by SIGKILL; starting it again in 0.5 s" in "".join(server.output)
        # Killed again at once: the next start waits longer (a crash loop does not spin).
        os.kill(min(replaced - workers), signal.SIGKILL)
        eventually(lambda: True if "starting it again in 1.0 s" in "".join(server.output) else None)
        eventually(lambda: True if health(server.endpoint) == SERVING else None, timeout=30)
        assert len(children(server.process.pid)) == 2
    finally:
        assert server.stop() == 0


def test_workers_stop_when_the_supervisor_is_gone(database_url: str, tmp_path: Path) -> None:
    server, _ = start_workers(database_url, tmp_path)
    workers = children(server.process.pid)
    try:
        server.process.kill()
        server.process.wait(10)
        # Nothing is left serving unsupervised: each worker sees its control socket close.
        eventually(lambda: True if not any(_alive(pid) for pid in workers) else None, timeout=20)
        assert health(server.endpoint, timeout=1) is None
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return _state(pid) != "Z"
    except OSError:
        return False


async def _create_user(database_url: str, account: str, name: str) -> int:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        written = await Store(pool).create_user(actor="test", account_id=account, user_name=name)
        return int(written.revision)
    finally:
        await pool.close()


def test_sigterm_drains_every_worker_and_exits_0(database_url: str, tmp_path: Path) -> None:
    server, _ = start_workers(database_url, tmp_path)
    workers = children(server.process.pid)
    try:
        with fresh_stubs(server.endpoint, server.root) as s:
            identity = s.sts.GetCallerIdentity(sts_pb2.GetCallerIdentityRequest())
            revision = int(s.management.CreateUser(mpb.CreateUserRequest(user_name="w1")).revision)
        # A call that waits on a worker for a revision that does not exist yet.
        answers: list[pb.AuthorizeResponse] = []
        errors: list[BaseException] = []

        def wait_for_next_revision() -> None:
            try:
                with fresh_stubs(server.endpoint, server.root) as s:
                    answers.append(
                        s.authorization.Authorize(
                            pb.AuthorizeRequest(
                                action="iam:GetUser", at_least_revision=revision + 1
                            ),
                            timeout=15,
                        )
                    )
            except BaseException as exc:
                errors.append(exc)

        caller = threading.Thread(target=wait_for_next_revision)
        caller.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Every worker is draining; the revision it waits for is written to the database.
        assert asyncio.run(_create_user(database_url, identity.account, "w2")) > revision
        caller.join(15)
        assert not errors, errors
        assert answers[0].decision == tpb.DECISION_ALLOWED
        assert server.process.wait(20) == 0
        assert "iamd stopped\n" in server.output
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    finally:
        server.stop()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_health_is_serving_only_once_every_worker_is_ready(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    argv = serve_argv(
        tmp_path, database_url=database_url, listen=f"127.0.0.1:{port}", extra=["--workers", "2"]
    )
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    endpoint = f"127.0.0.1:{port}"
    frozen = 0
    try:
        # Hold worker 1 before it can be ready (its interpreter takes a while to start), once
        # it runs as a worker: not between fork and exec, where the supervisor waits for it.
        deadline = time.monotonic() + 60
        while not (frozen := worker_of_index(process.pid, 1)):
            assert process.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.002)
        os.kill(frozen, signal.SIGSTOP)
        statuses: list[int | None] = []
        started = time.monotonic()
        while statuses.count(NOT_SERVING) < 3 or time.monotonic() - started < 2:
            assert time.monotonic() - started < 30, (statuses, "".join(output))
            statuses.append(health(endpoint, timeout=0.5))
            assert statuses[-1] != SERVING, "SERVING while a worker is not ready"
        assert not any(line.startswith("iamd listening on") for line in output)
        os.kill(frozen, signal.SIGCONT)
        frozen = 0
        deadline = time.monotonic() + 60
        while not any(line.startswith("iamd listening on") for line in output):
            assert process.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.05)
        assert all(health(endpoint) == SERVING for _ in range(10))
    finally:
        if frozen:
            os.kill(frozen, signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_workers_argument(database_url: str, tmp_path: Path) -> None:
    parser = _build_parser()
    assert parser.parse_args(["serve"]).workers == 1
    assert parser.parse_args(["serve", "--workers", "auto"]).workers == len(os.sched_getaffinity(0))
    bad = run_to_exit([*serve_argv(tmp_path, database_url=database_url), "--workers", "0"])
    assert bad.returncode == 2 and "--workers: must be between 1 and 256: 0" in bad.stderr
    bad = run_to_exit([*serve_argv(tmp_path, database_url=database_url), "--workers", "many"])
    assert bad.returncode == 2 and "not a number or 'auto'" in bad.stderr
    # A port already taken is one line, as with one process.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_to_exit(
            serve_argv(
                tmp_path,
                database_url=database_url,
                listen=f"127.0.0.1:{port}",
                extra=["--workers", "2"],
            )
        )
    assert_one_line_failure(result, f"cannot listen on 127.0.0.1:{port}: address already in use")


def test_workers_need_a_tcp_address(database_url: str, tmp_path: Path) -> None:
    listen = f"unix:{tmp_path}/iamd.sock"
    result = run_to_exit(
        serve_argv(tmp_path, database_url=database_url, listen=listen, extra=["--workers", "2"])
    )
    assert_one_line_failure(result, "--workers needs a HOST:PORT address to listen on")


def test_the_supervisor_owns_the_embedded_cluster_and_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = launch(serve_argv(tmp_path / "one", data_dir=data_dir, extra=["--workers", "2"]))
    postmaster = 0
    try:
        postmaster, _ = _postmaster(data_dir)
        workers = {worker_of_index(first.process.pid, i) for i in (0, 1)}
        assert 0 not in workers
        assert health(first.endpoint) == SERVING
        assert sum("embedded PostgreSQL" in line for line in first.stdout) == 1
        # The lock names the supervisor: a second iamd, with workers or not, touches nothing.
        expected = f"iamd is already running on this data directory (pid {first.process.pid})"
        for extra in (["--workers", "2"], []):
            second = run_to_exit(serve_argv(tmp_path / "two", data_dir=data_dir, extra=extra))
            assert_one_line_failure(second, expected)
        assert _postmaster(data_dir)[0] == postmaster
    finally:
        assert first.stop() == 0
        if postmaster and pg_alive(postmaster):
            _dispose(data_dir)
    # The supervisor stopped the cluster after its workers.
    assert not pg_alive(postmaster)
    assert not any(_alive(pid) for pid in workers)


def test_jwks_refresh_runs_once_for_all_workers(database_url: str, tmp_path: Path) -> None:
    interval = 0.5
    server = start_server(
        database_url,
        tmp_path,
        extra_args=[
            "--workers", "2", "--oidc-allow-http", "--oidc-jwks-refresh-seconds", str(interval),
        ],
    )  # fmt: skip
    recorder = Recorder()
    local = serve_jwks(recorder, {"/jwks": jwks("fresh")})
    try:
        with fresh_stubs(server.endpoint, server.root) as root:
            arn = provider(root, f"http://127.0.0.1:{local.server_port}/jwks", jwks("initial"))
            eventually(lambda: True if stored_kid(root, arn) == "fresh" else None)
        first = recorder.of("/jwks")[0][0]
        time.sleep(3.0)
        # One refresher (the supervisor's): one fetch per interval, not one per process.
        fetched = [start for start, _ in recorder.of("/jwks") if start - first < 3.0]
        assert len(fetched) <= 3.0 / interval + 1, len(fetched)
    finally:
        local.shutdown()
        assert server.stop() == 0
