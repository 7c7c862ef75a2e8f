"""Authorize with and without the decision log: throughput, p50/p99 and CPU per call.

    .venv/bin/python bench/decision_log.py [--seconds 5] [--users 1000] [--rounds 3]

Seeds a throwaway PostgreSQL as bench/authorize.py does, starts three `iamd serve` on core
1 (no decision log; the log with its default sampling, 1 % of allows; the log with every
decision), and loads each in turn with h2load from core 0 (Authorize, a cache hit that is
allowed, concurrency 1 and 16). Each figure is the median of the alternating rounds. Prints
the lines each server wrote and dropped. Needs h2load and two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import authorize as base  # bench/authorize.py (this script's directory): seeding, load
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import types_pb2
from iamd_server.store.embedded import EmbeddedPostgres

CONFIGS = (
    ("no decision log", None),
    ("log, allows 0.01", "0.01"),
    ("log, every decision", "1"),
)


def scrape(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure")
    args = parser.parse_args()
    base.require_tools()
    work = Path(tempfile.mkdtemp(prefix="iamd-bench-"))
    cluster = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="iamd-bench-pg-")), throwaway=True)
    servers: list[tuple[str, subprocess.Popen[str], str, int, Path | None]] = []
    try:
        dsn = cluster.start()
        asyncio.run(base.prepare_database(dsn))
        for index, (name, rate) in enumerate(CONFIGS):
            port = base.free_port()
            argv = [
                sys.executable, "-m", "iamd_server.runtime.cli", "serve", "--database-url", dsn,
                "--listen", "127.0.0.1:0", "--credentials-file", str(work / "credentials"),
                "--master-key-file", str(work / "master.key"), "--log-level", "WARNING",
                "--metrics-listen", f"127.0.0.1:{port}",
            ]  # fmt: skip
            log = None
            if rate is not None:
                log = work / f"decisions-{index}.log"
                argv += ["--decision-log", str(log), "--decision-log-sample-allows", rate]
            process, endpoint = base.start_pinned(argv, "iamd listening on ")
            servers.append((name, process, endpoint, port, log))
            if index == 0:
                account = asyncio.run(base.seed(dsn, args.users))
        credentials = base.read_credentials(work / "credentials")
        body = pb.AuthorizeRequest(
            principal_arn=f"arn:aws:iam::{account}:user/bench-user-0",
            action="s3:GetObject",
            resource_arn="arn:aws:s3:::bucket-3/photos/cat.jpg",
        ).SerializeToString()
        for _, _, endpoint, _, _ in servers:
            reply = pb.AuthorizeResponse.FromString(
                base.call(endpoint, base.AUTHORIZE, body, credentials)
            )
            assert reply.decision == types_pb2.DECISION_ALLOWED, reply
        headers = base.signed_headers(base.AUTHORIZE, body, credentials)
        print(f"Authorize (cache hit, allowed), {args.seconds:g} s x {args.rounds} rounds")
        print(f"{'':<24} {'c':>3} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>8}")
        for concurrency in (1, 16):
            runs: dict[str, list[base.LoadResult]] = {name: [] for name, *_ in servers}
            for _ in range(args.rounds):
                for name, process, endpoint, _, _ in servers:
                    runs[name].append(
                        base.run_h2load(
                            f"http://{endpoint}{base.AUTHORIZE}", body, headers,
                            concurrency=concurrency, seconds=args.seconds,
                            server_pid=process.pid,
                        )
                    )  # fmt: skip
            for name, results in runs.items():
                r = base.median_result(results)
                print(
                    f"{name:<24} {concurrency:>3} {r.rate:>9,.0f} {r.p50_ms:>8.3f}"
                    f" {r.p99_ms:>8.3f} {r.cpu_us_per_call:>8.0f}"
                )
        time.sleep(0.5)
        for name, _, _, port, log in servers:
            if log is None:
                continue
            written = scrape(port, "iamd_decision_log_written_total")
            dropped = scrape(port, "iamd_decision_log_dropped_total")
            size = log.stat().st_size / 1e6 if log.exists() else 0.0
            print(f"{name}: {written:,.0f} lines written, {dropped:,.0f} dropped, {size:.1f} MB")
    finally:
        for _, process, _, _, _ in servers:
            base.stop_process(process)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
