"""The organization: accounts, organizational units and service control policies.

There is one organization. Its root is the top node of `iamd_ous` (parent NULL). As in AWS
Organizations, the AWS-managed SCP FullAWSAccess is attached to the root and to every new OU
and account, and a target keeps at least one SCP, since an SCP level with no Allow denies all.
"""

from __future__ import annotations

import json

import asyncpg
from iamd_policy import PolicyKind

from iamd_server import validation
from iamd_server.errors import AlreadyExists, FailedPrecondition, NotFound
from iamd_server.store import ids
from iamd_server.store.base import (
    StoreBase,
    decode_marker,
    make_page,
    require_account,
    root_arn,
)
from iamd_server.store.base import (
    max_items as check_max_items,
)
from iamd_server.store.documents import check_document
from iamd_server.store.records import (
    AccountRecord,
    OrganizationRecord,
    OuRecord,
    Page,
    ScpRecord,
    Written,
)

FULL_ACCESS_SCP_ID = "p-FullAWSAccess"
FULL_ACCESS_SCP_NAME = "FullAWSAccess"
FULL_ACCESS_DOCUMENT = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    indent=2,
)
ROOT_ALIAS = "r-root"
ORG_KEY = "org"


def _org_record(row: asyncpg.Record) -> OrganizationRecord:
    mgmt = row["management_account_id"]
    return OrganizationRecord(
        id=row["id"],
        arn=f"arn:aws:organizations::{mgmt}:organization/{row['id']}",
        root_id=row["root_id"],
        management_account_id=mgmt,
    )


def _account_record(org: asyncpg.Record, row: asyncpg.Record) -> AccountRecord:
    mgmt, org_id, acct = org["management_account_id"], org["id"], row["account_id"]
    return AccountRecord(
        account_id=acct,
        name=row["name"],
        email=row["email"],
        arn=f"arn:aws:organizations::{mgmt}:account/{org_id}/{acct}",
        parent_id=row["parent_id"],
        root_arn=root_arn(acct),
        create_date=row["created_at"],
    )


def _ou_record(org: asyncpg.Record, row: asyncpg.Record) -> OuRecord:
    mgmt, org_id = org["management_account_id"], org["id"]
    return OuRecord(
        id=row["id"],
        arn=f"arn:aws:organizations::{mgmt}:ou/{org_id}/{row['id']}",
        name=row["name"],
        parent_id=row["parent_id"] or "",
    )


def _scp_record(org: asyncpg.Record | None, row: asyncpg.Record) -> ScpRecord:
    if row["id"] == FULL_ACCESS_SCP_ID or org is None:
        arn = f"arn:aws:organizations::aws:policy/service_control_policy/{row['id']}"
    else:
        arn = (
            f"arn:aws:organizations::{org['management_account_id']}:policy/{org['id']}"
            f"/service_control_policy/{row['id']}"
        )
    return ScpRecord(
        policy_id=row["id"],
        arn=arn,
        name=row["name"],
        description=row["description"],
        document=row["document"],
    )


async def _org(conn: asyncpg.Connection) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM iamd_organization")
    if row is None:
        raise FailedPrecondition("the organization has not been bootstrapped")
    return row


async def _resolve_target(conn: asyncpg.Connection, org: asyncpg.Record, target_id: str) -> str:
    """Root id ("r-root" names the root too), OU id or account id; NotFound otherwise."""
    if target_id == ROOT_ALIAS:
        return str(org["root_id"])
    if target_id.startswith(("r-", "ou-")):
        if await conn.fetchval("SELECT 1 FROM iamd_ous WHERE id = $1", target_id) is None:
            raise NotFound(f"Target {target_id} not found")
        return target_id
    validation.account_id(target_id, "target_id")
    await require_account(conn, target_id)
    return target_id


async def _parent(conn: asyncpg.Connection, org: asyncpg.Record, parent_id: str) -> str:
    if parent_id == ROOT_ALIAS:
        return str(org["root_id"])
    if await conn.fetchval("SELECT 1 FROM iamd_ous WHERE id = $1", parent_id) is None:
        raise NotFound(f"Parent {parent_id} not found")
    return parent_id


async def _find_scp(
    conn: asyncpg.Connection, policy_id: str, *, lock: bool = False
) -> asyncpg.Record:
    sql = "SELECT * FROM iamd_scps WHERE id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, policy_id)
    if row is None:
        raise NotFound(f"Service control policy {policy_id} not found")
    return row


class OrganizationStore(StoreBase):
    async def bootstrap(
        self,
        *,
        management_account_id: str | None = None,
        name: str = "management",
        email: str | None = None,
        actor: str = "iamd:bootstrap",
    ) -> Written[AccountRecord]:
        """Creates the organization and its management account once; later calls return it."""
        if management_account_id is not None:
            validation.account_id(management_account_id, "management_account_id")
        validation.short_text(name, "name", "account name", 50)
        async with self._read() as conn:
            existing = await self._existing_management(conn)
            if existing is not None:
                return existing
        try:
            async with self._write(actor, "Bootstrap") as tx:
                conn = tx.conn
                acct = management_account_id or ids.new_account_id()
                org_id, root_id = ids.new_organization_id(), ids.new_root_id()
                await conn.execute(
                    "INSERT INTO iamd_organization (id, root_id, management_account_id)"
                    " VALUES ($1, $2, $3)",
                    org_id,
                    root_id,
                    acct,
                )
                await conn.execute(
                    "INSERT INTO iamd_ous (id, parent_id, name) VALUES ($1, NULL, 'Root')", root_id
                )
                await conn.execute(
                    "INSERT INTO iamd_scps (id, name, description, document)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    FULL_ACCESS_SCP_ID,
                    FULL_ACCESS_SCP_NAME,
                    "Allows access to every operation",
                    FULL_ACCESS_DOCUMENT,
                )
                await self._attach_full_access(conn, root_id)
                row = await conn.fetchrow(
                    "INSERT INTO iamd_accounts (account_id, name, email, parent_id)"
                    " VALUES ($1, $2, $3, $4) RETURNING *",
                    acct,
                    name,
                    email,
                    root_id,
                )
                await self._attach_full_access(conn, acct)
                org = await _org(conn)
                record = _account_record(org, row)
                tx.record(record.arn, acct, ORG_KEY, f"account:{acct}")
        except asyncpg.UniqueViolationError:
            # Another replica bootstrapped at the same moment.
            async with self._read() as conn:
                existing = await self._existing_management(conn)
            if existing is None:
                raise
            return existing
        return Written(record, tx.revision)

    async def _existing_management(self, conn: asyncpg.Connection) -> Written[AccountRecord] | None:
        org = await conn.fetchrow("SELECT * FROM iamd_organization")
        if org is None:
            return None
        row = await require_account(conn, org["management_account_id"])
        revision = await conn.fetchval("SELECT coalesce(max(revision), 0) FROM iamd_audit")
        return Written(_account_record(org, row), int(revision))

    @staticmethod
    async def _attach_full_access(conn: asyncpg.Connection, target_id: str) -> None:
        await conn.execute(
            "INSERT INTO iamd_scp_attachments (policy_id, target_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            FULL_ACCESS_SCP_ID,
            target_id,
        )

    async def get_organization(self) -> OrganizationRecord | None:
        async with self._read() as conn:
            row = await conn.fetchrow("SELECT * FROM iamd_organization")
        return _org_record(row) if row is not None else None

    async def create_account(
        self,
        *,
        actor: str,
        name: str,
        email: str | None = None,
        account_id: str | None = None,
        parent_id: str | None = None,
    ) -> Written[AccountRecord]:
        validation.short_text(name, "name", "account name", 50)
        if email:
            validation.email(email)
        if account_id is not None:
            validation.account_id(account_id)
        async with self._write(actor, "CreateAccount") as tx:
            conn = tx.conn
            org = await _org(conn)
            parent = await _parent(conn, org, parent_id) if parent_id else org["root_id"]
            row = None
            for _ in range(5):
                acct = account_id or ids.new_account_id()
                row = await conn.fetchrow(
                    "INSERT INTO iamd_accounts (account_id, name, email, parent_id)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO NOTHING RETURNING *",
                    acct,
                    name,
                    email or None,
                    parent,
                )
                if row is not None or account_id is not None:
                    break
            if row is None:
                raise AlreadyExists(f"Account {account_id} already exists")
            await self._attach_full_access(conn, row["account_id"])
            record = _account_record(org, row)
            tx.record(record.arn, record.account_id, ORG_KEY, f"account:{record.account_id}")
        return Written(record, tx.revision)

    async def describe_account(self, *, account_id: str) -> AccountRecord:
        async with self._read() as conn:
            org = await _org(conn)
            row = await require_account(conn, account_id)
        return _account_record(org, row)

    async def list_accounts(
        self, *, parent_id: str | None = None, marker: str | None = None, max_items: int = 100
    ) -> Page[AccountRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            org = await _org(conn)
            parent = await _parent(conn, org, parent_id) if parent_id else None
            rows = await conn.fetch(
                "SELECT * FROM iamd_accounts WHERE ($1::text IS NULL OR parent_id = $1)"
                " AND ($2::text IS NULL OR account_id > $2) ORDER BY account_id LIMIT $3",
                parent,
                after,
                limit + 1,
            )
        return make_page(rows, limit, lambda r: _account_record(org, r), lambda r: r["account_id"])

    async def create_organizational_unit(
        self, *, actor: str, parent_id: str, name: str
    ) -> Written[OuRecord]:
        validation.short_text(name, "name", "organizational unit name", 128)
        async with self._write(actor, "CreateOrganizationalUnit") as tx:
            conn = tx.conn
            org = await _org(conn)
            parent = await _parent(conn, org, parent_id)
            try:
                row = await conn.fetchrow(
                    "INSERT INTO iamd_ous (id, parent_id, name) VALUES ($1, $2, $3) RETURNING *",
                    ids.new_ou_id(org["root_id"]),
                    parent,
                    name,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(
                    f"Organizational unit {name} already exists in {parent}"
                ) from exc
            await self._attach_full_access(conn, row["id"])
            record = _ou_record(org, row)
            tx.record(record.arn, org["management_account_id"], ORG_KEY)
        return Written(record, tx.revision)

    async def list_organizational_units(
        self, *, parent_id: str, marker: str | None = None, max_items: int = 100
    ) -> Page[OuRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            org = await _org(conn)
            parent = await _parent(conn, org, parent_id)
            rows = await conn.fetch(
                "SELECT * FROM iamd_ous WHERE parent_id = $1 AND ($2::text IS NULL OR id > $2)"
                " ORDER BY id LIMIT $3",
                parent,
                after,
                limit + 1,
            )
        return make_page(rows, limit, lambda r: _ou_record(org, r), lambda r: r["id"])

    async def delete_organizational_unit(self, *, actor: str, ou_id: str) -> Written[None]:
        async with self._write(actor, "DeleteOrganizationalUnit") as tx:
            conn = tx.conn
            org = await _org(conn)
            row = await conn.fetchrow(
                "SELECT * FROM iamd_ous WHERE id = $1 AND parent_id IS NOT NULL FOR UPDATE", ou_id
            )
            if row is None:
                raise NotFound(f"Organizational unit {ou_id} not found")
            children = await conn.fetchval(
                "SELECT count(*) FROM iamd_ous WHERE parent_id = $1", ou_id
            )
            accounts = await conn.fetchval(
                "SELECT count(*) FROM iamd_accounts WHERE parent_id = $1", ou_id
            )
            if children or accounts:
                raise FailedPrecondition(
                    f"Organizational unit {ou_id} is not empty: it still holds"
                    f" {children} organizational unit(s) and {accounts} account(s)"
                )
            await conn.execute("DELETE FROM iamd_scp_attachments WHERE target_id = $1", ou_id)
            await conn.execute("DELETE FROM iamd_ous WHERE id = $1", ou_id)
            tx.record(_ou_record(org, row).arn, org["management_account_id"], ORG_KEY)
        return Written(None, tx.revision)

    async def move_account(
        self, *, actor: str, account_id: str, destination_parent_id: str
    ) -> Written[AccountRecord]:
        async with self._write(actor, "MoveAccount") as tx:
            conn = tx.conn
            org = await _org(conn)
            await require_account(conn, account_id, lock=True)
            parent = await _parent(conn, org, destination_parent_id)
            row = await conn.fetchrow(
                "UPDATE iamd_accounts SET parent_id = $2 WHERE account_id = $1 RETURNING *",
                account_id,
                parent,
            )
            record = _account_record(org, row)
            tx.record(record.arn, account_id, ORG_KEY, f"account:{account_id}")
        return Written(record, tx.revision)

    async def create_service_control_policy(
        self, *, actor: str, name: str, document: str, description: str = ""
    ) -> Written[ScpRecord]:
        validation.short_text(name, "name", "policy name", 128)
        validation.description(description)
        self._check_scp(document)
        async with self._write(actor, "CreateServiceControlPolicy") as tx:
            conn = tx.conn
            org = await _org(conn)
            try:
                row = await conn.fetchrow(
                    "INSERT INTO iamd_scps (id, name, description, document)"
                    " VALUES ($1, $2, $3, $4) RETURNING *",
                    ids.new_scp_id(),
                    name,
                    description,
                    document,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Service control policy {name} already exists") from exc
            record = _scp_record(org, row)
            tx.record(record.arn, org["management_account_id"], ORG_KEY)
        return Written(record, tx.revision)

    def _check_scp(self, document: str) -> None:
        check_document(
            document,
            PolicyKind.SERVICE_CONTROL,
            limit=self._quotas.service_control_policy_size,
            what="ServiceControlPolicySize",
            field="document",
        )

    async def update_service_control_policy(
        self,
        *,
        actor: str,
        policy_id: str,
        name: str | None = None,
        description: str | None = None,
        document: str | None = None,
    ) -> Written[ScpRecord]:
        if name is not None:
            validation.short_text(name, "name", "policy name", 128)
        if description is not None:
            validation.description(description)
        if document is not None:
            self._check_scp(document)
        async with self._write(actor, "UpdateServiceControlPolicy") as tx:
            conn = tx.conn
            org = await _org(conn)
            current = await _find_scp(conn, policy_id, lock=True)
            if current["id"] == FULL_ACCESS_SCP_ID:
                raise FailedPrecondition(f"{FULL_ACCESS_SCP_NAME} is AWS managed and read-only")
            try:
                row = await conn.fetchrow(
                    "UPDATE iamd_scps SET name = coalesce($2, name),"
                    " description = coalesce($3, description), document = coalesce($4, document),"
                    " updated_at = now() WHERE id = $1 RETURNING *",
                    policy_id,
                    name,
                    description,
                    document,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Service control policy {name} already exists") from exc
            record = _scp_record(org, row)
            tx.record(record.arn, org["management_account_id"], ORG_KEY)
        return Written(record, tx.revision)

    async def delete_service_control_policy(self, *, actor: str, policy_id: str) -> Written[None]:
        async with self._write(actor, "DeleteServiceControlPolicy") as tx:
            conn = tx.conn
            org = await _org(conn)
            row = await _find_scp(conn, policy_id, lock=True)
            if row["id"] == FULL_ACCESS_SCP_ID:
                raise FailedPrecondition(f"{FULL_ACCESS_SCP_NAME} is AWS managed and read-only")
            targets = await conn.fetch(
                "SELECT target_id FROM iamd_scp_attachments WHERE policy_id = $1 ORDER BY 1",
                policy_id,
            )
            if targets:
                names = ", ".join(t["target_id"] for t in targets)
                raise FailedPrecondition(
                    f"Service control policy {policy_id} is still attached to: {names}"
                )
            await conn.execute("DELETE FROM iamd_scps WHERE id = $1", policy_id)
            tx.record(_scp_record(org, row).arn, org["management_account_id"], ORG_KEY)
        return Written(None, tx.revision)

    async def list_service_control_policies(
        self, *, marker: str | None = None, max_items: int = 100
    ) -> Page[ScpRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            org = await conn.fetchrow("SELECT * FROM iamd_organization")
            rows = await conn.fetch(
                "SELECT * FROM iamd_scps WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
                after,
                limit + 1,
            )
        return make_page(rows, limit, lambda r: _scp_record(org, r), lambda r: r["id"])

    async def attach_service_control_policy(
        self, *, actor: str, policy_id: str, target_id: str
    ) -> Written[None]:
        async with self._write(actor, "AttachServiceControlPolicy") as tx:
            conn = tx.conn
            org = await _org(conn)
            row = await _find_scp(conn, policy_id)
            target = await _resolve_target(conn, org, target_id)
            done = await conn.fetchval(
                "INSERT INTO iamd_scp_attachments (policy_id, target_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                policy_id,
                target,
            )
            if done is None:
                raise AlreadyExists(
                    f"Service control policy {policy_id} is already attached to {target}"
                )
            tx.record(_scp_record(org, row).arn, org["management_account_id"], ORG_KEY)
        return Written(None, tx.revision)

    async def detach_service_control_policy(
        self, *, actor: str, policy_id: str, target_id: str
    ) -> Written[None]:
        async with self._write(actor, "DetachServiceControlPolicy") as tx:
            conn = tx.conn
            org = await _org(conn)
            row = await _find_scp(conn, policy_id)
            target = await _resolve_target(conn, org, target_id)
            # Serialize detaches of one target so two cannot each leave the other as the last.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"scp-target:{target}")
            attached = await conn.fetch(
                "SELECT policy_id FROM iamd_scp_attachments WHERE target_id = $1", target
            )
            if policy_id not in {a["policy_id"] for a in attached}:
                raise NotFound(f"Service control policy {policy_id} is not attached to {target}")
            if len(attached) == 1:
                raise FailedPrecondition(
                    f"{target} must keep at least one service control policy; attach another"
                    " before detaching this one"
                )
            await conn.execute(
                "DELETE FROM iamd_scp_attachments WHERE policy_id = $1 AND target_id = $2",
                policy_id,
                target,
            )
            tx.record(_scp_record(org, row).arn, org["management_account_id"], ORG_KEY)
        return Written(None, tx.revision)

    async def list_service_control_policies_for_target(
        self, *, target_id: str, marker: str | None = None, max_items: int = 100
    ) -> Page[ScpRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            org = await _org(conn)
            target = await _resolve_target(conn, org, target_id)
            rows = await conn.fetch(
                "SELECT s.* FROM iamd_scps s JOIN iamd_scp_attachments a ON a.policy_id = s.id"
                " WHERE a.target_id = $1 AND ($2::text IS NULL OR s.id > $2)"
                " ORDER BY s.id LIMIT $3",
                target,
                after,
                limit + 1,
            )
        return make_page(rows, limit, lambda r: _scp_record(org, r), lambda r: r["id"])
