"""Fixtures of the SDK tests: a small in-memory iamd served over real gRPC on port 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from iamd_client import Client

from tests.client.sdk_fake_server import ACCESS_KEY_ID, SECRET, RunningServer, serve


@pytest.fixture(scope="session")
def fake_server() -> Iterator[RunningServer]:
    yield from serve()


@pytest.fixture
def fake(fake_server: RunningServer) -> RunningServer:
    """The shared fake server, emptied for this test."""
    fake_server.fake.reset()
    return fake_server


@pytest.fixture
def client(fake: RunningServer) -> Iterator[Client]:
    with Client(endpoint=fake.endpoint, access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET) as c:
        yield c
