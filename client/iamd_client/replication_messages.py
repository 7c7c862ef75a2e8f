"""The decision's input records (iamd_policy.inputs) to and from their Watch messages.

Shared by the server (which sends them), its sidecar and the SDK's LocalAuthorizer (which
decide from them), so all of them hold exactly the same inputs to the engine.
"""

from __future__ import annotations

import json
from typing import Any

from iamd.v1 import replication_pb2 as pb
from iamd.v1 import types_pb2
from iamd_policy.inputs import (
    AclGrant,
    LoadedPolicy,
    LoadedResourcePolicy,
    PrincipalPolicies,
    ServiceDefinitionRecord,
    Tag,
)


def policy_document(loaded: LoadedPolicy) -> pb.LoadedPolicyDocument:
    return pb.LoadedPolicyDocument(
        policy_id=loaded.policy_id,
        source_type=loaded.source_policy_type,
        source_arn=loaded.source_arn,
        document=loaded.document,
    )


def loaded_policy(message: pb.LoadedPolicyDocument) -> LoadedPolicy:
    return LoadedPolicy(
        message.policy_id, message.source_type, message.source_arn, message.document
    )


def _bindings(pairs: tuple[tuple[str, str], ...]) -> list[pb.PrincipalBinding]:
    return [pb.PrincipalBinding(principal=p, unique_id=u) for p, u in pairs]


def _pairs(bindings: Any) -> tuple[tuple[str, str], ...]:
    return tuple((b.principal, b.unique_id) for b in bindings)


def principal_record(policies: PrincipalPolicies) -> pb.PrincipalRecord:
    record = pb.PrincipalRecord(
        principal_arn=policies.principal_arn,
        kind=policies.kind,
        account_id=policies.account_id,
        unique_id=policies.unique_id or "",
        name=policies.name or "",
        tags=[types_pb2.Tag(key=t.key, value=t.value) for t in policies.tags],
        identity=[policy_document(p) for p in policies.identity],
        scp_levels=[
            pb.ScpLevel(policies=[policy_document(p) for p in level])
            for level in policies.scp_levels
        ],
        is_management_account=policies.is_management_account,
        group_arns=policies.group_arns,
        trust_principal_ids=_bindings(policies.trust_principal_ids),
        revision=policies.revision,
    )
    if policies.boundary is not None:
        record.boundary.CopyFrom(policy_document(policies.boundary))
    if policies.trust_policy is not None:
        record.trust_policy = policies.trust_policy
    if policies.max_session_duration is not None:
        record.max_session_duration = policies.max_session_duration
    return record


def principal_policies(record: pb.PrincipalRecord) -> PrincipalPolicies:
    return PrincipalPolicies(
        principal_arn=record.principal_arn,
        kind=record.kind,
        account_id=record.account_id,
        unique_id=record.unique_id or None,
        name=record.name or None,
        tags=tuple(Tag(t.key, t.value) for t in record.tags),
        identity=tuple(loaded_policy(p) for p in record.identity),
        boundary=loaded_policy(record.boundary) if record.HasField("boundary") else None,
        scp_levels=tuple(
            tuple(loaded_policy(p) for p in level.policies) for level in record.scp_levels
        ),
        is_management_account=record.is_management_account,
        group_arns=tuple(record.group_arns),
        trust_policy=record.trust_policy if record.HasField("trust_policy") else None,
        trust_principal_ids=_pairs(record.trust_principal_ids),
        max_session_duration=(
            record.max_session_duration if record.HasField("max_session_duration") else None
        ),
        revision=record.revision,
    )


def resource_state(arn: str, loaded: LoadedResourcePolicy | None) -> pb.ResourceState:
    if loaded is None:
        return pb.ResourceState(arn=arn, exists=False)
    state = pb.ResourceState(
        arn=arn,
        exists=True,
        account_id=loaded.account_id,
        acl=[pb.AclGrantState(grantee=g.grantee, permission=g.permission) for g in loaded.acl],
        principal_ids=_bindings(loaded.principal_ids),
        revision=loaded.revision,
    )
    if loaded.document is not None:
        state.document = loaded.document
    return state


def resource_policy(state: pb.ResourceState) -> LoadedResourcePolicy | None:
    if not state.exists:
        return None
    return LoadedResourcePolicy(
        resource_arn=state.arn,
        account_id=state.account_id,
        document=state.document if state.HasField("document") else None,
        acl=tuple(AclGrant(g.grantee, g.permission) for g in state.acl),
        revision=state.revision,
        principal_ids=_pairs(state.principal_ids),
    )


def service_definitions(records: list[ServiceDefinitionRecord]) -> pb.ServiceDefinitions:
    return pb.ServiceDefinitions(
        definitions=[
            pb.StoredServiceDefinition(
                service_prefix=r.service_prefix,
                definition_json=json.dumps(r.definition, separators=(",", ":"), sort_keys=True),
            )
            for r in records
        ]
    )


def service_records(message: pb.ServiceDefinitions) -> list[ServiceDefinitionRecord]:
    """Unreadable definitions are skipped, as the server's registry skips them."""
    records: list[ServiceDefinitionRecord] = []
    for item in message.definitions:
        try:
            definition = json.loads(item.definition_json)
        except ValueError:
            continue
        if isinstance(definition, dict):
            records.append(ServiceDefinitionRecord(item.service_prefix, definition, None))
    return records
