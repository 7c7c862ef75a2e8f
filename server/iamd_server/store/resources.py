"""Resource policies and ACL grants of resources that iamd authorizes for other services."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from iamd_policy import PolicyKind

from iamd_server import validation
from iamd_server.errors import InvalidArgument, NotFound
from iamd_server.store.base import StoreBase
from iamd_server.store.documents import (
    check_document,
    resolve_principals,
    resource_owner,
    save_refs,
    substitute,
    substitutions,
)
from iamd_server.store.records import AclGrant, ResourcePolicyRecord, Written

PERMISSIONS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")


def owning_account(resource_arn: str, owner_account_id: str | None) -> str:
    """The account in the ARN's 5th field, else the explicit owner (for ARNs without one)."""
    parsed = validation.arn(resource_arn, "resource_arn")
    account = parsed.account or owner_account_id
    if not account:
        raise InvalidArgument(
            "owner_account_id", f"{resource_arn} names no account: owner_account_id is required"
        )
    return validation.account_id(account, "owner_account_id")


def _grant_ok(grant: AclGrant, index: int) -> AclGrant:
    if grant.permission not in PERMISSIONS:
        raise InvalidArgument(
            f"grants[{index}].permission", f"permission must be one of {', '.join(PERMISSIONS)}"
        )
    grantee = grant.grantee
    if grantee in ("*", "authenticated"):
        return grant
    if grantee.startswith("arn:"):
        validation.arn(grantee, f"grants[{index}].grantee")
    else:
        validation.account_id(grantee, f"grants[{index}].grantee")
    return grant


async def read_resource_policy(
    conn: asyncpg.Connection, resource_arn: str
) -> ResourcePolicyRecord | None:
    row = await conn.fetchrow(
        "SELECT * FROM iamd_resource_policies WHERE resource_arn = $1", resource_arn
    )
    if row is None:
        return None
    owner = resource_owner(resource_arn)
    subs = (await substitutions(conn, [owner])).get(owner, {})
    return ResourcePolicyRecord(
        resource_arn, row["account_id"], substitute(row["document"], subs), row["updated_at"]
    )


async def read_acl(conn: asyncpg.Connection, resource_arn: str) -> list[AclGrant]:
    rows = await conn.fetch(
        "SELECT grantee, permission FROM iamd_acl_grants WHERE resource_arn = $1"
        " ORDER BY grantee, permission",
        resource_arn,
    )
    return [AclGrant(r["grantee"], r["permission"]) for r in rows]


class ResourceStore(StoreBase):
    async def put_resource_policy(
        self,
        *,
        actor: str,
        resource_arn: str,
        policy_document: str,
        owner_account_id: str | None = None,
    ) -> Written[None]:
        account = owning_account(resource_arn, owner_account_id)
        check_document(
            policy_document,
            PolicyKind.RESOURCE,
            limit=self._quotas.resource_policy_size,
            what="ResourcePolicySize",
        )
        async with self._write(actor, "PutResourcePolicy") as tx:
            conn = tx.conn
            refs = await resolve_principals(conn, policy_document)
            await conn.execute(
                "INSERT INTO iamd_resource_policies (resource_arn, account_id, document)"
                " VALUES ($1, $2, $3) ON CONFLICT (resource_arn) DO UPDATE"
                " SET account_id = excluded.account_id, document = excluded.document,"
                " updated_at = now()",
                resource_arn,
                account,
                policy_document,
            )
            await save_refs(conn, resource_owner(resource_arn), refs)
            tx.record(resource_arn, account, f"resource:{resource_arn}")
        return Written(None, tx.revision)

    async def get_resource_policy(self, *, resource_arn: str) -> ResourcePolicyRecord:
        async with self._read() as conn:
            record = await read_resource_policy(conn, resource_arn)
        if record is None:
            raise NotFound(f"Resource policy of {resource_arn} not found")
        return record

    async def delete_resource_policy(self, *, actor: str, resource_arn: str) -> Written[None]:
        async with self._write(actor, "DeleteResourcePolicy") as tx:
            conn = tx.conn
            account = await conn.fetchval(
                "DELETE FROM iamd_resource_policies WHERE resource_arn = $1 RETURNING account_id",
                resource_arn,
            )
            if account is None:
                raise NotFound(f"Resource policy of {resource_arn} not found")
            await save_refs(conn, resource_owner(resource_arn), {})
            tx.record(resource_arn, account, f"resource:{resource_arn}")
        return Written(None, tx.revision)

    async def put_resource_acl(
        self,
        *,
        actor: str,
        resource_arn: str,
        grants: Sequence[AclGrant],
        owner_account_id: str | None = None,
    ) -> Written[None]:
        """Replaces the resource's ACL; an empty list removes it."""
        account = owning_account(resource_arn, owner_account_id)
        if len(grants) > 100:
            raise InvalidArgument("grants", "an ACL holds at most 100 grants")
        checked = {(g.grantee, g.permission): g for i, g in enumerate(grants) if _grant_ok(g, i)}
        async with self._write(actor, "PutResourceAcl") as tx:
            conn = tx.conn
            await conn.execute("DELETE FROM iamd_acl_grants WHERE resource_arn = $1", resource_arn)
            await conn.executemany(
                "INSERT INTO iamd_acl_grants (resource_arn, account_id, grantee, permission)"
                " VALUES ($1, $2, $3, $4)",
                [(resource_arn, account, g.grantee, g.permission) for g in checked.values()],
            )
            tx.record(resource_arn, account, f"resource:{resource_arn}")
        return Written(None, tx.revision)

    async def get_resource_acl(self, *, resource_arn: str) -> list[AclGrant]:
        async with self._read() as conn:
            return await read_acl(conn, resource_arn)
