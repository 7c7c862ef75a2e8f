"""iamd serve on each event loop it offers, and the reply fast path reporting its decisions.

The suite runs iamd on uvloop (`--event-loop auto` with the `uvloop` extra installed); this
runs it on asyncio's own loop as well, and checks that decisions answered from a remembered
reply still reach the decision log (and so last-accessed data, which the same hook feeds).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import types_pb2 as tpb
from iamd_client.signing import sign_metadata

from tests.api.test_authorize_replicas import free_port
from tests.api.test_authorize_replies import AUTHORIZE, reply_hits, send
from tests.harness import start_server, stubs
from tests.insight.test_decision_log import lines, setup_alice, wait_for


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_remembered_replies_are_logged_on_either_loop(
    database_url: str, tmp_path: Path, loop: str
) -> None:
    log = tmp_path / "decisions.log"
    port = free_port()
    server = start_server(
        database_url,
        tmp_path / "iamd",
        extra_args=[
            "--event-loop", loop,
            "--metrics-listen", f"127.0.0.1:{port}",
            "--decision-log", str(log), "--decision-log-sample-allows", "1",
        ],
    )  # fmt: skip
    try:
        s = stubs(server.endpoint, server.root)
        alice = setup_alice(s)
        body = pb.AuthorizeRequest(principal_arn=alice, action="iam:GetUser").SerializeToString()
        metadata = sign_metadata(AUTHORIZE, body, server.root)
        before = reply_hits(port)
        for _ in range(5):  # the same signed bytes: answered from the remembered reply
            assert send(server.endpoint, body, metadata).decision == tpb.DECISION_ALLOWED
        assert reply_hits(port) > before
        wait_for(lambda: len([x for x in lines(log) if x["principal"] == alice]) >= 5)
        logged = [x for x in lines(log) if x["principal"] == alice]
        assert {(x["action"], x["decision"]) for x in logged} == {("iam:GetUser", "allowed")}
        assert server.root.secret_access_key not in json.dumps(logged)
        s.close()
    finally:
        server.stop()
