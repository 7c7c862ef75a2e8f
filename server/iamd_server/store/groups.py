"""IAM groups and their memberships."""

from __future__ import annotations

import asyncpg

from iamd_server import validation
from iamd_server.errors import AlreadyExists, LimitExceeded, NotFound
from iamd_server.store import ids
from iamd_server.store.base import (
    GROUP,
    USER,
    StoreBase,
    decode_marker,
    entity_arn,
    find_entity,
    make_page,
)
from iamd_server.store.base import max_items as check_max_items
from iamd_server.store.records import GroupRecord, Page, UserRecord, Written
from iamd_server.store.users import (
    USER_SELECT,
    check_account_quota,
    delete_conflicts,
    raise_delete_conflict,
    user_record,
)


def group_record(row: asyncpg.Record) -> GroupRecord:
    return GroupRecord(
        group_id=row["id"],
        account_id=row["account_id"],
        group_name=row["name"],
        path=row["path"],
        arn=entity_arn(GROUP, row),
        create_date=row["created_at"],
    )


class GroupStore(StoreBase):
    async def create_group(
        self, *, actor: str, account_id: str, group_name: str, path: str = "/"
    ) -> Written[GroupRecord]:
        validation.group_name(group_name)
        validation.path(path)
        async with self._write(actor, "CreateGroup") as tx:
            conn = tx.conn
            await check_account_quota(
                conn,
                "iamd_groups",
                account_id,
                self._quotas.groups_per_account,
                "GroupsPerAccount",
            )
            try:
                row = await conn.fetchrow(
                    "INSERT INTO iamd_groups (id, account_id, name, path) VALUES ($1, $2, $3, $4)"
                    " RETURNING *",
                    ids.unique_id(ids.GROUP_PREFIX),
                    account_id,
                    group_name,
                    path,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Group {group_name} already exists") from exc
            record = group_record(row)
            tx.record(record.arn, account_id, f"group:{record.arn}")
        return Written(record, tx.revision)

    async def get_group(
        self,
        *,
        account_id: str,
        group_name: str,
        marker: str | None = None,
        max_items: int = 100,
    ) -> tuple[GroupRecord, Page[UserRecord]]:
        validation.account_id(account_id)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            row = await find_entity(conn, GROUP, account_id, group_name)
            users = await conn.fetch(
                USER_SELECT + " JOIN iamd_group_members m ON m.user_id = u.id"
                " WHERE m.group_id = $1 AND ($2::text IS NULL OR lower(u.name) > $2)"
                " ORDER BY lower(u.name) LIMIT $3",
                row["id"],
                after,
                limit + 1,
            )
        page = make_page(users, limit, user_record, lambda r: str(r["name"]).lower())
        return group_record(row), page

    async def list_groups(
        self,
        *,
        account_id: str,
        path_prefix: str = "/",
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[GroupRecord]:
        validation.account_id(account_id)
        validation.path_prefix(path_prefix)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT * FROM iamd_groups WHERE account_id = $1"
                " AND left(path, length($2)) = $2 AND ($3::text IS NULL OR lower(name) > $3)"
                " ORDER BY lower(name) LIMIT $4",
                account_id,
                path_prefix,
                after,
                limit + 1,
            )
        return make_page(rows, limit, group_record, lambda r: str(r["name"]).lower())

    async def delete_group(self, *, actor: str, account_id: str, group_name: str) -> Written[None]:
        async with self._write(actor, "DeleteGroup") as tx:
            conn = tx.conn
            row = await find_entity(conn, GROUP, account_id, group_name, lock=True)
            remaining = await delete_conflicts(conn, GROUP, row["id"])
            raise_delete_conflict(GROUP, row["name"], remaining)
            await conn.execute("DELETE FROM iamd_groups WHERE id = $1", row["id"])
            arn = entity_arn(GROUP, row)
            tx.record(arn, account_id, f"group:{arn}")
        return Written(None, tx.revision)

    async def add_user_to_group(
        self, *, actor: str, account_id: str, group_name: str, user_name: str
    ) -> Written[None]:
        async with self._write(actor, "AddUserToGroup") as tx:
            conn = tx.conn
            group = await find_entity(conn, GROUP, account_id, group_name)
            # The user's row lock serializes its memberships, so the count below holds.
            user = await find_entity(conn, USER, account_id, user_name, lock=True)
            count = await conn.fetchval(
                "SELECT count(*) FROM iamd_group_members WHERE user_id = $1 AND group_id <> $2",
                user["id"],
                group["id"],
            )
            if count >= self._quotas.groups_per_user:
                raise LimitExceeded(
                    f"Cannot exceed quota for GroupsPerUser: {self._quotas.groups_per_user}"
                )
            await conn.execute(
                "INSERT INTO iamd_group_members (group_id, user_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                group["id"],
                user["id"],
            )
            group_arn, user_arn = entity_arn(GROUP, group), entity_arn(USER, user)
            tx.record(group_arn, account_id, f"group:{group_arn}", f"user:{user_arn}")
        return Written(None, tx.revision)

    async def remove_user_from_group(
        self, *, actor: str, account_id: str, group_name: str, user_name: str
    ) -> Written[None]:
        async with self._write(actor, "RemoveUserFromGroup") as tx:
            conn = tx.conn
            group = await find_entity(conn, GROUP, account_id, group_name)
            user = await find_entity(conn, USER, account_id, user_name, lock=True)
            gone = await conn.fetchval(
                "DELETE FROM iamd_group_members WHERE group_id = $1 AND user_id = $2 RETURNING 1",
                group["id"],
                user["id"],
            )
            if gone is None:
                raise NotFound(f"User {user['name']} is not a member of group {group['name']}")
            group_arn, user_arn = entity_arn(GROUP, group), entity_arn(USER, user)
            tx.record(group_arn, account_id, f"group:{group_arn}", f"user:{user_arn}")
        return Written(None, tx.revision)

    async def list_groups_for_user(
        self, *, account_id: str, user_name: str, marker: str | None = None, max_items: int = 100
    ) -> Page[GroupRecord]:
        validation.account_id(account_id)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            user = await find_entity(conn, USER, account_id, user_name)
            rows = await conn.fetch(
                "SELECT g.* FROM iamd_groups g JOIN iamd_group_members m ON m.group_id = g.id"
                " WHERE m.user_id = $1 AND ($2::text IS NULL OR lower(g.name) > $2)"
                " ORDER BY lower(g.name) LIMIT $3",
                user["id"],
                after,
                limit + 1,
            )
        return make_page(rows, limit, group_record, lambda r: str(r["name"]).lower())
