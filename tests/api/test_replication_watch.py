"""ReplicationService.Watch against a real server: snapshot, changes in revision order,
resume, scoped signing keys instead of secrets, and who may follow what."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import replication_pb2 as rpb
from iamd.v1 import types_pb2 as tpb
from iamd_client import signing
from iamd_client.signing import SigningCredentials

from tests.api.management_support import (
    credentials_of,
    document,
    management_account,
    unique,
)
from tests.harness import ServerProcess, Stubs, start_server, stubs
from tests.replication_support import (
    WATCH_METHOD,
    WatchClient,
    access_keys,
    principals,
    resources,
)

AUTHORIZE = "/iamd.v1.AuthorizationService/Authorize"


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    s = stubs(server.endpoint, server.root)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def account(root: Stubs) -> str:
    return management_account(root)


def create_user(root: Stubs, account: str, *, policy: str | None = None) -> tuple[str, str]:
    name = unique("watched")
    root.management.CreateUser(mpb.CreateUserRequest(user_name=name))
    if policy is not None:
        root.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(user_name=name, policy_name="p", policy_document=policy)
        )
    return name, f"arn:aws:iam::{account}:user/{name}"


def watch(server: ServerProcess, credentials: SigningCredentials, **fields: object) -> WatchClient:
    return WatchClient(server.endpoint, credentials, rpb.WatchRequest(**fields))  # type: ignore[arg-type]


def test_snapshot_then_every_change_in_revision_order(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, arn = create_user(root, account, policy=document("s3:GetObject"))
    missing = f"arn:aws:iam::{account}:user/{unique('nobody')}"
    with watch(server, server.root, add=rpb.Selection(principal_arns=[arn, missing])) as stream:
        first = stream.batch()
        assert first[0].snapshot
        states = principals(first)
        assert states[arn].exists and not states[missing].exists
        record = states[arn].record
        assert record.kind == "user" and record.name == name and record.unique_id
        assert [p.document for p in record.identity] == [document("s3:GetObject")]
        assert first[-1].services.definitions is not None
        start = first[-1].revision
        assert start > 0

        written = root.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name=name, policy_name="p", policy_document=document("s3:PutObject")
            )
        ).revision
        began = time.monotonic()
        changed = stream.until(lambda r: r.revision >= written)
        assert time.monotonic() - began < 1.0
        state = principals(changed)[arn]
        assert [p.document for p in state.record.identity] == [document("s3:PutObject")]
        assert state.record.revision >= written

        # The name that did not exist yet: created, it is sent (its name key was followed).
        created = root.management.CreateUser(
            mpb.CreateUserRequest(user_name=missing.rsplit("/", 1)[1])
        ).revision
        assert principals(stream.until(lambda r: r.revision >= created))[missing].exists

        # Group membership and the group's policies are part of the user's state.
        group = unique("g")
        root.management.CreateGroup(mpb.CreateGroupRequest(group_name=group))
        root.management.PutGroupPolicy(
            mpb.PutGroupPolicyRequest(
                group_name=group, policy_name="gp", policy_document=document("sqs:*")
            )
        )
        added = root.management.AddUserToGroup(
            mpb.AddUserToGroupRequest(group_name=group, user_name=name)
        ).revision
        state = principals(stream.until(lambda r: r.revision >= added))[arn]
        assert list(state.record.group_arns) == [f"arn:aws:iam::{account}:group/{group}"]
        assert document("sqs:*") in [p.document for p in state.record.identity]


def test_heartbeats_carry_the_revision(server: ServerProcess, root: Stubs) -> None:
    with watch(server, server.root) as stream:
        start = stream.batch()[-1].revision
        beat = stream.next(timeout=5)
        assert beat.revision >= start and not beat.principals


def test_access_keys_travel_as_scoped_keys_never_secrets(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, arn = create_user(root, account)
    key = root.management.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name=name)).access_key
    with watch(server, server.root, add=rpb.Selection(access_key_ids=[key.access_key_id])) as s:
        state = access_keys(s.batch())[key.access_key_id]
        assert state.exists and state.active and state.owner_arn == arn
        assert state.principal_id.startswith("AIDA")
        days = {k.day for k in state.signing_keys}
        today = signing.signing_day(str(int(time.time())))
        assert today in days and len(days) == 3
        assert {k.method for k in state.signing_keys} == {
            AUTHORIZE,
            "/iamd.v1.AuthorizationService/AuthorizeBatch",
        }
        for scoped in state.signing_keys:
            assert scoped.audience == "iamd"
            assert scoped.key == signing.derive_signing_key(
                key.secret_access_key, scoped.day, "iamd", scoped.method
            )
        # The secret appears nowhere on the wire.
        assert not any(key.secret_access_key.encode() in raw for raw in s.raw)

        revision = root.management.UpdateAccessKey(
            mpb.UpdateAccessKeyRequest(
                user_name=name,
                access_key_id=key.access_key_id,
                status=tpb.ACCESS_KEY_STATUS_INACTIVE,
            )
        ).revision
        began = time.monotonic()
        state = access_keys(s.until(lambda r: r.revision >= revision))[key.access_key_id]
        assert time.monotonic() - began < 1.0
        assert state.exists and not state.active and not state.signing_keys

        revision = root.management.DeleteAccessKey(
            mpb.DeleteAccessKeyRequest(user_name=name, access_key_id=key.access_key_id)
        ).revision
        state = access_keys(s.until(lambda r: r.revision >= revision))[key.access_key_id]
        assert not state.exists


def test_a_scoped_key_signs_nothing_but_authorize(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    """Attack: a follower that holds a user's scoped keys tries to act as the user."""
    name, arn = create_user(root, account, policy=document("iam:*"))
    key = root.management.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name=name)).access_key
    with watch(server, server.root, add=rpb.Selection(access_key_ids=[key.access_key_id])) as s:
        state = access_keys(s.batch())[key.access_key_id]
    today = signing.signing_day(str(int(time.time())))
    scoped = next(k.key for k in state.signing_keys if k.day == today and k.method == AUTHORIZE)

    def forged(method: str, body: bytes) -> tuple[tuple[str, str], ...]:
        date = str(int(time.time()))
        digest = hashlib.sha256(body).hexdigest()
        signature = signing.compute_signature(scoped, method, date, key.access_key_id, digest)
        return (
            (signing.HEADER_KEY_ID, key.access_key_id),
            (signing.HEADER_DATE, date),
            (signing.HEADER_SIGNATURE, signature),
        )

    def call_with(method: str, body: bytes) -> grpc.Call:
        metadata = forged(method, body)
        channel = grpc.insecure_channel(server.endpoint)
        try:
            rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
            try:
                rpc(body, metadata=metadata, timeout=10)
            except grpc.RpcError as error:
                assert isinstance(error, grpc.Call)
                return error
            raise AssertionError(f"{method} succeeded")
        finally:
            channel.close()

    create = mpb.CreateUserRequest(user_name=unique("forged")).SerializeToString()
    error = call_with("/iamd.v1.ManagementService/CreateUser", create)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    watch_request = rpb.WatchRequest(add=rpb.Selection(principal_arns=[arn])).SerializeToString()
    error = call_with(
        "/iamd.v1.AuthorizationService/SimulateCustomPolicy",
        apb.SimulateCustomPolicyRequest(action_names=["s3:GetObject"]).SerializeToString(),
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    # A Watch opened with it fails too (the signature covers its first message).
    with WatchClient(
        server.endpoint,
        None,
        rpb.WatchRequest(),
        first_bytes=watch_request,
        metadata=forged(WATCH_METHOD, watch_request),
    ) as stream:
        assert stream.error().code() == grpc.StatusCode.UNAUTHENTICATED
    # Within its scope it is the key itself: an Authorize about the user goes through.
    body = apb.AuthorizeRequest(action="iam:GetUser").SerializeToString()
    channel = grpc.insecure_channel(server.endpoint)
    try:
        authorize: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(AUTHORIZE)
        reply = apb.AuthorizeResponse.FromString(
            authorize(body, metadata=forged(AUTHORIZE, body), timeout=10)
        )
    finally:
        channel.close()
    assert reply.principal_arn == arn


def test_resume_sends_only_what_changed(server: ServerProcess, root: Stubs, account: str) -> None:
    _, quiet = create_user(root, account)
    busy_name, busy = create_user(root, account)
    follow = rpb.Selection(principal_arns=[quiet, busy])
    with watch(server, server.root, add=follow) as stream:
        revision = stream.batch()[-1].revision
    written = root.management.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name=busy_name, policy_name="p", policy_document=document("s3:*")
        )
    ).revision
    with watch(server, server.root, follow=follow, since_revision=revision) as stream:
        batch = stream.batch()
        assert not batch[0].snapshot
        states = principals(batch)
        assert set(states) == {busy}
        assert states[busy].record.identity[0].document == document("s3:*")
        assert batch[-1].revision >= written
        assert not any(r.HasField("services") for r in batch)
    # From 0, or from before what this replica remembers: everything, whole.
    with watch(server, server.root, follow=follow, since_revision=0) as stream:
        batch = stream.batch()
        assert batch[0].snapshot and set(principals(batch)) == {quiet, busy}


def test_resources_and_the_index(server: ServerProcess, root: Stubs, account: str) -> None:
    arn = f"arn:aws:orders:eu-west-1:{account}:order/{unique('o')}"
    other = f"arn:aws:orders:eu-west-1:{account}:order/{unique('o')}"
    policy = document("orders:GetOrder", arn)
    policy = policy.replace('"Effect"', f'"Principal": {{"AWS": "{account}"}}, "Effect"')
    root.management.PutResourcePolicy(
        mpb.PutResourcePolicyRequest(resource_arn=arn, policy_document=policy)
    )
    with watch(
        server, server.root, add=rpb.Selection(resource_arns=[arn, other]), resource_index=True
    ) as stream:
        batch = stream.batch()
        states = resources(batch)
        assert states[arn].exists and states[arn].account_id == account
        assert not states[other].exists
        index = [r.resource_index for r in batch if r.HasField("resource_index")]
        assert index[0].complete and arn in index[0].arns and other not in index[0].arns
        written = root.management.PutResourcePolicy(
            mpb.PutResourcePolicyRequest(resource_arn=other, policy_document=policy)
        ).revision
        changed = stream.until(lambda r: r.revision >= written)
        assert resources(changed)[other].exists
        assert any(other in r.resource_index.arns for r in changed)


def test_adding_and_dropping_items_on_an_open_stream(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    first_name, first = create_user(root, account)
    second_name, second = create_user(root, account)
    with watch(server, server.root, add=rpb.Selection(principal_arns=[first])) as stream:
        stream.batch()
        stream.send(rpb.WatchRequest(add=rpb.Selection(principal_arns=[second])))
        assert principals(stream.until(lambda r: second in principals([r])))[second].exists
        stream.send(rpb.WatchRequest(remove=rpb.Selection(principal_arns=[first])))
        time.sleep(0.3)
        revision = 0
        for name in (first_name, second_name):
            revision = root.management.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name=name, policy_name="p", policy_document=document("s3:*")
                )
            ).revision
        states = principals(stream.until(lambda r: r.revision >= revision))
        assert second in states and first not in states


def test_following_needs_iamd_watch(server: ServerProcess, root: Stubs, account: str) -> None:
    _, target = create_user(root, account)
    _, other = create_user(root, account)
    follower_name, _ = create_user(
        root, account, policy=document("iamd:Watch", [target, f"arn:aws:iam::{account}:user/x*"])
    )
    key = credentials_of(
        root.management.CreateAccessKey(
            mpb.CreateAccessKeyRequest(user_name=follower_name)
        ).access_key
    )
    time.sleep(0.2)
    with watch(server, key, add=rpb.Selection(principal_arns=[target, other])) as stream:
        states = principals(stream.batch())
        assert states[target].exists and not states[target].denied
        assert states[other].denied and not states[other].HasField("record")
    # The resource index needs iamd:Watch on "*".
    with watch(server, key, resource_index=True) as stream:
        assert stream.error().code() == grpc.StatusCode.PERMISSION_DENIED
    # Losing the permission while following: the item is answered denied and dropped.
    with watch(server, key, add=rpb.Selection(principal_arns=[target])) as stream:
        stream.batch()
        revision = root.management.DeleteUserPolicy(
            mpb.DeleteUserPolicyRequest(user_name=follower_name, policy_name="p")
        ).revision
        states = principals(stream.until(lambda r: r.revision >= revision))
        assert states[target].denied


def test_unsigned_and_malformed_watches_are_refused(server: ServerProcess) -> None:
    with watch(server, None, add=rpb.Selection(principal_arns=["arn:aws:iam::1:root"])) as s:  # type: ignore[arg-type]
        assert s.error().code() == grpc.StatusCode.UNAUTHENTICATED
    with watch(server, server.root, add=rpb.Selection(principal_arns=["not an arn"])) as s:
        error = s.error()
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "add.principal_arns[0]" in (error.details() or "")
    with watch(server, server.root, add=rpb.Selection(access_key_ids=["AKIA' OR 1=1"])) as s:
        assert s.error().code() == grpc.StatusCode.INVALID_ARGUMENT
    too_many = rpb.Selection(principal_arns=[f"arn:aws:iam::1:user/u{i}" for i in range(10_001)])
    with watch(server, server.root, add=too_many) as s:
        assert s.error().code() == grpc.StatusCode.INVALID_ARGUMENT
    garbage = WatchClient(server.endpoint, server.root, rpb.WatchRequest(), first_bytes=b"\xff\xff")
    with garbage:
        assert garbage.error().code() == grpc.StatusCode.INVALID_ARGUMENT


def test_temporary_credentials_travel_as_claims_and_scoped_keys(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    from iamd.v1 import sts_pb2

    from tests.api.sts_support import new_role, trust

    caller_name, caller_arn = create_user(root, account)
    caller = stubs(
        server.endpoint,
        credentials_of(
            root.management.CreateAccessKey(
                mpb.CreateAccessKeyRequest(user_name=caller_name)
            ).access_key
        ),
    )
    managed = root.management.CreatePolicy(
        mpb.CreatePolicyRequest(policy_name=unique("session"), policy_document=document("s3:*"))
    ).policy.arn
    role = new_role(root, trust({"AWS": caller_arn}), policy=document("s3:*"))
    try:
        minted = caller.sts.AssumeRole(
            sts_pb2.AssumeRoleRequest(role_arn=role, role_session_name="pod", policy_arns=[managed])
        ).credentials
    finally:
        caller.close()
    ref = rpb.SessionRef(access_key_id=minted.access_key_id, session_token=minted.session_token)
    forged = rpb.SessionRef(
        access_key_id=minted.access_key_id, session_token=minted.session_token[:-4] + "AAAA"
    )
    with watch(server, server.root, add=rpb.Selection(sessions=[ref, forged])) as stream:
        states = {s.token_sha256: s for r in stream.batch() for s in r.sessions}
        mine = states[session_name(minted.access_key_id, minted.session_token)]
        assert mine.valid
        claims = json.loads(mine.claims_json)
        assert claims["a"].endswith("assumed-role/" + role.rsplit("/", 1)[1] + "/pod")
        assert [p.document for p in mine.managed_policies] == [document("s3:*")]
        for scoped in mine.signing_keys:
            assert scoped.key == signing.derive_signing_key(
                minted.secret_access_key, scoped.day, "iamd", scoped.method
            )
        assert len(mine.signing_keys) == 6
        bad = states[session_name(forged.access_key_id, forged.session_token)]
        assert not bad.valid and not bad.signing_keys and bad.reason
        assert not any(minted.secret_access_key.encode() in raw for raw in stream.raw)

        # A new default version of the managed session policy is re-sent.
        written = root.management.CreatePolicyVersion(
            mpb.CreatePolicyVersionRequest(
                policy_arn=managed, policy_document=document("sqs:*"), set_as_default=True
            )
        ).revision
        changed = stream.until(lambda r: r.revision >= written)
        latest = [s for r in changed for s in r.sessions][-1]
        assert [p.document for p in latest.managed_policies] == [document("sqs:*")]

        # Revoking the role's sessions reaches the follower within a second.
        revoked = root.management.RevokeRoleSessions(
            mpb.RevokeRoleSessionsRequest(role_name=role.rsplit("/", 1)[1])
        ).revision
        began = time.monotonic()
        changed = stream.until(lambda r: r.revision >= revoked)
        assert time.monotonic() - began < 1.0
        latest = [s for r in changed for s in r.sessions][-1]
        assert not latest.valid and "revoked" in latest.reason and not latest.signing_keys


def session_name(key_id: str, token: str) -> str:
    return hashlib.sha256(f"{key_id}\n{token}".encode()).hexdigest()


def test_a_gap_older_than_the_replicas_log_gets_everything_whole(
    database_url: str, tmp_path: Path
) -> None:
    """A replica knows the changes since it started: a follower resuming from before that
    (say the replica restarted) gets a snapshot; from after it, only what changed."""
    first = start_server(database_url, tmp_path / "a")
    try:
        root_stubs = stubs(first.endpoint, first.root)
        account = management_account(root_stubs)
        name, arn = create_user(root_stubs, account)
        old = root_stubs.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name=name, policy_name="p", policy_document=document("s3:*")
            )
        ).revision
        root_stubs.close()
    finally:
        first.stop()
    second = start_server(database_url, tmp_path / "a")
    try:
        follow = rpb.Selection(principal_arns=[arn])
        with watch(second, first.root, follow=follow, since_revision=old - 1) as stream:
            batch = stream.batch()
            assert batch[0].snapshot and arn in principals(batch)
            current = batch[-1].revision
        with watch(second, first.root, follow=follow, since_revision=current) as stream:
            batch = stream.batch()
            assert not batch[0].snapshot and not principals(batch)
    finally:
        second.stop()


def test_a_replica_that_lost_track_of_changes_ends_its_streams(
    server: ServerProcess, root: Stubs, account: str, module_database_url: str
) -> None:
    """While the change feed is down, a stream's own key may be deactivated unseen: when the
    replica learns only that "everything changed", its streams end (UNAVAILABLE), so that a
    follower re-opens and is authenticated again rather than kept on revoked credentials."""
    _, arn = create_user(root, account)
    with watch(server, server.root, add=rpb.Selection(principal_arns=[arn])) as stream:
        stream.batch()

        async def drop_listener() -> int:
            conn = await asyncpg.connect(module_database_url)
            try:
                return len(
                    await conn.fetch(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database()"
                        " AND application_name = 'iamd-change-feed'"
                    )
                )
            finally:
                await conn.close()

        assert asyncio.run(drop_listener()) >= 1
        assert stream.error(timeout=15).code() == grpc.StatusCode.UNAVAILABLE
    # Re-opened, the stream is served again.
    with watch(server, server.root, add=rpb.Selection(principal_arns=[arn])) as again:
        assert principals(again.batch())[arn].exists


def test_a_key_id_is_not_confirmed_to_a_caller_that_may_not_watch_it(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    """A caller with iamd:Watch on one principal probes access key ids: an unknown id and
    another user's key get the same answer (denied), so the stream is no key-id oracle."""
    other_name, _ = create_user(root, account)
    foreign = root.management.CreateAccessKey(
        mpb.CreateAccessKeyRequest(user_name=other_name)
    ).access_key.access_key_id
    unknown = "AKIA" + "Q" * 16
    _, target = create_user(root, account)
    follower_name, _ = create_user(root, account, policy=document("iamd:Watch", target))
    key = credentials_of(
        root.management.CreateAccessKey(
            mpb.CreateAccessKeyRequest(user_name=follower_name)
        ).access_key
    )
    time.sleep(0.2)
    with watch(server, key, add=rpb.Selection(access_key_ids=[foreign, unknown])) as stream:
        states = access_keys(stream.batch())
        assert states[foreign].denied and not states[foreign].exists
        assert states[unknown].denied and not states[unknown].exists
    # A caller that may watch every principal of its account learns that it does not exist.
    with watch(server, server.root, add=rpb.Selection(access_key_ids=[unknown])) as stream:
        state = access_keys(stream.batch())[unknown]
        assert not state.exists and not state.denied
