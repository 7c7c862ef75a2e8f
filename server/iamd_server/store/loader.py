"""Read-only loads for the authorization cache.

Each load reads one consistent snapshot (a REPEATABLE READ read-only transaction) and reports
the revision that snapshot reflects, so a cache entry is never newer or older than its label.
A load waits for locks and statements at most `load_timeout` seconds (PostgreSQL's
lock_timeout and statement_timeout, for that transaction only): a table held by a long
export or a migration makes a cache miss fail fast (and the caller answer UNAVAILABLE)
instead of waiting out the caller's deadline.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from iamd_server.store.access_keys import owner_arn
from iamd_server.store.base import (
    GROUP,
    ROLE,
    USER,
    EntityKind,
    StoreBase,
    find_entity_by_arn,
    root_arn,
)
from iamd_server.store.documents import (
    bindings,
    resolve_principals,
    resource_owner,
    role_owner,
    substitute,
    substitutions,
)
from iamd_server.store.records import (
    SOURCE_BOUNDARY,
    SOURCE_SCP,
    LoadedAccessKey,
    LoadedPolicy,
    LoadedResourcePolicy,
    PrincipalPolicies,
    ServiceDefinitionRecord,
    Tag,
)
from iamd_server.store.resources import read_acl, read_resource_policy
from iamd_server.store.services import service_record
from iamd_server.store.writes import CURRENT_REVISION

_ROOT = re.compile(r"arn:aws:iam::([0-9]{12}):root", re.ASCII)
_ENTITY = re.compile(r"arn:aws:iam::([0-9]{12}):(user|role)/.+", re.ASCII)
_SESSION = re.compile(r"arn:aws:sts::([0-9]{12}):assumed-role/([^/]+)/.+", re.ASCII)

_POLICY_ARN = "'arn:aws:iam::' || p.account_id || ':policy' || p.path || p.name"

# Identity policies of one owner (user or role) and, for users, of its groups.
# $1 owner id, $2 owner ARN, $3 inline source type ("user" | "role").
_IDENTITY_SQL = f"""
SELECT 0 AS rank, $3::text AS src, i.name AS policy_id, $2::text AS source_arn, i.document
FROM iamd_inline_policies i WHERE i.owner_id = $1
UNION ALL
SELECT 1, 'user-managed', {_POLICY_ARN}, {_POLICY_ARN}, v.document
FROM iamd_attachments a JOIN iamd_policies p ON p.id = a.policy_id
JOIN iamd_policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
WHERE a.owner_id = $1
UNION ALL
SELECT 2, 'group', i.name, 'arn:aws:iam::' || g.account_id || ':group' || g.path || g.name,
       i.document
FROM iamd_group_members m JOIN iamd_groups g ON g.id = m.group_id
JOIN iamd_inline_policies i ON i.owner_id = g.id WHERE m.user_id = $1
UNION ALL
SELECT 3, 'user-managed', {_POLICY_ARN}, {_POLICY_ARN}, v.document
FROM iamd_group_members m JOIN iamd_attachments a ON a.owner_id = m.group_id
JOIN iamd_policies p ON p.id = a.policy_id
JOIN iamd_policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
WHERE m.user_id = $1
ORDER BY 1, 3, 4
"""

_BOUNDARY_SQL = f"""
SELECT {_POLICY_ARN} AS arn, v.document FROM iamd_policies p
JOIN iamd_policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
WHERE p.id = $1
"""

_GROUPS_SQL = """
SELECT 'arn:aws:iam::' || g.account_id || ':group' || g.path || g.name AS arn
FROM iamd_group_members m JOIN iamd_groups g ON g.id = m.group_id
WHERE m.user_id = $1 ORDER BY lower(g.name)
"""

# The account and its ancestors (OUs up to the root), each with its attached SCPs.
_SCP_SQL = """
WITH RECURSIVE chain(id, parent_id, depth) AS (
    SELECT account_id, parent_id, 0 FROM iamd_accounts WHERE account_id = $1
    UNION ALL
    SELECT o.id, o.parent_id, c.depth + 1 FROM iamd_ous o JOIN chain c ON o.id = c.parent_id
)
SELECT c.id AS target_id, c.depth, s.id AS policy_id, s.document
FROM chain c
LEFT JOIN iamd_scp_attachments a ON a.target_id = c.id
LEFT JOIN iamd_scps s ON s.id = a.policy_id
ORDER BY c.depth DESC, s.id
"""


def _scp_arn(org: asyncpg.Record, policy_id: str) -> str:
    if policy_id == "p-FullAWSAccess":
        return f"arn:aws:organizations::aws:policy/service_control_policy/{policy_id}"
    return (
        f"arn:aws:organizations::{org['management_account_id']}:policy/{org['id']}"
        f"/service_control_policy/{policy_id}"
    )


# The first statement of every snapshot: the revision it reflects, and the timeouts of the
# statements that follow (set_config(..., true) lasts until the transaction ends; set in the
# same statement, it costs no extra round trip).
_SNAPSHOT_REVISION = (
    "SELECT revision, set_config('lock_timeout', $1, true),"
    " set_config('statement_timeout', $1, true) FROM iamd_revision_counter"
)


class Loader(StoreBase):
    # Seconds a load may wait for a lock or a statement (set from --load-timeout).
    load_timeout: float = 2.0

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield conn

    async def _revision(self, conn: asyncpg.Connection) -> int:
        """The snapshot's revision; also bounds the waits of the snapshot's statements."""
        timeout = f"{max(1, round(self.load_timeout * 1000))}ms"
        return int(await conn.fetchval(_SNAPSHOT_REVISION, timeout))

    async def current_revision(self) -> int:
        """The newest committed revision (revisions commit in order, see writes.py)."""
        async with self._read() as conn:
            return int(await conn.fetchval(CURRENT_REVISION))

    async def _scp_levels(
        self, conn: asyncpg.Connection, account_id: str
    ) -> tuple[tuple[tuple[LoadedPolicy, ...], ...], bool]:
        org = await conn.fetchrow("SELECT * FROM iamd_organization")
        if org is None or org["management_account_id"] == account_id:
            return (), org is not None
        levels: dict[str, list[LoadedPolicy]] = {}
        for row in await conn.fetch(_SCP_SQL, account_id):
            level = levels.setdefault(row["target_id"], [])
            if row["policy_id"] is not None:
                arn = _scp_arn(org, row["policy_id"])
                level.append(LoadedPolicy(arn, SOURCE_SCP, row["target_id"], row["document"]))
        return tuple(tuple(level) for level in levels.values()), False

    async def _entity_row(
        self, conn: asyncpg.Connection, principal_arn: str
    ) -> tuple[EntityKind, asyncpg.Record] | None:
        session = _SESSION.fullmatch(principal_arn)
        if session:
            row = await conn.fetchrow(
                "SELECT * FROM iamd_roles WHERE account_id = $1 AND lower(name) = lower($2)"
                " AND name = $2",
                session.group(1),
                session.group(2),
            )
            return (ROLE, row) if row is not None else None
        match = _ENTITY.fullmatch(principal_arn)
        if match is None:
            return None
        kind = USER if match.group(2) == "user" else ROLE
        row = await find_entity_by_arn(conn, kind, principal_arn)
        return (kind, row) if row is not None else None

    async def load_principal_policies(self, *, principal_arn: str) -> PrincipalPolicies | None:
        """Everything the evaluator needs about a user, role (or role session) or root."""
        async with self._snapshot() as conn:
            revision = await self._revision(conn)
            root = _ROOT.fullmatch(principal_arn)
            if root:
                account_id = root.group(1)
                if (
                    await conn.fetchval(
                        "SELECT 1 FROM iamd_accounts WHERE account_id = $1", account_id
                    )
                    is None
                ):
                    return None
                levels, is_mgmt = await self._scp_levels(conn, account_id)
                return PrincipalPolicies(
                    principal_arn=root_arn(account_id),
                    kind="root",
                    account_id=account_id,
                    unique_id=None,
                    name=None,
                    tags=(),
                    identity=(),
                    boundary=None,
                    scp_levels=levels,
                    is_management_account=is_mgmt,
                    revision=revision,
                )
            found = await self._entity_row(conn, principal_arn)
            if found is None:
                return None
            kind, row = found
            account_id = row["account_id"]
            arn = f"arn:aws:iam::{account_id}:{kind.kind}{row['path']}{row['name']}"
            identity: list[LoadedPolicy] = []
            seen_managed: set[str] = set()
            for p in await conn.fetch(_IDENTITY_SQL, row["id"], arn, kind.kind):
                if p["src"] == "user-managed":
                    if p["policy_id"] in seen_managed:
                        continue
                    seen_managed.add(p["policy_id"])
                identity.append(
                    LoadedPolicy(p["policy_id"], p["src"], p["source_arn"], p["document"])
                )
            boundary = None
            if row["boundary_policy_id"] is not None:
                b = await conn.fetchrow(_BOUNDARY_SQL, row["boundary_policy_id"])
                boundary = LoadedPolicy(b["arn"], SOURCE_BOUNDARY, b["arn"], b["document"])
            groups: tuple[str, ...] = ()
            trust = None
            trust_ids: tuple[tuple[str, str], ...] = ()
            max_duration = None
            if kind is USER:
                groups = tuple(g["arn"] for g in await conn.fetch(_GROUPS_SQL, row["id"]))
            else:
                owner = role_owner(row["id"])
                subs = (await substitutions(conn, [owner])).get(owner, {})
                trust = substitute(row["trust_policy"], subs)
                trust_ids = await bindings(conn, owner)
                max_duration = int(row["max_session_duration"])
            levels, is_mgmt = await self._scp_levels(conn, account_id)
        return PrincipalPolicies(
            principal_arn=arn,
            kind=kind.kind,
            account_id=account_id,
            unique_id=row["id"],
            name=row["name"],
            tags=tuple(Tag(str(k), str(v)) for k, v in row["tags"]),
            identity=tuple(identity),
            boundary=boundary,
            scp_levels=levels,
            is_management_account=is_mgmt,
            group_arns=groups,
            trust_policy=trust,
            trust_principal_ids=trust_ids,
            max_session_duration=max_duration,
            revision=revision,
        )

    async def load_resource_policy(self, *, resource_arn: str) -> LoadedResourcePolicy | None:
        async with self._snapshot() as conn:
            revision = await self._revision(conn)
            policy = await read_resource_policy(conn, resource_arn)
            acl = await read_acl(conn, resource_arn)
            if policy is None and not acl:
                return None
            account = (
                policy.account_id
                if policy is not None
                else await conn.fetchval(
                    "SELECT account_id FROM iamd_acl_grants WHERE resource_arn = $1 LIMIT 1",
                    resource_arn,
                )
            )
            ids = await bindings(conn, resource_owner(resource_arn)) if policy is not None else ()
        return LoadedResourcePolicy(
            resource_arn=resource_arn,
            account_id=account,
            document=policy.document if policy is not None else None,
            acl=tuple(acl),
            revision=revision,
            principal_ids=ids,
        )

    async def resolve_principal_ids(self, *, document: str) -> dict[str, str]:
        """The unique ids of the user/role principals of a document that is not stored (a
        simulation's resource policy), resolved as saving it would; principals naming no
        entity are left out."""
        async with self._read() as conn:
            return await resolve_principals(conn, document, strict=False)

    async def load_access_key(self, *, access_key_id: str) -> LoadedAccessKey | None:
        async with self._read() as conn:
            row = await conn.fetchrow(
                "SELECT k.id, k.account_id, k.user_id, k.status, k.encrypted_secret,"
                " u.name AS user_name, u.path AS user_path"
                " FROM iamd_access_keys k LEFT JOIN iamd_users u ON u.id = k.user_id"
                " WHERE k.id = $1",
                access_key_id,
            )
        if row is None:
            return None
        return LoadedAccessKey(
            access_key_id=row["id"],
            owner_arn=owner_arn(row["account_id"], row["user_path"], row["user_name"]),
            account_id=row["account_id"],
            user_id=row["user_id"],
            status=row["status"],
            encrypted_secret=bytes(row["encrypted_secret"]),
        )

    async def load_group_policies(
        self, *, group_arn: str
    ) -> tuple[str, tuple[LoadedPolicy, ...]] | None:
        """(account id, the group's inline and attached policies), for simulations whose
        source is a group; None when no such group exists."""
        async with self._snapshot() as conn:
            await self._revision(conn)  # bounds the waits below
            row = await find_entity_by_arn(conn, GROUP, group_arn)
            if row is None:
                return None
            arn = f"arn:aws:iam::{row['account_id']}:group{row['path']}{row['name']}"
            # The identity query of a user or role serves a group too: the group is the owner
            # and has no group memberships of its own.
            policies = tuple(
                LoadedPolicy(p["policy_id"], p["src"], p["source_arn"], p["document"])
                for p in await conn.fetch(_IDENTITY_SQL, row["id"], arn, "group")
            )
            return str(row["account_id"]), policies

    async def load_service_definitions(self) -> list[ServiceDefinitionRecord]:
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT * FROM iamd_service_definitions ORDER BY service_prefix"
            )
        return [service_record(r) for r in rows]

    async def load_resource_arns(self, account_id: str | None = None) -> set[str]:
        """ARNs of every resource that has a resource policy or an ACL grant (owned by
        ``account_id``, when given)."""
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT resource_arn FROM iamd_resource_policies"
                " WHERE $1::text IS NULL OR account_id = $1"
                " UNION SELECT resource_arn FROM iamd_acl_grants"
                " WHERE $1::text IS NULL OR account_id = $1",
                account_id,
            )
        return {str(r["resource_arn"]) for r in rows}

    async def get_account_for_principal(self, *, principal_arn: str) -> str | None:
        """The account of an existing root, user, role or role session; None otherwise."""
        async with self._read() as conn:
            root = _ROOT.fullmatch(principal_arn)
            if root:
                known = await conn.fetchval(
                    "SELECT 1 FROM iamd_accounts WHERE account_id = $1", root.group(1)
                )
                return root.group(1) if known else None
            found = await self._entity_row(conn, principal_arn)
        return str(found[1]["account_id"]) if found is not None else None
