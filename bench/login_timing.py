"""Login latency by kind of name: does the answer's timing tell which user names exist?

    .venv/bin/python bench/login_timing.py [--names 30]

Starts a throwaway PostgreSQL and `iamd serve`, creates users with and without a password,
then signs in with wrong passwords as those users, as names no user has, and in an account
that does not exist, round after round over all names: the first failures are checked
(UNAUTHENTICATED), later ones may meet the name's backoff (RESOURCE_EXHAUSTED). Prints the
answers' p50 / p90 in milliseconds per kind of name and answer: for one answer, every kind
should take the same time.
"""

from __future__ import annotations

import argparse
import configparser
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import management_pb2_grpc, sts_pb2, sts_pb2_grpc
from iamd_client.signing import SigningCredentials, sign_metadata
from iamd_server.store.embedded import EmbeddedPostgres

PASSWORD = "Correct-Horse-9"
# Wrong passwords per name: the first ones are checked, later ones meet the backoff.
ROUNDS = 6


def start_iamd(dsn: str, directory: Path) -> tuple[subprocess.Popen[str], str, Path]:
    credentials = directory / "credentials"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "iamd_server.runtime.cli", "serve", "--database-url", dsn),
            *("--listen", "127.0.0.1:0", "--credentials-file", str(credentials)),
            *("--master-key-file", str(directory / "master.key"), "--log-level", "WARNING"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("iamd listening on "):
            return process, line.split()[-1], credentials
    raise RuntimeError("iamd did not start")


def signed(method: str, request: bytes, key: SigningCredentials) -> tuple[tuple[str, str], ...]:
    return tuple(sign_metadata(method, request, key))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", type=int, default=30, help="names of each kind")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iamd-bench-login-"))
    pg_directory = Path(tempfile.mkdtemp(prefix="iamd-bench-pg-"))
    cluster = EmbeddedPostgres(pg_directory, throwaway=True)
    process = None
    try:
        process, endpoint, credentials_file = start_iamd(cluster.start(), work)
        parser_ = configparser.ConfigParser()
        parser_.read(credentials_file)
        root = SigningCredentials(
            parser_["default"]["access_key_id"], parser_["default"]["secret_access_key"]
        )
        channel = grpc.insecure_channel(endpoint)
        manage = management_pb2_grpc.ManagementServiceStub(channel)
        sts = sts_pb2_grpc.StsServiceStub(channel)

        def call(method: str, stub_method: Any, request: Message) -> Any:
            data = request.SerializeToString()
            return stub_method(request, metadata=signed(method, data, root))

        account = call(
            "/iamd.v1.ManagementService/DescribeAccount",
            manage.DescribeAccount,
            mpb.DescribeAccountRequest(),
        ).account.account_id
        run = secrets.token_hex(3)
        kinds: dict[str, list[tuple[str, str]]] = {
            "user with password": [],
            "user without password": [],
            "no such user": [],
            "no such account": [],
        }
        for n in range(args.names):
            for kind, has_password in (
                ("user with password", True),
                ("user without password", False),
            ):
                name = f"{'p' if has_password else 'n'}-{run}-{n}"
                call(
                    "/iamd.v1.ManagementService/CreateUser",
                    manage.CreateUser,
                    mpb.CreateUserRequest(user_name=name),
                )
                if has_password:
                    call(
                        "/iamd.v1.ManagementService/CreateLoginProfile",
                        manage.CreateLoginProfile,
                        mpb.CreateLoginProfileRequest(user_name=name, password=PASSWORD),
                    )
                kinds[kind].append((account, name))
            kinds["no such user"].append((account, f"u-{run}-{n}"))
            kinds["no such account"].append(("000000000000", f"u-{run}-{n}"))

        timings: dict[tuple[str, str], list[float]] = {}
        for attempt in range(ROUNDS):
            # Kinds interleaved, so that load from elsewhere falls on all of them alike.
            for index in range(args.names):
                for kind, names in kinds.items():
                    account_id, name = names[index]
                    request = sts_pb2.LoginRequest(
                        account=account_id, user_name=name, password="Wrong-Horse-9"
                    )
                    start = time.perf_counter()
                    try:
                        sts.Login(request)
                        answer = "OK"
                    except grpc.RpcError as error:
                        answer = error.code().name
                    elapsed = (time.perf_counter() - start) * 1000
                    if attempt > 0:  # the first round warms connections and caches
                        timings.setdefault((kind, answer), []).append(elapsed)
        print(f"{'kind':24} {'answer':18} {'n':>4} {'p50 ms':>8} {'p90 ms':>8}")
        for (kind, answer), values in sorted(timings.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            values.sort()
            p90 = values[int(len(values) * 0.9) - 1]
            print(
                f"{kind:24} {answer:18} {len(values):4} {statistics.median(values):8.1f} {p90:8.1f}"
            )
        channel.close()
    finally:
        if process is not None:
            process.terminate()
            process.wait(15)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_directory, ignore_errors=True)


if __name__ == "__main__":
    main()
