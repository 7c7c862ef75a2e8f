"""A blocking ReplicationService.Watch client for tests (no tests here)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

import grpc
from iamd.v1 import replication_pb2 as rpb
from iamd_client.signing import SigningCredentials, sign_metadata

WATCH_METHOD = "/iamd.v1.ReplicationService/Watch"


class WatchClient:
    """One Watch stream: ``send`` more requests, read responses with ``next`` / ``until``."""

    def __init__(
        self,
        endpoint: str,
        credentials: SigningCredentials | None,
        first: rpb.WatchRequest,
        *,
        first_bytes: bytes | None = None,
        metadata: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self._responses: queue.Queue[rpb.WatchResponse | grpc.RpcError | None] = queue.Queue()
        self.channel = grpc.insecure_channel(endpoint)
        method = self.channel.stream_stream(
            WATCH_METHOD,
            request_serializer=lambda raw: raw,
            response_deserializer=rpb.WatchResponse.FromString,
        )
        raw = first.SerializeToString() if first_bytes is None else first_bytes
        if metadata is None:
            metadata = sign_metadata(WATCH_METHOD, raw, credentials) if credentials else ()
        self.raw: list[bytes] = []

        def requests() -> Iterator[bytes]:
            yield raw
            while True:
                item = self._requests.get()
                if item is None:
                    return
                yield item

        self.call = method(requests(), metadata=metadata)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        try:
            for response in self.call:
                self.raw.append(response.SerializeToString())
                self._responses.put(response)
            self._responses.put(None)
        except grpc.RpcError as error:
            self._responses.put(error)

    def send(self, request: rpb.WatchRequest) -> None:
        self._requests.put(request.SerializeToString())

    def next(self, timeout: float = 10.0) -> rpb.WatchResponse:
        item = self._responses.get(timeout=timeout)
        if isinstance(item, grpc.RpcError):
            raise item
        if item is None:
            raise EOFError("the stream ended")
        return item

    def until(
        self, predicate: Callable[[rpb.WatchResponse], bool], timeout: float = 10.0
    ) -> list[rpb.WatchResponse]:
        """Responses up to and including the first that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        seen: list[rpb.WatchResponse] = []
        while True:
            response = self.next(max(0.01, deadline - time.monotonic()))
            seen.append(response)
            if predicate(response):
                return seen

    def batch(self, timeout: float = 10.0) -> list[rpb.WatchResponse]:
        """Responses up to the next one that completes a batch (has a revision)."""
        return self.until(lambda r: r.revision > 0, timeout)

    def error(self, timeout: float = 10.0) -> grpc.RpcError:
        """The status the stream ends with (responses before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            item = self._responses.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(item, grpc.RpcError):
                return item
            if item is None:
                raise AssertionError("the stream ended without an error")

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()
        self.channel.close()

    def __enter__(self) -> WatchClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def principals(responses: list[rpb.WatchResponse]) -> dict[str, rpb.PrincipalState]:
    """The last state of each principal in ``responses``."""
    return {p.arn: p for r in responses for p in r.principals}


def access_keys(responses: list[rpb.WatchResponse]) -> dict[str, rpb.AccessKeyState]:
    return {k.access_key_id: k for r in responses for k in r.access_keys}


def resources(responses: list[rpb.WatchResponse]) -> dict[str, rpb.ResourceState]:
    return {s.arn: s for r in responses for s in r.resources}
