"""iamd_client.LocalAuthorizer against a real `iamd serve`: the server's decisions on a
random population before and after random changes, revocations within a second, failing
closed without iamd (and resuming), the async variant, and bad input refused by field."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import sts_pb2 as spb
from iamd.v1 import types_pb2 as tpb
from iamd_client import (
    AsyncLocalAuthorizer,
    ClientConfig,
    InvalidArgument,
    LocalAuthorizer,
    LocalDecision,
    Unavailable,
)
from iamd_client.signing import SigningCredentials

from tests.api.management_support import document, unique
from tests.harness import ServerProcess, Stubs, start_server, stubs
from tests.population import (
    World,
    define_orders,
    name_of,
    new_key,
    new_user,
    order,
    policy,
    sample,
)
from tests.population import world as world  # the module's fixture

ALLOWED = tpb.DECISION_ALLOWED
IMPLICIT = tpb.DECISION_IMPLICIT_DENY


def config(endpoint: str, key: SigningCredentials) -> ClientConfig:
    return ClientConfig(
        endpoint=endpoint, access_key_id=key.access_key_id, secret_access_key=key.secret_access_key
    )


@pytest.fixture(scope="module")
def local(server: ServerProcess, world: World) -> Iterator[LocalAuthorizer]:
    with LocalAuthorizer(config(server.endpoint, world.sidecar_key)) as authorizer:
        yield authorizer


def decide(
    authorizer: LocalAuthorizer, request: apb.AuthorizeRequest, revision: int = 0
) -> LocalDecision:
    return authorizer.authorize(
        principal_arn=request.principal_arn,
        action=request.action,
        resource_arn=request.resource_arn,
        context=list(request.context) or None,
        resource_owner_account=request.resource_owner_account or None,
        at_least_revision=revision,
        explain=request.explain,
    )


def ask(authorizer: LocalAuthorizer, request: apb.AuthorizeRequest, revision: int = 0) -> int:
    return decide(authorizer, request, revision).decision


def compare(
    upstream: Stubs, authorizer: LocalAuthorizer, world: World, seed: int, revision: int
) -> set[int]:
    """Asks both about 1,500 random requests; returns the decisions seen."""
    seen: set[int] = set()
    for request in sample(world, 1500, seed):
        request.explain = True
        expected = upstream.authorization.Authorize(request)
        got = decide(authorizer, request, revision)
        assert got.decision == expected.decision, request
        assert got.reason == expected.explain.detail, request
        seen.add(got.decision)
    return seen


def mutate(world: World, rng: random.Random) -> int:
    """One random change to the population; returns its revision."""
    m = world.admin.management
    users = [p for p in world.principals if ":user/" in p and "ghost" not in p]
    user = name_of(rng.choice(users))
    shared = order(world.account, "7")
    documents = [
        document("orders:*"),
        document("orders:GetOrder", order(world.account, "1*")),
        document("orders:CancelOrder", effect="Deny"),
        document("orders:*", condition={"IpAddress": {"aws:SourceIp": "192.168.0.0/16"}}),
    ]
    choice = rng.randrange(8)
    if choice == 0:
        return int(
            m.PutUserPolicy(
                mpb.PutUserPolicyRequest(
                    user_name=user, policy_name="r", policy_document=rng.choice(documents)
                )
            ).revision
        )
    if choice == 1:
        m.PutUserPolicy(
            mpb.PutUserPolicyRequest(user_name=user, policy_name="r", policy_document=documents[0])
        )
        return int(
            m.DeleteUserPolicy(
                mpb.DeleteUserPolicyRequest(user_name=user, policy_name="r")
            ).revision
        )
    if choice == 2:
        return int(
            m.AddUserToGroup(mpb.AddUserToGroupRequest(group_name=world.group, user_name=user))
            .revision
        )  # fmt: skip
    if choice == 3:
        m.AddUserToGroup(mpb.AddUserToGroupRequest(group_name=world.group, user_name=user))
        return int(
            m.RemoveUserFromGroup(
                mpb.RemoveUserFromGroupRequest(group_name=world.group, user_name=user)
            ).revision
        )
    if choice == 4:
        return int(
            m.PutUserPermissionsBoundary(
                mpb.PutUserPermissionsBoundaryRequest(
                    user_name=user, permissions_boundary=world.boundary
                )
            ).revision
        )
    if choice == 5:
        m.PutUserPermissionsBoundary(
            mpb.PutUserPermissionsBoundaryRequest(
                user_name=user, permissions_boundary=world.boundary
            )
        )
        return int(
            m.DeleteUserPermissionsBoundary(
                mpb.DeleteUserPermissionsBoundaryRequest(user_name=user)
            ).revision
        )
    if choice == 6:
        return int(
            m.PutRolePolicy(
                mpb.PutRolePolicyRequest(
                    role_name=world.role_name,
                    policy_name="r",
                    policy_document=rng.choice(documents),
                )
            ).revision
        )
    grantee = rng.choice(users)
    return int(
        m.PutResourcePolicy(
            mpb.PutResourcePolicyRequest(
                resource_arn=shared,
                policy_document=policy(
                    {
                        "Effect": rng.choice(["Allow", "Deny"]),
                        "Principal": {"AWS": grantee},
                        "Action": "orders:*",
                        "Resource": shared,
                    }
                ),
            )
        ).revision
    )


def test_decisions_equal_the_servers_before_and_after_random_changes(
    server: ServerProcess, world: World, local: LocalAuthorizer
) -> None:
    upstream = stubs(server.endpoint, world.shop_key)
    try:
        seen = compare(upstream, local, world, seed=5, revision=world.revision)
        assert {ALLOWED, IMPLICIT, tpb.DECISION_EXPLICIT_DENY} <= seen
        rng = random.Random(7)
        revision = max(mutate(world, rng) for _ in range(12))
        assert (
            local.authorize(
                principal_arn=world.principals[0],
                action="orders:ListOrders",
                at_least_revision=revision,
            ).revision
            >= revision
        )
        seen = compare(upstream, local, world, seed=6, revision=revision)
        assert {ALLOWED, IMPLICIT} <= seen
    finally:
        upstream.close()


def test_a_revocation_reaches_the_local_authorizer_within_a_second(
    world: World, local: LocalAuthorizer
) -> None:
    user = new_user(world.admin, inline=document("orders:GetOrder"))
    target = order(world.account, "5")
    answer = local.authorize(principal_arn=user, action="orders:GetOrder", resource_arn=target)
    assert isinstance(answer, LocalDecision) and answer.allowed and answer.decision == ALLOWED
    world.admin.management.DeleteUserPolicy(
        mpb.DeleteUserPolicyRequest(user_name=name_of(user), policy_name="p")
    )
    began = time.monotonic()
    while local.authorize(
        principal_arn=user, action="orders:GetOrder", resource_arn=target
    ).allowed:
        assert time.monotonic() - began < 1.0, "the revocation took longer than a second"
        time.sleep(0.002)


def test_the_async_variant_answers_the_same(
    server: ServerProcess, world: World, local: LocalAuthorizer
) -> None:
    requests = sample(world, 300, seed=9)

    async def decide_all() -> list[int]:
        async with AsyncLocalAuthorizer(config(server.endpoint, world.sidecar_key)) as authz:
            answers: list[int] = []
            for r in requests:
                answer = await authz.authorize(
                    principal_arn=r.principal_arn,
                    action=r.action,
                    resource_arn=r.resource_arn,
                    context=list(r.context) or None,
                    at_least_revision=local.revision,
                )
                answers.append(answer.decision)
            return answers

    assert asyncio.run(decide_all()) == [ask(local, r) for r in requests]


def test_bad_input_is_refused_naming_the_field(world: World, local: LocalAuthorizer) -> None:
    user = world.principals[0]
    cases = [
        ({"action": "orders:Nope"}, "action"),
        ({"action": "orders:GetOrder", "resource_arn": "not-an-arn"}, "resource_arn"),
        ({"action": "orders:GetOrder", "resource_owner_account": "12"}, "resource_owner_account"),
        (
            {
                "action": "orders:GetOrder",
                "resource_arn": order(world.account, "1"),
                "resource_owner_account": "999999999999",
            },
            "resource_owner_account",
        ),
        ({"action": "orders:GetOrder", "context": {f"k:{i}x": "v" for i in range(101)}}, "context"),
        ({"action": "orders:GetOrder", "context": {"aws:SourceIp": "x" * 3000}}, "context[0]"),
        ({"action": "orders:GetOrder", "context": {"bad": "v"}}, "context[0].key"),
    ]
    for arguments, field in cases:
        with pytest.raises(InvalidArgument) as info:
            local.authorize(principal_arn=user, **arguments)  # type: ignore[arg-type]
        assert info.value.field is not None and info.value.field.startswith(field), arguments
    with pytest.raises(InvalidArgument) as info:
        local.authorize(principal_arn="", action="orders:GetOrder")
    assert info.value.field == "principal_arn"
    # The service's own keys are dropped, as the server drops them: no way to pose as another.
    spoofed = local.authorize(
        principal_arn=world.principals[4],  # a user with no policy of its own
        action="orders:GetOrder",
        resource_arn=order(world.account, "1"),
        context={"aws:PrincipalArn": world.principals[0], "aws:username": "x"},
    )
    assert not spoofed.allowed
    # A principal that does not exist: the server's unknown-principal implicit deny.
    ghost = f"arn:aws:iam::{world.account}:user/nobody-{time.time_ns()}"
    assert local.authorize(principal_arn=ghost, action="orders:GetOrder").decision == IMPLICIT


def test_without_iamd_it_answers_until_max_staleness_then_fails_closed_and_resumes(
    database_url: str, tmp_path: Path
) -> None:
    upstream = start_server(database_url, tmp_path / "upstream")
    port = upstream.endpoint.rsplit(":", 1)[1]
    root = stubs(upstream.endpoint, upstream.root)
    authorizer: LocalAuthorizer | None = None
    try:
        define_orders(root)
        known = new_user(root, inline=document("orders:*"))
        unknown = new_user(root, inline=document("orders:*"))
        watcher = new_key(root, name_of(new_user(root, inline=document("iamd:Watch"))))
        authorizer = LocalAuthorizer(
            config(upstream.endpoint, watcher), max_staleness=2.0, load_timeout=2.0
        )
        assert authorizer.authorize(principal_arn=known, action="orders:ListOrders").allowed

        upstream.stop()
        stopped = time.monotonic()
        # Within max_staleness: what is held keeps answering; what is not is refused.
        assert authorizer.authorize(principal_arn=known, action="orders:ListOrders").allowed
        with pytest.raises(Unavailable):
            authorizer.authorize(principal_arn=unknown, action="orders:ListOrders")
        while time.monotonic() - stopped < 2.5:
            time.sleep(0.1)
        with pytest.raises(Unavailable) as info:
            authorizer.authorize(principal_arn=known, action="orders:ListOrders")
        assert "max_staleness" in str(info.value)

        # iamd comes back on the same address: the same LocalAuthorizer answers again.
        upstream = start_server(
            database_url, tmp_path / "upstream", extra_args=("--listen", f"127.0.0.1:{port}")
        )
        root.close()
        root = stubs(upstream.endpoint, upstream.root)
        revision = root.management.DeleteUserPolicy(
            mpb.DeleteUserPolicyRequest(user_name=name_of(known), policy_name="p")
        ).revision
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = authorizer.authorize(
                    principal_arn=known, action="orders:ListOrders", at_least_revision=revision
                )
                break
            except Unavailable:
                assert time.monotonic() < deadline, "it did not resume"
                time.sleep(0.1)
        assert answer.decision == IMPLICIT and answer.revision >= revision
        assert authorizer.authorize(principal_arn=unknown, action="orders:ListOrders").allowed
    finally:
        root.close()
        if authorizer is not None:
            authorizer.close()
        upstream.stop()


def test_trust_policies_service_and_anonymous_principals_agree_with_the_server(
    server: ServerProcess, world: World, local: LocalAuthorizer
) -> None:
    role = next(p for p in world.principals if ":role/" in p)
    asking = [*world.principals, "orders.amazonaws.com", world.shop_arn]
    upstream = stubs(server.endpoint, world.shop_key)
    try:
        seen = set()
        for principal in asking:
            for action in ("sts:AssumeRole", "sts:TagSession", "orders:GetOrder"):
                request = apb.AuthorizeRequest(
                    principal_arn=principal, action=action, resource_arn=role
                )
                expected = upstream.authorization.Authorize(request).decision
                assert ask(local, request) == expected, (principal, action)
                seen.add(expected)
        # The role's trust policy lets the shop assume it: an allow decided by a resource
        # (trust) policy the LocalAuthorizer followed through the role's ARN.
        assert ALLOWED in seen and IMPLICIT in seen
    finally:
        upstream.close()


def test_memory_is_bounded_and_decisions_stay_right(server: ServerProcess, world: World) -> None:
    users = [new_user(world.admin, inline=document("orders:ListOrders")) for _ in range(8)]
    with LocalAuthorizer(config(server.endpoint, world.sidecar_key), max_principals=3) as small:
        most = 0
        for _ in range(2):
            for user in users:
                answer = small.authorize(principal_arn=user, action="orders:ListOrders")
                assert answer.allowed
                assert not small.authorize(principal_arn=user, action="orders:GetOrder").allowed
                most = max(most, small.followed[0])
        assert 0 < most <= 3


def test_a_revision_not_applied_in_time_is_unavailable_never_an_older_answer(
    server: ServerProcess, world: World
) -> None:
    user = world.principals[0]
    with LocalAuthorizer(
        config(server.endpoint, world.sidecar_key), revision_timeout=0.3
    ) as authorizer:
        now = authorizer.authorize(principal_arn=user, action="orders:ListOrders").revision
        with pytest.raises(Unavailable) as info:
            authorizer.authorize(
                principal_arn=user, action="orders:ListOrders", at_least_revision=now + 10_000
            )
        assert "not applied" in str(info.value)


def test_a_principal_it_may_not_follow_is_unavailable_never_allowed(
    server: ServerProcess, world: World
) -> None:
    allowed = new_user(world.admin, inline=document("orders:*"))
    hidden = new_user(world.admin, inline=document("orders:*"))
    narrow = new_user(world.admin, inline=document("iamd:Watch", [allowed]))
    key = new_key(world.admin, name_of(narrow))
    with LocalAuthorizer(config(server.endpoint, key), resource_index=False) as narrowed:
        assert narrowed.authorize(principal_arn=allowed, action="orders:ListOrders").allowed
        with pytest.raises(Unavailable) as info:
            narrowed.authorize(principal_arn=hidden, action="orders:ListOrders")
        assert "iamd:Watch" in str(info.value)


def test_a_process_that_never_closes_it_exits_cleanly(server: ServerProcess, world: World) -> None:
    script = (
        "import sys\n"
        "from iamd_client import ClientConfig, LocalAuthorizer\n"
        "config = ClientConfig(endpoint=sys.argv[1], access_key_id=sys.argv[2],"
        " secret_access_key=sys.argv[3])\n"
        "authz = LocalAuthorizer(config)\n"
        "print(authz.authorize(principal_arn=sys.argv[4], action='orders:ListOrders').allowed)\n"
    )
    key = world.sidecar_key
    ran = subprocess.run(
        [sys.executable, "-c", script, server.endpoint, key.access_key_id,
         key.secret_access_key, world.principals[2]],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "True"


def test_an_unindexed_resource_of_another_account_is_never_presumed_policy_free(
    server: ServerProcess, world: World, local: LocalAuthorizer
) -> None:
    """Watch's index lists the follower's own account's resources with a policy. An ARN with
    no account field, claimed by another account, is owned by that account: the server denies
    the member's identity-only allow as cross-account, and the LocalAuthorizer must not answer
    from its own account's index as if the resource were the member's and policy-free."""
    elsewhere = stubs(server.endpoint, server.root)  # the management account
    upstream = stubs(server.endpoint, world.shop_key)
    try:
        claimed = f"arn:aws:orders:eu-west-1::order/{unique('claimed')}"
        elsewhere.management.PutResourcePolicy(
            mpb.PutResourcePolicyRequest(
                resource_arn=claimed,
                policy_document=policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": elsewhere_root(elsewhere)},
                        "Action": "orders:GetOrder",
                        "Resource": claimed,
                    }
                ),
            )
        )
        user = new_user(
            world.admin,
            inline=policy({"Effect": "Allow", "Action": "orders:GetOrder", "Resource": "*"}),
        )
        request = apb.AuthorizeRequest(
            principal_arn=user, action="orders:GetOrder", resource_arn=claimed
        )
        reply = upstream.authorization.Authorize(request)
        assert reply.decision == IMPLICIT  # cross-account: the owner's policy grants nothing
        try:
            answer = ask(local, request, int(reply.revision))
        except Unavailable:
            return  # it may not follow another account's resource: failing closed is right
        assert answer == IMPLICIT
    finally:
        elsewhere.close()
        upstream.close()


def elsewhere_root(client: Stubs) -> str:
    return str(client.sts.GetCallerIdentity(spb.GetCallerIdentityRequest()).arn)


def test_a_change_being_applied_is_never_read_half_way(
    world: World, local: LocalAuthorizer
) -> None:
    """While the follower replaces entries (the generation odd), a decision on another thread
    would mix two states; it decides again after the change, and never answers from a change
    that does not complete."""
    request = apb.AuthorizeRequest(
        principal_arn=world.principals[0], action="orders:GetOrder", resource_arn="*"
    )
    settled = ask(local, request)
    entries = local._core.entries
    entries.generation += 1  # as Entries.changed does before it replaces anything
    try:
        with pytest.raises(Unavailable):
            ask(local, request)
    finally:
        entries.generation += 1  # ... and after
    assert ask(local, request) == settled
