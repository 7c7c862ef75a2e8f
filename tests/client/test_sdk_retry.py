"""Retries across a real server restart: `iamd serve` on a fixed port, stopped and started
again on the same database (and master key) while calls are in flight."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iamd_client import AsyncClient, NotFound, Unavailable
from iamd_client import _calls as c
from iamd_client._call import is_idempotent

from tests.client.conftest import connect, free_port
from tests.harness import ServerProcess, start_server


class Restartable:
    """One iamd on a fixed address that can be stopped and started again."""

    def __init__(self, database_url: str, base: Path) -> None:
        self.database_url = database_url
        self.base = base
        self.listen = f"127.0.0.1:{free_port()}"
        self.generation = 0
        self.current = self._start()
        self.root = self.current.root
        self.endpoint = self.current.endpoint

    def _start(self) -> ServerProcess:
        directory = self.base / f"run-{self.generation}"
        if self.generation:
            directory.mkdir()
            shutil.copy(self.base / "run-0" / "master.key", directory / "master.key")
        self.generation += 1
        return start_server(self.database_url, directory, extra_args=["--listen", self.listen])

    def stop(self) -> None:
        assert self.current.stop() == 0

    def start(self) -> None:
        self.current = self._start()
        assert self.current.endpoint == self.endpoint

    def start_later(self, delay: float) -> threading.Thread:
        def run() -> None:
            time.sleep(delay)
            self.start()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@pytest.fixture(scope="module")
def iamd(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Restartable]:
    server = Restartable(module_database_url, tmp_path_factory.mktemp("iamd-restart"))
    try:
        yield server
    finally:
        server.current.stop()


def test_idempotent_call_survives_a_restart(iamd: Restartable) -> None:
    with connect(iamd.endpoint, iamd.root, timeout=30, max_attempts=1000) as client:
        client.create_user(user_name="r-before")
        iamd.stop()
        restart = iamd.start_later(0.5)
        started = time.monotonic()
        users = client.list_users()  # UNAVAILABLE until the server is back, then answered
        elapsed = time.monotonic() - started
        restart.join()
    assert "r-before" in [u.user_name for u in users.users]
    assert elapsed > 0.5  # it really waited for the new process


def test_non_idempotent_write_is_not_retried(iamd: Restartable) -> None:
    assert not is_idempotent("/iamd.v1.ManagementService/CreateUser")
    with connect(iamd.endpoint, iamd.root, timeout=30, max_attempts=1000) as client:
        client.get_caller_identity()  # connected
        iamd.stop()
        restart = iamd.start_later(0.5)
        started = time.monotonic()
        with pytest.raises(Unavailable) as excinfo:
            client.create_user(user_name="r-during")
        elapsed = time.monotonic() - started
        restart.join()
        assert excinfo.value.retryable
        assert elapsed < 0.5  # one attempt, no waiting for the server to come back
        with pytest.raises(NotFound):
            client.get_user(user_name="r-during")  # retried until answered: it never ran


def test_delete_is_retried_across_a_restart(iamd: Restartable) -> None:
    assert is_idempotent("/iamd.v1.ManagementService/DeleteUser")
    with connect(iamd.endpoint, iamd.root, timeout=30, max_attempts=1000) as client:
        client.create_user(user_name="r-deleted")
        iamd.stop()
        restart = iamd.start_later(0.5)
        started = time.monotonic()
        client.delete_user(user_name="r-deleted")  # UNAVAILABLE until the server is back
        elapsed = time.monotonic() - started
        restart.join()
        assert elapsed > 0.5
        with pytest.raises(NotFound):
            client.get_user(user_name="r-deleted")


def test_credential_rpcs_retry_classification() -> None:
    retried: list[c.Call[Any]] = [
        c.get_login_profile(user_name="u"),
        c.get_account_password_policy(),
        c.get_open_id_connect_provider(open_id_connect_provider_arn="arn"),
        c.list_open_id_connect_providers(),
        c.update_account_password_policy(minimum_password_length=8),
        c.update_open_id_connect_provider_jwks(open_id_connect_provider_arn="arn", jwks="{}"),
        # Deletes leave the same state when repeated (a repeat may answer NOT_FOUND), as HTTP's
        # DELETE: retried, as the AWS SDKs retry them.
        c.delete_login_profile(user_name="u"),
        c.delete_account_password_policy(),
        c.delete_open_id_connect_provider(open_id_connect_provider_arn="arn"),
    ]
    once: list[c.Call[Any]] = [
        c.create_login_profile(user_name="u", password="p"),
        c.update_login_profile(user_name="u", password="p"),
        c.create_open_id_connect_provider(url="https://x", client_ids=["c"], jwks="{}"),
        c.revoke_role_sessions(role_name="r"),
        c.revoke_user_sessions(user_name="u"),
        c.login(account="a", user_name="u", password="p"),
    ]
    assert [call.rpc for call in retried if not call.idempotent] == []
    assert [call.rpc for call in once if call.idempotent] == []
    assert [call.rpc for call in retried + once if not call.signed] == ["Login"]


def test_retries_stop_at_max_attempts_and_deadline(iamd: Restartable) -> None:
    iamd.stop()
    try:
        with connect(iamd.endpoint, iamd.root) as client:
            started = time.monotonic()
            with pytest.raises(Unavailable):
                client.with_options(max_attempts=1).list_users()
            with pytest.raises(Unavailable):
                client.with_options(timeout=0.5, max_attempts=1000).list_users()
            assert time.monotonic() - started < 3.0
    finally:
        iamd.start()


async def test_async_client_retries_across_a_restart(iamd: Restartable) -> None:
    root = iamd.root
    async with AsyncClient(
        endpoint=iamd.endpoint,
        access_key_id=root.access_key_id,
        secret_access_key=root.secret_access_key,
        timeout=30,
        max_attempts=1000,
    ) as client:
        await client.get_caller_identity()
        iamd.stop()
        restart = iamd.start_later(0.5)
        user = await client.get_user(user_name="r-before")
        restart.join()
    assert user.user.user_name == "r-before"
