"""ListPrincipalsAllowed end to end over 10,000 principals.

    .venv/bin/python bench/who_can.py [--users 10000] [--repeat 5]

Starts a throwaway PostgreSQL and `iamd serve`, seeds them as bench/authorize.py does (10,000
users in 100 groups, 1,000 managed policies, 10 attached to each group; its helpers are
reused) and times ListPrincipalsAllowed calls, every page fetched, from a Python client:

- narrow: s3:GetObject on an object of one bucket. Every policy allows s3:GetObject, but
  only one has a matching Resource: its group's 100 members are the only candidates decided.
- conditional: s3:ListBucket on that bucket (allowed under a condition on s3:prefix).
- everyone: s3:GetObject on a bucket whose resource policy grants "*": all 10,000 users are
  candidates and decided (pages of 1,000).

"cold" is the first call after a change (the account's policy index is rebuilt and every
candidate's entry loaded from PostgreSQL); "warm" the median of the next calls (entries
cached). Figures depend on the machine; nothing is pinned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from authorize import (
    call,
    free_port,
    prepare_database,
    read_credentials,
    seed,
    start_pinned,
    stop_process,
)
from iamd.v1 import analysis_pb2 as apb
from iamd.v1 import management_pb2 as mpb
from iamd_client.signing import SigningCredentials
from iamd_server.store.embedded import EmbeddedPostgres

WHO_CAN = "/iamd.v1.AnalysisService/ListPrincipalsAllowed"
PUT_RESOURCE_POLICY = "/iamd.v1.ManagementService/PutResourcePolicy"


def who_can(
    endpoint: str, credentials: SigningCredentials, action: str, resource: str, page: int
) -> tuple[float, int, int]:
    """(seconds, principals listed, pages) for every page of one question."""
    started = time.perf_counter()
    marker = ""
    listed = pages = 0
    while True:
        request = apb.ListPrincipalsAllowedRequest(
            action=action, resource_arn=resource, marker=marker, max_items=page
        )
        reply = apb.ListPrincipalsAllowedResponse.FromString(
            call(endpoint, WHO_CAN, request.SerializeToString(), credentials)
        )
        listed += len(reply.principals)
        pages += 1
        if not reply.is_truncated:
            return time.perf_counter() - started, listed, pages
        marker = reply.marker


def measure(
    name: str,
    endpoint: str,
    credentials: SigningCredentials,
    action: str,
    resource: str,
    repeat: int,
    page: int = 1000,
) -> None:
    cold, listed, pages = who_can(endpoint, credentials, action, resource, page)
    warm = [who_can(endpoint, credentials, action, resource, page)[0] for _ in range(repeat)]
    print(
        f"{name:<12} {listed:>6,} principals in {pages:>2} page(s):"
        f" cold {cold * 1000:8.1f} ms, warm median {statistics.median(warm) * 1000:8.1f} ms"
        f" (min {min(warm) * 1000:.1f}, max {max(warm) * 1000:.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm calls per figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iamd-bench-"))
    cluster = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="iamd-bench-pg-")), throwaway=True)
    server = None
    try:
        dsn = cluster.start()
        asyncio.run(prepare_database(dsn))
        serve = [
            sys.executable, "-m", "iamd_server.runtime.cli", "serve", "--database-url", dsn,
            "--listen", "127.0.0.1:0", "--credentials-file", str(work / "credentials"),
            "--master-key-file", str(work / "master.key"), "--log-level", "WARNING",
            "--metrics-listen", f"127.0.0.1:{free_port()}",
        ]  # fmt: skip
        server, endpoint = start_pinned(serve, "iamd listening on ", cpus=None)
        account = asyncio.run(seed(dsn, args.users))
        print(f"seeded {args.users:,} users, 100 groups, 1,000 policies (account {account})")
        credentials = read_credentials(work / "credentials")
        measure(
            "narrow",
            endpoint,
            credentials,
            "s3:GetObject",
            "arn:aws:s3:::bucket-3/photos/cat.jpg",
            args.repeat,
        )
        measure(
            "conditional", endpoint, credentials, "s3:ListBucket", "arn:aws:s3:::bucket-3",
            args.repeat,
        )  # fmt: skip
        everyone = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::public/*",
                    }
                ],
            }
        )
        put = mpb.PutResourcePolicyRequest(
            resource_arn="arn:aws:s3:::public/index.html", policy_document=everyone
        )
        call(endpoint, PUT_RESOURCE_POLICY, put.SerializeToString(), credentials)
        time.sleep(0.5)  # the change notification reaches the server's caches
        measure(
            "everyone",
            endpoint,
            credentials,
            "s3:GetObject",
            "arn:aws:s3:::public/index.html",
            args.repeat,
        )
        return 0
    finally:
        if server is not None:
            stop_process(server)
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
