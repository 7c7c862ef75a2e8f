"""Shared pieces of the store: quotas, entity kinds, ARNs, lookups and pagination."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from iamd_server import validation
from iamd_server.errors import InvalidArgument, NotFound
from iamd_server.store.records import Page, Tag
from iamd_server.store.writes import WriteTx, write_tx

T = TypeVar("T")

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Quotas:
    """Limits enforced in the database transaction (iam-semantics 1.4, 1.5)."""

    users_per_account: int = 5000
    groups_per_account: int = 300
    roles_per_account: int = 1000
    policies_per_account: int = 1500
    user_attached_policies: int = 10
    group_attached_policies: int = 10
    role_attached_policies: int = 10
    groups_per_user: int = 10
    access_keys_per_owner: int = 2
    policy_versions: int = 5
    tags_per_entity: int = 50
    user_inline_policy_size: int = 2048
    group_inline_policy_size: int = 5120
    role_inline_policy_size: int = 10240
    managed_policy_size: int = 6144
    trust_policy_size: int = 2048
    service_control_policy_size: int = 5120
    resource_policy_size: int = 20480


@dataclass(frozen=True, slots=True)
class EntityKind:
    """Users, groups and roles share lookups, attachments and inline policies."""

    kind: str  # "user" | "group" | "role": ARN type and owner_kind column value
    table: str
    label: str  # "User"
    rpc_noun: str  # "User" in "AttachUserPolicy"


USER = EntityKind("user", "iamd_users", "User", "User")
GROUP = EntityKind("group", "iamd_groups", "Group", "Group")
ROLE = EntityKind("role", "iamd_roles", "Role", "Role")


def iam_arn(account_id: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


def root_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def max_items(value: int) -> int:
    if not 1 <= value <= MAX_ITEMS:
        raise InvalidArgument("max_items", f"max_items must be between 1 and {MAX_ITEMS}")
    return value


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    if not marker:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument("marker", "marker is not one this service returned") from exc


def make_page(
    rows: Sequence[asyncpg.Record],
    limit: int,
    convert: Callable[[asyncpg.Record], T],
    key: Callable[[asyncpg.Record], str],
) -> Page[T]:
    """`rows` were fetched with LIMIT limit+1; the extra row only says there is more."""
    truncated = len(rows) > limit
    kept = rows[:limit]
    marker = encode_marker(key(kept[-1])) if truncated and kept else None
    return Page([convert(row) for row in kept], marker, truncated)


def tags_from_json(value: Any) -> tuple[Tag, ...]:
    return tuple(Tag(str(k), str(v)) for k, v in (value or []))


def tags_to_json(tags: Sequence[Tag]) -> list[list[str]]:
    return [[t.key, t.value] for t in tags]


def check_tags(tags: Sequence[Tag], *, case_insensitive_keys: bool) -> list[Tag]:
    validation.tags([(t.key, t.value) for t in tags], case_insensitive_keys=case_insensitive_keys)
    return list(tags)


def merge_tags(
    current: Sequence[Tag], new: Sequence[Tag], *, case_insensitive_keys: bool
) -> list[Tag]:
    """Re-tagging a key replaces its value; users and roles compare keys case-insensitively."""

    def fold(key: str) -> str:
        return key.lower() if case_insensitive_keys else key

    replaced = {fold(t.key) for t in new}
    merged = [t for t in current if fold(t.key) not in replaced]
    return merged + list(new)


def remove_tags(
    current: Sequence[Tag], keys: Sequence[str], *, case_insensitive_keys: bool
) -> list[Tag]:
    def fold(key: str) -> str:
        return key.lower() if case_insensitive_keys else key

    gone = {fold(k) for k in keys}
    return [t for t in current if fold(t.key) not in gone]


async def require_account(
    conn: asyncpg.Connection, account_id: str, *, lock: bool = False
) -> asyncpg.Record:
    """The account row; `lock` serializes quota checks of writes in this account."""
    validation.account_id(account_id)
    sql = "SELECT * FROM iamd_accounts WHERE account_id = $1"
    if lock:
        # NO KEY UPDATE: serializes quota counters without blocking foreign-key inserts.
        sql += " FOR NO KEY UPDATE"
    row = await conn.fetchrow(sql, account_id)
    if row is None:
        raise NotFound(f"Account {account_id} not found")
    return row


async def find_entity(
    conn: asyncpg.Connection, kind: EntityKind, account_id: str, name: str, *, lock: bool = False
) -> asyncpg.Record:
    """A user/group/role by name (case-insensitive, like IAM); NotFound when missing."""
    sql = f"SELECT * FROM {kind.table} WHERE account_id = $1 AND lower(name) = lower($2)"
    if lock:
        sql += " FOR NO KEY UPDATE"
    row = await conn.fetchrow(sql, account_id, name)
    if row is None:
        raise NotFound(f"{kind.label} {name} not found")
    return row


async def find_entity_by_arn(
    conn: asyncpg.Connection, kind: EntityKind, arn: str
) -> asyncpg.Record | None:
    """Exact ARN match (ARNs are case-sensitive): account, path and name."""
    try:
        parsed = validation.iam_arn(arn, kind.kind)
    except InvalidArgument:
        return None
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM {kind.table} WHERE account_id = $1 AND lower(name) = lower($2)"
        " AND name = $2 AND path = $3",
        parsed.account_id,
        parsed.name,
        parsed.path,
    )
    return row


async def find_policy(
    conn: asyncpg.Connection, policy_arn: str, *, lock: bool = False, field: str = "policy_arn"
) -> asyncpg.Record:
    parsed = validation.iam_arn(policy_arn, "policy", field)
    sql = (
        "SELECT * FROM iamd_policies WHERE account_id = $1 AND lower(name) = lower($2)"
        " AND name = $2 AND path = $3"
    )
    if lock:
        sql += " FOR NO KEY UPDATE"
    row = await conn.fetchrow(sql, parsed.account_id, parsed.name, parsed.path)
    if row is None:
        raise NotFound(f"Policy {policy_arn} not found")
    return row


def entity_arn(kind: EntityKind, row: asyncpg.Record) -> str:
    return iam_arn(row["account_id"], kind.kind, row["path"], row["name"])


def policy_arn_of(row: asyncpg.Record) -> str:
    return iam_arn(row["account_id"], "policy", row["path"], row["name"])


class StoreBase:
    """State shared by the store's parts; the facade combines them."""

    def __init__(self, pool: asyncpg.Pool, quotas: Quotas | None = None) -> None:
        self._pool = pool
        self._quotas = quotas or Quotas()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @property
    def quotas(self) -> Quotas:
        return self._quotas

    @asynccontextmanager
    async def _write(self, actor: str, rpc: str) -> AsyncIterator[WriteTx]:
        async with write_tx(self._pool, actor=actor, rpc=rpc) as tx:
            yield tx

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn:
            yield conn
