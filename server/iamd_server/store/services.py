"""Service definitions: actions, resource types and condition keys of a service prefix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import asyncpg
from iamd_policy import HttpBinding

from iamd_server.errors import FailedPrecondition, InvalidArgument, NotFound
from iamd_server.gateway.bindings import BindingError, compile_routes
from iamd_server.store.base import StoreBase, decode_marker, make_page
from iamd_server.store.base import max_items as check_max_items
from iamd_server.store.records import AuditEventRecord, Page, ServiceDefinitionRecord, Written

BUILTIN_PREFIXES = frozenset({"iam", "sts", "kms", "iamd", "organizations"})
CONDITION_TYPES = frozenset(
    {
        "String", "StringList", "Numeric", "NumericList", "Bool", "BoolList", "Boolean",
        "BooleanList", "IPAddress", "IP", "IPList", "Binary", "BinaryList", "Date", "DateList",
        "ARN", "ArnList",
    }
)  # fmt: skip
_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,63}", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)
_KEY = re.compile(r"[A-Za-z0-9.-]+:[A-Za-z0-9_./*${}-]{1,256}", re.ASCII)


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(field, "must be a list of strings")
    return list(value)


def _http_bindings(value: Any, field: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise InvalidArgument(field, "must be a list of bindings")
    out: list[dict[str, str]] = []
    for j, binding in enumerate(value):
        item: dict[str, str] = {}
        for key in ("method", "path", "resource_type"):
            text = binding.get(key) if isinstance(binding, Mapping) else None
            if text is None or text == "":
                continue
            if not isinstance(text, str):
                raise InvalidArgument(f"{field}[{j}].{key}", "must be a string")
            item[key] = text
        for key in ("method", "path"):
            if key not in item:
                raise InvalidArgument(f"{field}[{j}].{key}", "is required")
        out.append(item)
    return out


class _Action:
    """An action in the shape the route compiler reads."""

    __slots__ = ("http", "name", "resource_types")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.name: str = data["name"]
        self.resource_types: tuple[str, ...] = tuple(data["resource_types"])
        self.http = tuple(HttpBinding.from_dict(b) for b in data.get("http", ()))


def _check_routes(
    prefix: str, actions: list[dict[str, Any]], resource_types: list[dict[str, Any]]
) -> None:
    """HTTP bindings: known variables, one resource type each, no two matching one request
    (iamd_server.gateway.bindings)."""
    if not any("http" in a for a in actions):
        return
    patterns = {t["name"]: t["arn_pattern"] for t in resource_types}
    try:
        compile_routes(prefix, [_Action(a) for a in actions], patterns)
    except BindingError as exc:
        raise InvalidArgument(f"definition.{exc.field}", exc.reason) from None


def check_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Normalises and validates a service definition; returns the dict that is stored."""
    prefix = definition.get("service_prefix")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidArgument("definition.service_prefix", "must be lowercase [a-z0-9-], 1-64")
    if prefix in BUILTIN_PREFIXES:
        raise FailedPrecondition(f"service prefix {prefix!r} is built in and read-only")
    resource_types: list[dict[str, Any]] = []
    for i, rt in enumerate(definition.get("resource_types") or []):
        field = f"definition.resource_types[{i}]"
        name, pattern = rt.get("name"), rt.get("arn_pattern")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidArgument(f"{field}.name", "must be 1-128 of [A-Za-z0-9_-]")
        if not isinstance(pattern, str) or not pattern.startswith("arn:") or pattern.count(":") < 5:
            raise InvalidArgument(f"{field}.arn_pattern", "must be an ARN pattern (6 parts)")
        resource_types.append(
            {
                "name": name,
                "arn_pattern": pattern,
                "requires_resource_policy_grant": bool(rt.get("requires_resource_policy_grant")),
            }
        )
    type_names = {rt["name"] for rt in resource_types}
    condition_keys: list[dict[str, str]] = []
    for i, ck in enumerate(definition.get("condition_keys") or []):
        field = f"definition.condition_keys[{i}]"
        name, type_ = ck.get("name"), ck.get("type", "String")
        if not isinstance(name, str) or not _KEY.fullmatch(name):
            raise InvalidArgument(f"{field}.name", "must be vendor:name")
        if type_ not in CONDITION_TYPES:
            raise InvalidArgument(f"{field}.type", f"unknown condition key type {type_!r}")
        condition_keys.append({"name": name, "type": str(type_)})
    actions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, action in enumerate(definition.get("actions") or []):
        field = f"definition.actions[{i}]"
        name = action.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidArgument(f"{field}.name", "must be 1-128 of [A-Za-z0-9_-]")
        if name.lower() in seen:
            raise InvalidArgument(f"{field}.name", f"duplicate action {name!r}")
        seen.add(name.lower())
        types = _strings(action.get("resource_types") or [], f"{field}.resource_types")
        unknown = [t for t in types if t.rstrip("*") not in type_names]
        if unknown:
            raise InvalidArgument(
                f"{field}.resource_types", f"unknown resource type(s): {', '.join(unknown)}"
            )
        keys = _strings(action.get("condition_keys") or [], f"{field}.condition_keys")
        stored: dict[str, Any] = {"name": name, "resource_types": types, "condition_keys": keys}
        http = _http_bindings(action.get("http") or [], f"{field}.http")
        if http:
            stored["http"] = http
        actions.append(stored)
    if not actions:
        raise InvalidArgument("definition.actions", "a service definition needs actions")
    _check_routes(prefix, actions, resource_types)
    return {
        "service_prefix": prefix,
        "actions": actions,
        "resource_types": resource_types,
        "condition_keys": condition_keys,
    }


def service_record(row: asyncpg.Record) -> ServiceDefinitionRecord:
    return ServiceDefinitionRecord(row["service_prefix"], row["definition"], row["updated_at"])


class ServiceStore(StoreBase):
    async def put_service_definition(
        self, *, actor: str, definition: Mapping[str, Any]
    ) -> Written[ServiceDefinitionRecord]:
        stored = check_definition(definition)
        prefix = stored["service_prefix"]
        async with self._write(actor, "PutServiceDefinition") as tx:
            row = await tx.conn.fetchrow(
                "INSERT INTO iamd_service_definitions (service_prefix, definition)"
                " VALUES ($1, $2) ON CONFLICT (service_prefix) DO UPDATE"
                " SET definition = excluded.definition, updated_at = now() RETURNING *",
                prefix,
                stored,
            )
            tx.record(f"arn:aws:iamd:::service/{prefix}", None, f"service:{prefix}")
        return Written(service_record(row), tx.revision)

    async def get_service_definition(self, *, service_prefix: str) -> ServiceDefinitionRecord:
        async with self._read() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM iamd_service_definitions WHERE service_prefix = $1", service_prefix
            )
        if row is None:
            raise NotFound(f"Service definition {service_prefix} not found")
        return service_record(row)

    async def list_service_definitions(
        self, *, marker: str | None = None, max_items: int = 100
    ) -> Page[ServiceDefinitionRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT * FROM iamd_service_definitions WHERE ($1::text IS NULL"
                " OR service_prefix > $1) ORDER BY service_prefix LIMIT $2",
                after,
                limit + 1,
            )
        return make_page(rows, limit, service_record, lambda r: str(r["service_prefix"]))

    async def delete_service_definition(self, *, actor: str, service_prefix: str) -> Written[None]:
        if service_prefix in BUILTIN_PREFIXES:
            raise FailedPrecondition(f"service prefix {service_prefix!r} is built in and read-only")
        async with self._write(actor, "DeleteServiceDefinition") as tx:
            gone = await tx.conn.fetchval(
                "DELETE FROM iamd_service_definitions WHERE service_prefix = $1 RETURNING 1",
                service_prefix,
            )
            if gone is None:
                raise NotFound(f"Service definition {service_prefix} not found")
            tx.record(f"arn:aws:iamd:::service/{service_prefix}", None, f"service:{service_prefix}")
        return Written(None, tx.revision)

    async def list_audit_events(
        self,
        *,
        account_id: str | None = None,
        since_revision: int = 0,
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[AuditEventRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        start = max(since_revision, int(after) if after and after.isdigit() else 0)
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT * FROM iamd_audit WHERE revision > $1"
                " AND ($2::text IS NULL OR account_id = $2) ORDER BY revision LIMIT $3",
                start,
                account_id,
                limit + 1,
            )
        return make_page(
            rows,
            limit,
            lambda r: AuditEventRecord(
                r["revision"], r["at"], r["principal_arn"], r["rpc"], r["target_arn"],
                r["account_id"],
            ),
            lambda r: str(r["revision"]),
        )  # fmt: skip
