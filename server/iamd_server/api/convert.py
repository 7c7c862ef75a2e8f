"""Store records -> iamd.v1 messages, and request messages -> store values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from iamd.v1 import management_pb2, types_pb2

from iamd_server.errors import InvalidArgument
from iamd_server.store.records import (
    AccessKeyRecord,
    AccountRecord,
    AclGrant,
    AuditEventRecord,
    GroupRecord,
    OuRecord,
    PolicyRecord,
    PolicyVersionRecord,
    RoleRecord,
    ScpRecord,
    Tag,
    UserRecord,
)
from iamd_server.store.records import AttachedPolicy as AttachedPolicyRecord

_KEY_STATUS = {
    "Active": types_pb2.ACCESS_KEY_STATUS_ACTIVE,
    "Inactive": types_pb2.ACCESS_KEY_STATUS_INACTIVE,
}
_KEY_STATUS_NAMES = {value: name for name, value in _KEY_STATUS.items()}
_ACL_PERMISSIONS = {
    "READ": types_pb2.ACL_PERMISSION_READ,
    "WRITE": types_pb2.ACL_PERMISSION_WRITE,
    "READ_ACP": types_pb2.ACL_PERMISSION_READ_ACP,
    "WRITE_ACP": types_pb2.ACL_PERMISSION_WRITE_ACP,
    "FULL_CONTROL": types_pb2.ACL_PERMISSION_FULL_CONTROL,
}
_ACL_PERMISSION_NAMES = {value: name for name, value in _ACL_PERMISSIONS.items()}


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


# ---- requests -> store values ----


def tags_in(tags: Iterable[types_pb2.Tag]) -> list[Tag]:
    return [Tag(t.key, t.value) for t in tags]


def key_status_in(status: types_pb2.AccessKeyStatus.ValueType) -> str:
    name = _KEY_STATUS_NAMES.get(status)
    if name is None:
        raise InvalidArgument("status", "status must be ACCESS_KEY_STATUS_ACTIVE or _INACTIVE")
    return name


def acl_grants_in(grants: Sequence[types_pb2.AclGrant]) -> list[AclGrant]:
    out: list[AclGrant] = []
    for index, grant in enumerate(grants):
        permission = _ACL_PERMISSION_NAMES.get(grant.permission)
        if permission is None:
            raise InvalidArgument(f"grants[{index}].permission", "permission is required")
        if not grant.grantee:
            raise InvalidArgument(f"grants[{index}].grantee", "grantee is required")
        out.append(AclGrant(grant.grantee, permission))
    return out


def service_definition_in(definition: types_pb2.ServiceDefinition) -> dict[str, Any]:
    """The store's plain form of a service definition."""
    return {
        "service_prefix": definition.service_prefix,
        "actions": [
            {
                "name": a.name,
                "resource_types": list(a.resource_types),
                "condition_keys": list(a.condition_keys),
                "http": [
                    {"method": b.method, "path": b.path, "resource_type": b.resource_type}
                    for b in a.http
                ],
            }
            for a in definition.actions
        ],
        "resource_types": [
            {
                "name": t.name,
                "arn_pattern": t.arn_pattern,
                "requires_resource_policy_grant": t.requires_resource_policy_grant,
            }
            for t in definition.resource_types
        ],
        "condition_keys": [{"name": k.name, "type": k.type} for k in definition.condition_keys],
    }


# ---- records -> messages ----


def tags_out(tags: Iterable[Tag]) -> list[types_pb2.Tag]:
    return [types_pb2.Tag(key=t.key, value=t.value) for t in tags]


def user(record: UserRecord, *, with_tags: bool = True) -> types_pb2.User:
    return types_pb2.User(
        user_name=record.user_name,
        user_id=record.user_id,
        arn=record.arn,
        path=record.path,
        create_date=timestamp(record.create_date),
        permissions_boundary_arn=record.permissions_boundary_arn or "",
        tags=tags_out(record.tags) if with_tags else (),
        account_id=record.account_id,
    )


def group(record: GroupRecord) -> types_pb2.Group:
    return types_pb2.Group(
        group_name=record.group_name,
        group_id=record.group_id,
        arn=record.arn,
        path=record.path,
        create_date=timestamp(record.create_date),
        account_id=record.account_id,
    )


def role(record: RoleRecord, *, with_tags: bool = True) -> types_pb2.Role:
    return types_pb2.Role(
        role_name=record.role_name,
        role_id=record.role_id,
        arn=record.arn,
        path=record.path,
        create_date=timestamp(record.create_date),
        assume_role_policy_document=record.assume_role_policy_document,
        description=record.description,
        max_session_duration=record.max_session_duration,
        permissions_boundary_arn=record.permissions_boundary_arn or "",
        tags=tags_out(record.tags) if with_tags else (),
        account_id=record.account_id,
    )


def policy(record: PolicyRecord, *, with_tags: bool = True) -> types_pb2.Policy:
    return types_pb2.Policy(
        policy_name=record.policy_name,
        policy_id=record.policy_id,
        arn=record.arn,
        path=record.path,
        default_version_id=record.default_version_id,
        attachment_count=record.attachment_count,
        permissions_boundary_usage_count=record.permissions_boundary_usage_count,
        description=record.description,
        create_date=timestamp(record.create_date),
        update_date=timestamp(record.update_date),
        tags=tags_out(record.tags) if with_tags else (),
        is_provider_owned=record.account_id == "aws",
    )


def policy_version(record: PolicyVersionRecord, *, with_document: bool) -> types_pb2.PolicyVersion:
    return types_pb2.PolicyVersion(
        version_id=record.version_id,
        document=record.document if with_document else "",
        is_default_version=record.is_default_version,
        create_date=timestamp(record.create_date),
    )


def attached_policy(record: AttachedPolicyRecord) -> types_pb2.AttachedPolicy:
    return types_pb2.AttachedPolicy(policy_name=record.policy_name, policy_arn=record.policy_arn)


def access_key_metadata(record: AccessKeyRecord) -> types_pb2.AccessKeyMetadata:
    return types_pb2.AccessKeyMetadata(
        user_name=record.user_name or "",
        access_key_id=record.access_key_id,
        status=_KEY_STATUS.get(record.status, types_pb2.ACCESS_KEY_STATUS_UNSPECIFIED),
        create_date=timestamp(record.create_date),
        account_id=record.account_id,
    )


def access_key(record: AccessKeyRecord, secret: str) -> types_pb2.AccessKey:
    return types_pb2.AccessKey(
        user_name=record.user_name or "",
        access_key_id=record.access_key_id,
        status=_KEY_STATUS.get(record.status, types_pb2.ACCESS_KEY_STATUS_UNSPECIFIED),
        create_date=timestamp(record.create_date),
        secret_access_key=secret,
        account_id=record.account_id,
    )


def account(record: AccountRecord) -> types_pb2.Account:
    message = types_pb2.Account(
        account_id=record.account_id,
        name=record.name,
        arn=record.arn,
        parent_id=record.parent_id,
        root_arn=record.root_arn,
        create_date=timestamp(record.create_date),
    )
    if record.email is not None:
        message.email = record.email
    return message


def organizational_unit(record: OuRecord) -> types_pb2.OrganizationalUnit:
    return types_pb2.OrganizationalUnit(
        id=record.id, arn=record.arn, name=record.name, parent_id=record.parent_id
    )


def service_control_policy(record: ScpRecord) -> types_pb2.ServiceControlPolicy:
    return types_pb2.ServiceControlPolicy(
        policy_id=record.policy_id,
        arn=record.arn,
        name=record.name,
        description=record.description,
        document=record.document,
        aws_managed=record.arn.split(":")[4:5] == ["aws"],
    )


def acl_grants_out(grants: Iterable[AclGrant]) -> list[types_pb2.AclGrant]:
    return [
        types_pb2.AclGrant(
            grantee=g.grantee,
            permission=_ACL_PERMISSIONS.get(g.permission, types_pb2.ACL_PERMISSION_UNSPECIFIED),
        )
        for g in grants
    ]


def _condition_keys(value: Any) -> list[types_pb2.ServiceConditionKey]:
    # The store keeps a list of {"name", "type"}; the engine's to_dict() a {name: type} map.
    if isinstance(value, Mapping):
        return [types_pb2.ServiceConditionKey(name=str(k), type=str(v)) for k, v in value.items()]
    return [
        types_pb2.ServiceConditionKey(name=str(k.get("name", "")), type=str(k.get("type", "")))
        for k in value or ()
    ]


def service_definition(data: Mapping[str, Any], *, built_in: bool) -> types_pb2.ServiceDefinition:
    """From the store's plain form or the engine's ``ServiceDefinition.to_dict()``."""
    prefix = data.get("service_prefix") or data.get("prefix") or ""
    return types_pb2.ServiceDefinition(
        service_prefix=str(prefix),
        actions=[
            types_pb2.ServiceAction(
                name=str(a.get("name", "")),
                resource_types=[str(t) for t in a.get("resource_types") or ()],
                condition_keys=[str(k) for k in a.get("condition_keys") or ()],
                access_level=str(a.get("access_level") or ""),
                http=[
                    types_pb2.HttpBinding(
                        method=str(b.get("method", "")),
                        path=str(b.get("path", "")),
                        resource_type=str(b.get("resource_type") or ""),
                    )
                    for b in a.get("http") or ()
                ],
            )
            for a in data.get("actions") or ()
        ],
        resource_types=[
            types_pb2.ServiceResourceType(
                name=str(t.get("name", "")),
                arn_pattern=str(t.get("arn_pattern", "")),
                requires_resource_policy_grant=bool(t.get("requires_resource_policy_grant")),
            )
            for t in data.get("resource_types") or ()
        ],
        condition_keys=_condition_keys(data.get("condition_keys")),
        built_in=built_in,
    )


def audit_event(record: AuditEventRecord) -> management_pb2.AuditEvent:
    return management_pb2.AuditEvent(
        revision=record.revision,
        principal_arn=record.principal_arn,
        rpc=record.rpc,
        target_arn=record.target_arn,
        time=timestamp(record.at),
        account_id=record.account_id or "",
    )
