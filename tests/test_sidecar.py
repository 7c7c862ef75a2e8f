"""`iamd sidecar` as real processes against a real upstream `iamd serve`: the same decisions,
revocations within a second, no database and no master key, and failing closed without its
upstream."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import sts_pb2 as spb
from iamd.v1 import types_pb2 as tpb
from iamd_client import signing
from iamd_client.signing import SigningCredentials

from tests.api.management_support import document, unique
from tests.harness import ServerProcess, start_server, stubs
from tests.launch import Launched
from tests.population import (
    World,
    answer,
    define_orders,
    name_of,
    new_key,
    new_user,
    order,
    policy,
    sample,
)
from tests.population import world as world  # the module's fixture
from tests.sidecar_support import (
    arguments_and_environment,
    health,
    metric,
    sockets_of,
    start_sidecar,
    tcp_peers,
    unix_peers,
    wait_serving,
)

ALLOWED = tpb.DECISION_ALLOWED
IMPLICIT = tpb.DECISION_IMPLICIT_DENY
SERVING = 1
NOT_SERVING = 2


@pytest.fixture(scope="module")
def sidecar(server: ServerProcess, world: World) -> Iterator[Launched]:
    process = start_sidecar(server.endpoint, world.sidecar_key, "--metrics-listen", "127.0.0.1:0")
    try:
        wait_serving(process.endpoint)
        yield process
    finally:
        process.stop()


def test_decisions_equal_the_upstreams_on_a_random_sample(
    server: ServerProcess, world: World, sidecar: Launched
) -> None:
    upstream = stubs(server.endpoint, world.shop_key)
    local = stubs(sidecar.endpoint, world.shop_key)
    try:
        first = apb.AuthorizeRequest(action="orders:ListOrders", at_least_revision=world.revision)
        assert local.authorization.Authorize(first).revision >= world.revision
        requests = sample(world, 300, seed=11)
        decisions = set()
        decided_by = set()
        for request in requests:
            expected = answer(upstream, request)
            got = answer(local, request)
            assert got == expected, request
            decisions.add(expected[0])
            decided_by.add(expected[3])
        # The sample exercises allows and both kinds of deny, decided by every kind of
        # policy the world holds.
        assert {ALLOWED, IMPLICIT, tpb.DECISION_EXPLICIT_DENY} <= decisions
        assert {
            tpb.POLICY_KIND_IDENTITY,
            tpb.POLICY_KIND_PERMISSIONS_BOUNDARY,
            tpb.POLICY_KIND_SERVICE_CONTROL,
            tpb.POLICY_KIND_RESOURCE,
            tpb.POLICY_KIND_ACL,
            tpb.POLICY_KIND_SERVICE_DEFINITION,
            tpb.POLICY_KIND_ROOT,
        } <= decided_by, decided_by
        # AuthorizeBatch alike, 50 checks at a time.
        checks = [
            apb.AuthorizeCheck(
                principal_arn=r.principal_arn,
                action=r.action,
                resource_arn=r.resource_arn,
                context=r.context,
            )
            for r in requests
        ]
        for start in range(0, len(checks), 50):
            batch = apb.AuthorizeBatchRequest(checks=checks[start : start + 50], explain=True)
            expected_batch = upstream.authorization.AuthorizeBatch(batch)
            got_batch = local.authorization.AuthorizeBatch(batch)
            assert [(r.decision, r.explain.reason) for r in got_batch.results] == [
                (r.decision, r.explain.reason) for r in expected_batch.results
            ]
    finally:
        upstream.close()
        local.close()


def test_a_revocation_reaches_the_sidecar_within_a_second(
    server: ServerProcess, world: World, sidecar: Launched
) -> None:
    admin = world.admin
    user = new_user(admin, inline=document("orders:GetOrder"))
    key = new_key(admin, name_of(user))
    local = stubs(sidecar.endpoint, world.shop_key)
    as_user = stubs(sidecar.endpoint, key)
    request = apb.AuthorizeRequest(
        principal_arn=user, action="orders:GetOrder", resource_arn=order(world.account, "5")
    )
    try:
        assert local.authorization.Authorize(request).decision == ALLOWED
        assert as_user.authorization.Authorize(apb.AuthorizeRequest(action="orders:GetOrder"))
        admin.management.DeleteUserPolicy(
            mpb.DeleteUserPolicyRequest(user_name=name_of(user), policy_name="p")
        )
        began = time.monotonic()
        while local.authorization.Authorize(request).decision == ALLOWED:
            assert time.monotonic() - began < 1.0, "the revocation took longer than a second"
            time.sleep(0.005)
        # Deactivating the caller's own key: its calls are refused within a second.
        admin.management.UpdateAccessKey(
            mpb.UpdateAccessKeyRequest(
                user_name=name_of(user),
                access_key_id=key.access_key_id,
                status=tpb.ACCESS_KEY_STATUS_INACTIVE,
            )
        )
        began = time.monotonic()
        while True:
            try:
                as_user.authorization.Authorize(apb.AuthorizeRequest(action="orders:GetOrder"))
            except grpc.RpcError as error:
                assert isinstance(error, grpc.Call)
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                break
            assert time.monotonic() - began < 1.0, "the deactivation took longer than a second"
            time.sleep(0.005)
    finally:
        local.close()
        as_user.close()


def test_at_least_revision_reads_a_write_through_the_sidecar(
    world: World, sidecar: Launched
) -> None:
    user = new_user(world.admin)
    revision = world.admin.management.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name=name_of(user), policy_name="p", policy_document=document("orders:*")
        )
    ).revision
    local = stubs(sidecar.endpoint, world.shop_key)
    try:
        reply = local.authorization.Authorize(
            apb.AuthorizeRequest(
                principal_arn=user, action="orders:ListOrders", at_least_revision=revision
            )
        )
        assert reply.decision == ALLOWED and reply.revision >= revision
        # A revision nobody has written yet: UNAVAILABLE, never an answer from an older copy.
        with pytest.raises(grpc.RpcError) as info:
            local.authorization.Authorize(
                apb.AuthorizeRequest(
                    principal_arn=user,
                    action="orders:ListOrders",
                    at_least_revision=revision + 10_000,
                ),
                timeout=1.0,
            )
        assert info.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    finally:
        local.close()


def test_temporary_credentials_are_decided_locally_with_their_session_policies(
    server: ServerProcess, world: World, sidecar: Launched
) -> None:
    shop = stubs(server.endpoint, world.shop_key)
    role = next(p for p in world.principals if ":role/" in p)
    reader = world.principals[0]
    world.admin.management.PutRolePolicy(
        mpb.PutRolePolicyRequest(
            role_name=name_of(role),
            policy_name="ask",
            policy_document=document("iamd:Authorize"),
        )
    )
    try:
        plain = shop.sts.AssumeRole(
            spb.AssumeRoleRequest(role_arn=role, role_session_name="pod")
        ).credentials
        # A session policy that leaves out iamd:Authorize: it may ask only about itself.
        narrowed = shop.sts.AssumeRole(
            spb.AssumeRoleRequest(
                role_arn=role, role_session_name="narrow", policy=document("orders:*")
            )
        ).credentials
    finally:
        shop.close()
    sessions = [
        SigningCredentials(c.access_key_id, c.secret_access_key, c.session_token)
        for c in (plain, narrowed)
    ]
    asks = [
        apb.AuthorizeRequest(action="orders:CancelOrder", resource_arn=order(world.account, "3")),
        apb.AuthorizeRequest(
            principal_arn=reader,
            action="orders:GetOrder",
            resource_arn=order(world.account, "3"),
            explain=True,
        ),
    ]
    for session in sessions:
        upstream = stubs(server.endpoint, session)
        local = stubs(sidecar.endpoint, session)
        try:
            for ask in asks:
                assert answer(local, ask) == answer(upstream, ask), (session.access_key_id, ask)
        finally:
            upstream.close()
            local.close()
    assert answer(stubs(sidecar.endpoint, sessions[1]), asks[1]) == (
        "error",
        grpc.StatusCode.PERMISSION_DENIED,
    )

    # A token presented with another session's key id is refused, and does not spoil the
    # state of the right pair.
    mixed = SigningCredentials(
        sessions[1].access_key_id, sessions[1].secret_access_key, sessions[0].session_token
    )
    assert answer(stubs(sidecar.endpoint, mixed), asks[0]) == (
        "error",
        grpc.StatusCode.UNAUTHENTICATED,
    )

    # RevokeRoleSessions reaches the sidecar within a second.
    local = stubs(sidecar.endpoint, sessions[0])
    try:
        assert local.authorization.Authorize(asks[0]).decision == ALLOWED
        world.admin.management.RevokeRoleSessions(
            mpb.RevokeRoleSessionsRequest(role_name=name_of(role))
        )
        began = time.monotonic()
        while True:
            try:
                local.authorization.Authorize(asks[0])
            except grpc.RpcError as error:
                assert isinstance(error, grpc.Call)
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "revoked" in (error.details() or "")
                break
            assert time.monotonic() - began < 1.0, "the revocation took longer than a second"
            time.sleep(0.005)
    finally:
        local.close()


def test_end_user_proofs_are_answered_by_the_upstream(
    server: ServerProcess, world: World, sidecar: Launched
) -> None:
    from tests.api.sts_support import end_user_proof

    end_user = new_user(world.admin, inline=document("orders:GetOrder"))
    proof = end_user_proof(new_key(world.admin, name_of(end_user)))
    ask = apb.AuthorizeRequest(
        action="orders:GetOrder", resource_arn=order(world.account, "4"), end_user=proof
    )
    upstream = stubs(server.endpoint, world.shop_key)
    local = stubs(sidecar.endpoint, world.shop_key)
    try:
        expected = upstream.authorization.Authorize(ask)
        got = local.authorization.Authorize(ask)
        assert got.decision == expected.decision == ALLOWED
        assert got.authenticated_principal_arn == end_user
        # A proof that does not verify: the upstream's refusal, passed through.
        ask.end_user.signature = "0" * 64
        assert answer(local, ask) == ("error", grpc.StatusCode.UNAUTHENTICATED)
    finally:
        upstream.close()
        local.close()


def signed_call(
    endpoint: str,
    key_id: str,
    signing_key: bytes,
    *,
    date: int | None = None,
    audience: str = "iamd",
) -> grpc.StatusCode:
    method = "/iamd.v1.AuthorizationService/Authorize"
    body = apb.AuthorizeRequest(action="orders:ListOrders").SerializeToString()
    when = str(int(time.time()) if date is None else date)
    signature = signing.compute_signature(
        signing_key, method, when, key_id, hashlib.sha256(body).hexdigest(), audience
    )
    channel = grpc.insecure_channel(endpoint)
    try:
        rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        rpc(
            body,
            metadata=(
                (signing.HEADER_KEY_ID, key_id),
                (signing.HEADER_DATE, when),
                (signing.HEADER_SIGNATURE, signature),
            ),
            timeout=10,
        )
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        return error.code()
    finally:
        channel.close()


def test_forged_and_replayed_signatures_are_refused(world: World, sidecar: Launched) -> None:
    key = world.shop_key
    now = int(time.time())
    day = signing.signing_day(str(now))
    method = "/iamd.v1.AuthorizationService/Authorize"
    right = signing.derive_signing_key(key.secret_access_key, day, "iamd", method)
    assert signed_call(sidecar.endpoint, key.access_key_id, right) == grpc.StatusCode.OK
    wrong_secret = signing.derive_signing_key("x" * 40, day, "iamd", method)
    other_audience = signing.derive_signing_key(key.secret_access_key, day, "shop", method)
    other_method = signing.derive_signing_key(
        key.secret_access_key, day, "iamd", "/iamd.v1.ManagementService/CreateUser"
    )
    refused = grpc.StatusCode.UNAUTHENTICATED
    assert signed_call(sidecar.endpoint, key.access_key_id, wrong_secret) == refused
    assert signed_call(sidecar.endpoint, key.access_key_id, other_audience) == refused
    assert (
        signed_call(sidecar.endpoint, key.access_key_id, other_audience, audience="shop") == refused
    )
    assert signed_call(sidecar.endpoint, key.access_key_id, other_method) == refused
    stale = signing.derive_signing_key(
        key.secret_access_key, signing.signing_day(str(now - 600)), "iamd", method
    )
    assert signed_call(sidecar.endpoint, key.access_key_id, stale, date=now - 600) == refused
    # A key id nobody has: refused like a bad signature (not UNAVAILABLE: the upstream is up).
    assert signed_call(sidecar.endpoint, "AKIA" + "A" * 16, right) == refused
    assert signed_call(sidecar.endpoint, "AKIA' OR '1'='1", right) == refused


def test_a_principal_the_sidecar_may_not_follow_is_unavailable_never_allowed(
    server: ServerProcess, world: World
) -> None:
    admin = world.admin
    allowed = new_user(admin, inline=document("orders:*"))
    hidden = new_user(admin, inline=document("orders:*"))
    narrow = new_user(admin, inline=document("iamd:Watch", [world.shop_arn, allowed]))
    process = start_sidecar(server.endpoint, new_key(admin, name_of(narrow)))
    local = stubs(process.endpoint, world.shop_key)
    try:
        wait_serving(process.endpoint)
        ask = apb.AuthorizeRequest(action="orders:ListOrders")
        ask.principal_arn = allowed
        assert local.authorization.Authorize(ask).decision == ALLOWED
        ask.principal_arn = hidden
        with pytest.raises(grpc.RpcError) as info:
            local.authorization.Authorize(ask)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "iamd:Watch" in (info.value.details() or "")
    finally:
        local.close()
        process.stop()


def test_the_sidecar_holds_no_database_and_no_master_key(
    server: ServerProcess, world: World, sidecar: Launched
) -> None:
    pid = sidecar.process.pid
    argv, environment = arguments_and_environment(pid)
    text = " ".join(argv)
    assert "sidecar" in argv and "--upstream" in argv
    for forbidden in ("--database-url", "--master-key-file", "--data-dir", "postgres"):
        assert forbidden not in text
    assert "IAMD_DATABASE_URL" not in environment
    assert "IAMD_MASTER_KEY_FILE" not in environment
    assert not any(v.startswith("postgresql://") for v in environment.values())
    master_key = Path(server.master_key_file).read_text().strip()
    assert master_key not in text and master_key not in "".join(environment.values())
    # It has served calls, and holds no connection but to its upstream: no TCP peer other
    # than the upstream's port, and every Unix socket it holds is connected to itself
    # (the event loop's own pairs), none to PostgreSQL's.
    local = stubs(sidecar.endpoint, world.shop_key)
    try:
        local.authorization.Authorize(apb.AuthorizeRequest(action="orders:ListOrders"))
    finally:
        local.close()
    upstream_port = int(server.endpoint.rsplit(":", 1)[1])
    own_ports = {local_port for local_port, remote in tcp_peers(pid) if remote == 0}
    for _, remote in tcp_peers(pid):
        assert remote in (0, upstream_port) or remote in own_ports
    own = sockets_of(pid)
    peers = unix_peers()
    held = [inode for inode in own if inode in peers]
    assert all(peers[inode] == 0 or peers[inode] in own for inode in held)
    # The upstream, for contrast, does hold PostgreSQL connections (the check can fail).
    upstream_own = sockets_of(server.process.pid)
    assert any(peers.get(i, 0) not in (0, *upstream_own) for i in upstream_own if i in peers)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_metrics(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_memory_is_bounded(server: ServerProcess, world: World) -> None:
    admin = world.admin
    users = [new_user(admin, inline=document("orders:ListOrders")) for _ in range(12)]
    metrics_address = f"127.0.0.1:{free_port()}"
    process = start_sidecar(
        server.endpoint,
        world.sidecar_key,
        "--max-entries",
        "5",
        "--metrics-listen",
        metrics_address,
    )
    local = stubs(process.endpoint, world.shop_key)
    try:
        wait_serving(process.endpoint)
        most = 0.0
        for _ in range(2):
            for user in users:
                reply = local.authorization.Authorize(
                    apb.AuthorizeRequest(principal_arn=user, action="orders:ListOrders")
                )
                assert reply.decision == ALLOWED
                page = read_metrics(metrics_address)
                most = max(most, metric(page, "iamd_sidecar_followed_items"))
        assert 0 < most <= 5
        assert metric(page, "iamd_sidecar_upstream_connected") == 1.0
        assert metric(page, "iamd_sidecar_staleness_seconds") < 5.0
        assert metric(page, "iamd_sidecar_max_staleness_seconds") == 300.0
    finally:
        local.close()
        process.stop()


def test_upstream_outage_fails_closed_after_max_staleness_and_resumes(
    database_url: str, tmp_path: Path
) -> None:
    upstream = start_server(database_url, tmp_path / "upstream")
    port = upstream.endpoint.rsplit(":", 1)[1]
    root = stubs(upstream.endpoint, upstream.root)
    sidecar: Launched | None = None
    try:
        define_orders(root)
        account = root.management.DescribeAccount(mpb.DescribeAccountRequest()).account.account_id
        known = new_user(root, inline=document("orders:*"))
        unknown = new_user(root, inline=document("orders:*"))
        shop_arn = new_user(root, inline=document(["iamd:Authorize", "iamd:Watch"]))
        shop = new_key(root, name_of(shop_arn))
        other_caller = new_key(root, name_of(new_user(root, inline=document("iamd:Authorize"))))
        role = root.management.CreateRole(
            mpb.CreateRoleRequest(
                role_name=unique("r"),
                assume_role_policy_document=policy(
                    {"Effect": "Allow", "Principal": {"AWS": shop_arn}, "Action": "sts:AssumeRole"}
                ),
            )
        ).role
        root.management.PutRolePolicy(
            mpb.PutRolePolicyRequest(
                role_name=role.role_name, policy_name="p", policy_document=document("orders:*")
            )
        )
        shop_stubs = stubs(upstream.endpoint, shop)
        minted = shop_stubs.sts.AssumeRole(
            spb.AssumeRoleRequest(role_arn=role.arn, role_session_name="pod")
        ).credentials
        shop_stubs.close()
        sidecar = start_sidecar(upstream.endpoint, shop, "--max-staleness", "3")
        wait_serving(sidecar.endpoint)
        local = stubs(sidecar.endpoint, shop)
        session = stubs(
            sidecar.endpoint,
            SigningCredentials(
                minted.access_key_id, minted.secret_access_key, minted.session_token
            ),
        )
        ask_known = apb.AuthorizeRequest(principal_arn=known, action="orders:ListOrders")
        ask_self = apb.AuthorizeRequest(action="orders:ListOrders")
        assert local.authorization.Authorize(ask_known).decision == ALLOWED
        assert session.authorization.Authorize(ask_self).decision == ALLOWED

        upstream.stop()
        stopped = time.monotonic()
        # Within max-staleness: what it holds keeps answering (the same answer as before),
        # temporary credentials included: they are decided here, not forwarded.
        assert local.authorization.Authorize(ask_known).decision == ALLOWED
        assert session.authorization.Authorize(ask_self).decision == ALLOWED
        assert health(sidecar.endpoint) == SERVING
        # What it never loaded is refused, never guessed: a principal, a caller's key.
        for ask, credentials in (
            (apb.AuthorizeRequest(principal_arn=unknown, action="orders:ListOrders"), shop),
            (apb.AuthorizeRequest(action="orders:ListOrders"), other_caller),
        ):
            caller = stubs(sidecar.endpoint, credentials)
            try:
                with pytest.raises(grpc.RpcError) as info:
                    caller.authorization.Authorize(ask)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            finally:
                caller.close()
        # Past max-staleness: everything fails closed, and health says so.
        while time.monotonic() - stopped < 4.0:
            time.sleep(0.1)
        for client, ask in ((local, ask_known), (session, ask_self)):
            with pytest.raises(grpc.RpcError) as info:
                client.authorization.Authorize(ask)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "max-staleness" in (info.value.details() or "")
        assert health(sidecar.endpoint) == NOT_SERVING

        # The upstream comes back on the same address: the sidecar resumes by itself.
        upstream = start_server(
            database_url,
            tmp_path / "upstream",
            extra_args=("--listen", f"127.0.0.1:{port}"),
        )
        root.close()
        root = stubs(upstream.endpoint, upstream.root)
        revision = root.management.DeleteUserPolicy(
            mpb.DeleteUserPolicyRequest(user_name=name_of(known), policy_name="p")
        ).revision
        wait_serving(sidecar.endpoint, timeout=20)
        reply = local.authorization.Authorize(
            apb.AuthorizeRequest(
                principal_arn=known, action="orders:ListOrders", at_least_revision=revision
            ),
            timeout=15,
        )
        assert reply.decision == IMPLICIT and reply.revision >= revision
        ask_unknown = apb.AuthorizeRequest(principal_arn=unknown, action="orders:ListOrders")
        assert local.authorization.Authorize(ask_unknown).decision == ALLOWED
        assert session.authorization.Authorize(ask_self).decision == ALLOWED
        assert sidecar.process.poll() is None  # the same process throughout
        assert account
        local.close()
        session.close()
    finally:
        root.close()
        if sidecar is not None:
            sidecar.stop()
        upstream.stop()


def test_the_manifests_readiness_probe_reads_the_sidecars_health(sidecar: Launched) -> None:
    import subprocess
    import sys

    import yaml

    manifest = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes" / "sidecar.yaml"
    deployment = next(d for d in yaml.safe_load_all(manifest.read_text()) if d)
    container = next(
        c for c in deployment["spec"]["template"]["spec"]["containers"]
        if c["name"] == "iamd-sidecar"
    )  # fmt: skip
    command = container["readinessProbe"]["exec"]["command"]
    assert command[0] == "python"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["IAMD_LISTEN"] == "127.0.0.1:50051"  # the probe dials what the sidecar listens on

    def probe(listen: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, *command[1:]],
            capture_output=True,
            timeout=30,
            env={**os.environ, "IAMD_LISTEN": listen},
        )

    ran = probe(sidecar.endpoint)
    assert ran.returncode == 0, ran.stderr
    assert probe("127.0.0.1:9").returncode != 0


def test_a_sidecar_without_credentials_says_so_in_one_line() -> None:
    from tests.launch import assert_one_line_failure, run_to_exit
    from tests.sidecar_support import sidecar_argv

    result = run_to_exit(
        sidecar_argv("127.0.0.1:1"), env={"IAMD_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    )
    assert_one_line_failure(result, "no credentials for the upstream")
