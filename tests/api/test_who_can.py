"""ListPrincipalsAllowed and ListAllowedActions against a real `iamd serve`: both agree with
Authorize asked about every principal x action x resource of a small population (groups,
roles, a boundary, an SCP, a resource policy, a deny, a condition on the request context);
pages; groups that contribute; bad input named by field; callers without the grant refused."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from iamd.v1 import analysis_pb2 as apb
from iamd.v1 import analysis_pb2_grpc

from tests.api.management_support import document, expect_error, new_user
from tests.api.who_can_support import (
    ALLOWED,
    CONDITIONAL,
    Population,
    access_name,
    brute_force,
    build,
)
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT


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


@pytest.fixture(scope="module")
def expected(pop: Population) -> dict[tuple[str, str, str], str]:
    return brute_force(pop)


def who_can(pop: Population, action: str, resource: str) -> dict[str, str]:
    """Every page of ListPrincipalsAllowed: principal ARN -> allowed | conditional."""
    out: dict[str, str] = {}
    marker = ""
    while True:
        response = pop.analysis().ListPrincipalsAllowed(
            apb.ListPrincipalsAllowedRequest(
                action=action, resource_arn=resource, marker=marker, max_items=2
            )
        )
        assert response.account == pop.account
        for p in response.principals:
            assert p.principal_arn not in out
            out[p.principal_arn] = access_name(p.access)
        arns = [p.principal_arn for p in response.principals]
        assert arns == sorted(arns)
        if not response.is_truncated:
            return out
        marker = response.marker


def what_can(pop: Population, principal: str, **fields: str) -> dict[str, str]:
    out: dict[str, str] = {}
    marker = ""
    while True:
        response = pop.analysis().ListAllowedActions(
            apb.ListAllowedActionsRequest(
                principal_arn=principal, marker=marker, max_items=1, **fields
            )
        )
        for a in response.actions:
            assert a.action not in out
            out[a.action] = access_name(a.access)
        if not response.is_truncated:
            return out
        marker = response.marker


def test_who_can_agrees_with_authorize_for_every_triple(
    pop: Population, expected: dict[tuple[str, str, str], str]
) -> None:
    # The population exercises every kind of answer.
    values = set(expected.values())
    assert values == {ALLOWED, CONDITIONAL}
    for action in pop.actions:
        for resource in pop.resources:
            want = {p: a for (p, ac, r), a in expected.items() if ac == action and r == resource}
            assert who_can(pop, action, resource) == want, (action, resource)


def test_population_covers_boundary_scp_deny_and_resource_policy(
    pop: Population, expected: dict[tuple[str, str, str], str]
) -> None:
    read, write, delete = pop.actions[:3]
    u = pop.users
    # Group-attached managed policy, minus the user's own deny.
    assert expected.get((u["u0"], read, pop.doc("secret"))) == ALLOWED
    assert (u["u2"], read, pop.doc("secret")) not in expected
    # The boundary withholds Write from u3 that its group grants u4.
    assert expected.get((u["u4"], write, pop.doc("team-x"))) == ALLOWED
    assert (u["u3"], write, pop.doc("team-x")) not in expected
    # The SCP denies Delete in the account, whatever the role's policy says.
    assert not any(a == delete for (_, a, _) in expected)
    # The resource policy alone grants u6; u5 depends on the source address.
    assert expected.get((u["u6"], read, pop.doc("shared"))) == ALLOWED
    assert (u["u6"], read, pop.doc("a")) not in expected
    assert expected.get((u["u5"], write, pop.doc("a"))) == CONDITIONAL


def test_what_can_agrees_with_authorize(
    pop: Population, expected: dict[tuple[str, str, str], str]
) -> None:
    for principal in pop.principals:
        for resource in pop.resources:
            if resource == "*":
                got = what_can(pop, principal, service=pop.prefix)
            else:
                got = what_can(pop, principal, resource_arn=resource)
            want = {
                a: v
                for (p, a, r), v in expected.items()
                if p == principal and r == resource and (resource == "*" or not a.endswith("List"))
            }
            assert got == want, (principal, resource)


def test_groups_that_contribute(pop: Population) -> None:
    read = pop.actions[0]
    response = pop.analysis().ListPrincipalsAllowed(
        apb.ListPrincipalsAllowedRequest(
            action=read, resource_arn=pop.doc("a"), include_groups=True
        )
    )
    by_arn = {p.principal_arn: p for p in response.principals}
    u0 = by_arn[pop.users["u0"]]
    assert list(u0.groups) == [pop.groups["g0"]]
    assert [m.source_policy_id for m in u0.explanation.matched_statements] == [
        pop.policies["read-docs"]
    ]
    assert list(by_arn[pop.roles["r0"]].groups) == []
    group = by_arn[pop.groups["g0"]]
    assert group.principal_type == apb.PRINCIPAL_TYPE_GROUP
    assert [m.source_policy_id for m in group.explanation.matched_statements] == [
        pop.policies["read-docs"]
    ]
    assert pop.groups["g1"] in by_arn  # its inline policy allows u3 and u4
    assert pop.users["u7"] not in by_arn
    # Without include_groups no group is listed.
    plain = pop.analysis().ListPrincipalsAllowed(
        apb.ListPrincipalsAllowedRequest(action=read, resource_arn=pop.doc("a"))
    )
    assert all(p.principal_type != apb.PRINCIPAL_TYPE_GROUP for p in plain.principals)
    assert all(not p.groups for p in plain.principals)


def test_conditional_names_the_context_keys(pop: Population) -> None:
    response = pop.analysis().ListPrincipalsAllowed(
        apb.ListPrincipalsAllowedRequest(action=pop.actions[1], resource_arn=pop.doc("a"))
    )
    u5 = next(p for p in response.principals if p.principal_arn == pop.users["u5"])
    assert u5.access == apb.ACCESS_CONDITIONAL
    assert list(u5.explanation.missing_context_keys) == ["aws:SourceIp"]


def test_bad_input_is_named(pop: Population) -> None:
    analysis = pop.analysis()
    read = pop.actions[0]
    expect_error(
        lambda: analysis.ListPrincipalsAllowed(
            apb.ListPrincipalsAllowedRequest(resource_arn=pop.doc("a"))
        ),
        INVALID,
        field="action",
    )
    expect_error(
        lambda: analysis.ListPrincipalsAllowed(
            apb.ListPrincipalsAllowedRequest(action="nosuch:Thing", resource_arn="*")
        ),
        INVALID,
        field="action",
    )
    expect_error(
        lambda: analysis.ListPrincipalsAllowed(
            apb.ListPrincipalsAllowedRequest(action=read, resource_arn="doc/a")
        ),
        INVALID,
        field="resource_arn",
    )
    expect_error(
        lambda: analysis.ListPrincipalsAllowed(
            apb.ListPrincipalsAllowedRequest(action=read, resource_arn="*", marker="%%%")
        ),
        INVALID,
        field="marker",
    )
    expect_error(
        lambda: analysis.ListPrincipalsAllowed(
            apb.ListPrincipalsAllowedRequest(action=read, resource_arn="*", max_items=5000)
        ),
        INVALID,
        field="max_items",
    )
    expect_error(
        lambda: analysis.ListAllowedActions(
            apb.ListAllowedActionsRequest(principal_arn=pop.users["u0"])
        ),
        INVALID,
        field="resource_arn",
    )
    expect_error(
        lambda: analysis.ListAllowedActions(
            apb.ListAllowedActionsRequest(principal_arn=pop.users["u0"], service="nosuch")
        ),
        INVALID,
        field="service",
    )


def test_callers_need_the_grant(pop: Population, server: ServerProcess) -> None:
    # A user of the account with no policies learns nothing about who can do what.
    _, nobody = new_user(pop.member, server.endpoint)
    analysis = apb
    stub = analysis_pb2_grpc.AnalysisServiceStub(nobody.channel)
    expect_error(
        lambda: stub.ListPrincipalsAllowed(
            analysis.ListPrincipalsAllowedRequest(action=pop.actions[0], resource_arn=pop.doc("a"))
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    expect_error(
        lambda: stub.ListAllowedActions(
            analysis.ListAllowedActionsRequest(principal_arn=pop.users["u0"], service=pop.prefix)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # Granted on one resource only: that resource answers, another does not.
    name, allowed = new_user(
        pop.member,
        server.endpoint,
        policy=document("iamd:ListPrincipalsAllowed", pop.doc("a")),
    )
    stub = analysis_pb2_grpc.AnalysisServiceStub(allowed.channel)
    pop.settle()
    stub.ListPrincipalsAllowed(
        analysis.ListPrincipalsAllowedRequest(action=pop.actions[0], resource_arn=pop.doc("a"))
    )
    expect_error(
        lambda: stub.ListPrincipalsAllowed(
            analysis.ListPrincipalsAllowedRequest(
                action=pop.actions[0], resource_arn=pop.doc("secret")
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # Listing another account's principals needs that account's consent as well.
    expect_error(
        lambda: stub.ListPrincipalsAllowed(
            analysis.ListPrincipalsAllowedRequest(
                action=pop.actions[0], resource_arn=pop.doc("a"), account="123456789012"
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    nobody.close()
    allowed.close()
    assert name
