"""A signed ReplicationService.Watch stream to iamd, opened with SDK credentials (see
iamd_client.credentials). Used by the SDK's LocalAuthorizer and by `iamd sidecar`."""

from __future__ import annotations

import asyncio

import grpc

from iamd_client import _transport as transport
from iamd_client.credentials import ClientConfig
from iamd_client.errors import ConfigurationError

WATCH_METHOD = "/iamd.v1.ReplicationService/Watch"
# A snapshot of many items arrives in messages of about 1 MiB; one state is far smaller.
MAX_MESSAGE = 64 << 20
OPEN_TIMEOUT = 10.0


class WatchCall:
    """One open Watch stream as a follower uses it (bytes in, bytes out, None at the end)."""

    def __init__(self, call: grpc.aio.StreamStreamCall[bytes, bytes]) -> None:
        self._call = call

    async def write(self, request: bytes) -> None:
        await self._call.write(request)

    async def read(self) -> bytes | None:
        message = await self._call.read()
        return message if isinstance(message, bytes) else None

    def cancel(self) -> None:
        self._call.cancel()


class WatchUpstream:
    """One grpc.aio channel to iamd (create it on the event loop that will use it)."""

    def __init__(self, config: ClientConfig) -> None:
        if not config.access_key_id:
            raise ConfigurationError(
                "no credentials for the upstream: set IAMD_ACCESS_KEY_ID and"
                " IAMD_SECRET_ACCESS_KEY, or a profile (IAMD_PROFILE)"
            )
        target = transport.parse_endpoint(config.endpoint, tls=config.tls)
        self.address = target.address
        options = [
            *transport.channel_options(),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
        ]
        if target.tls:
            credentials = transport.channel_credentials(
                ca_file=config.ca_file,
                client_cert_file=config.client_cert_file,
                client_key_file=config.client_key_file,
            )
            self._channel = grpc.aio.secure_channel(target.address, credentials, options)
        else:
            self._channel = grpc.aio.insecure_channel(target.address, options)
        self.audience = config.audience
        self._signer = transport.make_signer(
            config.access_key_id, config.secret_access_key, config.session_token, config.audience
        )
        self._watch: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = self._channel.stream_stream(
            WATCH_METHOD,
            request_serializer=transport.identity,
            response_deserializer=transport.identity,
        )

    async def open_watch(self, first: bytes) -> WatchCall:
        """Opens Watch with its first request (the signature covers exactly those bytes)."""
        call = self._watch(metadata=self._signer.metadata(WATCH_METHOD, first))
        try:
            # Bounded: a blackholed upstream must not hang the follower.
            await asyncio.wait_for(call.write(first), OPEN_TIMEOUT)
        except BaseException:
            call.cancel()
            raise
        return WatchCall(call)

    async def close(self) -> None:
        await self._channel.close()
