"""`python -m iamd_server.runtime.healthcheck [HOST:PORT]`: exit 0 when the iamd at that address (by
default ``IAMD_LISTEN``, as `serve` reads it) answers gRPC health SERVING, else 1.

For probes that cannot reach the address themselves: a sidecar that listens on 127.0.0.1 is
out of reach of the kubelet's own gRPC probe, which dials the pod's IP, so its probe runs this
inside the container instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2

_TIMEOUT_SECONDS = 2.0
_ANY = ("0.0.0.0", "[::]", "::", "")


def target(listen: str) -> str:
    """Where to dial a server listening on ``listen``: a wildcard host means this host."""
    host, _, port = listen.rpartition(":")
    return f"127.0.0.1:{port}" if host in _ANY else listen


def check(address: str, timeout: float = _TIMEOUT_SECONDS) -> str | None:
    """None when ``address`` is SERVING; otherwise why not, in one line."""
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            answer = call(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            return f"{address}: {exc.code().name}"
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    listen = args[0] if args else os.environ.get("IAMD_LISTEN", "127.0.0.1:50051")
    problem = check(target(listen))
    if problem is not None:
        print(f"iamd health: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
