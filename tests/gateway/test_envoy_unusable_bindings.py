"""Fail closed on bindings that cannot be used: a stored definition whose bindings do not
compile (written before validation, or by hand) denies every request of the service with
500, even on a route that lets unbound requests through."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import asyncpg
import pytest

from tests.gateway.gateway_support import Envoy, check_request
from tests.harness import ServerProcess, start_server

BROKEN = {
    "service_prefix": "broken",
    "resource_types": [
        {"name": "thing", "arn_pattern": "arn:${Partition}:broken:::thing/${Id}"}
    ],
    "actions": [
        {"name": "GetThing", "resource_types": ["thing"],
         "http": [{"method": "GET", "path": "/things/{Id}"}]},
        {"name": "Search", "resource_types": [],
         "http": [{"method": "GET", "path": "/things/search"}]},
    ],
    "condition_keys": [],
}  # fmt: skip


async def _store(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO iamd_service_definitions (service_prefix, definition)"
            " VALUES ('broken', $1::jsonb)",
            json.dumps(BROKEN),
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def broken_server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    asyncio.run(_store(module_database_url))
    process = start_server(module_database_url, tmp_path_factory.mktemp("iamd"))
    try:
        yield process
    finally:
        process.stop()


def test_bindings_that_do_not_compile_deny_everything(broken_server: ServerProcess) -> None:
    envoy = Envoy(broken_server.endpoint)
    try:
        for path in ("/things/1", "/things/search", "/elsewhere"):
            for route in ({"iamd_service": "broken"},
                          {"iamd_service": "broken", "iamd_unbound": "allow"}):  # fmt: skip
                answer = envoy.check(check_request("GET", path, extensions=route))
                assert not answer.allowed and answer.status == 500, (path, route)
    finally:
        envoy.close()
