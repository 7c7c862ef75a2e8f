"""A member account with varied principals and resources (users, groups, a role and its
sessions, a permissions boundary, an SCP, a resource policy, an ACL, conditions), built on
a real server, and random Authorize requests about it; shared by the tests that compare
followers' decisions with the server's (tests/test_sidecar.py,
tests/client/test_local_authorizer.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from iamd.v1 import authorization_pb2 as apb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb
from iamd_client.signing import SigningCredentials

from tests.api.management_support import credentials_of, document, unique
from tests.harness import ServerProcess, Stubs, stubs


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def order(account: str, number: str) -> str:
    return f"arn:aws:orders:eu-west-1:{account}:order/{number}"


def define_orders(s: Stubs) -> int:
    definition = tpb.ServiceDefinition(
        service_prefix="orders",
        actions=[
            tpb.ServiceAction(name="GetOrder", resource_types=["order"]),
            tpb.ServiceAction(name="CancelOrder", resource_types=["order"]),
            tpb.ServiceAction(name="ListOrders"),
        ],
        resource_types=[
            tpb.ServiceResourceType(
                name="order",
                arn_pattern="arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}",
            )
        ],
    )
    return int(
        s.management.PutServiceDefinition(
            mpb.PutServiceDefinitionRequest(definition=definition)
        ).revision
    )


def new_key(s: Stubs, user: str) -> SigningCredentials:
    return credentials_of(
        s.management.CreateAccessKey(mpb.CreateAccessKeyRequest(user_name=user)).access_key
    )


def new_user(s: Stubs, *, inline: str | None = None, **fields: Any) -> str:
    name = unique("u")
    arn = str(s.management.CreateUser(mpb.CreateUserRequest(user_name=name, **fields)).user.arn)
    if inline is not None:
        s.management.PutUserPolicy(
            mpb.PutUserPolicyRequest(user_name=name, policy_name="p", policy_document=inline)
        )
    return arn


def name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


@dataclass
class World:
    """A member account (so an SCP applies) with varied principals and resources; the
    sidecar's own identity may Watch everything in it, the pod's service may Authorize."""

    account: str
    admin: Stubs  # the member account's root
    sidecar_key: SigningCredentials
    shop_key: SigningCredentials
    shop_arn: str
    principals: list[str]
    resources: list[str]
    revision: int
    group: str = ""  # holds member_user; a managed policy and an inline one attached
    boundary: str = ""  # a managed policy bounding one user
    role_name: str = ""


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> Iterator[World]:
    root = stubs(server.endpoint, server.root)
    define_orders(root)
    account = root.management.CreateAccount(mpb.CreateAccountRequest(name=unique("acct"))).account
    member = account.account_id
    admin = stubs(
        server.endpoint,
        credentials_of(
            root.management.CreateAccessKey(
                mpb.CreateAccessKeyRequest(account_id=member)
            ).access_key
        ),
    )
    scp = root.management.CreateServiceControlPolicy(
        mpb.CreateServiceControlPolicyRequest(
            name=unique("no-cancel-9"),
            document=policy(
                {"Effect": "Deny", "Action": "orders:CancelOrder", "Resource": order(member, "9*")}
            ),
        )
    ).policy
    root.management.AttachServiceControlPolicy(
        mpb.AttachServiceControlPolicyRequest(policy_id=scp.policy_id, target_id=member)
    )
    m = admin.management
    sidecar = new_user(admin, inline=document("iamd:Watch"))
    shop = new_user(admin, inline=document("iamd:Authorize"))
    reader = new_user(admin, inline=document("orders:Get*"))
    cancels = new_user(
        admin,
        inline=policy(
            {"Effect": "Allow", "Action": "orders:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "orders:CancelOrder", "Resource": order(member, "1*")},
        ),
    )
    from_office = new_user(
        admin,
        inline=policy(
            {
                "Effect": "Allow",
                "Action": "orders:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ),
    )
    boundary = m.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name=unique("bound"), policy_document=document("orders:Get*")
        )
    ).policy.arn
    bounded = new_user(admin, inline=document("orders:*"), permissions_boundary=boundary)
    nothing = new_user(admin)
    group = unique("g")
    m.CreateGroup(mpb.CreateGroupRequest(group_name=group))
    m.PutGroupPolicy(
        mpb.PutGroupPolicyRequest(
            group_name=group, policy_name="list", policy_document=document("orders:ListOrders")
        )
    )
    managed = m.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name=unique("cancel"), policy_document=document("orders:CancelOrder")
        )
    ).policy.arn
    m.AttachGroupPolicy(mpb.AttachGroupPolicyRequest(group_name=group, policy_arn=managed))
    member_user = new_user(admin)
    m.AddUserToGroup(mpb.AddUserToGroupRequest(group_name=group, user_name=name_of(member_user)))
    role_name = unique("r")
    role = m.CreateRole(
        mpb.CreateRoleRequest(
            role_name=role_name,
            assume_role_policy_document=policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": shop},
                    "Action": "sts:AssumeRole",
                }
            ),
        )
    ).role.arn
    m.PutRolePolicy(
        mpb.PutRolePolicyRequest(
            role_name=role_name, policy_name="p", policy_document=document("orders:*")
        )
    )
    shared = order(member, "7")
    m.PutResourcePolicy(
        mpb.PutResourcePolicyRequest(
            resource_arn=shared,
            policy_document=policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": nothing},
                    "Action": "orders:GetOrder",
                    "Resource": shared,
                },
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "orders:CancelOrder",
                    "Resource": shared,
                },
            ),
        )
    )
    revision = m.PutResourceAcl(
        mpb.PutResourceAclRequest(
            resource_arn=order(member, "8"),
            grants=[tpb.AclGrant(grantee=nothing, permission=tpb.ACL_PERMISSION_FULL_CONTROL)],
        )
    ).revision
    world = World(
        account=member,
        admin=admin,
        sidecar_key=new_key(admin, name_of(sidecar)),
        shop_key=new_key(admin, name_of(shop)),
        shop_arn=shop,
        principals=[
            reader, cancels, from_office, bounded, nothing, member_user, role,
            f"arn:aws:sts::{member}:assumed-role/{role_name}/worker",
            f"arn:aws:iam::{member}:root",
            f"arn:aws:iam::{member}:user/{unique('ghost')}",
            "anonymous",
        ],
        resources=[order(member, n) for n in ("1", "12", "7", "8", "9", "93")] + ["*"],
        revision=revision,
        group=group,
        boundary=boundary,
        role_name=role_name,
    )  # fmt: skip
    try:
        yield world
    finally:
        admin.close()
        root.close()


def sample(world: World, count: int, seed: int) -> list[apb.AuthorizeRequest]:
    rng = random.Random(seed)
    actions = ["orders:GetOrder", "orders:CancelOrder", "orders:ListOrders"] * 3 + ["iam:GetUser"]
    requests = []
    for _ in range(count):
        context = []
        if rng.random() < 0.5:
            ip = rng.choice(["10.1.2.3", "192.168.0.1"])
            context.append(
                tpb.ContextEntry(key="aws:SourceIp", type=tpb.CONTEXT_KEY_TYPE_IP, values=[ip])
            )
        requests.append(
            apb.AuthorizeRequest(
                principal_arn=rng.choice(world.principals),
                action=rng.choice(actions),
                resource_arn=rng.choice(world.resources),
                context=context,
                explain=rng.random() < 0.8,
            )
        )
    return requests


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        reply = call()
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        return ("error", error.code())
    explain = reply.explain
    matched = tuple((m.source_policy_id, m.statement_index) for m in explain.matched_statements)
    return (reply.decision, reply.principal_arn, explain.reason, explain.decided_by, matched)


def answer(client: Stubs, request: apb.AuthorizeRequest) -> tuple[Any, ...]:
    return outcome(lambda: client.authorization.Authorize(request))
