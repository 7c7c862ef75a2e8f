"""The sidecar's connection to its upstream iamd, signed with the sidecar's own access key
(resolved like the SDK's: environment, then profile; see iamd_client.credentials). The Watch
stream is the SDK's (iamd_client.local.upstream); calls are also forwarded unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from iamd_client import _transport as transport
from iamd_client.credentials import ClientConfig
from iamd_client.local.upstream import WatchUpstream
from iamd_client.signing import HEADER_DATE, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TOKEN

_SIGNATURE_HEADERS = frozenset({HEADER_KEY_ID, HEADER_DATE, HEADER_SIGNATURE, HEADER_TOKEN})


class Upstream(WatchUpstream):
    """One channel to the upstream: the Watch stream, and calls forwarded unchanged."""

    def __init__(self, config: ClientConfig) -> None:
        if not config.access_key_id:
            raise ValueError(
                "no credentials for the upstream: set IAMD_ACCESS_KEY_ID and"
                " IAMD_SECRET_ACCESS_KEY, or a profile (IAMD_PROFILE)"
            )
        super().__init__(config)

    async def forward(
        self,
        method: str,
        request: bytes,
        metadata: Sequence[tuple[str, str | bytes]],
        timeout: float | None,
    ) -> bytes:
        """The call exactly as the caller signed it (its own signature headers), answered
        by the upstream; raises grpc.aio.AioRpcError with the upstream's status."""
        rpc: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            method, request_serializer=transport.identity, response_deserializer=transport.identity
        )
        headers = tuple((k, str(v)) for k, v in metadata if k in _SIGNATURE_HEADERS)
        response: bytes = await rpc(request, metadata=headers, timeout=timeout or 10.0)
        return response
