"""Authorize throughput and latency on one core, against the bare grpc.aio ceiling.

    .venv/bin/python bench/authorize.py [--seconds 5] [--users 10000]

Starts a throwaway PostgreSQL, seeds it with bulk SQL (10,000 users in 100 groups, 1,000
managed policies, 10 attached to each group, plus an "s3" service definition), starts
`iamd serve` pinned to core 1 and loads it with h2load pinned to core 0. In the same run it
loads a bare grpc.aio server whose handler returns an empty reply at once: the ceiling.
Prints calls/s and p50/p99 at concurrency 1, 16 and 64 for Authorize (cache hit) and
AuthorizeBatch of 100 checks, the server's CPU per call, cache-miss latency and RSS; then
latency at a fixed offered load (h2load --rps, open loop): both servers get the same rate,
--load-share (default 0.5) of the capacity Authorize measured at concurrency 64.
Needs h2load (apt-get install -y nghttp2-client) and two cores.

    .venv/bin/python bench/authorize.py --workers 1,2 [--seconds 5]

compares `iamd serve --workers N` instead, for each N listed: Authorize (cache hit) at
concurrency 16 and 64 over 8 connections (the kernel spreads connections, not calls, over
the workers), calls/s, p50/p99 and the CPU per call of all iamd processes together. Nothing
is pinned there: the workers and h2load share every core, so on a machine with few cores the
load tool takes its part of them (its CPU is printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import types_pb2
from iamd_client.signing import SigningCredentials, sign_metadata
from iamd_server.runtime.event_loop import resolve as resolve_loop
from iamd_server.store.embedded import EmbeddedPostgres
from iamd_server.store.migrate import migrate

# -- load generation (h2load) ---------------------------------------------------------
H2LOAD_HINT = (
    "h2load is needed to load the server (Python clients cost more per call than the server):"
    " apt-get install -y nghttp2-client"
)


def require_tools() -> None:
    missing = [tool for tool in ("h2load", "taskset") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)}. {H2LOAD_HINT} (taskset: util-linux)")
        sys.exit(2)
    if (os.cpu_count() or 1) < 2:
        print("needs two cores: the server is pinned to core 1, h2load to core 0")
        sys.exit(2)


def grpc_frame(message: bytes) -> bytes:
    """One length-prefixed gRPC message (not compressed)."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def signed_headers(method: str, body: bytes, credentials: SigningCredentials) -> list[str]:
    """h2load -H arguments: gRPC headers and a signature valid for the next five minutes."""
    headers = ["content-type: application/grpc", "te: trailers"]
    headers += [f"{name}: {value}" for name, value in sign_metadata(method, body, credentials)]
    return headers


@dataclass(frozen=True, slots=True)
class LoadResult:
    calls: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    cpu_us_per_call: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median_result(runs: list[LoadResult]) -> LoadResult:
    """The run of median throughput (its latencies and CPU belong to that same run)."""
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[len(ordered) // 2]


def median_p99(runs: list[LoadResult]) -> LoadResult:
    """The run of median p99 latency (for runs at a fixed offered rate)."""
    ordered = sorted(runs, key=lambda r: r.p99_ms)
    return ordered[len(ordered) // 2]


def run_h2load(
    url: str,
    body: bytes,
    headers: list[str],
    *,
    concurrency: int,
    seconds: float,
    server_pid: int,
    warm_up: float = 1.0,
    also_pids: Sequence[int] = (),
    pin: str | None = "0",
    load_cpu: list[float] | None = None,
    rate: float | None = None,
) -> LoadResult:
    """Loads ``url`` from core 0 (``pin``; None: any core) for ``seconds`` at ``concurrency``
    streams in flight; with ``rate``, calls start at that many per second in all (open loop,
    ``concurrency`` the most in flight). The server's CPU is that of ``server_pid`` and
    ``also_pids``; the load tool's CPU seconds are appended to ``load_cpu`` when given."""
    connections = 1 if concurrency == 1 else min(8, concurrency)
    streams = max(1, concurrency // connections)
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.bin"
        body_file.write_bytes(grpc_frame(body))
        log = Path(tmp) / "calls.log"
        argv = ["taskset", "-c", pin] if pin is not None else []
        argv += ["h2load", "-c", str(connections), "-m", str(streams)]
        argv += ["-t", "1", "-d", str(body_file), f"--log-file={log}"]
        argv += ["-D", str(int(seconds)), f"--warm-up-time={warm_up:g}"]
        if rate is not None:
            argv.append(f"--rps={rate / connections:g}")  # h2load's rate is per connection
        for header in headers:
            argv += ["-H", header]
        argv.append(url)
        time.sleep(0.2)
        pids = (server_pid, *also_pids)
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        tool_before = _children_cpu()
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        cpu_used = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        if load_cpu is not None:
            load_cpu.append(_children_cpu() - tool_before)
        if out.returncode != 0:
            raise RuntimeError(f"h2load failed: {out.stderr or out.stdout}")
        latencies = sorted(
            int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t")
        )
    done = _number(r"requests: \d+ total, \d+ started, (\d+) done", out.stdout)
    succeeded = _number(r"(\d+) succeeded", out.stdout)
    status_2xx = _number(r"status codes: (\d+) 2xx", out.stdout)
    calls = len(latencies)
    if not calls:
        raise RuntimeError(f"h2load logged no calls:\n{out.stdout}")
    # The measured window excludes warm-up; h2load's log covers the measured calls only.
    measured = _seconds(out.stdout) or seconds
    return LoadResult(
        calls=calls,
        seconds=measured,
        p50_ms=statistics.quantiles(latencies, n=100)[49] / 1000 if calls > 1 else 0.0,
        p99_ms=statistics.quantiles(latencies, n=100)[98] / 1000 if calls > 1 else 0.0,
        failed=max(0, done - succeeded) + max(0, done - status_2xx),
        # CPU over the whole run (warm-up included) per call made in it (estimated).
        cpu_us_per_call=cpu_used * 1e6 / max(1.0, calls * (measured + warm_up) / measured),
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else 0


def _seconds(text: str) -> float:
    match = re.search(r"finished in ([\d.]+)(ms|s)", text)
    if not match:
        return 0.0
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- the benchmark ---------------------------------------------------------------------

AUTHORIZE = "/iamd.v1.AuthorizationService/Authorize"
BATCH = "/iamd.v1.AuthorizationService/AuthorizeBatch"
CONCURRENCY = (1, 16, 64)
BATCH_SIZE = 100
GROUPS = 100
POLICIES = 1000
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

S3 = {
    "service_prefix": "s3",
    "resource_types": [
        {"name": "bucket", "arn_pattern": "arn:${Partition}:s3:::${BucketName}"},
        {"name": "object", "arn_pattern": "arn:${Partition}:s3:::${BucketName}/${ObjectName}"},
    ],
    "actions": [
        {"name": "GetObject", "resource_types": ["object"]},
        {"name": "PutObject", "resource_types": ["object"]},
        {"name": "DeleteObject", "resource_types": ["object"]},
        {"name": "ListBucket", "resource_types": ["bucket"], "condition_keys": ["s3:prefix"]},
    ],
    "condition_keys": [{"name": "s3:prefix", "type": "String"}],
}


def _id(prefix: str, n: int) -> str:
    digits = []
    for _ in range(17):
        n, r = divmod(n, 32)
        digits.append(_B32[r])
    return prefix + "".join(reversed(digits))


def _policy_document(i: int) -> str:
    bucket = f"arn:aws:s3:::bucket-{i}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadWrite",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": f"{bucket}/*",
                },
                {
                    "Sid": "List",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket,
                    "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
                },
                {
                    "Sid": "KeepProtected",
                    "Effect": "Deny",
                    "Action": "s3:DeleteObject",
                    "Resource": f"{bucket}/protected/*",
                },
            ],
        }
    )


async def seed(dsn: str, users: int) -> str:
    """Bulk-loads the entities; returns the management account id."""
    conn = await asyncpg.connect(dsn)
    try:
        account = await conn.fetchval("SELECT management_account_id FROM iamd_organization")
        policy_ids = [_id("ANPA", i) for i in range(POLICIES)]
        group_ids = [_id("AGPA", g) for g in range(GROUPS)]
        user_ids = [_id("AIDA", u) for u in range(users)]
        async with conn.transaction():
            await conn.copy_records_to_table(
                "iamd_policies",
                columns=["id", "account_id", "name", "path", "default_version", "next_version"],
                records=[
                    (p, account, f"bench-policy-{i}", "/", 1, 2) for i, p in enumerate(policy_ids)
                ],
            )
            await conn.copy_records_to_table(
                "iamd_policy_versions",
                columns=["policy_id", "version", "document"],
                records=[(p, 1, _policy_document(i)) for i, p in enumerate(policy_ids)],
            )
            await conn.copy_records_to_table(
                "iamd_groups",
                columns=["id", "account_id", "name", "path"],
                records=[(g, account, f"bench-group-{i}", "/") for i, g in enumerate(group_ids)],
            )
            await conn.copy_records_to_table(
                "iamd_users",
                columns=["id", "account_id", "name", "path"],
                records=[(u, account, f"bench-user-{i}", "/") for i, u in enumerate(user_ids)],
            )
            await conn.copy_records_to_table(
                "iamd_group_members",
                columns=["group_id", "user_id"],
                records=[(group_ids[i % GROUPS], u) for i, u in enumerate(user_ids)],
            )
            per_group = POLICIES // GROUPS
            await conn.copy_records_to_table(
                "iamd_attachments",
                columns=["owner_kind", "owner_id", "policy_id"],
                records=[
                    ("group", g, policy_ids[gi * per_group + k])
                    for gi, g in enumerate(group_ids)
                    for k in range(per_group)
                ],
            )
        # Bulk loads leave the planner without statistics; autovacuum would gather them soon
        # after, so measure the steady state a real deployment runs in.
        await conn.execute("ANALYZE")
        return str(account)
    finally:
        await conn.close()


async def prepare_database(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO iamd_service_definitions (service_prefix, definition)"
            " VALUES ('s3', $1::jsonb)",
            json.dumps(S3),
        )
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_pinned(
    argv: list[str], ready: str, cpus: str | None = "1"
) -> tuple[subprocess.Popen[str], str]:
    """Starts a server on core 1 (``cpus``; None: any core); its process and address."""
    pinned = ["taskset", "-c", cpus] if cpus is not None else []
    process = subprocess.Popen(
        [*pinned, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(ready):
            return process, line.split()[-1]
    process.kill()
    raise RuntimeError("server did not start:\n" + "".join(lines))


def read_credentials(path: Path) -> SigningCredentials:
    parser = configparser.ConfigParser()
    parser.read(path)
    return SigningCredentials(
        parser["default"]["access_key_id"], parser["default"]["secret_access_key"]
    )


def call(endpoint: str, method: str, body: bytes, credentials: SigningCredentials) -> bytes:
    with grpc.insecure_channel(endpoint) as channel:
        stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        reply: bytes = stub(body, metadata=sign_metadata(method, body, credentials), timeout=30)
        return reply


async def miss_latencies(
    endpoint: str, credentials: SigningCredentials, principals: list[str]
) -> list[float]:
    """Authorize once for each principal (none cached yet), one call at a time."""
    out: list[float] = []
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(AUTHORIZE)
        for arn in principals:
            body = pb.AuthorizeRequest(
                principal_arn=arn,
                action="s3:GetObject",
                resource_arn="arn:aws:s3:::bucket-1/a",
            ).SerializeToString()
            metadata = sign_metadata(AUTHORIZE, body, credentials)
            started = time.perf_counter()
            await stub(body, metadata=metadata, timeout=30)
            out.append((time.perf_counter() - started) * 1000)
    return out


async def fill_cache(endpoint: str, credentials: SigningCredentials, principals: list[str]) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(BATCH)
        for start in range(0, len(principals), BATCH_SIZE):
            chunk = principals[start : start + BATCH_SIZE]
            body = pb.AuthorizeBatchRequest(
                checks=[
                    pb.AuthorizeCheck(
                        principal_arn=arn, action="s3:GetObject", resource_arn="arn:aws:s3:::b/k"
                    )
                    for arn in chunk
                ]
            ).SerializeToString()
            await stub(body, metadata=sign_metadata(BATCH, body, credentials), timeout=120)


def metric(metrics_url: str, name: str, labels: str) -> float:
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(part in line for part in labels.split(",")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def row(name: str, result: LoadResult, ceiling: float | None, per_call: int = 1) -> str:
    share = f"{result.rate / ceiling * 100:5.1f}%" if ceiling else "     -"
    checks = f"{result.rate * per_call:>10,.0f}" if per_call > 1 else f"{'':>10}"
    return (
        f"{name:<28} {result.rate:>9,.0f} {checks} {share:>7} {result.p50_ms:>8.2f}"
        f" {result.p99_ms:>8.2f} {result.cpu_us_per_call:>8.0f} {result.failed:>6}"
    )


# -- iamd serve --workers N --------------------------------------------------------------

WORKER_CONCURRENCY = (16, 64)


def worker_pids(supervisor: int) -> list[int]:
    text = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text()
    return [int(pid) for pid in text.split()]


def compare_workers(
    counts: list[int], serve: list[str], body: bytes, credentials: SigningCredentials, args: Any
) -> None:
    """Authorize (cache hit) against `iamd serve --workers N` for each N, nothing pinned."""
    headers = signed_headers(AUTHORIZE, body, credentials)
    servers: list[tuple[int, subprocess.Popen[str], str, list[int]]] = []
    try:
        # All counts run side by side (idle ones cost nothing) and their runs alternate, so
        # drift on a shared machine hits each count alike; each figure is the median round.
        for count in counts:
            server, endpoint = start_pinned(
                [*serve, "--workers", str(count)], "iamd listening on ", cpus=None
            )
            servers.append((count, server, endpoint, []))
            if count > 1:
                servers[-1][3].extend(worker_pids(server.pid))
            reply = pb.AuthorizeResponse.FromString(call(endpoint, AUTHORIZE, body, credentials))
            assert reply.decision == types_pb2.DECISION_ALLOWED, reply
        rows: list[tuple[int, int, LoadResult, float]] = []
        spread: list[str] = []
        for concurrency in WORKER_CONCURRENCY:
            runs: dict[int, list[tuple[LoadResult, float]]] = {count: [] for count in counts}
            for _ in range(args.rounds):
                for count, server, endpoint, workers in servers:
                    tool: list[float] = []
                    result = run_h2load(
                        f"http://{endpoint}{AUTHORIZE}", body, headers,
                        concurrency=concurrency, seconds=args.seconds,
                        server_pid=server.pid, also_pids=workers, pin=None, load_cpu=tool,
                    )  # fmt: skip
                    # Cores the load tool used (its warm-up second included).
                    runs[count].append((result, tool[0] / (result.seconds + 1.0)))
            for count in counts:
                median = median_result([result for result, _ in runs[count]])
                tool_cores = next(cores for result, cores in runs[count] if result is median)
                rows.append((count, concurrency, median, tool_cores))
                rates = ", ".join(f"{result.rate:,.0f}" for result, _ in runs[count])
                spread.append(f"{count} workers c={concurrency}: {rates}")
    finally:
        for _, server, _, _ in servers:
            stop_process(server)
    cores = len(os.sched_getaffinity(0))
    print()
    print(
        f"iamd serve --workers N, Authorize cache hit, 8 connections, {cores} usable cores,"
        " nothing pinned: h2load runs on the same cores as the workers"
        f" (load average now {os.getloadavg()[0]:.1f}: other work on the machine counts too)"
    )
    print(
        f"{'workers':>7} {'c':>4} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'CPU µs/call':>11} {'iamd cores':>10} {'h2load cores':>12} {'failed':>6}"
    )
    base = {c: r.rate for n, c, r, _ in rows if n == counts[0]}
    for count, concurrency, result, tool_cores in rows:
        iamd_cores = result.cpu_us_per_call * result.rate / 1e6
        gain = f"  x{result.rate / base[concurrency]:.2f}" if count != counts[0] else ""
        print(
            f"{count:>7} {concurrency:>4} {result.rate:>9,.0f} {result.p50_ms:>8.2f}"
            f" {result.p99_ms:>8.2f} {result.cpu_us_per_call:>11.0f} {iamd_cores:>10.2f}"
            f" {tool_cores:>12.2f} {result.failed:>6}{gain}"
        )
    print(f"calls/s per round ({args.rounds} rounds): " + "; ".join(spread))
    if cores <= 2:
        print(
            f"On this {cores}-core machine the load tool shares the cores with the workers:"
            " more workers than cores left over by h2load cannot add throughput here, and"
            " the figures understate what --workers N gives on a machine with N free cores."
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--misses", type=int, default=300, help="cache-miss samples")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure")
    parser.add_argument(
        "--event-loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="the loop of iamd and of the bare ceiling alike (iamd serve --event-loop)",
    )
    parser.add_argument(
        "--load-share",
        type=float,
        default=0.5,
        help="fixed offered load as a share of Authorize's capacity at c=64 (0: skip)",
    )
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        help="compare `iamd serve --workers N` for each N listed (e.g. 1,2) instead",
    )
    args = parser.parse_args()
    require_tools()
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="iamd-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="iamd-bench-pg-"))
    cluster = EmbeddedPostgres(pg_dir, throwaway=True)
    processes: list[subprocess.Popen[str]] = []
    try:
        dsn = cluster.start()
        asyncio.run(prepare_database(dsn))
        metrics_port = free_port()
        serve = [
            python, "-m", "iamd_server.runtime.cli", "serve", "--database-url", dsn,
            "--listen", "127.0.0.1:0", "--credentials-file", str(work / "credentials"),
            "--master-key-file", str(work / "master.key"), "--log-level", "WARNING",
            "--event-loop", args.event_loop,
        ]  # fmt: skip
        server, endpoint = start_pinned(
            [*serve, "--metrics-listen", f"127.0.0.1:{metrics_port}"], "iamd listening on "
        )
        processes.append(server)
        started = time.monotonic()
        account = asyncio.run(seed(dsn, args.users))
        print(
            f"seeded {args.users:,} users, {GROUPS} groups, {POLICIES:,} policies"
            f" in {time.monotonic() - started:.1f} s; server pid {server.pid} on core 1;"
            f" event loop {resolve_loop(args.event_loop)} (iamd and the bare ceiling)"
        )
        credentials = read_credentials(work / "credentials")
        users = [f"arn:aws:iam::{account}:user/bench-user-{i}" for i in range(args.users)]
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        single = pb.AuthorizeRequest(
            principal_arn=users[0],
            action="s3:GetObject",
            resource_arn="arn:aws:s3:::bucket-3/photos/cat.jpg",
        ).SerializeToString()
        actions = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
        batch = pb.AuthorizeBatchRequest(
            principal_arn=users[0],
            checks=[
                pb.AuthorizeCheck(
                    action=actions[k % 3],
                    resource_arn=f"arn:aws:s3:::bucket-{k % 10}/"
                    + ("protected/" if k % 7 == 0 else "")
                    + f"obj-{k}",
                )
                for k in range(BATCH_SIZE)
            ],
        ).SerializeToString()

        if args.workers:
            stop_process(server)
            compare_workers(args.workers, serve, single, credentials, args)
            return 0

        # One real call of each first: the status and the answer must be right.
        reply = pb.AuthorizeResponse.FromString(call(endpoint, AUTHORIZE, single, credentials))
        assert reply.decision == types_pb2.DECISION_ALLOWED, reply
        batch_reply = pb.AuthorizeBatchResponse.FromString(
            call(endpoint, BATCH, batch, credentials)
        )
        decisions = [int(r.decision) for r in batch_reply.results]
        assert len(decisions) == BATCH_SIZE
        print(
            f"checked: Authorize -> ALLOWED; batch -> {decisions.count(1)} allowed,"
            f" {decisions.count(2)} explicit deny, {decisions.count(3)} implicit deny"
        )

        # Cache misses: principals never asked about, one call at a time.
        misses = asyncio.run(miss_latencies(endpoint, credentials, users[1 : 1 + args.misses]))
        hits = asyncio.run(miss_latencies(endpoint, credentials, users[1 : 1 + args.misses]))

        bare, bare_endpoint = start_pinned(
            [
                python,
                str(Path(__file__).resolve().parent / "_bare_server.py"),
                "127.0.0.1:0",
                args.event_loop,
            ],
            "bare listening on ",
        )
        processes.append(bare)

        # The ceiling gets the very same request bytes and headers, so both servers pay the
        # same framework cost; runs alternate between the two servers and each figure is the
        # median of the rounds, so drift on a noisy machine hits both alike.
        single_headers = signed_headers(AUTHORIZE, single, credentials)
        batch_headers = signed_headers(BATCH, batch, credentials)

        def load(url: str, body: bytes, headers: list[str], pid: int, c: int) -> LoadResult:
            return run_h2load(
                url, body, headers, concurrency=c, seconds=args.seconds, server_pid=pid
            )

        results: list[tuple[str, LoadResult, float | None, int]] = []
        ratios: list[str] = []
        for concurrency in CONCURRENCY:
            bare_runs: list[LoadResult] = []
            hit_runs: list[LoadResult] = []
            for _ in range(args.rounds):
                bare_runs.append(
                    load(f"http://{bare_endpoint}{AUTHORIZE}", single, single_headers,
                         bare.pid, concurrency)
                )  # fmt: skip
                hit_runs.append(
                    load(f"http://{endpoint}{AUTHORIZE}", single, single_headers,
                         server.pid, concurrency)
                )  # fmt: skip
            ceiling = median_result(bare_runs)
            hit = median_result(hit_runs)
            per_round = [h.rate / b.rate for h, b in zip(hit_runs, bare_runs, strict=True)]
            ratios.append(f"c={concurrency}: " + ", ".join(f"{r:.0%}" for r in per_round))
            results.append((f"bare grpc.aio  c={concurrency}", ceiling, None, 1))
            results.append((f"Authorize      c={concurrency}", hit, ceiling.rate, 1))
        fixed: list[tuple[str, LoadResult, LoadResult, float]] = []
        if args.load_share > 0:
            # Open loop: calls arrive at a fixed rate whatever the latency, as from many
            # independent clients; both servers get the same rate (at most 64 in flight).
            capacity = next(
                r for n, r, c, _ in results if n.startswith("Authorize") and n.endswith("=64")
            )
            rate = capacity.rate * args.load_share
            bare_runs, hit_runs = [], []
            for _ in range(args.rounds):
                for runs, target, pid in (
                    (bare_runs, bare_endpoint, bare.pid),
                    (hit_runs, endpoint, server.pid),
                ):
                    runs.append(
                        run_h2load(
                            f"http://{target}{AUTHORIZE}", single, single_headers,
                            concurrency=64, seconds=args.seconds, server_pid=pid, rate=rate,
                        )
                    )  # fmt: skip
            fixed.append(("bare grpc.aio", median_p99(bare_runs), median_p99(hit_runs), rate))
        for concurrency in CONCURRENCY:
            batched = median_result(
                [
                    load(f"http://{endpoint}{BATCH}", batch, batch_headers, server.pid,
                         concurrency)
                    for _ in range(args.rounds)
                ]
            )  # fmt: skip
            results.append((f"Batch x{BATCH_SIZE}     c={concurrency}", batched, None, BATCH_SIZE))
        ok_calls = metric(metrics_url, "iamd_rpc_total", 'method="Authorize",code="OK"')
        failed_calls = metric(metrics_url, "iamd_rpc_total", 'method="Authorize"') - ok_calls
        ok_batches = metric(metrics_url, "iamd_rpc_total", 'method="AuthorizeBatch",code="OK"')
        failed_batches = (
            metric(metrics_url, "iamd_rpc_total", 'method="AuthorizeBatch"') - ok_batches
        )

        rss_before = rss_mib(server.pid)
        started = time.monotonic()
        asyncio.run(fill_cache(endpoint, credentials, users))
        fill_seconds = time.monotonic() - started
        rss_after = rss_mib(server.pid)
        entries = metric(metrics_url, "iamd_cache_entries", 'cache="principals"')
        cache_mib = metric(metrics_url, "iamd_cache_bytes", 'cache="principals"') / 2**20

        print()
        print(
            f"{'run':<28} {'calls/s':>9} {'checks/s':>10} {'of bare':>7} {'p50 ms':>8}"
            f" {'p99 ms':>8} {'CPU µs':>8} {'failed':>6}"
        )
        for name, result, ceiling_rate, per_call in results:
            print(row(name, result, ceiling_rate, per_call))
        print(f"Authorize / bare per round ({args.rounds} rounds): " + "; ".join(ratios))
        for _, bare_fixed, hit_fixed, rate in fixed:
            print(
                f"fixed offered load {rate:,.0f} calls/s ({args.load_share:.0%} of Authorize's"
                f" c=64 capacity, open loop, median p99 of {args.rounds} rounds):"
                f" Authorize p50 {hit_fixed.p50_ms:.2f} ms p99 {hit_fixed.p99_ms:.2f} ms"
                f" ({hit_fixed.rate:,.0f} calls/s, CPU {hit_fixed.cpu_us_per_call:.0f} µs);"
                f" bare p50 {bare_fixed.p50_ms:.2f} ms p99 {bare_fixed.p99_ms:.2f} ms"
                f" ({bare_fixed.rate:,.0f} calls/s, CPU {bare_fixed.cpu_us_per_call:.0f} µs)"
            )
        print()
        print(
            f"cache miss (Python client, c=1, {len(misses)} principals): p50"
            f" {percentile(misses, 50):.2f} ms, p99 {percentile(misses, 99):.2f} ms;"
            f" same principals cached: p50 {percentile(hits, 50):.2f} ms,"
            f" p99 {percentile(hits, 99):.2f} ms"
        )
        print(
            f"server RSS: {rss_before:.0f} MiB after the load runs; {rss_after:.0f} MiB with"
            f" {entries:,.0f} principals cached (filled in {fill_seconds:.1f} s by batches),"
            f" which the principal cache counts as {cache_mib:.0f} MiB"
        )
        print(
            f"server-side status counts: Authorize OK {ok_calls:,.0f}, not OK"
            f" {failed_calls:,.0f}; AuthorizeBatch OK {ok_batches:,.0f}, not OK"
            f" {failed_batches:,.0f}"
        )
        return 0 if failed_calls == 0 and failed_batches == 0 else 1
    finally:
        for process in processes:
            stop_process(process)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
