"""The ceiling: a grpc.aio server whose Authorize handler returns an empty reply at once."""

from __future__ import annotations

import asyncio
import sys

import grpc


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
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0"))
