"""Policy documents at the storage boundary: validation through the engine, size quotas,
and user/role principals of trust and resource policies kept by unique id.

A trust or resource policy names principals by ARN, but the grant belongs to the entity that
existed when the policy was saved (iam-semantics 2.3). The document text is stored as written;
`iamd_principal_refs` maps each user/role ARN in it to the unique id it resolved to. Reading
the policy back substitutes the entity's current ARN, or the bare unique id once the entity is
gone, so a re-created entity with the same name does not match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import asyncpg
from iamd_policy import PolicyKind, policy_size, validate_policy
from iamd_policy.grammar import check_shape

from iamd_server import validation
from iamd_server.errors import InvalidArgument, LimitExceeded, MalformedPolicyDocument
from iamd_server.store.base import ROLE, USER, EntityKind

_ENTITY_ARN = re.compile(r"arn:aws:iam::([0-9]{12}):(user|role)/.+", re.ASCII)

# SQL: the current ARN of each referenced entity, or NULL when it no longer exists.
_REFS_SQL = """
SELECT r.owner, r.written_arn, r.unique_id,
       coalesce('arn:aws:iam::' || u.account_id || ':user' || u.path || u.name,
                'arn:aws:iam::' || ro.account_id || ':role' || ro.path || ro.name) AS current_arn
FROM iamd_principal_refs r
LEFT JOIN iamd_users u ON u.id = r.unique_id
LEFT JOIN iamd_roles ro ON ro.id = r.unique_id
WHERE r.owner = ANY($1::text[])
"""


def check_document(
    document: str,
    kind: PolicyKind,
    *,
    limit: int,
    what: str,
    field: str = "policy_document",
    managed: bool = False,
) -> int:
    """Validates a document for its kind and returns its size (non-whitespace characters)."""
    try:
        # Too long (AWS bounds the parameter at 131,072 characters) or nested too deeply to
        # parse: malformed, whatever its size in quota terms.
        check_shape(document)
    except ValueError as err:
        raise MalformedPolicyDocument(field, str(err)) from err
    size = policy_size(document)
    if size > limit:
        raise LimitExceeded(f"Cannot exceed quota for {what}: {limit} (document has {size})")
    try:
        validate_policy(document, kind, managed=managed)
    except ValueError as err:
        raise MalformedPolicyDocument(field, str(err)) from err
    return size


def _principal_values(document: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Yields (principal map, "AWS") for every Principal/NotPrincipal map with an AWS entry."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            value = statement.get(element)
            if isinstance(value, dict) and "AWS" in value:
                yield value, "AWS"


def _aws_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def entity_principals(document: str) -> list[str]:
    """The user and role ARNs named as AWS principals (other forms stay as written)."""
    parsed = json.loads(document)
    found: list[str] = []
    for mapping, key in _principal_values(parsed):
        for value in _aws_strings(mapping[key]):
            if _ENTITY_ARN.fullmatch(value) and value not in found:
                found.append(value)
    return found


async def _entity_id(conn: asyncpg.Connection, kind: EntityKind, arn: str) -> str | None:
    """The unique id of the user or role an ARN names. Names are unique case-insensitively
    in an account (iam-semantics 1.2), so `role/team/Super-Admin` names role `super-admin`;
    the path is compared exactly."""
    try:
        parsed = validation.iam_arn(arn, kind.kind)
    except InvalidArgument:
        return None
    found: str | None = await conn.fetchval(
        f"SELECT id FROM {kind.table} WHERE account_id = $1 AND lower(name) = lower($2)"
        " AND path = $3",
        parsed.account_id,
        parsed.name,
        parsed.path,
    )
    return found


async def resolve_principals(
    conn: asyncpg.Connection, document: str, *, strict: bool = True
) -> dict[str, str]:
    """Maps each user/role principal ARN to its unique id.

    With `strict`, an ARN in an account this database knows must name an existing entity
    (saving a policy); without, such ARNs are left out (simulating one). ARNs of other
    accounts (outside this organization) are kept as ARNs and left out of the mapping.
    """
    resolved: dict[str, str] = {}
    for arn in entity_principals(document):
        match = _ENTITY_ARN.fullmatch(arn)
        assert match is not None
        account_id, kind_name = match.group(1), match.group(2)
        known = await conn.fetchval("SELECT 1 FROM iamd_accounts WHERE account_id = $1", account_id)
        if known is None:
            continue
        kind: EntityKind = USER if kind_name == "user" else ROLE
        unique_id = await _entity_id(conn, kind, arn)
        if unique_id is None:
            if not strict:
                continue
            raise MalformedPolicyDocument(
                "policy_document", f'Invalid principal in policy: "AWS":"{arn}"'
            )
        resolved[arn] = unique_id
    return resolved


async def save_refs(conn: asyncpg.Connection, owner: str, refs: Mapping[str, str]) -> None:
    await conn.execute("DELETE FROM iamd_principal_refs WHERE owner = $1", owner)
    if refs:
        await conn.executemany(
            "INSERT INTO iamd_principal_refs (owner, written_arn, unique_id) VALUES ($1, $2, $3)",
            [(owner, arn, unique_id) for arn, unique_id in refs.items()],
        )


async def substitutions(conn: asyncpg.Connection, owners: list[str]) -> dict[str, dict[str, str]]:
    """owner -> {written ARN -> current ARN or bare unique id}."""
    rows = await conn.fetch(_REFS_SQL, owners)
    result: dict[str, dict[str, str]] = {}
    for row in rows:
        result.setdefault(row["owner"], {})[row["written_arn"]] = (
            row["current_arn"] or row["unique_id"]
        )
    return result


async def bindings(conn: asyncpg.Connection, owner: str) -> tuple[tuple[str, str], ...]:
    """(principal as the substituted document shows it, unique id) of one owner's refs:
    what the engine binds so that the grant follows the entity, not its name."""
    rows = await conn.fetch(_REFS_SQL, [owner])
    return tuple(sorted((row["current_arn"] or row["unique_id"], row["unique_id"]) for row in rows))


def substitute(document: str, mapping: Mapping[str, str]) -> str:
    """The document with each mapped principal replaced; the original text when unchanged."""
    if not mapping or all(k == v for k, v in mapping.items()):
        return document
    parsed = json.loads(document)

    def swap(value: str) -> str:
        return mapping.get(value, value)

    for principal, key in _principal_values(parsed):
        principal[key] = _map_value(principal[key], swap)
    return json.dumps(parsed, indent=2)


def _map_value(value: Any, swap: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return swap(value)
    if isinstance(value, list):
        return [swap(v) if isinstance(v, str) else v for v in value]
    return value


def role_owner(role_id: str) -> str:
    return f"role:{role_id}"


def resource_owner(resource_arn: str) -> str:
    return f"resource:{resource_arn}"
