"""Real `iamd sidecar` processes for tests (no tests here)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2
from iamd_client.signing import SigningCredentials

from tests.launch import Launched, launch


def sidecar_argv(upstream: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "iamd_server.runtime.cli",
        "sidecar",
        "--upstream",
        upstream,
        "--listen",
        "127.0.0.1:0",
        *extra,
    ]


def start_sidecar(
    upstream: str, credentials: SigningCredentials, *extra: str, env: dict[str, str] | None = None
) -> Launched:
    """A sidecar following ``upstream`` as ``credentials`` (given in its environment, like
    a pod's secret), with none of iamd's other settings in its environment."""
    return launch(
        sidecar_argv(upstream, *extra),
        env={
            "IAMD_ACCESS_KEY_ID": credentials.access_key_id,
            "IAMD_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "IAMD_SHARED_CREDENTIALS_FILE": "/nonexistent",
            **(env or {}),
        },
    )


def health(endpoint: str, service: str = "") -> int:
    channel = grpc.insecure_channel(endpoint)
    try:
        check: grpc.UnaryUnaryMultiCallable[
            health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
        ] = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        return int(check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)
    finally:
        channel.close()


def wait_serving(endpoint: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while health(endpoint) != health_pb2.HealthCheckResponse.SERVING:
        if time.monotonic() > deadline:
            raise AssertionError("the sidecar never became SERVING")
        time.sleep(0.05)


def metric(text: str, name: str) -> float:
    """The value of an unlabelled metric in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def sockets_of(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open."""
    import os

    inodes: set[int] = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def tcp_peers(pid: int) -> list[tuple[int, int]]:
    """(local port, remote port) of every TCP socket of ``pid`` (listeners: remote 0)."""
    inodes = sockets_of(pid)
    peers: list[tuple[int, int]] = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[9]) in inodes:
                    peers.append(
                        (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
                    )
    return peers


def unix_sockets(pid: int) -> list[str]:
    """Paths (or "" for unnamed) of the Unix sockets ``pid`` holds open."""
    inodes = sockets_of(pid)
    found: list[str] = []
    with open(f"/proc/{pid}/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[6]) in inodes:
                found.append(fields[7] if len(fields) > 7 else "")
    return found


def arguments_and_environment(pid: int) -> tuple[list[str], dict[str, str]]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [e.decode(errors="replace") for e in f.read().split(b"\0") if e]
    return argv, dict(p.partition("=")[::2] for p in pairs)


def stop_all(processes: Sequence[Launched]) -> None:
    for process in processes:
        process.stop()


def unix_peers() -> dict[int, int]:
    """Every Unix socket of the machine's network namespace: inode -> peer inode (0: none),
    from the kernel's sock_diag interface (what `ss -x` shows)."""
    import socket
    import struct

    netlink_sock_diag, sock_diag_by_family = 4, 20
    request_flags = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
    unix_diag_peer, show_peer = 2, 0x4
    body = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, show_peer, 0, 0)
    header = struct.pack("=IHHII", 16 + len(body), sock_diag_by_family, request_flags, 1, 0)
    peers: dict[int, int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, netlink_sock_diag) as sock:
        sock.sendall(header + body)
        done = False
        while not done:
            data = sock.recv(1 << 20)
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                    done = True
                    break
                inode = struct.unpack_from("=I", data, offset + 16 + 4)[0]
                peer = 0
                attribute = offset + 16 + 16  # after unix_diag_msg
                while attribute + 4 <= offset + length:
                    attr_length, attr_type = struct.unpack_from("=HH", data, attribute)
                    if attr_length < 4:
                        break
                    if attr_type == unix_diag_peer:
                        peer = struct.unpack_from("=I", data, attribute + 4)[0]
                    attribute += (attr_length + 3) & ~3
                peers[inode] = peer
                offset += (length + 3) & ~3
    return peers
