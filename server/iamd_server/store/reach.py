"""Read-only queries for who-can analysis: the identity policies of an account and the
users and roles they reach (directly, through groups, through attachments).

Every function reads one REPEATABLE READ read-only snapshot; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

_USER_ARN = "'arn:aws:iam::' || u.account_id || ':user' || u.path || u.name"
_ROLE_ARN = "'arn:aws:iam::' || r.account_id || ':role' || r.path || r.name"
_GROUP_ARN = "'arn:aws:iam::' || g.account_id || ':group' || g.path || g.name"
_POLICY_ARN = "'arn:aws:iam::' || p.account_id || ':policy' || p.path || p.name"

# Inline policies of the account's users, groups and roles, and the default version of every
# managed policy attached to one of them. Columns: ref (the id the Decider's compiled
# policies carry: "<owner ARN>#<name>" or the managed policy's ARN), kind ("user", "group",
# "role" for inline policies, "managed"), key (the owner's id, or the managed policy's id),
# document.
_POLICIES_SQL = f"""
SELECT {_USER_ARN} || '#' || i.name AS ref, 'user' AS kind, u.id AS key, i.document
FROM iamd_users u JOIN iamd_inline_policies i ON i.owner_id = u.id WHERE u.account_id = $1
UNION ALL
SELECT {_GROUP_ARN} || '#' || i.name, 'group', g.id, i.document
FROM iamd_groups g JOIN iamd_inline_policies i ON i.owner_id = g.id WHERE g.account_id = $1
UNION ALL
SELECT {_ROLE_ARN} || '#' || i.name, 'role', r.id, i.document
FROM iamd_roles r JOIN iamd_inline_policies i ON i.owner_id = r.id WHERE r.account_id = $1
UNION ALL
SELECT {_POLICY_ARN}, 'managed', p.id, v.document
FROM iamd_policies p
JOIN iamd_policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
WHERE p.id IN (
    SELECT a.policy_id FROM iamd_attachments a
    JOIN (SELECT id FROM iamd_users WHERE account_id = $1
          UNION ALL SELECT id FROM iamd_groups WHERE account_id = $1
          UNION ALL SELECT id FROM iamd_roles WHERE account_id = $1) o ON o.id = a.owner_id
)
"""

# Users and roles of the account reached by owners $2 (inline policies' owners) or by the
# managed policies $3: directly, or as members of a reached group (group_arn set).
_REACHED_SQL = f"""
WITH owners AS (
    SELECT unnest($2::text[]) AS owner_id
    UNION SELECT a.owner_id FROM iamd_attachments a WHERE a.policy_id = ANY($3::text[])
)
SELECT 'user' AS kind, {_USER_ARN} AS arn, NULL::text AS group_arn
FROM iamd_users u WHERE u.account_id = $1 AND u.id IN (SELECT owner_id FROM owners)
UNION ALL
SELECT 'role', {_ROLE_ARN}, NULL FROM iamd_roles r
WHERE r.account_id = $1 AND r.id IN (SELECT owner_id FROM owners)
UNION ALL
SELECT 'user', {_USER_ARN}, {_GROUP_ARN}
FROM iamd_groups g JOIN iamd_group_members m ON m.group_id = g.id
JOIN iamd_users u ON u.id = m.user_id
WHERE g.account_id = $1 AND g.id IN (SELECT owner_id FROM owners)
"""

# Which of the managed policies $2 each group of the account has attached.
_GROUP_ATTACHMENTS_SQL = f"""
SELECT {_GROUP_ARN} AS group_arn, {_POLICY_ARN} AS policy_arn
FROM iamd_attachments a JOIN iamd_groups g ON g.id = a.owner_id
JOIN iamd_policies p ON p.id = a.policy_id
WHERE g.account_id = $1 AND a.policy_id = ANY($2::text[])
"""

_EVERYONE_SQL = f"""
SELECT 'user' AS kind, {_USER_ARN} AS arn FROM iamd_users u WHERE u.account_id = $1
UNION ALL
SELECT 'role', {_ROLE_ARN} FROM iamd_roles r WHERE r.account_id = $1
"""


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """An identity policy of an account: `ref` is the id decisions name it by, `kind` the
    owner's kind ("user", "group", "role") or "managed", `key` the owner's unique id
    (inline) or the managed policy's id."""

    ref: str
    kind: str
    key: str
    document: str


@dataclass(frozen=True, slots=True)
class Reached:
    kind: str  # "user" | "role"
    arn: str
    group_arn: str | None  # reached as a member of this group


async def _snapshot_fetch(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows


async def account_policies(pool: asyncpg.Pool, account: str) -> list[AccountPolicy]:
    rows = await _snapshot_fetch(pool, _POLICIES_SQL, account)
    return [
        AccountPolicy(str(r["ref"]), str(r["kind"]), str(r["key"]), str(r["document"]))
        for r in rows
    ]


async def reached_principals(
    pool: asyncpg.Pool, account: str, owner_ids: Sequence[str], managed_ids: Sequence[str]
) -> list[Reached]:
    rows = await _snapshot_fetch(pool, _REACHED_SQL, account, list(owner_ids), list(managed_ids))
    return [Reached(str(r["kind"]), str(r["arn"]), r["group_arn"]) for r in rows]


async def group_attachments(
    pool: asyncpg.Pool, account: str, managed_ids: Sequence[str]
) -> list[tuple[str, str]]:
    """(group ARN, managed policy ARN) for the given managed policies in the account."""
    rows = await _snapshot_fetch(pool, _GROUP_ATTACHMENTS_SQL, account, list(managed_ids))
    return [(str(r["group_arn"]), str(r["policy_arn"])) for r in rows]


async def account_principals(pool: asyncpg.Pool, account: str) -> list[Reached]:
    """Every user and role of the account."""
    rows = await _snapshot_fetch(pool, _EVERYONE_SQL, account)
    return [Reached(str(r["kind"]), str(r["arn"]), None) for r in rows]


# -- what a policy write would touch (PreviewPolicyChange) ------------------------------

_ENTITY_SQL = {
    kind: f"SELECT id, 'arn:aws:iam::' || account_id || ':{kind}' || path || name AS arn"
    f" FROM iamd_{kind}s WHERE account_id = $1 AND lower(name) = lower($2)"
    for kind in ("user", "group", "role")
}

_MEMBERS_SQL = f"""
SELECT {_USER_ARN} AS arn FROM iamd_group_members m JOIN iamd_users u ON u.id = m.user_id
WHERE m.group_id = $1 ORDER BY 1
"""

# Users and roles a managed policy reaches: attached to them or to a group of theirs, or
# their permissions boundary.
_HOLDERS_SQL = f"""
SELECT {_USER_ARN} AS arn FROM iamd_users u WHERE u.boundary_policy_id = $1
   OR u.id IN (SELECT owner_id FROM iamd_attachments WHERE policy_id = $1)
   OR u.id IN (SELECT m.user_id FROM iamd_group_members m
               JOIN iamd_attachments a ON a.owner_id = m.group_id WHERE a.policy_id = $1)
UNION
SELECT {_ROLE_ARN} FROM iamd_roles r WHERE r.boundary_policy_id = $1
   OR r.id IN (SELECT owner_id FROM iamd_attachments WHERE policy_id = $1)
ORDER BY 1
"""

# Whether a managed policy reaches a user or role ($1) through an attachment other than
# that of owner $3: directly, or through one of its groups.
_STILL_ATTACHED_SQL = """
SELECT EXISTS (
    SELECT 1 FROM iamd_attachments a
    WHERE a.policy_id = $2 AND a.owner_id <> $3
      AND (a.owner_id = $1
           OR a.owner_id IN (SELECT group_id FROM iamd_group_members WHERE user_id = $1))
)
"""


async def entity(pool: asyncpg.Pool, kind: str, account: str, name: str) -> tuple[str, str] | None:
    """(unique id, ARN) of the user, group or role of that name in the account."""
    rows = await _snapshot_fetch(pool, _ENTITY_SQL[kind], account, name)
    return (str(rows[0]["id"]), str(rows[0]["arn"])) if rows else None


async def group_members(pool: asyncpg.Pool, group_id: str) -> list[str]:
    return [str(r["arn"]) for r in await _snapshot_fetch(pool, _MEMBERS_SQL, group_id)]


async def policy_holders(pool: asyncpg.Pool, policy_id: str) -> list[str]:
    return [str(r["arn"]) for r in await _snapshot_fetch(pool, _HOLDERS_SQL, policy_id)]


async def still_attached(
    pool: asyncpg.Pool, principal_id: str, policy_id: str, without_owner: str
) -> bool:
    rows = await _snapshot_fetch(pool, _STILL_ATTACHED_SQL, principal_id, policy_id, without_owner)
    return bool(rows[0][0])
