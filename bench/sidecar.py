"""Authorize through `iamd sidecar` (cache hit) against `iamd serve`, per call, on one core.

    .venv/bin/python bench/sidecar.py [--seconds 5] [--users 2000] [--rounds 3]

Starts a throwaway PostgreSQL seeded like bench/authorize.py (users in groups with attached
managed policies, an "s3" service definition), `iamd serve` and an `iamd sidecar` following
it, both pinned to core 1, and loads each in turn with h2load pinned to core 0 with the very
same signed Authorize (and AuthorizeBatch x100) request, alternating rounds. Prints calls/s,
p50/p99 latency and server CPU per call for both, the first-call latency of a principal the
sidecar has not loaded yet (a round trip on the Watch stream) beside the server's cache miss
(a database read), and both processes' RSS. Needs h2load (nghttp2-client) and two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: make bench/ importable for authorize's helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from authorize import (
    AUTHORIZE,
    BATCH,
    BATCH_SIZE,
    LoadResult,
    call,
    median_result,
    miss_latencies,
    percentile,
    prepare_database,
    read_credentials,
    require_tools,
    rss_mib,
    run_h2load,
    seed,
    signed_headers,
    start_pinned,
    stop_process,
)
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import types_pb2
from iamd_server.store.embedded import EmbeddedPostgres

CONCURRENCY = (1, 16, 64)


def start_sidecar(upstream: str, work: Path) -> tuple[subprocess.Popen[str], str]:
    credentials = read_credentials(work / "credentials")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IAMD_")},
        "IAMD_ACCESS_KEY_ID": credentials.access_key_id,
        "IAMD_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "IAMD_SHARED_CREDENTIALS_FILE": str(work / "no-such-file"),
    }
    argv = [
        "taskset", "-c", "1", sys.executable, "-m", "iamd_server.runtime.cli", "sidecar",
        "--upstream", upstream, "--listen", "127.0.0.1:0", "--log-level", "WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("iamd listening on "):
            return process, line.split()[-1]
    process.kill()
    raise RuntimeError("the sidecar did not start:\n" + "".join(lines))


def row(name: str, result: LoadResult, baseline: LoadResult | None) -> str:
    versus = f"{result.rate / baseline.rate:5.2f}x" if baseline else "     -"
    return (
        f"{name:<30} {result.rate:>9,.0f} {versus:>7} {result.p50_ms:>8.2f}"
        f" {result.p99_ms:>8.2f} {result.cpu_us_per_call:>8.0f} {result.failed:>6}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--misses", type=int, default=200, help="first-call samples")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure")
    args = parser.parse_args()
    require_tools()
    work = Path(tempfile.mkdtemp(prefix="iamd-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="iamd-bench-pg-"))
    cluster = EmbeddedPostgres(pg_dir, throwaway=True)
    processes: list[subprocess.Popen[str]] = []
    try:
        dsn = cluster.start()
        asyncio.run(prepare_database(dsn))
        server, endpoint = start_pinned(
            [
                sys.executable, "-m", "iamd_server.runtime.cli", "serve", "--database-url", dsn,
                "--listen", "127.0.0.1:0", "--credentials-file", str(work / "credentials"),
                "--master-key-file", str(work / "master.key"), "--log-level", "WARNING",
            ],
            "iamd listening on ",
        )  # fmt: skip
        processes.append(server)
        account = asyncio.run(seed(dsn, args.users))
        credentials = read_credentials(work / "credentials")
        sidecar, local = start_sidecar(endpoint, work)
        processes.append(sidecar)
        print(
            f"seeded {args.users:,} users; iamd serve pid {server.pid}, sidecar pid"
            f" {sidecar.pid}, both on core 1; h2load on core 0"
        )
        users = [f"arn:aws:iam::{account}:user/bench-user-{i}" for i in range(args.users)]
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

        # The same answers from both, first (the sidecar may need a moment to connect).
        deadline = time.monotonic() + 30
        while True:
            try:
                via_sidecar = pb.AuthorizeResponse.FromString(
                    call(local, AUTHORIZE, single, credentials)
                )
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        direct = pb.AuthorizeResponse.FromString(call(endpoint, AUTHORIZE, single, credentials))
        assert via_sidecar.decision == direct.decision == types_pb2.DECISION_ALLOWED
        batches = [
            [int(r.decision) for r in pb.AuthorizeBatchResponse.FromString(reply).results]
            for reply in (
                call(local, BATCH, batch, credentials),
                call(endpoint, BATCH, batch, credentials),
            )
        ]
        assert batches[0] == batches[1] and len(batches[0]) == BATCH_SIZE
        print("checked: Authorize ALLOWED and the same 100 batch decisions from both")

        # First calls: principals neither has loaded yet, one call at a time.
        fresh = users[1 : 1 + args.misses]
        sidecar_first = asyncio.run(miss_latencies(local, credentials, fresh))
        sidecar_hit = asyncio.run(miss_latencies(local, credentials, fresh))
        server_first = asyncio.run(miss_latencies(endpoint, credentials, users[-args.misses :]))
        server_hit = asyncio.run(miss_latencies(endpoint, credentials, users[-args.misses :]))

        single_headers = signed_headers(AUTHORIZE, single, credentials)
        batch_headers = signed_headers(BATCH, batch, credentials)
        print()
        print(
            f"{'run':<30} {'calls/s':>9} {'vs serve':>7} {'p50 ms':>8} {'p99 ms':>8}"
            f" {'CPU µs':>8} {'failed':>6}"
        )
        failed = 0
        for method, body, headers, label in (
            (AUTHORIZE, single, single_headers, "Authorize"),
            (BATCH, batch, batch_headers, f"Batch x{BATCH_SIZE}"),
        ):
            for concurrency in CONCURRENCY:
                served: list[LoadResult] = []
                sidecars: list[LoadResult] = []
                for _ in range(args.rounds):
                    served.append(
                        run_h2load(f"http://{endpoint}{method}", body, headers,
                                   concurrency=concurrency, seconds=args.seconds,
                                   server_pid=server.pid)
                    )  # fmt: skip
                    sidecars.append(
                        run_h2load(f"http://{local}{method}", body, headers,
                                   concurrency=concurrency, seconds=args.seconds,
                                   server_pid=sidecar.pid)
                    )  # fmt: skip
                serve_result = median_result(served)
                sidecar_result = median_result(sidecars)
                failed += serve_result.failed + sidecar_result.failed
                print(row(f"{label:<12} serve   c={concurrency}", serve_result, None))
                print(row(f"{label:<12} sidecar c={concurrency}", sidecar_result, serve_result))
        print()
        print(
            f"first call for a principal (Python client, c=1, {len(fresh)} principals):"
            f" sidecar p50 {percentile(sidecar_first, 50):.2f} ms,"
            f" p99 {percentile(sidecar_first, 99):.2f} ms (Watch round trip);"
            f" serve p50 {percentile(server_first, 50):.2f} ms,"
            f" p99 {percentile(server_first, 99):.2f} ms (database read)"
        )
        print(
            f"same principals again: sidecar p50 {percentile(sidecar_hit, 50):.2f} ms,"
            f" serve p50 {percentile(server_hit, 50):.2f} ms"
        )
        print(
            f"RSS: iamd serve {rss_mib(server.pid):.0f} MiB, sidecar {rss_mib(sidecar.pid):.0f} MiB"
        )
        return 0 if failed == 0 else 1
    finally:
        for process in processes:
            stop_process(process)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
