"""Authorize's remembered replies (and remembered signatures) are attacked by replaying the
exact bytes and signature of a call they answered: a change, a wrong signature, an inactive
key or another caller must each get what the full path gives, never the remembered reply."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_client.signing import SigningCredentials, sign_metadata

from tests.api.test_authorize import define_widgets, user_arn, widget
from tests.api.test_authorize_replicas import free_port, metric
from tests.harness import ServerProcess, Stubs, start_server, stubs

AUTHORIZE = "/iamd.v1.AuthorizationService/Authorize"
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def replies_server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, metrics_port: int
) -> Iterator[ServerProcess]:
    process = start_server(
        module_database_url,
        tmp_path_factory.mktemp("replies"),
        extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"],
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def root(replies_server: ServerProcess) -> Iterator[Stubs]:
    s = stubs(replies_server.endpoint, replies_server.root)
    revision = define_widgets(s)
    s.authorization.Authorize(pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=revision))
    try:
        yield s
    finally:
        s.close()


def send(endpoint: str, body: bytes, metadata: Metadata) -> pb.AuthorizeResponse:
    """One Authorize with exactly these bytes and this metadata (a replay, when reused)."""
    with grpc.insecure_channel(endpoint) as channel:
        stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(AUTHORIZE)
        return pb.AuthorizeResponse.FromString(stub(body, metadata=metadata, timeout=10))


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code()


def reply_hits(port: int) -> float:
    return metric(port, 'iamd_cache_hits_total{cache="replies"}')


def read_policy(effect: str, resource: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": "widgets:Read", "Resource": resource}],
        }
    )


def new_user(root: Stubs, name: str, document: str | None) -> tuple[str, SigningCredentials]:
    m = root.management
    m.CreateUser(mpb.CreateUserRequest(user_name=name))
    if document is not None:
        m.PutUserPolicy(
            mpb.PutUserPolicyRequest(user_name=name, policy_name="p", policy_document=document)
        )
    key = m.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name=name)).access_key
    return user_arn(root, name), SigningCredentials(key.access_key_id, key.secret_access_key)


def signed(body: bytes, credentials: SigningCredentials) -> Metadata:
    return sign_metadata(AUTHORIZE, body, credentials)


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the server did not get there in time"
        time.sleep(0.05)


def test_a_replayed_request_follows_a_policy_change(
    root: Stubs, replies_server: ServerProcess, metrics_port: int
) -> None:
    arn, _ = new_user(root, "replayed", read_policy("Allow", widget("r-*")))
    body = pb.AuthorizeRequest(
        principal_arn=arn, action="widgets:Read", resource_arn=widget("r-1")
    ).SerializeToString()
    metadata = signed(body, replies_server.root)
    endpoint = replies_server.endpoint
    assert send(endpoint, body, metadata).decision == tpb.DECISION_ALLOWED
    before = reply_hits(metrics_port)
    for _ in range(3):
        assert send(endpoint, body, metadata).decision == tpb.DECISION_ALLOWED
    assert reply_hits(metrics_port) >= before + 3  # answered from the remembered reply

    changed = root.management.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name="replayed", policy_name="p", policy_document=read_policy("Deny", "*")
        )
    )
    root.authorization.Authorize(
        pb.AuthorizeRequest(action="widgets:List", at_least_revision=changed.revision)
    )
    # The very same bytes and signature: decided again, from the changed policy.
    reply = send(endpoint, body, metadata)
    assert reply.decision == tpb.DECISION_EXPLICIT_DENY
    assert reply.revision >= changed.revision


def test_remembered_bytes_with_another_signature_or_date_are_refused(
    root: Stubs, replies_server: ServerProcess
) -> None:
    arn, _ = new_user(root, "forged", read_policy("Allow", "*"))
    body = pb.AuthorizeRequest(
        principal_arn=arn, action="widgets:Read", resource_arn=widget("f-1")
    ).SerializeToString()
    metadata = signed(body, replies_server.root)
    endpoint = replies_server.endpoint
    for _ in range(2):  # verified once, then remembered
        assert send(endpoint, body, metadata).decision == tpb.DECISION_ALLOWED
    key_id, date, signature = metadata
    flipped = ("0" if signature[1][0] != "0" else "1") + signature[1][1:]
    forged = (key_id, date, (signature[0], flipped))
    assert code_of(lambda: send(endpoint, body, forged)) == grpc.StatusCode.UNAUTHENTICATED
    other_date = (key_id, (date[0], str(int(date[1]) - 1)), signature)
    assert code_of(lambda: send(endpoint, body, other_date)) == grpc.StatusCode.UNAUTHENTICATED
    # Other bytes under the remembered signature are refused too.
    other_body = body.replace(b"f-1", b"f-2")
    assert code_of(lambda: send(endpoint, other_body, metadata)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


def test_a_deactivated_key_gets_no_remembered_reply(
    root: Stubs, replies_server: ServerProcess
) -> None:
    _, credentials = new_user(root, "deactivated", read_policy("Allow", "*"))
    body = pb.AuthorizeRequest(
        action="widgets:Read", resource_arn=widget("d-1")
    ).SerializeToString()
    endpoint = replies_server.endpoint

    def signed_in() -> bool:
        try:
            send(endpoint, body, signed(body, credentials))
            return True
        except grpc.RpcError:
            return False

    eventually(signed_in)
    metadata = signed(body, credentials)
    for _ in range(3):  # a caller asking about itself: remembered like any other
        assert send(endpoint, body, metadata).decision == tpb.DECISION_ALLOWED
    root.management.UpdateAccessKey(
        mpb.UpdateAccessKeyRequest(
            user_name="deactivated",
            access_key_id=credentials.access_key_id,
            status=tpb.ACCESS_KEY_STATUS_INACTIVE,
        )
    )

    def refused() -> bool:
        try:
            send(endpoint, body, metadata)
            return False
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
            return True

    eventually(refused)


def test_another_caller_with_the_same_bytes_is_decided_as_itself(
    root: Stubs, replies_server: ServerProcess
) -> None:
    arn, _ = new_user(root, "asked-about", read_policy("Allow", "*"))
    _, asker = new_user(root, "asker", None)  # no iamd:Authorize on anyone
    body = pb.AuthorizeRequest(
        principal_arn=arn, action="widgets:Read", resource_arn=widget("o-1")
    ).SerializeToString()
    endpoint = replies_server.endpoint
    metadata = signed(body, replies_server.root)
    for _ in range(2):
        assert send(endpoint, body, metadata).decision == tpb.DECISION_ALLOWED

    def denied() -> bool:
        try:
            send(endpoint, body, signed(body, asker))
            raise AssertionError("a caller without iamd:Authorize got the remembered reply")
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                return False  # the new key is not applied here yet
            assert exc.code() == grpc.StatusCode.PERMISSION_DENIED
            return True

    eventually(denied)
    for _ in range(3):  # its key now cached: still decided as itself
        assert code_of(lambda: send(endpoint, body, signed(body, asker))) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
