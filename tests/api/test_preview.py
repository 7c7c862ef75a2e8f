"""PreviewPolicyChange against a real `iamd serve`: for each kind of write, the preview lists
exactly the decisions that change when the write is then applied (Authorize asked about
every principal x previewed action x previewed resource before and after), and nothing is
written by the preview itself."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from iamd.v1 import analysis_pb2 as apb
from iamd.v1 import analysis_pb2_grpc
from iamd.v1 import management_pb2 as mpb

from tests.api.management_support import document, expect_error, new_user
from tests.api.who_can_support import Population, authorize, build
from tests.harness import ServerProcess, Stubs, stubs

Triple = tuple[str, str, str]


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def pop(root: Stubs, server: ServerProcess) -> Iterator[Population]:
    population = build(root, server.endpoint)
    yield population
    population.member.close()


def decisions(pop: Population, triples: list[Triple]) -> dict[Triple, int]:
    return {t: int(authorize(pop, *t).decision) for t in triples}


def preview_then_apply(
    pop: Population, change: dict[str, Any], apply: Callable[[], Any]
) -> apb.PreviewPolicyChangeResponse:
    """Previews, applies, and checks the preview against Authorize before and after."""
    response: apb.PreviewPolicyChangeResponse = pop.analysis().PreviewPolicyChange(
        apb.PreviewPolicyChangeRequest(**change)
    )
    assert not response.truncated
    domain = [
        (p, a, r) for p in pop.principals for a in response.actions for r in response.resources
    ]
    assert response.checked <= len(domain)
    before = decisions(pop, domain)
    # The preview wrote nothing: every decision is still as it was.
    pop.settle()
    assert decisions(pop, domain) == before
    pop.settle(int(apply().revision))
    after = decisions(pop, domain)
    changed = {t: (before[t], after[t]) for t in domain if before[t] != after[t]}
    listed = {
        (c.principal_arn, c.action, c.resource_arn): (int(c.before), int(c.after))
        for c in response.changes
    }
    assert listed == changed
    assert listed, "every previewed write here changes some decision"
    return response


def test_put_user_policy(pop: Population) -> None:
    m = pop.member.management
    read, write = pop.actions[:2]
    request = mpb.PutUserPolicyRequest(
        user_name="u7",
        policy_name="docs",
        policy_document=document([read, write], [pop.doc("a"), pop.doc("secret")]),
    )
    response = preview_then_apply(
        pop, {"put_user_policy": request}, lambda: m.PutUserPolicy(request)
    )
    assert set(response.actions) == {read, write}
    assert set(response.resources) == {pop.doc("a"), pop.doc("secret"), "*"}
    assert {c.principal_arn for c in response.changes} == {pop.users["u7"]}


def test_attach_and_detach(pop: Population) -> None:
    m = pop.member.management
    attach = mpb.AttachUserPolicyRequest(user_name="u6", policy_arn=pop.policies["read-docs"])
    preview_then_apply(pop, {"attach_user_policy": attach}, lambda: m.AttachUserPolicy(attach))
    detach = mpb.DetachGroupPolicyRequest(group_name="g0", policy_arn=pop.policies["read-docs"])
    response = preview_then_apply(
        pop, {"detach_group_policy": detach}, lambda: m.DetachGroupPolicy(detach)
    )
    # The group's members lose Read; the role with its own attachment keeps it.
    assert {c.principal_arn for c in response.changes} == {pop.users[u] for u in ("u0", "u1", "u2")}


def test_boundaries(pop: Population) -> None:
    m = pop.member.management
    put = mpb.PutUserPermissionsBoundaryRequest(
        user_name="u4", permissions_boundary=pop.policies["boundary"]
    )
    preview_then_apply(
        pop, {"put_user_permissions_boundary": put}, lambda: m.PutUserPermissionsBoundary(put)
    )
    delete = mpb.DeleteUserPermissionsBoundaryRequest(user_name="u3")
    response = preview_then_apply(
        pop,
        {"delete_user_permissions_boundary": delete},
        lambda: m.DeleteUserPermissionsBoundary(delete),
    )
    assert {c.principal_arn for c in response.changes} == {pop.users["u3"]}


def test_new_default_version(pop: Population) -> None:
    m = pop.member.management
    read, write = pop.actions[:2]
    request = mpb.CreatePolicyVersionRequest(
        policy_arn=pop.policies["read-docs"],
        policy_document=document([read, write], pop.doc("*")),
        set_as_default=True,
    )
    preview_then_apply(
        pop, {"create_policy_version": request}, lambda: m.CreatePolicyVersion(request)
    )


def test_resource_policy_and_delete_role_policy(pop: Population) -> None:
    m = pop.member.management
    write = pop.actions[1]
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": pop.users["u1"]},
                    "Action": write,
                    "Resource": pop.doc("shared"),
                }
            ],
        }
    )
    put = mpb.PutResourcePolicyRequest(resource_arn=pop.doc("shared"), policy_document=text)
    response = preview_then_apply(
        pop, {"put_resource_policy": put}, lambda: m.PutResourcePolicy(put)
    )
    assert list(response.resources) == [pop.doc("shared")]
    delete = mpb.DeleteRolePolicyRequest(role_name="r0", policy_name="all")
    preview_then_apply(pop, {"delete_role_policy": delete}, lambda: m.DeleteRolePolicy(delete))


def test_bad_input(pop: Population) -> None:
    analysis = pop.analysis()
    expect_error(
        lambda: analysis.PreviewPolicyChange(apb.PreviewPolicyChangeRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="change",
    )
    expect_error(
        lambda: analysis.PreviewPolicyChange(
            apb.PreviewPolicyChangeRequest(
                put_user_policy=mpb.PutUserPolicyRequest(
                    user_name="u0", policy_name="x", policy_document="{not json"
                )
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="put_user_policy.policy_document",
    )
    expect_error(
        lambda: analysis.PreviewPolicyChange(
            apb.PreviewPolicyChangeRequest(
                put_user_policy=mpb.PutUserPolicyRequest(
                    user_name="nobody-here",
                    policy_name="x",
                    policy_document=document(pop.actions[0]),
                )
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_callers_without_the_grant_learn_nothing(pop: Population, server: ServerProcess) -> None:
    _, nobody = new_user(pop.member, server.endpoint)
    _, granted = new_user(
        pop.member,
        server.endpoint,
        policy=document("iamd:PreviewPolicyChange", pop.users["u7"]),
    )
    pop.settle()

    def put(client: Stubs, user: str) -> Callable[[], Any]:
        stub = analysis_pb2_grpc.AnalysisServiceStub(client.channel)
        request = apb.PreviewPolicyChangeRequest(
            put_user_policy=mpb.PutUserPolicyRequest(
                user_name=user, policy_name="x", policy_document=document(pop.actions[0])
            )
        )
        return lambda: stub.PreviewPolicyChange(request)

    denied = grpc.StatusCode.PERMISSION_DENIED
    # An existing user and a missing one get the same answer.
    expect_error(put(nobody, "u0"), denied)
    expect_error(put(nobody, "no-such-user"), denied)
    # Granted on u7 only.
    put(granted, "u7")()
    expect_error(put(granted, "u0"), denied)
    nobody.close()
    granted.close()


def test_another_accounts_principals_and_policies_are_not_previewed(
    pop: Population, root: Stubs
) -> None:
    """A member account's root previews against the management account: listing its principals
    through an unclaimed ARN's owner_account_id, or reading what its managed policy grants by
    previewing an attachment. Both are another account's business."""
    other_user = root.management.CreateUser(
        mpb.CreateUserRequest(user_name=f"outsider-{pop.prefix}")
    ).user
    other_account = other_user.arn.split(":")[4]
    assert other_account != pop.account
    unclaimed = f"arn:aws:{pop.prefix}:::unclaimed-{pop.prefix}"
    grant_all = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": pop.actions[0],
                    "Resource": unclaimed,
                }
            ],
        }
    )
    analysis = pop.analysis()
    expect_error(
        lambda: analysis.PreviewPolicyChange(
            apb.PreviewPolicyChangeRequest(
                put_resource_policy=mpb.PutResourcePolicyRequest(
                    resource_arn=unclaimed,
                    policy_document=grant_all,
                    owner_account_id=other_account,
                )
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # The same preview for the caller's own account is answered.
    own = analysis.PreviewPolicyChange(
        apb.PreviewPolicyChangeRequest(
            put_resource_policy=mpb.PutResourcePolicyRequest(
                resource_arn=unclaimed, policy_document=grant_all
            )
        )
    )
    assert own.checked > 0
    assert {c.principal_arn.split(":")[4] for c in own.changes} <= {pop.account}

    foreign = root.management.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name=f"foreign-{pop.prefix}", policy_document=document(pop.actions[0], "*")
        )
    ).policy.arn
    missing = foreign.replace(f"foreign-{pop.prefix}", f"missing-{pop.prefix}")

    def attach(policy_arn: str) -> Callable[[], Any]:
        request = apb.PreviewPolicyChangeRequest(
            attach_user_policy=mpb.AttachUserPolicyRequest(user_name="u0", policy_arn=policy_arn)
        )
        return lambda: analysis.PreviewPolicyChange(request)

    # Another account's policy gets a missing policy's answer, as the write refuses it.
    foreign_answer = expect_error(attach(foreign), grpc.StatusCode.NOT_FOUND).details()
    missing_answer = expect_error(attach(missing), grpc.StatusCode.NOT_FOUND).details()
    assert foreign_answer == missing_answer.replace("missing-", "foreign-")
    boundary = apb.PreviewPolicyChangeRequest(
        put_user_permissions_boundary=mpb.PutUserPermissionsBoundaryRequest(
            user_name="u0", permissions_boundary=foreign
        )
    )
    expect_error(lambda: analysis.PreviewPolicyChange(boundary), grpc.StatusCode.NOT_FOUND)
