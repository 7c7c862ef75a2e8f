"""A small population in a member account for the who-can and preview tests (no tests here):
users in groups, roles, a managed policy, a permissions boundary, an SCP, a resource policy,
an explicit deny and a condition on the request context. `brute_force` asks Authorize about
every principal x action x resource."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from iamd.v1 import analysis_pb2 as apb
from iamd.v1 import analysis_pb2_grpc
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2 as mpb
from iamd.v1 import types_pb2 as tpb

from tests.api.management_support import document, new_member_account, trust_document, unique
from tests.harness import Stubs

ALLOWED = "allowed"
CONDITIONAL = "conditional"


@dataclass
class Population:
    account: str
    member: Stubs
    prefix: str
    users: dict[str, str] = field(default_factory=dict)  # name -> ARN
    roles: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)  # name -> ARN
    revision: int = 0

    @property
    def actions(self) -> list[str]:
        return [f"{self.prefix}:{name}" for name in ("Read", "Write", "Delete", "List")]

    def doc(self, name: str) -> str:
        return f"arn:aws:{self.prefix}:eu-west-1:{self.account}:doc/{name}"

    @property
    def resources(self) -> list[str]:
        return [self.doc(n) for n in ("a", "team-x", "secret", "shared")] + ["*"]

    @property
    def principals(self) -> list[str]:
        return sorted([*self.users.values(), *self.roles.values()])

    def analysis(self) -> analysis_pb2_grpc.AnalysisServiceStub:
        return analysis_pb2_grpc.AnalysisServiceStub(self.member.channel)

    def settle(self, revision: int | None = None) -> None:
        """Returns once the server applied the last write (Authorize waits for it)."""
        self.member.authorization.Authorize(
            pb.AuthorizeRequest(action="iam:GetUser", at_least_revision=revision or self.revision)
        )


def _written(pop: Population, response: Any) -> None:
    pop.revision = max(pop.revision, int(response.revision))


def service_definition(prefix: str) -> tpb.ServiceDefinition:
    return tpb.ServiceDefinition(
        service_prefix=prefix,
        actions=[
            tpb.ServiceAction(name="Read", resource_types=["doc"]),
            tpb.ServiceAction(name="Write", resource_types=["doc"]),
            tpb.ServiceAction(name="Delete", resource_types=["doc"]),
            tpb.ServiceAction(name="List"),
        ],
        resource_types=[
            tpb.ServiceResourceType(
                name="doc",
                arn_pattern=f"arn:${{Partition}}:{prefix}:${{Region}}:${{Account}}:doc/${{Name}}",
            )
        ],
    )


def build(root: Stubs, endpoint: str) -> Population:
    prefix = unique("wc").replace("-", "")[:20].lower()
    _written_root = root.management.PutServiceDefinition(
        mpb.PutServiceDefinitionRequest(definition=service_definition(prefix))
    )
    account, member = new_member_account(root, endpoint)
    pop = Population(account, member, prefix)
    _written(pop, _written_root)
    m = member.management
    for i in range(8):
        name = f"u{i}"
        user = m.CreateUser(mpb.CreateUserRequest(user_name=name)).user
        pop.users[name] = user.arn
    for g, members in (("g0", ("u0", "u1", "u2")), ("g1", ("u3", "u4"))):
        pop.groups[g] = m.CreateGroup(mpb.CreateGroupRequest(group_name=g)).group.arn
        for u in members:
            _written(pop, m.AddUserToGroup(mpb.AddUserToGroupRequest(group_name=g, user_name=u)))
    for r in ("r0", "r1"):
        pop.roles[r] = m.CreateRole(
            mpb.CreateRoleRequest(
                role_name=r, assume_role_policy_document=trust_document(pop.users["u7"])
            )
        ).role.arn
    read = m.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name="read-docs", policy_document=document(f"{prefix}:Read", pop.doc("*"))
        )
    ).policy
    pop.policies["read-docs"] = read.arn
    boundary = m.CreatePolicy(
        mpb.CreatePolicyRequest(
            policy_name="boundary",
            policy_document=document([f"{prefix}:Read", f"{prefix}:List"], "*"),
        )
    ).policy
    pop.policies["boundary"] = boundary.arn
    writes: list[Any] = [
        m.AttachGroupPolicy(mpb.AttachGroupPolicyRequest(group_name="g0", policy_arn=read.arn)),
        m.AttachRolePolicy(mpb.AttachRolePolicyRequest(role_name="r1", policy_arn=read.arn)),
        m.PutGroupPolicy(
            mpb.PutGroupPolicyRequest(
                group_name="g1",
                policy_name="team",
                policy_document=document(f"{prefix}:*", [pop.doc("team-*"), "*"]),
            )
        ),
        m.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name="u2",
                policy_name="no-secret",
                policy_document=document(f"{prefix}:Read", pop.doc("secret"), effect="Deny"),
            )
        ),
        m.PutUserPermissionsBoundary(
            mpb.PutUserPermissionsBoundaryRequest(user_name="u3", permissions_boundary=boundary.arn)
        ),
        m.PutUserPolicy(
            mpb.PutUserPolicyRequest(
                user_name="u5",
                policy_name="from-office",
                policy_document=document(
                    f"{prefix}:Write",
                    "*",
                    condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                ),
            )
        ),
        m.PutRolePolicy(
            mpb.PutRolePolicyRequest(
                role_name="r0",
                policy_name="all",
                policy_document=document([f"{prefix}:Read", f"{prefix}:Delete"], "*"),
            )
        ),
        m.PutResourcePolicy(
            mpb.PutResourcePolicyRequest(
                resource_arn=pop.doc("shared"),
                policy_document=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": pop.users["u6"]},
                                "Action": [f"{prefix}:Read", f"{prefix}:Write"],
                                "Resource": pop.doc("shared"),
                            }
                        ],
                    }
                ),
            )
        ),
    ]
    for response in writes:
        _written(pop, response)
    scp = root.management.CreateServiceControlPolicy(
        mpb.CreateServiceControlPolicyRequest(
            name=unique("no-delete"),
            document=document(f"{prefix}:Delete", "*", effect="Deny"),
        )
    ).policy
    _written(
        pop,
        root.management.AttachServiceControlPolicy(
            mpb.AttachServiceControlPolicyRequest(policy_id=scp.policy_id, target_id=account)
        ),
    )
    pop.settle()
    return pop


def authorize(pop: Population, principal: str, action: str, resource: str) -> pb.AuthorizeResponse:
    response: pb.AuthorizeResponse = pop.member.authorization.Authorize(
        pb.AuthorizeRequest(
            principal_arn=principal, action=action, resource_arn=resource, explain=True
        )
    )
    return response


def access(response: pb.AuthorizeResponse) -> str | None:
    if response.explain.missing_context_keys:
        return CONDITIONAL
    if response.decision == tpb.DECISION_ALLOWED:
        return ALLOWED
    return None


def brute_force(pop: Population) -> dict[tuple[str, str, str], str]:
    """(principal, action, resource) -> allowed | conditional, for every triple not denied."""
    out: dict[tuple[str, str, str], str] = {}
    for principal in pop.principals:
        for action in pop.actions:
            for resource in pop.resources:
                found = access(authorize(pop, principal, action, resource))
                if found is not None:
                    out[(principal, action, resource)] = found
    return out


def access_name(value: apb.Access.ValueType) -> str:
    return {apb.ACCESS_ALLOWED: ALLOWED, apb.ACCESS_CONDITIONAL: CONDITIONAL}[value]
