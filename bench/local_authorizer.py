"""LocalAuthorizer (decisions in this process) against Authorize over gRPC, per decision.

    .venv/bin/python bench/local_authorizer.py [--users 2000] [--rounds 5] [--calls 20000]

Starts a throwaway PostgreSQL seeded like bench/authorize.py (users in groups with attached
managed policies, an "s3" service definition) and `iamd serve` pinned to core 1; this
process runs on core 0. Checks that both give the same decisions, then, alternating rounds:
µs per cached LocalAuthorizer decision (one principal, and a mix of 100 principals x 3
actions), µs per decision with a request context (not memoized: a full evaluation), and the
SDK's `Client.authorize` round trip to `iamd serve` (µs per call, c=1). Prints medians over
rounds and the ratio, plus the first call for a principal not held yet (a Watch round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script: make bench/ importable for authorize's helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from authorize import percentile, prepare_database, read_credentials, seed, start_pinned
from authorize import stop_process as stop
from iamd_client import Client, ClientConfig, LocalAuthorizer
from iamd_server.store.embedded import EmbeddedPostgres

OBJECT = "arn:aws:s3:::bucket-3/photos/cat.jpg"
ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")


def per_call_us(run: Callable[[], object], calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - began) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per figure")
    parser.add_argument("--calls", type=int, default=20000, help="local decisions per round")
    parser.add_argument("--rpcs", type=int, default=2000, help="gRPC calls per round")
    parser.add_argument("--misses", type=int, default=200, help="first-call samples")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {0})
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
        key = read_credentials(work / "credentials")
        config = ClientConfig(
            endpoint=endpoint,
            access_key_id=key.access_key_id,
            secret_access_key=key.secret_access_key,
        )
        users = [f"arn:aws:iam::{account}:user/bench-user-{i}" for i in range(args.users)]
        print(
            f"seeded {args.users:,} users; iamd serve pid {server.pid} on core 1, bench on core 0"
        )
        with LocalAuthorizer(config) as local, Client.from_config(config) as client:
            mix = [(users[i], ACTIONS[i % 3]) for i in range(100)]
            for arn, action in mix:
                here = local.authorize(principal_arn=arn, action=action, resource_arn=OBJECT)
                there = client.authorize(principal_arn=arn, action=action, resource_arn=OBJECT)
                assert here.decision == there.decision, (arn, action)
            assert local.authorize(
                principal_arn=users[0], action="s3:GetObject", resource_arn=OBJECT
            ).allowed
            print("checked: the same decisions from both for 100 principals x 3 actions")

            def hit() -> object:
                return local.authorize(
                    principal_arn=users[0], action="s3:GetObject", resource_arn=OBJECT
                )

            position = [0]

            def mixed() -> object:
                arn, action = mix[position[0] % 100]
                position[0] += 1
                return local.authorize(principal_arn=arn, action=action, resource_arn=OBJECT)

            def with_context() -> object:
                return local.authorize(
                    principal_arn=users[0],
                    action="s3:GetObject",
                    resource_arn=OBJECT,
                    context={"aws:SourceIp": "10.1.2.3"},
                )

            def rpc() -> object:
                return client.authorize(
                    principal_arn=users[0], action="s3:GetObject", resource_arn=OBJECT
                )

            figures: dict[str, list[float]] = {"hit": [], "mixed": [], "context": [], "rpc": []}
            for _ in range(args.rounds):
                figures["hit"].append(per_call_us(hit, args.calls))
                figures["mixed"].append(per_call_us(mixed, args.calls))
                figures["context"].append(per_call_us(with_context, args.calls // 4))
                figures["rpc"].append(per_call_us(rpc, args.rpcs))
            median = {name: statistics.median(values) for name, values in figures.items()}

            fresh = users[100 : 100 + args.misses]
            firsts = []
            for arn in fresh:
                began = time.perf_counter()
                local.authorize(principal_arn=arn, action="s3:GetObject", resource_arn=OBJECT)
                firsts.append((time.perf_counter() - began) * 1e3)
        print()
        print(f"medians over {args.rounds} alternating rounds (µs per decision, one thread):")
        print(f"  LocalAuthorizer, cached, one principal      {median['hit']:8.2f} µs")
        print(f"  LocalAuthorizer, cached, 100 principals x 3 {median['mixed']:8.2f} µs")
        print(f"  LocalAuthorizer, with a context (evaluated) {median['context']:8.2f} µs")
        print(f"  Client.authorize over gRPC (c=1)            {median['rpc']:8.2f} µs")
        print(
            f"  ratio: gRPC / LocalAuthorizer cached = {median['rpc'] / median['hit']:.0f}x"
            f" (mix: {median['rpc'] / median['mixed']:.0f}x,"
            f" with context: {median['rpc'] / median['context']:.0f}x)"
        )
        print(
            f"first call for a principal not held yet ({len(fresh)} principals, Watch round"
            f" trip): p50 {percentile(firsts, 50):.2f} ms, p99 {percentile(firsts, 99):.2f} ms"
        )
        return 0
    finally:
        for process in processes:
            stop(process)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
