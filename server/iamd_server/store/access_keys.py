"""Access keys of users and of account root users. Only ciphertext of the secret is stored."""

from __future__ import annotations

import re

import asyncpg

from iamd_server import validation
from iamd_server.errors import AlreadyExists, InvalidArgument, LimitExceeded, NotFound
from iamd_server.store.base import (
    USER,
    StoreBase,
    decode_marker,
    find_entity,
    iam_arn,
    make_page,
    require_account,
    root_arn,
)
from iamd_server.store.base import max_items as check_max_items
from iamd_server.store.records import AccessKeyRecord, Page, Written

_KEY_ID = re.compile(r"[A-Z0-9]{16,128}", re.ASCII)
STATUSES = ("Active", "Inactive")

KEY_SELECT = (
    "SELECT k.id, k.account_id, k.user_id, k.status, k.created_at, k.last_used_at,"
    " k.last_used_rpc, u.name AS user_name, u.path AS user_path"
    " FROM iamd_access_keys k LEFT JOIN iamd_users u ON u.id = k.user_id"
)


def owner_arn(account_id: str, user_path: str | None, user_name: str | None) -> str:
    if user_name is None or user_path is None:
        return root_arn(account_id)
    return iam_arn(account_id, "user", user_path, user_name)


def key_record(row: asyncpg.Record) -> AccessKeyRecord:
    return AccessKeyRecord(
        access_key_id=row["id"],
        account_id=row["account_id"],
        user_name=row["user_name"],
        owner_arn=owner_arn(row["account_id"], row["user_path"], row["user_name"]),
        status=row["status"],
        create_date=row["created_at"],
        last_used_date=row["last_used_at"],
        last_used_rpc=row["last_used_rpc"],
    )


class AccessKeyStore(StoreBase):
    async def _owner(
        self, conn: asyncpg.Connection, account_id: str, user_name: str | None, *, lock: bool
    ) -> tuple[str | None, str]:
        """(user id or None for root, owner ARN); locking the owner row serializes its keys."""
        if user_name:
            row = await find_entity(conn, USER, account_id, user_name, lock=lock)
            return row["id"], iam_arn(account_id, "user", row["path"], row["name"])
        await require_account(conn, account_id, lock=lock)
        return None, root_arn(account_id)

    async def create_access_key(
        self,
        *,
        actor: str,
        account_id: str,
        user_name: str | None,
        access_key_id: str,
        encrypted_secret: bytes,
    ) -> Written[AccessKeyRecord]:
        validation.account_id(account_id)
        if not _KEY_ID.fullmatch(access_key_id):
            raise InvalidArgument("access_key_id", "access key id must be 16-128 of [A-Z0-9]")
        if not encrypted_secret:
            raise InvalidArgument("encrypted_secret", "the encrypted secret is empty")
        async with self._write(actor, "CreateAccessKey") as tx:
            conn = tx.conn
            user_id, arn = await self._owner(conn, account_id, user_name, lock=True)
            count = await conn.fetchval(
                "SELECT count(*) FROM iamd_access_keys WHERE account_id = $1"
                " AND user_id IS NOT DISTINCT FROM $2",
                account_id,
                user_id,
            )
            limit = self._quotas.access_keys_per_owner
            if count >= limit:
                raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {limit}")
            try:
                await conn.execute(
                    "INSERT INTO iamd_access_keys (id, account_id, user_id, encrypted_secret)"
                    " VALUES ($1, $2, $3, $4)",
                    access_key_id,
                    account_id,
                    user_id,
                    encrypted_secret,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Access key {access_key_id} already exists") from exc
            row = await conn.fetchrow(KEY_SELECT + " WHERE k.id = $1", access_key_id)
            tx.record(arn, account_id, f"key:{access_key_id}")
        return Written(key_record(row), tx.revision)

    async def _find_key(
        self, conn: asyncpg.Connection, account_id: str, access_key_id: str, user_name: str | None
    ) -> asyncpg.Record:
        row = await conn.fetchrow(
            KEY_SELECT + " WHERE k.id = $1 AND k.account_id = $2 FOR UPDATE OF k",
            access_key_id,
            account_id,
        )
        if row is None or (
            user_name is not None and (row["user_name"] or "").lower() != user_name.lower()
        ):
            raise NotFound(f"Access key {access_key_id} not found")
        return row

    async def update_access_key(
        self,
        *,
        actor: str,
        account_id: str,
        access_key_id: str,
        status: str,
        user_name: str | None = None,
    ) -> Written[None]:
        if status not in STATUSES:
            raise InvalidArgument("status", "status must be Active or Inactive")
        async with self._write(actor, "UpdateAccessKey") as tx:
            conn = tx.conn
            row = await self._find_key(conn, account_id, access_key_id, user_name)
            await conn.execute(
                "UPDATE iamd_access_keys SET status = $2 WHERE id = $1", access_key_id, status
            )
            arn = owner_arn(account_id, row["user_path"], row["user_name"])
            tx.record(arn, account_id, f"key:{access_key_id}")
        return Written(None, tx.revision)

    async def delete_access_key(
        self, *, actor: str, account_id: str, access_key_id: str, user_name: str | None = None
    ) -> Written[None]:
        async with self._write(actor, "DeleteAccessKey") as tx:
            conn = tx.conn
            row = await self._find_key(conn, account_id, access_key_id, user_name)
            await conn.execute("DELETE FROM iamd_access_keys WHERE id = $1", access_key_id)
            arn = owner_arn(account_id, row["user_path"], row["user_name"])
            tx.record(arn, account_id, f"key:{access_key_id}")
        return Written(None, tx.revision)

    async def list_access_keys(
        self,
        *,
        account_id: str,
        user_name: str | None,
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[AccessKeyRecord]:
        validation.account_id(account_id)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            user_id, _ = await self._owner(conn, account_id, user_name, lock=False)
            rows = await conn.fetch(
                KEY_SELECT + " WHERE k.account_id = $1 AND k.user_id IS NOT DISTINCT FROM $2"
                " AND ($3::text IS NULL OR k.id > $3) ORDER BY k.id LIMIT $4",
                account_id,
                user_id,
                after,
                limit + 1,
            )
        return make_page(rows, limit, key_record, lambda r: str(r["id"]))

    async def record_access_key_use(self, *, access_key_id: str, rpc: str) -> None:
        """Last-used bookkeeping; not a Manage write, so no revision and no audit row."""
        async with self._read() as conn:
            await conn.execute(
                "UPDATE iamd_access_keys SET last_used_at = now(), last_used_rpc = $2"
                " WHERE id = $1",
                access_key_id,
                rpc,
            )
