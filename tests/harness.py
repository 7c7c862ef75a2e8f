"""Real iamd server processes for tests, and signed channels to call them."""

from __future__ import annotations

import configparser
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from iamd.v1 import authorization_pb2_grpc, management_pb2_grpc, sts_pb2_grpc
from iamd_client.signing import SigningCredentials, sign_metadata


@dataclass
class ServerProcess:
    """One `iamd serve` process; ``root`` holds the management account's root credentials."""

    process: subprocess.Popen[str]
    endpoint: str
    credentials_file: Path
    master_key_file: Path
    database_url: str
    output: list[str] = field(default_factory=list)

    @property
    def root(self) -> SigningCredentials:
        return read_profile(self.credentials_file)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def read_profile(path: Path, profile: str = "default") -> SigningCredentials:
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser[profile]
    return SigningCredentials(section["access_key_id"], section["secret_access_key"])


def start_server(
    database_url: str,
    directory: Path,
    *,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> ServerProcess:
    """Starts `iamd serve` on a free port and waits until it listens."""
    directory.mkdir(parents=True, exist_ok=True)
    credentials = directory / "credentials"
    master_key = directory / "master.key"
    argv = [
        sys.executable,
        "-m",
        "iamd_server.runtime.cli",
        "serve",
        "--database-url",
        database_url,
        "--listen",
        "127.0.0.1:0",
        "--credentials-file",
        str(credentials),
        "--master-key-file",
        str(master_key),
        *extra_args,
    ]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            process.kill()
            raise RuntimeError("iamd did not start in time:\n" + "".join(output)) from None
        if line is None:
            raise RuntimeError("iamd exited during start:\n" + "".join(output))
        if line.startswith("iamd listening on "):
            endpoint = line.split()[-1]
            break
    return ServerProcess(process, endpoint, credentials, master_key, database_url, output)


class SigningInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Signs each call over the serialized request, as the SDK does."""

    def __init__(self, credentials: SigningCredentials) -> None:
        self._credentials = credentials

    def intercept_unary_unary(
        self,
        continuation: Callable[[Any, Any], Any],
        client_call_details: Any,
        request: Any,
    ) -> Any:
        metadata = list(client_call_details.metadata or ())
        metadata.extend(
            sign_metadata(
                client_call_details.method, request.SerializeToString(), self._credentials
            )
        )
        details = client_call_details._replace(metadata=metadata)
        return continuation(details, request)


@dataclass
class Stubs:
    channel: grpc.Channel
    management: management_pb2_grpc.ManagementServiceStub
    authorization: authorization_pb2_grpc.AuthorizationServiceStub
    sts: sts_pb2_grpc.StsServiceStub

    def close(self) -> None:
        self.channel.close()


def stubs(endpoint: str, credentials: SigningCredentials | None) -> Stubs:
    """Generated stubs on a channel that signs with ``credentials`` (None: unsigned)."""
    channel: grpc.Channel = grpc.insecure_channel(endpoint)
    if credentials is not None:
        channel = grpc.intercept_channel(channel, SigningInterceptor(credentials))
    return Stubs(
        channel,
        management_pb2_grpc.ManagementServiceStub(channel),
        authorization_pb2_grpc.AuthorizationServiceStub(channel),
        sts_pb2_grpc.StsServiceStub(channel),
    )
