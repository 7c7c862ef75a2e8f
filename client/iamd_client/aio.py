"""The asyncio client (grpc.aio); same methods as `Client`, as coroutines.

from iamd_client import AsyncClient

async with AsyncClient.from_environment() as iam:
    await iam.create_user(user_name="alice")
    async for user in iam.iter_users():
        print(user.arn)
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from iamd_client import _transport as tr
from iamd_client._api import ApiMethods
from iamd_client._binding import AsyncInvoker, next_page
from iamd_client._call import Call
from iamd_client.credentials import ClientConfig, CredentialsError, resolve
from iamd_client.errors import ConfigurationError, IamdError, Unavailable, from_rpc_error
from iamd_client.signing import DEFAULT_AUDIENCE

R = TypeVar("R", bound=Message)
T = TypeVar("T")


class AsyncClient(ApiMethods, AsyncInvoker):
    """asyncio iamd client over one long-lived grpc.aio channel.

    The channel is opened on first use inside the running event loop; use the client from
    that loop only.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        tls: bool = False,
        ca_file: str | None = None,
        client_cert_file: str | None = None,
        client_key_file: str | None = None,
        timeout: float = tr.DEFAULT_TIMEOUT,
        max_attempts: int = tr.DEFAULT_MAX_ATTEMPTS,
        audience: str = DEFAULT_AUDIENCE,
    ) -> None:
        """Same arguments as `Client`."""
        self._target = tr.parse_endpoint(endpoint, tls=tls or bool(ca_file or client_cert_file))
        self._signer = tr.make_signer(access_key_id, secret_access_key, session_token, audience)
        # Read certificate files now so configuration errors surface at construction.
        self._credentials = (
            tr.channel_credentials(
                ca_file=ca_file, client_cert_file=client_cert_file, client_key_file=client_key_file
            )
            if self._target.tls
            else None
        )
        self._state = _ChannelState()
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._owns_channel = True

    @classmethod
    def from_config(
        cls,
        config: ClientConfig,
        *,
        timeout: float = tr.DEFAULT_TIMEOUT,
        max_attempts: int = tr.DEFAULT_MAX_ATTEMPTS,
    ) -> AsyncClient:
        """Create a client from a resolved configuration."""
        return cls(
            endpoint=config.endpoint,
            access_key_id=config.access_key_id,
            secret_access_key=config.secret_access_key,
            session_token=config.session_token,
            audience=config.audience,
            tls=config.tls,
            ca_file=config.ca_file,
            client_cert_file=config.client_cert_file,
            client_key_file=config.client_key_file,
            timeout=timeout,
            max_attempts=max_attempts,
        )

    @classmethod
    def from_environment(
        cls,
        profile: str | None = None,
        *,
        endpoint: str | None = None,
        timeout: float = tr.DEFAULT_TIMEOUT,
        max_attempts: int = tr.DEFAULT_MAX_ATTEMPTS,
    ) -> AsyncClient:
        """Resolve endpoint and credentials like the AWS SDKs (see `iamd_client.credentials`)."""
        try:
            config = resolve(profile=profile, endpoint=endpoint)
        except CredentialsError as e:
            raise ConfigurationError(str(e)) from e
        return cls.from_config(config, timeout=timeout, max_attempts=max_attempts)

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._target.address

    @property
    def access_key_id(self) -> str | None:
        return self._signer.access_key_id

    def _channel(self) -> grpc.aio.Channel:
        state = self._state
        if state.channel is None:
            if self._credentials is not None:
                state.channel = grpc.aio.secure_channel(
                    self._target.address, self._credentials, tr.channel_options()
                )
            else:
                state.channel = grpc.aio.insecure_channel(
                    self._target.address, tr.channel_options()
                )
        return state.channel

    def with_options(
        self, *, timeout: float | None = None, max_attempts: int | None = None
    ) -> AsyncClient:
        """A view of this client with other call options; it shares the channel."""
        other = copy.copy(self)
        other._owns_channel = False
        if timeout is not None:
            other._timeout = timeout
        if max_attempts is not None:
            other._max_attempts = max(1, max_attempts)
        return other

    async def close(self) -> None:
        if self._owns_channel and self._state.channel is not None:
            channel, self._state.channel = self._state.channel, None
            self._state.stubs.clear()
            await channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient(endpoint={self.endpoint!r}, access_key_id={self.access_key_id!r})"

    # ---- calls -----------------------------------------------------------------------------

    async def call(self, call: Call[R]) -> R:
        """Run a prepared call (see `iamd_client.make_call`)."""
        return await self._invoke(call)

    def _stub(self, call: Call[R]) -> grpc.aio.UnaryUnaryMultiCallable[bytes, R]:
        stubs = self._state.stubs
        stub = stubs.get(call.method)
        if stub is None:
            stub = self._channel().unary_unary(
                call.method,
                request_serializer=tr.identity,
                response_deserializer=call.response_type.FromString,
            )
            stubs[call.method] = stub
        return stub

    async def _invoke(self, call: Call[R]) -> R:
        payload = call.request.SerializeToString()
        stub = self._stub(call)
        attempts = self._max_attempts if call.idempotent else 1
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            metadata = self._signer.metadata(call.method, payload) if call.signed else ()
            try:
                return await stub(
                    payload, timeout=max(deadline - time.monotonic(), 0.0), metadata=metadata
                )
            except grpc.RpcError as e:
                error: IamdError = from_rpc_error(e)
            if not isinstance(error, Unavailable) or attempt >= attempts:
                raise error
            delay = tr.backoff_delay(attempt)
            if time.monotonic() + delay >= deadline:
                raise error
            await asyncio.sleep(delay)

    async def _paginate(
        self, first: Call[R], items: Callable[[R], Iterable[T]]
    ) -> AsyncIterator[T]:
        call: Call[R] | None = first
        while call is not None:
            response = await self._invoke(call)
            for item in items(response):
                yield item
            call = next_page(call, response)


class _ChannelState:
    """The lazily opened channel, shared by a client and its `with_options` views."""

    __slots__ = ("channel", "stubs")

    def __init__(self) -> None:
        self.channel: grpc.aio.Channel | None = None
        self.stubs: dict[str, grpc.aio.UnaryUnaryMultiCallable[bytes, Any]] = {}
