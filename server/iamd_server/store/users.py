"""IAM users, and helpers shared with groups and roles (quotas, tags, reference keys)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from iamd_server import validation
from iamd_server.errors import AlreadyExists, FailedPrecondition, LimitExceeded, NotFound
from iamd_server.store import ids
from iamd_server.store.base import (
    USER,
    EntityKind,
    StoreBase,
    check_tags,
    decode_marker,
    encode_marker,
    entity_arn,
    find_entity,
    find_policy,
    iam_arn,
    make_page,
    merge_tags,
    remove_tags,
    require_account,
    tags_from_json,
    tags_to_json,
)
from iamd_server.store.base import max_items as check_max_items
from iamd_server.store.records import Page, Tag, UserRecord, Written

# Users with their boundary policy's ARN parts.
USER_SELECT = (
    "SELECT u.*, b.account_id AS b_account, b.path AS b_path, b.name AS b_name"
    " FROM iamd_users u LEFT JOIN iamd_policies b ON b.id = u.boundary_policy_id"
)


def boundary_arn(row: asyncpg.Record) -> str | None:
    if row["b_name"] is None:
        return None
    return iam_arn(row["b_account"], "policy", row["b_path"], row["b_name"])


def user_record(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        user_id=row["id"],
        account_id=row["account_id"],
        user_name=row["name"],
        path=row["path"],
        arn=entity_arn(USER, row),
        create_date=row["created_at"],
        permissions_boundary_arn=boundary_arn(row),
        tags=tags_from_json(row["tags"]),
    )


async def check_account_quota(
    conn: asyncpg.Connection, kind_table: str, account_id: str, limit: int, quota: str
) -> None:
    """Locks the account row, then counts: concurrent creates cannot both pass the check."""
    await require_account(conn, account_id, lock=True)
    count = await conn.fetchval(
        f"SELECT count(*) FROM {kind_table} WHERE account_id = $1", account_id
    )
    if count >= limit:
        raise LimitExceeded(f"Cannot exceed quota for {quota}: {limit}")


async def boundary_policy_id(
    conn: asyncpg.Connection, account_id: str, arn: str | None
) -> str | None:
    if not arn:
        return None
    row = await find_policy(conn, arn, field="permissions_boundary")
    if row["account_id"] != account_id:
        raise NotFound(f"Policy {arn} does not exist or is not attachable")
    return str(row["id"])


async def reference_keys(conn: asyncpg.Connection, unique_id: str) -> list[str]:
    """Invalidation keys of trust/resource policies naming this entity by unique id: their
    displayed principal changes when it is renamed or deleted."""
    rows = await conn.fetch(
        "SELECT r.owner, ro.account_id, ro.path, ro.name FROM iamd_principal_refs r"
        " LEFT JOIN iamd_roles ro ON r.owner = 'role:' || ro.id WHERE r.unique_id = $1",
        unique_id,
    )
    keys = []
    for row in rows:
        owner: str = row["owner"]
        if owner.startswith("resource:"):
            keys.append(owner)
        elif row["name"] is not None:
            keys.append("role:" + iam_arn(row["account_id"], "role", row["path"], row["name"]))
    return keys


async def delete_conflicts(conn: asyncpg.Connection, kind: EntityKind, owner_id: str) -> list[str]:
    """What must be removed before an entity can be deleted (iam-semantics 1.11)."""
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM iamd_inline_policies WHERE owner_id = $1) AS inline,"
        " (SELECT count(*) FROM iamd_attachments WHERE owner_id = $1) AS attached,"
        " (SELECT count(*) FROM iamd_access_keys WHERE user_id = $1) AS keys,"
        " (SELECT count(*) FROM iamd_group_members WHERE user_id = $1 OR group_id = $1)"
        " AS members",
        owner_id,
    )
    remaining = []
    if counts["keys"]:
        remaining.append(f"{counts['keys']} access key(s)")
    if counts["inline"]:
        remaining.append(f"{counts['inline']} inline policy(ies)")
    if counts["attached"]:
        remaining.append(f"{counts['attached']} attached managed policy(ies)")
    if counts["members"]:
        what = "group membership(s)" if kind.kind == "user" else "member user(s)"
        remaining.append(f"{counts['members']} {what}")
    return remaining


def raise_delete_conflict(kind: EntityKind, name: str, remaining: list[str]) -> None:
    if remaining:
        raise FailedPrecondition(
            f"DeleteConflict: cannot delete {kind.label.lower()} {name}; remove first: "
            + ", ".join(remaining)
        )


def tag_page(tags: Sequence[Tag], marker: str | None, limit: int) -> Page[Tag]:
    start = int(decode_marker(marker) or 0)
    chunk = list(tags[start : start + limit])
    more = start + limit < len(tags)
    return Page(chunk, encode_marker(str(start + limit)) if more else None, more)


class UserStore(StoreBase):
    async def create_user(
        self,
        *,
        actor: str,
        account_id: str,
        user_name: str,
        path: str = "/",
        tags: Sequence[Tag] = (),
        permissions_boundary: str | None = None,
    ) -> Written[UserRecord]:
        validation.user_name(user_name)
        validation.path(path)
        check_tags(tags, case_insensitive_keys=True)
        async with self._write(actor, "CreateUser") as tx:
            conn = tx.conn
            await check_account_quota(
                conn, "iamd_users", account_id, self._quotas.users_per_account, "UsersPerAccount"
            )
            boundary = await boundary_policy_id(conn, account_id, permissions_boundary)
            try:
                await conn.execute(
                    "INSERT INTO iamd_users (id, account_id, name, path, boundary_policy_id, tags)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    ids.unique_id(ids.USER_PREFIX),
                    account_id,
                    user_name,
                    path,
                    boundary,
                    tags_to_json(tags),
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"User {user_name} already exists") from exc
            record = await self._user(conn, account_id, user_name)
            tx.record(record.arn, account_id, f"user:{record.arn}")
        return Written(record, tx.revision)

    @staticmethod
    async def _user(conn: asyncpg.Connection, account_id: str, user_name: str) -> UserRecord:
        row = await conn.fetchrow(
            USER_SELECT + " WHERE u.account_id = $1 AND lower(u.name) = lower($2)",
            account_id,
            user_name,
        )
        if row is None:
            raise NotFound(f"User {user_name} not found")
        return user_record(row)

    async def get_user(self, *, account_id: str, user_name: str) -> UserRecord:
        validation.account_id(account_id)
        async with self._read() as conn:
            return await self._user(conn, account_id, user_name)

    async def list_users(
        self,
        *,
        account_id: str,
        path_prefix: str = "/",
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[UserRecord]:
        validation.account_id(account_id)
        validation.path_prefix(path_prefix)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            rows = await conn.fetch(
                USER_SELECT + " WHERE u.account_id = $1 AND left(u.path, length($2)) = $2"
                " AND ($3::text IS NULL OR lower(u.name) > $3) ORDER BY lower(u.name) LIMIT $4",
                account_id,
                path_prefix,
                after,
                limit + 1,
            )
        return make_page(rows, limit, user_record, lambda r: str(r["name"]).lower())

    async def update_user(
        self,
        *,
        actor: str,
        account_id: str,
        user_name: str,
        new_user_name: str | None = None,
        new_path: str | None = None,
    ) -> Written[UserRecord]:
        if new_user_name:
            validation.user_name(new_user_name, "new_user_name")
        if new_path:
            validation.path(new_path, "new_path")
        async with self._write(actor, "UpdateUser") as tx:
            conn = tx.conn
            row = await find_entity(conn, USER, account_id, user_name, lock=True)
            old_arn = entity_arn(USER, row)
            try:
                await conn.execute(
                    "UPDATE iamd_users SET name = coalesce($2, name), path = coalesce($3, path)"
                    " WHERE id = $1",
                    row["id"],
                    new_user_name or None,
                    new_path or None,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"User {new_user_name} already exists") from exc
            record = await self._user(conn, account_id, new_user_name or row["name"])
            tx.record(old_arn, account_id, f"user:{old_arn}", f"user:{record.arn}")
            tx.invalidate(*await reference_keys(conn, row["id"]))
        return Written(record, tx.revision)

    async def delete_user(self, *, actor: str, account_id: str, user_name: str) -> Written[None]:
        async with self._write(actor, "DeleteUser") as tx:
            conn = tx.conn
            row = await find_entity(conn, USER, account_id, user_name, lock=True)
            raise_delete_conflict(USER, row["name"], await delete_conflicts(conn, USER, row["id"]))
            arn = entity_arn(USER, row)
            tx.record(arn, account_id, f"user:{arn}")
            tx.invalidate(*await reference_keys(conn, row["id"]))
            await conn.execute("DELETE FROM iamd_users WHERE id = $1", row["id"])
        return Written(None, tx.revision)

    async def tag_user(
        self, *, actor: str, account_id: str, user_name: str, tags: Sequence[Tag]
    ) -> Written[None]:
        return await self._tag(USER, "TagUser", actor, account_id, user_name, tags, ())

    async def untag_user(
        self, *, actor: str, account_id: str, user_name: str, tag_keys: Sequence[str]
    ) -> Written[None]:
        return await self._tag(USER, "UntagUser", actor, account_id, user_name, (), tag_keys)

    async def list_user_tags(
        self, *, account_id: str, user_name: str, marker: str | None = None, max_items: int = 100
    ) -> Page[Tag]:
        limit = check_max_items(max_items)
        async with self._read() as conn:
            row = await find_entity(conn, USER, account_id, user_name)
        return tag_page(tags_from_json(row["tags"]), marker, limit)

    async def _tag(
        self,
        kind: EntityKind,
        rpc: str,
        actor: str,
        account_id: str,
        name: str,
        add: Sequence[Tag],
        remove: Sequence[str],
    ) -> Written[None]:
        """Read-modify-write of a user's or role's tags under the entity's row lock."""
        check_tags(add, case_insensitive_keys=True)
        validation.tag_keys(remove)
        async with self._write(actor, rpc) as tx:
            conn = tx.conn
            row = await find_entity(conn, kind, account_id, name, lock=True)
            current = tags_from_json(row["tags"])
            merged = merge_tags(current, add, case_insensitive_keys=True)
            merged = remove_tags(merged, remove, case_insensitive_keys=True)
            if len(merged) > self._quotas.tags_per_entity:
                raise LimitExceeded(
                    f"Cannot exceed quota for TagsPer{kind.label}: {self._quotas.tags_per_entity}"
                )
            await conn.execute(
                f"UPDATE {kind.table} SET tags = $2 WHERE id = $1", row["id"], tags_to_json(merged)
            )
            arn = entity_arn(kind, row)
            tx.record(arn, account_id, f"{kind.kind}:{arn}")
        return Written(None, tx.revision)
