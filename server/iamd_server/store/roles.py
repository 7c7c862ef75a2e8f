"""IAM roles; their trust policies keep user/role principals by unique id."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from iamd_policy import PolicyKind

from iamd_server import validation
from iamd_server.errors import AlreadyExists, NotFound
from iamd_server.store import ids
from iamd_server.store.base import (
    ROLE,
    check_tags,
    decode_marker,
    entity_arn,
    find_entity,
    make_page,
    tags_from_json,
    tags_to_json,
)
from iamd_server.store.base import max_items as check_max_items
from iamd_server.store.documents import (
    check_document,
    resolve_principals,
    role_owner,
    save_refs,
    substitute,
    substitutions,
)
from iamd_server.store.records import Page, RoleRecord, Tag, Written
from iamd_server.store.users import (
    UserStore,
    boundary_arn,
    boundary_policy_id,
    check_account_quota,
    delete_conflicts,
    raise_delete_conflict,
    reference_keys,
    tag_page,
)

ROLE_SELECT = (
    "SELECT r.*, b.account_id AS b_account, b.path AS b_path, b.name AS b_name"
    " FROM iamd_roles r LEFT JOIN iamd_policies b ON b.id = r.boundary_policy_id"
)


def role_record(row: asyncpg.Record, principals: dict[str, str] | None = None) -> RoleRecord:
    return RoleRecord(
        role_id=row["id"],
        account_id=row["account_id"],
        role_name=row["name"],
        path=row["path"],
        arn=entity_arn(ROLE, row),
        create_date=row["created_at"],
        assume_role_policy_document=substitute(row["trust_policy"], principals or {}),
        description=row["description"],
        max_session_duration=row["max_session_duration"],
        permissions_boundary_arn=boundary_arn(row),
        tags=tags_from_json(row["tags"]),
    )


class RoleStore(UserStore):
    def _check_trust(self, document: str, field: str) -> None:
        check_document(
            document,
            PolicyKind.TRUST,
            limit=self._quotas.trust_policy_size,
            what="ACLSizePerRole",
            field=field,
        )

    async def create_role(
        self,
        *,
        actor: str,
        account_id: str,
        role_name: str,
        assume_role_policy_document: str,
        path: str = "/",
        description: str = "",
        max_session_duration: int = 3600,
        tags: Sequence[Tag] = (),
        permissions_boundary: str | None = None,
    ) -> Written[RoleRecord]:
        validation.role_name(role_name)
        validation.path(path)
        validation.description(description)
        validation.max_session_duration(max_session_duration)
        check_tags(tags, case_insensitive_keys=True)
        self._check_trust(assume_role_policy_document, "assume_role_policy_document")
        async with self._write(actor, "CreateRole") as tx:
            conn = tx.conn
            await check_account_quota(
                conn, "iamd_roles", account_id, self._quotas.roles_per_account, "RolesPerAccount"
            )
            boundary = await boundary_policy_id(conn, account_id, permissions_boundary)
            refs = await resolve_principals(conn, assume_role_policy_document)
            role_id = ids.unique_id(ids.ROLE_PREFIX)
            try:
                await conn.execute(
                    "INSERT INTO iamd_roles (id, account_id, name, path, trust_policy,"
                    " description, max_session_duration, boundary_policy_id, tags)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    role_id,
                    account_id,
                    role_name,
                    path,
                    assume_role_policy_document,
                    description,
                    max_session_duration,
                    boundary,
                    tags_to_json(tags),
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Role {role_name} already exists") from exc
            await save_refs(conn, role_owner(role_id), refs)
            record = await self._role(conn, account_id, role_name)
            tx.record(record.arn, account_id, f"role:{record.arn}")
        return Written(record, tx.revision)

    @staticmethod
    async def _role(conn: asyncpg.Connection, account_id: str, role_name: str) -> RoleRecord:
        row = await conn.fetchrow(
            ROLE_SELECT + " WHERE r.account_id = $1 AND lower(r.name) = lower($2)",
            account_id,
            role_name,
        )
        if row is None:
            raise NotFound(f"Role {role_name} not found")
        owner = role_owner(row["id"])
        return role_record(row, (await substitutions(conn, [owner])).get(owner))

    async def get_role(self, *, account_id: str, role_name: str) -> RoleRecord:
        validation.account_id(account_id)
        async with self._read() as conn:
            return await self._role(conn, account_id, role_name)

    async def list_roles(
        self,
        *,
        account_id: str,
        path_prefix: str = "/",
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[RoleRecord]:
        validation.account_id(account_id)
        validation.path_prefix(path_prefix)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            rows = await conn.fetch(
                ROLE_SELECT + " WHERE r.account_id = $1 AND left(r.path, length($2)) = $2"
                " AND ($3::text IS NULL OR lower(r.name) > $3) ORDER BY lower(r.name) LIMIT $4",
                account_id,
                path_prefix,
                after,
                limit + 1,
            )
            subs = await substitutions(conn, [role_owner(r["id"]) for r in rows[:limit]])
        return make_page(
            rows,
            limit,
            lambda r: role_record(r, subs.get(role_owner(r["id"]))),
            lambda r: str(r["name"]).lower(),
        )

    async def update_role(
        self,
        *,
        actor: str,
        account_id: str,
        role_name: str,
        description: str | None = None,
        max_session_duration: int | None = None,
    ) -> Written[RoleRecord]:
        if description is not None:
            validation.description(description)
        if max_session_duration is not None:
            validation.max_session_duration(max_session_duration)
        async with self._write(actor, "UpdateRole") as tx:
            conn = tx.conn
            row = await find_entity(conn, ROLE, account_id, role_name, lock=True)
            await conn.execute(
                "UPDATE iamd_roles SET description = coalesce($2, description),"
                " max_session_duration = coalesce($3, max_session_duration) WHERE id = $1",
                row["id"],
                description,
                max_session_duration,
            )
            record = await self._role(conn, account_id, role_name)
            tx.record(record.arn, account_id, f"role:{record.arn}")
        return Written(record, tx.revision)

    async def update_assume_role_policy(
        self, *, actor: str, account_id: str, role_name: str, policy_document: str
    ) -> Written[None]:
        self._check_trust(policy_document, "policy_document")
        async with self._write(actor, "UpdateAssumeRolePolicy") as tx:
            conn = tx.conn
            row = await find_entity(conn, ROLE, account_id, role_name, lock=True)
            refs = await resolve_principals(conn, policy_document)
            await conn.execute(
                "UPDATE iamd_roles SET trust_policy = $2 WHERE id = $1", row["id"], policy_document
            )
            await save_refs(conn, role_owner(row["id"]), refs)
            arn = entity_arn(ROLE, row)
            tx.record(arn, account_id, f"role:{arn}")
        return Written(None, tx.revision)

    async def delete_role(self, *, actor: str, account_id: str, role_name: str) -> Written[None]:
        async with self._write(actor, "DeleteRole") as tx:
            conn = tx.conn
            row = await find_entity(conn, ROLE, account_id, role_name, lock=True)
            raise_delete_conflict(ROLE, row["name"], await delete_conflicts(conn, ROLE, row["id"]))
            arn = entity_arn(ROLE, row)
            tx.record(arn, account_id, f"role:{arn}")
            tx.invalidate(*await reference_keys(conn, row["id"]))
            await conn.execute(
                "DELETE FROM iamd_principal_refs WHERE owner = $1", role_owner(row["id"])
            )
            await conn.execute("DELETE FROM iamd_roles WHERE id = $1", row["id"])
        return Written(None, tx.revision)

    async def tag_role(
        self, *, actor: str, account_id: str, role_name: str, tags: Sequence[Tag]
    ) -> Written[None]:
        return await self._tag(ROLE, "TagRole", actor, account_id, role_name, tags, ())

    async def untag_role(
        self, *, actor: str, account_id: str, role_name: str, tag_keys: Sequence[str]
    ) -> Written[None]:
        return await self._tag(ROLE, "UntagRole", actor, account_id, role_name, (), tag_keys)

    async def list_role_tags(
        self, *, account_id: str, role_name: str, marker: str | None = None, max_items: int = 100
    ) -> Page[Tag]:
        limit = check_max_items(max_items)
        async with self._read() as conn:
            row = await find_entity(conn, ROLE, account_id, role_name)
        return tag_page(tags_from_json(row["tags"]), marker, limit)
