"""SIGTERM drains: a call in flight when the signal arrives still gets its answer."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb

from tests.harness import ServerProcess, start_server, stubs


def _replica(first: ServerProcess, directory: Path) -> ServerProcess:
    directory.mkdir(parents=True, exist_ok=True)
    # Replicas share the master key (it decrypts the stored access key secrets).
    (directory / "master.key").write_bytes(first.master_key_file.read_bytes())
    return start_server(first.database_url, directory)


def test_sigterm_answers_the_call_in_flight_then_exits_cleanly(
    database_url: str, tmp_path: Path
) -> None:
    draining = start_server(database_url, tmp_path / "a")
    other = _replica(draining, tmp_path / "b")
    try:
        a = stubs(draining.endpoint, draining.root)
        b = stubs(other.endpoint, draining.root)  # only the first start writes credentials
        revision = int(b.management.CreateUser(mpb.CreateUserRequest(user_name="w1")).revision)
        # The call waits on `draining` for a revision that does not exist yet.
        answers: list[pb.AuthorizeResponse] = []
        errors: list[BaseException] = []

        def wait_for_next_revision() -> None:
            try:
                answers.append(
                    a.authorization.Authorize(
                        pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=revision + 1),
                        timeout=15,
                    )
                )
            except BaseException as exc:
                errors.append(exc)

        caller = threading.Thread(target=wait_for_next_revision)
        caller.start()
        time.sleep(0.5)
        draining.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # The revision it waits for is written through the other replica while it drains.
        b.management.CreateUser(mpb.CreateUserRequest(user_name="w2"))
        caller.join(15)
        assert not errors, errors
        assert answers[0].decision == tpb.DECISION_ALLOWED
        assert answers[0].revision >= revision + 1
        assert draining.process.wait(15) == 0
        assert "iamd stopped\n" in draining.output
        a.close()
        b.close()
    finally:
        draining.stop()
        other.stop()
