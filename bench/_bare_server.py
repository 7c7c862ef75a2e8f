"""The ceiling: a grpc.aio server whose Authorize handler returns an empty reply at once.

    python bench/_bare_server.py HOST:PORT [auto|asyncio|uvloop]

runs on the event loop named (as `iamd serve --event-loop`; default auto)."""

from __future__ import annotations

import sys

import grpc
from iamd_server.runtime import event_loop


async def _empty(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return b""


async def main(listen: str) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        "iamd.v1.AuthorizationService",
        {
            "Authorize": grpc.unary_unary_rpc_method_handler(_empty),
            "AuthorizeBatch": grpc.unary_unary_rpc_method_handler(_empty),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    await server.start()
    print(f"bare listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    loop = sys.argv[2] if len(sys.argv) > 2 else "auto"
    event_loop.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0"), loop)
