"""The blocking client.

    from iamd_client import Client

    with Client.from_environment() as iam:
        iam.create_user(user_name="alice")
        for user in iam.iter_users(path_prefix="/dev/"):
            print(user.arn)
        decision = iam.authorize(principal_arn=arn, action="s3:GetObject", resource_arn=obj)

Every call is serialized once, signed over exactly those bytes and sent as is. Calls the API
declares idempotent (the idempotency_level option of the RPC: reads, Authorize*, Simulate*,
and writes whose repetition leaves the same state, such as Put*, Update*, Delete*) are
retried on UNAVAILABLE with jittered exponential backoff, re-signed each attempt, within the
call's deadline.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from iamd_client import _transport as tr
from iamd_client._api import ApiMethods
from iamd_client._binding import SyncInvoker, next_page
from iamd_client._call import Call
from iamd_client.credentials import ClientConfig, CredentialsError, resolve
from iamd_client.errors import ConfigurationError, IamdError, Unavailable, from_rpc_error
from iamd_client.signing import DEFAULT_AUDIENCE

R = TypeVar("R", bound=Message)
T = TypeVar("T")


class Client(ApiMethods, SyncInvoker):
    """Blocking iamd client over one long-lived gRPC channel (thread-safe)."""

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
        """Connect to `endpoint` ("host:port"; "https://..." implies TLS).

        timeout: deadline of each call in seconds, retries included.
        max_attempts: attempts of an idempotent call on UNAVAILABLE (1 = no retry).
        audience: the service name the server verifies signatures for (its --service-name,
        "iamd" by default); a signature for one audience is refused by any other.
        Without an access key calls go unsigned (only AssumeRoleWithWebIdentity and Login
        accept that; those two are never signed, with or without a key).
        """
        target = tr.parse_endpoint(endpoint, tls=tls or bool(ca_file or client_cert_file))
        self._signer = tr.make_signer(access_key_id, secret_access_key, session_token, audience)
        if target.tls:
            creds = tr.channel_credentials(
                ca_file=ca_file, client_cert_file=client_cert_file, client_key_file=client_key_file
            )
            self._channel = grpc.secure_channel(target.address, creds, tr.channel_options())
        else:
            self._channel = grpc.insecure_channel(target.address, tr.channel_options())
        self._endpoint = target.address
        self._stubs: dict[str, grpc.UnaryUnaryMultiCallable[bytes, Any]] = {}
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
    ) -> Client:
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
    ) -> Client:
        """Resolve endpoint and credentials like the AWS SDKs (see `iamd_client.credentials`)."""
        try:
            config = resolve(profile=profile, endpoint=endpoint)
        except CredentialsError as e:
            raise ConfigurationError(str(e)) from e
        return cls.from_config(config, timeout=timeout, max_attempts=max_attempts)

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def access_key_id(self) -> str | None:
        return self._signer.access_key_id

    @property
    def channel(self) -> grpc.Channel:
        """The underlying channel (shared by clients made with `with_options`)."""
        return self._channel

    def with_options(
        self, *, timeout: float | None = None, max_attempts: int | None = None
    ) -> Client:
        """A view of this client with other call options; it shares the channel."""
        other = copy.copy(self)
        other._owns_channel = False
        if timeout is not None:
            other._timeout = timeout
        if max_attempts is not None:
            other._max_attempts = max(1, max_attempts)
        return other

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(endpoint={self._endpoint!r}, access_key_id={self.access_key_id!r})"

    # ---- calls -----------------------------------------------------------------------------

    def call(self, call: Call[R]) -> R:
        """Run a prepared call (see `iamd_client.make_call`)."""
        return self._invoke(call)

    def _stub(self, call: Call[R]) -> grpc.UnaryUnaryMultiCallable[bytes, R]:
        stub = self._stubs.get(call.method)
        if stub is None:
            stub = self._channel.unary_unary(
                call.method,
                request_serializer=tr.identity,
                response_deserializer=call.response_type.FromString,
            )
            self._stubs[call.method] = stub
        return stub

    def _invoke(self, call: Call[R]) -> R:
        payload = call.request.SerializeToString()
        stub = self._stub(call)
        attempts = self._max_attempts if call.idempotent else 1
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            metadata = self._signer.metadata(call.method, payload) if call.signed else ()
            try:
                return stub(
                    payload, timeout=max(deadline - time.monotonic(), 0.0), metadata=metadata
                )
            except grpc.RpcError as e:
                error: IamdError = from_rpc_error(e)
            if not isinstance(error, Unavailable) or attempt >= attempts:
                raise error
            delay = tr.backoff_delay(attempt)
            if time.monotonic() + delay >= deadline:
                raise error
            time.sleep(delay)

    def _paginate(self, first: Call[R], items: Callable[[R], Iterable[T]]) -> Iterator[T]:
        call: Call[R] | None = first
        while call is not None:
            response = self._invoke(call)
            yield from items(response)
            call = next_page(call, response)
