"""Oversized input is refused with INVALID_ARGUMENT naming the field, before any work.

A request context is matched against every pattern of every statement that can apply, so its
size is bounded (keys, values per key, characters per value); a policy document is parsed
before anything else, so nesting that would exhaust the parser is refused as malformed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import grpc
import pytest
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import sts_pb2
from iamd.v1 import types_pb2 as tpb

from tests.api.management_support import (
    document,
    expect_error,
    management_account,
    new_user,
    trust_document,
    unique,
)
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
STRING = tpb.CONTEXT_KEY_TYPE_STRING


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


def entry(key: str, *values: str) -> tpb.ContextEntry:
    return tpb.ContextEntry(key=key, type=tpb.CONTEXT_KEY_TYPE_STRING_LIST, values=values)


def authorize(root: Stubs, account: str, context: list[tpb.ContextEntry]) -> pb.AuthorizeResponse:
    response: pb.AuthorizeResponse = root.authorization.Authorize(
        pb.AuthorizeRequest(
            action="iam:GetUser",
            resource_arn=f"arn:aws:iam::{account}:user/nobody",
            context=context,
        )
    )
    return response


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ([entry(f"app:key{i}", "v") for i in range(101)], "context"),
        ([entry("app:tags", *[f"t{i}" for i in range(101)])], "context[0].values"),
        ([entry("app:ok", "v"), entry("app:big", "v", "x" * 2049)], "context[1].values[1]"),
        ([entry("app:" + "k" * 253, "v")], "context[0].key"),
    ],
)
def test_oversized_context_in_authorize(
    root: Stubs, context: list[tpb.ContextEntry], field: str
) -> None:
    account = management_account(root)
    expect_error(lambda: authorize(root, account, context), INVALID, field=field)


def test_context_at_the_bounds_is_answered(root: Stubs) -> None:
    account = management_account(root)
    widest = [entry(f"app:key{i}", *["x" * 2048] * 100) for i in range(3)]
    answer = authorize(root, account, widest)
    assert answer.decision == tpb.DECISION_ALLOWED  # the account root, in its own account


def test_oversized_context_in_batch_and_simulation(root: Stubs) -> None:
    account = management_account(root)
    big = [entry("app:big", "x" * 2049)]
    check = pb.AuthorizeCheck(
        action="iam:GetUser", resource_arn=f"arn:aws:iam::{account}:user/x", context=big
    )
    expect_error(
        lambda: root.authorization.AuthorizeBatch(pb.AuthorizeBatchRequest(checks=[check])),
        INVALID,
        field="checks[0].context[0].values[0]",
    )
    expect_error(
        lambda: root.authorization.SimulateCustomPolicy(
            pb.SimulateCustomPolicyRequest(
                policy_input_list=[document("*")],
                action_names=["s3:GetObject"],
                context_entries=big,
            )
        ),
        INVALID,
        field="context_entries[0].values[0]",
    )


def test_many_wildcards_against_a_long_value_are_answered(
    server: ServerProcess, root: Stubs
) -> None:
    """The patterns that backtracked for seconds: answered, with the right decision."""
    name = unique("globber")
    m = root.management
    m.CreateUser(mpb.CreateUserRequest(user_name=name))
    statement = {
        "Effect": "Allow",
        "Action": "iam:GetUser",
        "Resource": "arn:aws:iam::*:user/*a*a*a*a*a*a*a*a*b",
        "Condition": {"StringLike": {"app:file": "*-*-*-*-*-*.csv"}},
    }
    m.PutUserPolicy(
        mpb.PutUserPolicyRequest(
            user_name=name,
            policy_name="globs",
            policy_document=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
    )
    account = management_account(root)
    principal = f"arn:aws:iam::{account}:user/{name}"

    def ask(resource: str, value: str) -> int:
        response: pb.AuthorizeResponse = root.authorization.Authorize(
            pb.AuthorizeRequest(
                principal_arn=principal,
                action="iam:GetUser",
                resource_arn=f"arn:aws:iam::{account}:user/{resource}",
                context=[tpb.ContextEntry(key="app:file", type=STRING, values=[value])],
            ),
            timeout=10,
        )
        return int(response.decision)

    assert ask("a" * 40, "-" * 2048) == tpb.DECISION_IMPLICIT_DENY
    assert ask("a" * 40 + "b", "-" * 2043 + ".csv") == tpb.DECISION_ALLOWED


NESTED = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"Version": "2012-10-17", "Statement": ' + "[" * 40 + "]" * 40 + "}"
DEEP_CONDITION = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"k:a": "VALUES"}},
            }
        ],
    }
).replace('"VALUES"', "[" * 800 + "]" * 800)


@pytest.mark.parametrize("text", [NESTED, DEEP_OBJECT, DEEP_CONDITION, "{" * 5000])
def test_deeply_nested_policy_documents(server: ServerProcess, root: Stubs, text: str) -> None:
    """INVALID_ARGUMENT naming the field on every path that takes a document."""
    m = root.management
    account = management_account(root)
    user = unique("nested")
    m.CreateUser(mpb.CreateUserRequest(user_name=user))
    role = unique("nested")
    m.CreateRole(
        mpb.CreateRoleRequest(role_name=role, assume_role_policy_document=trust_document(account))
    )
    calls: dict[str, list[Callable[[], object]]] = {
        "policy_document": [
            lambda: m.PutUserPolicy(
                mpb.PutUserPolicyRequest(user_name=user, policy_name="deep", policy_document=text)
            ),
            lambda: m.PutRolePolicy(
                mpb.PutRolePolicyRequest(role_name=role, policy_name="deep", policy_document=text)
            ),
            lambda: m.CreatePolicy(
                mpb.CreatePolicyRequest(policy_name=unique("deep"), policy_document=text)
            ),
            lambda: m.UpdateAssumeRolePolicy(
                mpb.UpdateAssumeRolePolicyRequest(role_name=role, policy_document=text)
            ),
            lambda: m.PutResourcePolicy(
                mpb.PutResourcePolicyRequest(
                    resource_arn=f"arn:aws:s3:::{unique('deep')}", policy_document=text
                )
            ),
        ],
        "assume_role_policy_document": [
            lambda: m.CreateRole(
                mpb.CreateRoleRequest(role_name=unique("deep"), assume_role_policy_document=text)
            )
        ],
        "policy_input_list": [
            lambda: root.authorization.SimulateCustomPolicy(
                pb.SimulateCustomPolicyRequest(policy_input_list=[text], action_names=["s3:Get"])
            )
        ],
    }
    for field, attempts in calls.items():
        for attempt in attempts:
            expect_error(attempt, INVALID, field=field)
    _, user_stubs = new_user(root, server.endpoint, policy=document("sts:AssumeRole"))
    role_arn = f"arn:aws:iam::{account}:role/{role}"
    expect_error(
        lambda: user_stubs.sts.AssumeRole(
            sts_pb2.AssumeRoleRequest(role_arn=role_arn, role_session_name="s1", policy=text)
        ),
        INVALID,
        field="policy",
    )
    user_stubs.close()


def _segment(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def test_deeply_nested_json_from_unauthenticated_callers(
    server: ServerProcess, root: Stubs
) -> None:
    """A web identity token (unsigned call) and a JWKS document nested past the parser's
    recursion limit: refused as such, never INTERNAL."""
    account = management_account(root)
    deep = "[" * 7000 + "]" * 7000
    token = ".".join((_segment('{"alg":"RS256"}'), _segment(deep), "c2ln"))
    anonymous = stubs(server.endpoint, None)
    try:
        expect_error(
            lambda: anonymous.sts.AssumeRoleWithWebIdentity(
                sts_pb2.AssumeRoleWithWebIdentityRequest(
                    role_arn=f"arn:aws:iam::{account}:role/any",
                    role_session_name="s1",
                    web_identity_token=token,
                )
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        )
    finally:
        anonymous.close()
    expect_error(
        lambda: root.management.CreateOpenIDConnectProvider(
            mpb.CreateOpenIDConnectProviderRequest(
                url="https://deep.example.com", client_ids=["c"], jwks='{"keys": ' + deep + "}"
            )
        ),
        INVALID,
        field="jwks",
    )
