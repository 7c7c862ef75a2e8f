"""Request authentication attacked against a real server: malformed and poisoned end-user
proofs, key id enumeration, and the cost of guessing key ids."""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2, types_pb2
from iamd_client import Client, signing
from iamd_client.credentials import resolve
from iamd_client.errors import Unauthenticated
from iamd_client.signing import SigningCredentials

from tests.api.management_support import (
    credentials_of,
    document,
    error_of,
    expect_error,
    management_account,
    new_user,
    unique,
)
from tests.api.sts_support import end_user_proof, session_credentials, whoami
from tests.harness import ServerProcess, Stubs, start_server, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
METHOD = "/shop.v1.Orders/Get"
_WHOAMI = sts_pb2.GetCallerIdentityRequest()


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def proof(
    credentials: SigningCredentials, method: str = METHOD, body: bytes = b"order 42"
) -> apb.SignedCredential:
    return end_user_proof(credentials, method, body)


def _key(root: Stubs, user_name: str) -> SigningCredentials:
    created = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=user_name))
    return credentials_of(created.access_key)


def _authorize(root: Stubs, end_user: apb.SignedCredential) -> apb.AuthorizeResponse:
    response: apb.AuthorizeResponse = root.authorization.Authorize(
        apb.AuthorizeRequest(action="iam:GetUser", resource_arn="*", end_user=end_user)
    )
    return response


async def _last_used(database_url: str, key_id: str) -> tuple[object, object]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT last_used_at, last_used_rpc FROM iamd_access_keys WHERE id = $1", key_id
        )
    finally:
        await conn.close()
    assert row is not None
    return row["last_used_at"], row["last_used_rpc"]


def test_control_characters_in_end_user_method_are_refused(
    server: ServerProcess, root: Stubs
) -> None:
    """The method of a verified proof becomes the key's last-used RPC; a NUL there used to
    fail the batched last-used write for every key of the deployment."""
    name, _ = new_user(root, server.endpoint)
    end_user = _key(root, name)
    for method in ("/shop.v1.Orders/Get\x00x", "/shop\n/Get", "/shop/\u00e9", "/" + "m" * 600):
        # Correctly signed over the poisoned method: the field is refused, not recorded.
        expect_error(
            functools.partial(_authorize, root, proof(end_user, method)),
            INVALID,
            field="end_user.method",
        )
    assert _authorize(root, proof(end_user)).authenticated_principal_arn.endswith(name)

    # Another key's last use is still written by the next batch.
    other_name, other = new_user(root, server.endpoint)
    key_id = (
        root.management.ListAccessKeys(pb.ListAccessKeysRequest(user_name=other_name))
        .access_key_metadata[0]
        .access_key_id
    )
    whoami(other)
    deadline = time.monotonic() + 10
    while asyncio.run(_last_used(server.database_url, key_id))[0] is None:
        assert time.monotonic() < deadline, "last-used times are no longer written"
        time.sleep(0.2)
    used_at, rpc = asyncio.run(_last_used(server.database_url, end_user.access_key_id))
    assert used_at is not None and rpc == METHOD


def test_malformed_end_user_fields_are_invalid_argument(server: ServerProcess, root: Stubs) -> None:
    name, _ = new_user(root, server.endpoint)
    end_user = _key(root, name)
    cases: list[tuple[str, str]] = [
        ("date", "\u00b2\u00b2\u00b2"),  # superscript digits: str.isdigit() says yes
        ("date", "\uff11\uff17\uff10\uff10"),  # fullwidth digits
        ("date", "-1"),
        ("date", "1" * 13),
        ("signature", "\u00e9" * 64),
        ("signature", "A" * 64),
        ("signature", "0" * 63),
        ("body_sha256", "\u00e9" * 64),
        ("access_key_id", "AKIA\u00c9BCDEFGHIJKLMNOP"),
        ("access_key_id", "AKIA\x00"),
        ("session_token", "IQD1\x00"),
        ("audience", "shop\n/iamd.v1.StsService/GetCallerIdentity"),
        ("audience", "s" * 65),
        ("audience", "\u00e9"),
        # A request signed for iamd itself is not an end user's request to a service.
        ("audience", "iamd"),
    ]
    for field, value in cases:
        bad = proof(end_user)
        setattr(bad, field, value)
        error = expect_error(
            functools.partial(_authorize, root, bad), INVALID, field=f"end_user.{field}"
        )
        assert "Traceback" not in (error.details() or "")


def test_malformed_request_signatures_are_unauthenticated(
    server: ServerProcess, root: Stubs
) -> None:
    """iamd's own callers: a bad date or signature header is UNAUTHENTICATED, not INTERNAL."""
    channel = grpc.insecure_channel(server.endpoint)
    try:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/iamd.v1.StsService/GetCallerIdentity"
        )
        key_id = server.root.access_key_id
        now = str(int(time.time()))
        for date, signature in (
            ("12a", "0" * 64),
            ("", "0" * 64),
            (now, "Z" * 64),
            (now, "0" * 65),
            # Long, but under gRPC's 8 KiB soft metadata limit, past which the transport
            # itself refuses some calls at random (RESOURCE_EXHAUSTED) before iamd sees them.
            (now, "0" * 4_000),
        ):
            metadata = (
                (signing.HEADER_KEY_ID, key_id),
                (signing.HEADER_DATE, date),
                (signing.HEADER_SIGNATURE, signature),
            )
            error = error_of(functools.partial(call, b"", metadata=metadata))
            assert error.code() == UNAUTHENTICATED, (date, signature, error.details())
    finally:
        channel.close()


def test_unknown_inactive_and_mis_signed_keys_get_one_answer(
    server: ServerProcess, root: Stubs
) -> None:
    """Without the secret nobody learns whether a key id exists or is active."""
    name = unique("quiet")
    root.management.CreateUser(pb.CreateUserRequest(user_name=name))
    active = _key(root, name)
    inactive = _key(root, name)
    root.management.UpdateAccessKey(
        pb.UpdateAccessKeyRequest(
            user_name=name,
            access_key_id=inactive.access_key_id,
            status=types_pb2.ACCESS_KEY_STATUS_INACTIVE,
        )
    )
    unknown = "AKIA" + "".join(
        secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)
    )
    wrong = "x" * 40
    answers = set()
    for key_id in (unknown, inactive.access_key_id, active.access_key_id):
        client = stubs(server.endpoint, SigningCredentials(key_id, wrong))
        error = expect_error(functools.partial(whoami, client), UNAUTHENTICATED)
        answers.add(error.details())
        # The same through an end-user proof.
        error = expect_error(
            functools.partial(_authorize, root, proof(SigningCredentials(key_id, wrong))),
            UNAUTHENTICATED,
        )
        answers.add(error.details())
    assert len(answers) == 1, answers
    # The holder of the inactive key's secret is told why.
    error = expect_error(lambda: whoami(stubs(server.endpoint, inactive)), UNAUTHENTICATED)
    assert "inactive" in (error.details() or "")
    assert whoami(stubs(server.endpoint, active)).arn.endswith(f":user/{name}")


def test_guessed_key_ids_do_not_reach_the_database_each_time(
    server: ServerProcess, root: Stubs
) -> None:
    """An unknown key id is remembered briefly: while the access key table is locked, asking
    again with it is answered at once, whereas a new unknown id must wait for the table."""
    assert management_account(root)
    guessed = SigningCredentials("AKIA" + "Q" * 16, "x" * 40)
    client = stubs(server.endpoint, guessed)
    expect_error(lambda: whoami(client), UNAUTHENTICATED)

    async def locked() -> None:
        conn = await asyncpg.connect(server.database_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE iamd_access_keys IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                for _ in range(20):
                    error = await asyncio.to_thread(
                        error_of, lambda: client.sts.GetCallerIdentity(_WHOAMI, timeout=2)
                    )
                    assert error.code() == UNAUTHENTICATED, error.details()
                assert time.monotonic() - started < 2
                fresh = stubs(server.endpoint, SigningCredentials("AKIA" + "R" * 16, "x" * 40))
                error = await asyncio.to_thread(
                    error_of, lambda: fresh.sts.GetCallerIdentity(_WHOAMI, timeout=0.5)
                )
                assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        finally:
            await conn.close()

    asyncio.run(locked())


def test_a_signature_for_another_service_is_not_a_call_to_iamd(
    server: ServerProcess, root: Stubs
) -> None:
    """Replay across services: a request an end user signed for the internal service
    "orders" (which that service, or anyone on its path, sees) is refused by iamd, as a call
    and as a proof for another service; iamd's own calls are signed for "iamd"."""
    name, _ = new_user(root, server.endpoint, policy=document("iam:ListUsers"))
    key = _key(root, name)
    method = "/iamd.v1.ManagementService/ListUsers"
    body = pb.ListUsersRequest(max_items=1).SerializeToString()
    channel = grpc.insecure_channel(server.endpoint)
    try:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        for_orders = signing.sign_metadata(method, body, key, audience="orders")
        error = error_of(functools.partial(call, body, metadata=for_orders))
        assert error.code() == UNAUTHENTICATED, error.details()
        for_iamd = signing.sign_metadata(method, body, key)
        assert pb.ListUsersResponse.FromString(call(body, metadata=for_iamd)).users
        # Temporary credentials alike.
        minted = stubs(server.endpoint, key).sts.GetSessionToken(sts_pb2.GetSessionTokenRequest())
        session = session_credentials(minted.credentials)
        for_orders = signing.sign_metadata(method, body, session, audience="orders")
        error = error_of(functools.partial(call, body, metadata=for_orders))
        assert error.code() == UNAUTHENTICATED, error.details()
    finally:
        channel.close()
    with (
        Client(
            endpoint=server.endpoint,
            access_key_id=key.access_key_id,
            secret_access_key=key.secret_access_key,
            audience="orders",
        ) as misaimed,
        pytest.raises(Unauthenticated),
    ):
        misaimed.get_caller_identity()

    # As end-user proofs: valid only for the audience they were made for.
    assert _authorize(root, end_user_proof(key, audience="orders")).authenticated_principal_arn
    forwarded = end_user_proof(key, audience="orders")
    forwarded.audience = "shop"
    expect_error(functools.partial(_authorize, root, forwarded), UNAUTHENTICATED)
    captured = end_user_proof(key, audience="iamd")  # a call to iamd seen on the wire
    expect_error(functools.partial(_authorize, root, captured), INVALID, field="end_user.audience")


def test_service_name_sets_the_audience(database_url: str, tmp_path: Path) -> None:
    """iamd serve --service-name: calls must be signed for that name; the root profile it
    writes names it, so the SDK and iamctl follow."""
    process = start_server(database_url, tmp_path / "named", extra_args=["--service-name", "iam"])
    try:
        profile = process.credentials_file.read_text()
        assert "audience = iam" in profile
        root = process.root
        with (
            Client(
                endpoint=process.endpoint,
                access_key_id=root.access_key_id,
                secret_access_key=root.secret_access_key,
            ) as default_audience,
            pytest.raises(Unauthenticated),
        ):
            default_audience.get_caller_identity()
        config = resolve(credentials_file=process.credentials_file, environ={})
        assert config.audience == "iam"
        with Client.from_config(config) as named:
            assert named.get_caller_identity().arn.endswith(":root")
    finally:
        process.stop()
