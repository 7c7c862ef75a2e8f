"""Reads for last-accessed reports, and the reports (jobs) themselves.

The times are written by iamd_server.insight.last_accessed in batches. A report's scope is
a set of principals (users and roles, by unique id) and the policy documents whose Allow
statements say which services it covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from iamd_server.errors import NotFound
from iamd_server.store.base import (
    GROUP,
    ROLE,
    USER,
    StoreBase,
    entity_arn,
    find_entity_by_arn,
    find_policy,
)

_DOCUMENTS = (
    "SELECT document FROM iamd_inline_policies WHERE owner_id = ANY($1::text[])"
    " UNION ALL"
    " SELECT v.document FROM iamd_attachments a"
    " JOIN iamd_policies p ON p.id = a.policy_id"
    " JOIN iamd_policy_versions v ON v.policy_id = p.id AND v.version = p.default_version"
    " WHERE a.owner_id = ANY($1::text[])"
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a report is about and which policies it covers."""

    kind: str  # user | group | role | policy
    account_id: str
    principals: dict[str, str]  # unique id -> ARN (users and roles)
    documents: tuple[str, ...]  # policy documents whose Allow statements grant services


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    granularity: str
    created_at: datetime
    completed_at: datetime
    services: list[dict[str, Any]]


def kind_of(arn: str) -> str:
    """user | group | role | policy, from an IAM ARN's resource ("" for anything else)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        return ""
    head = parts[5].split("/", 1)[0]
    return head if head in ("user", "group", "role", "policy") else ""


class LastAccessedStore(StoreBase):
    async def last_accessed_scope(self, *, arn: str, kind: str) -> Scope:
        """NotFound when the entity does not exist (exact ARN, as AWS)."""
        async with self._read() as conn:
            if kind == "policy":
                return await _policy_scope(conn, arn)
            entity = {"user": USER, "group": GROUP, "role": ROLE}[kind]
            row = await find_entity_by_arn(conn, entity, arn)
            if row is None:
                raise NotFound(f"{entity.label} {arn} not found")
            account = row["account_id"]
            if kind == "group":
                members = await conn.fetch(
                    "SELECT u.* FROM iamd_group_members m JOIN iamd_users u ON u.id = m.user_id"
                    " WHERE m.group_id = $1",
                    row["id"],
                )
                principals = {m["id"]: entity_arn(USER, m) for m in members}
                owners = [row["id"]]
            else:
                principals = {row["id"]: entity_arn(entity, row)}
                owners = [row["id"]]
                if kind == "user":
                    groups = await conn.fetch(
                        "SELECT group_id FROM iamd_group_members WHERE user_id = $1", row["id"]
                    )
                    owners += [g["group_id"] for g in groups]
            documents = await conn.fetch(_DOCUMENTS, owners)
        return Scope(kind, account, principals, tuple(d["document"] for d in documents))

    async def last_accessed_rows(
        self, *, principal_ids: list[str]
    ) -> list[tuple[str, str, str, datetime]]:
        """(principal id, service, action or "", time) of the principals."""
        if not principal_ids:
            return []
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT principal_id, service, action, last_at FROM iamd_last_accessed"
                " WHERE principal_id = ANY($1::text[])",
                principal_ids,
            )
        return [(r["principal_id"], r["service"], r["action"], r["last_at"]) for r in rows]

    async def put_last_accessed_job(
        self,
        *,
        job_id: str,
        account_id: str,
        arn: str,
        granularity: str,
        created_at: datetime,
        completed_at: datetime,
        expires_at: datetime,
        services: list[dict[str, Any]],
    ) -> None:
        """Keeps a report until ``expires_at``; expired reports are removed here."""
        async with self._read() as conn, conn.transaction():
            await conn.execute("DELETE FROM iamd_last_accessed_jobs WHERE expires_at < now()")
            await conn.execute(
                "INSERT INTO iamd_last_accessed_jobs (job_id, account_id, arn, granularity,"
                " created_at, completed_at, expires_at, services)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                job_id,
                account_id,
                arn,
                granularity,
                created_at,
                completed_at,
                expires_at,
                services,
            )

    async def get_last_accessed_job(self, *, job_id: str, account_id: str) -> Job | None:
        """The report, if it exists, has not expired and was made in ``account_id``."""
        async with self._read() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM iamd_last_accessed_jobs WHERE job_id = $1 AND account_id = $2"
                " AND expires_at > now()",
                job_id,
                account_id,
            )
        if row is None:
            return None
        return Job(
            row["job_id"], row["granularity"], row["created_at"], row["completed_at"],
            list(row["services"]),
        )  # fmt: skip


async def _policy_scope(conn: asyncpg.Connection, arn: str) -> Scope:
    """A managed policy: the users and roles it is attached to, directly or through a group,
    and its default version."""
    policy = await find_policy(conn, arn, field="arn")
    document = await conn.fetchval(
        "SELECT document FROM iamd_policy_versions WHERE policy_id = $1 AND version = $2",
        policy["id"],
        policy["default_version"],
    )
    users = await conn.fetch(
        "SELECT u.* FROM iamd_users u WHERE u.id IN ("
        " SELECT owner_id FROM iamd_attachments WHERE policy_id = $1 AND owner_kind = 'user'"
        " UNION SELECT m.user_id FROM iamd_attachments a"
        " JOIN iamd_group_members m ON m.group_id = a.owner_id"
        " WHERE a.policy_id = $1 AND a.owner_kind = 'group')",
        policy["id"],
    )
    roles = await conn.fetch(
        "SELECT r.* FROM iamd_roles r JOIN iamd_attachments a ON a.owner_id = r.id"
        " WHERE a.policy_id = $1 AND a.owner_kind = 'role'",
        policy["id"],
    )
    principals = {u["id"]: entity_arn(USER, u) for u in users}
    principals.update({r["id"]: entity_arn(ROLE, r) for r in roles})
    return Scope("policy", policy["account_id"], principals, (document,) if document else ())
