"""Managed policies and their versions, attachments, inline policies and boundaries."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from iamd_policy import PolicyKind

from iamd_server import validation
from iamd_server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    LimitExceeded,
    NotFound,
)
from iamd_server.store import ids
from iamd_server.store.base import (
    GROUP,
    ROLE,
    USER,
    EntityKind,
    StoreBase,
    check_tags,
    decode_marker,
    entity_arn,
    find_entity,
    find_policy,
    make_page,
    policy_arn_of,
    tags_from_json,
    tags_to_json,
)
from iamd_server.store.base import max_items as check_max_items
from iamd_server.store.documents import check_document
from iamd_server.store.records import (
    AttachedPolicy,
    InlinePolicyRecord,
    Page,
    PolicyRecord,
    PolicyVersionRecord,
    Tag,
    Written,
)
from iamd_server.store.users import check_account_quota

POLICY_SELECT = (
    "SELECT p.*,"
    " (SELECT count(*) FROM iamd_attachments a WHERE a.policy_id = p.id) AS attachment_count,"
    " (SELECT count(*) FROM iamd_users u WHERE u.boundary_policy_id = p.id)"
    " + (SELECT count(*) FROM iamd_roles r WHERE r.boundary_policy_id = p.id)"
    " AS boundary_count FROM iamd_policies p"
)


def policy_record(row: asyncpg.Record) -> PolicyRecord:
    return PolicyRecord(
        policy_id=row["id"],
        account_id=row["account_id"],
        policy_name=row["name"],
        path=row["path"],
        arn=policy_arn_of(row),
        default_version_id=f"v{row['default_version']}",
        attachment_count=int(row["attachment_count"]),
        permissions_boundary_usage_count=int(row["boundary_count"]),
        description=row["description"],
        create_date=row["created_at"],
        update_date=row["updated_at"],
        tags=tags_from_json(row["tags"]),
    )


def _version_number(version_id: str) -> int:
    if not version_id.startswith("v") or not version_id[1:].isdigit():
        raise InvalidArgument("version_id", f"{version_id!r} is not a version id (v1, v2, ...)")
    return int(version_id[1:])


def _owner_key(kind: EntityKind, row: asyncpg.Record) -> str:
    return f"{kind.kind}:{entity_arn(kind, row)}"


class PolicyStore(StoreBase):
    def _check_managed(self, document: str, kind: PolicyKind = PolicyKind.IDENTITY) -> None:
        # Managed policies and boundaries need Version 2012-10-17 (semantics 2.2).
        check_document(
            document,
            kind,
            limit=self._quotas.managed_policy_size,
            what="PolicySize",
            managed=True,
        )

    async def create_policy(
        self,
        *,
        actor: str,
        account_id: str,
        policy_name: str,
        policy_document: str,
        path: str = "/",
        description: str = "",
        tags: Sequence[Tag] = (),
    ) -> Written[PolicyRecord]:
        validation.policy_name(policy_name)
        validation.path(path)
        validation.description(description)
        check_tags(tags, case_insensitive_keys=False)
        self._check_managed(policy_document)
        async with self._write(actor, "CreatePolicy") as tx:
            conn = tx.conn
            await check_account_quota(
                conn,
                "iamd_policies",
                account_id,
                self._quotas.policies_per_account,
                "PoliciesPerAccount",
            )
            policy_id = ids.unique_id(ids.POLICY_PREFIX)
            try:
                await conn.execute(
                    "INSERT INTO iamd_policies (id, account_id, name, path, description,"
                    " default_version, next_version, tags) VALUES ($1, $2, $3, $4, $5, 1, 2, $6)",
                    policy_id,
                    account_id,
                    policy_name,
                    path,
                    description,
                    tags_to_json(tags),
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Policy {policy_name} already exists") from exc
            await conn.execute(
                "INSERT INTO iamd_policy_versions (policy_id, version, document)"
                " VALUES ($1, 1, $2)",
                policy_id,
                policy_document,
            )
            row = await conn.fetchrow(POLICY_SELECT + " WHERE p.id = $1", policy_id)
            record = policy_record(row)
            tx.record(record.arn, account_id, f"policy:{record.arn}")
        return Written(record, tx.revision)

    async def get_policy(self, *, policy_arn: str) -> PolicyRecord:
        async with self._read() as conn:
            row = await find_policy(conn, policy_arn)
            full = await conn.fetchrow(POLICY_SELECT + " WHERE p.id = $1", row["id"])
        return policy_record(full)

    async def list_policies(
        self,
        *,
        account_id: str,
        path_prefix: str = "/",
        only_attached: bool = False,
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[PolicyRecord]:
        validation.account_id(account_id)
        validation.path_prefix(path_prefix)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT * FROM (" + POLICY_SELECT + " WHERE p.account_id = $1"
                " AND left(p.path, length($2)) = $2 AND ($3::text IS NULL OR lower(p.name) > $3)"
                ") s WHERE NOT $4 OR s.attachment_count > 0 ORDER BY lower(s.name) LIMIT $5",
                account_id,
                path_prefix,
                after,
                only_attached,
                limit + 1,
            )
        return make_page(rows, limit, policy_record, lambda r: str(r["name"]).lower())

    async def delete_policy(self, *, actor: str, policy_arn: str) -> Written[None]:
        async with self._write(actor, "DeletePolicy") as tx:
            conn = tx.conn
            # FOR UPDATE (not NO KEY) also waits for attach/boundary writers holding key locks.
            row = await find_policy(conn, policy_arn)
            await conn.execute("SELECT 1 FROM iamd_policies WHERE id = $1 FOR UPDATE", row["id"])
            full = await conn.fetchrow(POLICY_SELECT + " WHERE p.id = $1", row["id"])
            remaining = []
            if full["attachment_count"]:
                remaining.append(f"{full['attachment_count']} attachment(s)")
            if full["boundary_count"]:
                remaining.append(f"{full['boundary_count']} permissions boundary use(s)")
            if remaining:
                raise FailedPrecondition(
                    f"DeleteConflict: cannot delete policy {row['name']}; remove first: "
                    + ", ".join(remaining)
                )
            await conn.execute("DELETE FROM iamd_policies WHERE id = $1", row["id"])
            arn = policy_arn_of(row)
            tx.record(arn, row["account_id"], f"policy:{arn}")
        return Written(None, tx.revision)

    async def create_policy_version(
        self, *, actor: str, policy_arn: str, policy_document: str, set_as_default: bool = False
    ) -> Written[PolicyVersionRecord]:
        self._check_managed(policy_document)
        async with self._write(actor, "CreatePolicyVersion") as tx:
            conn = tx.conn
            row = await find_policy(conn, policy_arn, lock=True)
            count = await conn.fetchval(
                "SELECT count(*) FROM iamd_policy_versions WHERE policy_id = $1", row["id"]
            )
            if count >= self._quotas.policy_versions:
                raise LimitExceeded(
                    f"A managed policy can have up to {self._quotas.policy_versions} versions;"
                    " delete a non-default version first (quota PolicyVersionsPerPolicy)"
                )
            version = int(row["next_version"])
            created = await conn.fetchval(
                "INSERT INTO iamd_policy_versions (policy_id, version, document)"
                " VALUES ($1, $2, $3) RETURNING created_at",
                row["id"],
                version,
                policy_document,
            )
            await conn.execute(
                "UPDATE iamd_policies SET next_version = $2, updated_at = now(),"
                " default_version = CASE WHEN $3 THEN $4 ELSE default_version END WHERE id = $1",
                row["id"],
                version + 1,
                set_as_default,
                version,
            )
            arn = policy_arn_of(row)
            tx.record(arn, row["account_id"], f"policy:{arn}")
        return Written(
            PolicyVersionRecord(f"v{version}", policy_document, set_as_default, created),
            tx.revision,
        )

    async def get_policy_version(self, *, policy_arn: str, version_id: str) -> PolicyVersionRecord:
        number = _version_number(version_id)
        async with self._read() as conn:
            row = await find_policy(conn, policy_arn)
            version = await conn.fetchrow(
                "SELECT * FROM iamd_policy_versions WHERE policy_id = $1 AND version = $2",
                row["id"],
                number,
            )
        if version is None:
            raise NotFound(f"Policy version {version_id} of {policy_arn} not found")
        return PolicyVersionRecord(
            version_id,
            version["document"],
            number == row["default_version"],
            version["created_at"],
        )

    async def list_policy_versions(
        self, *, policy_arn: str, marker: str | None = None, max_items: int = 100
    ) -> Page[PolicyVersionRecord]:
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            row = await find_policy(conn, policy_arn)
            rows = await conn.fetch(
                "SELECT * FROM iamd_policy_versions WHERE policy_id = $1"
                " AND ($2::int IS NULL OR version < $2) ORDER BY version DESC LIMIT $3",
                row["id"],
                int(after) if after and after.isdigit() else None,
                limit + 1,
            )
        default = row["default_version"]
        return make_page(
            rows,
            limit,
            lambda v: PolicyVersionRecord(
                f"v{v['version']}", v["document"], v["version"] == default, v["created_at"]
            ),
            lambda v: str(v["version"]),
        )

    async def delete_policy_version(
        self, *, actor: str, policy_arn: str, version_id: str
    ) -> Written[None]:
        number = _version_number(version_id)
        async with self._write(actor, "DeletePolicyVersion") as tx:
            conn = tx.conn
            row = await find_policy(conn, policy_arn, lock=True)
            if number == row["default_version"]:
                raise FailedPrecondition(
                    f"DeleteConflict: cannot delete the default version {version_id} of"
                    f" {policy_arn}; set another version as default first"
                )
            gone = await conn.fetchval(
                "DELETE FROM iamd_policy_versions WHERE policy_id = $1 AND version = $2"
                " RETURNING 1",
                row["id"],
                number,
            )
            if gone is None:
                raise NotFound(f"Policy version {version_id} of {policy_arn} not found")
            arn = policy_arn_of(row)
            tx.record(arn, row["account_id"], f"policy:{arn}")
        return Written(None, tx.revision)

    async def set_default_policy_version(
        self, *, actor: str, policy_arn: str, version_id: str
    ) -> Written[None]:
        number = _version_number(version_id)
        async with self._write(actor, "SetDefaultPolicyVersion") as tx:
            conn = tx.conn
            row = await find_policy(conn, policy_arn, lock=True)
            exists = await conn.fetchval(
                "SELECT 1 FROM iamd_policy_versions WHERE policy_id = $1 AND version = $2",
                row["id"],
                number,
            )
            if exists is None:
                raise NotFound(f"Policy version {version_id} of {policy_arn} not found")
            await conn.execute(
                "UPDATE iamd_policies SET default_version = $2, updated_at = now() WHERE id = $1",
                row["id"],
                number,
            )
            arn = policy_arn_of(row)
            tx.record(arn, row["account_id"], f"policy:{arn}")
        return Written(None, tx.revision)

    # Attachments -----------------------------------------------------------------------

    def _attachment_limit(self, kind: EntityKind) -> int:
        q = self._quotas
        return {
            "user": q.user_attached_policies,
            "group": q.group_attached_policies,
            "role": q.role_attached_policies,
        }[kind.kind]

    async def _attach(
        self, kind: EntityKind, actor: str, account_id: str, name: str, policy_arn: str
    ) -> Written[None]:
        async with self._write(actor, f"Attach{kind.rpc_noun}Policy") as tx:
            conn = tx.conn
            owner = await find_entity(conn, kind, account_id, name, lock=True)
            policy = await find_policy(conn, policy_arn)
            if policy["account_id"] != account_id:
                raise NotFound(f"Policy {policy_arn} does not exist or is not attachable")
            limit = self._attachment_limit(kind)
            count = await conn.fetchval(
                "SELECT count(*) FROM iamd_attachments WHERE owner_id = $1 AND policy_id <> $2",
                owner["id"],
                policy["id"],
            )
            if count >= limit:
                raise LimitExceeded(f"Cannot exceed quota for PoliciesPer{kind.label}: {limit}")
            await conn.execute(
                "INSERT INTO iamd_attachments (owner_kind, owner_id, policy_id)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                kind.kind,
                owner["id"],
                policy["id"],
            )
            arn = policy_arn_of(policy)
            tx.record(entity_arn(kind, owner), account_id, _owner_key(kind, owner), f"policy:{arn}")
        return Written(None, tx.revision)

    async def _detach(
        self, kind: EntityKind, actor: str, account_id: str, name: str, policy_arn: str
    ) -> Written[None]:
        async with self._write(actor, f"Detach{kind.rpc_noun}Policy") as tx:
            conn = tx.conn
            owner = await find_entity(conn, kind, account_id, name, lock=True)
            policy = await find_policy(conn, policy_arn)
            gone = await conn.fetchval(
                "DELETE FROM iamd_attachments WHERE owner_id = $1 AND policy_id = $2 RETURNING 1",
                owner["id"],
                policy["id"],
            )
            if gone is None:
                raise NotFound(
                    f"Policy {policy_arn} is not attached to {kind.label.lower()} {name}"
                )
            arn = policy_arn_of(policy)
            tx.record(entity_arn(kind, owner), account_id, _owner_key(kind, owner), f"policy:{arn}")
        return Written(None, tx.revision)

    async def _list_attached(
        self,
        kind: EntityKind,
        account_id: str,
        name: str,
        path_prefix: str,
        marker: str | None,
        max_items: int,
    ) -> Page[AttachedPolicy]:
        validation.account_id(account_id)
        validation.path_prefix(path_prefix)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            owner = await find_entity(conn, kind, account_id, name)
            rows = await conn.fetch(
                "SELECT p.* FROM iamd_policies p JOIN iamd_attachments a ON a.policy_id = p.id"
                " WHERE a.owner_id = $1 AND left(p.path, length($2)) = $2"
                " AND ($3::text IS NULL OR lower(p.name) > $3) ORDER BY lower(p.name) LIMIT $4",
                owner["id"],
                path_prefix,
                after,
                limit + 1,
            )
        return make_page(
            rows,
            limit,
            lambda r: AttachedPolicy(r["name"], policy_arn_of(r)),
            lambda r: str(r["name"]).lower(),
        )

    async def attach_user_policy(
        self, *, actor: str, account_id: str, user_name: str, policy_arn: str
    ) -> Written[None]:
        return await self._attach(USER, actor, account_id, user_name, policy_arn)

    async def detach_user_policy(
        self, *, actor: str, account_id: str, user_name: str, policy_arn: str
    ) -> Written[None]:
        return await self._detach(USER, actor, account_id, user_name, policy_arn)

    async def list_attached_user_policies(
        self,
        *,
        account_id: str,
        user_name: str,
        path_prefix: str = "/",
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[AttachedPolicy]:
        return await self._list_attached(
            USER, account_id, user_name, path_prefix, marker, max_items
        )

    async def attach_group_policy(
        self, *, actor: str, account_id: str, group_name: str, policy_arn: str
    ) -> Written[None]:
        return await self._attach(GROUP, actor, account_id, group_name, policy_arn)

    async def detach_group_policy(
        self, *, actor: str, account_id: str, group_name: str, policy_arn: str
    ) -> Written[None]:
        return await self._detach(GROUP, actor, account_id, group_name, policy_arn)

    async def list_attached_group_policies(
        self,
        *,
        account_id: str,
        group_name: str,
        path_prefix: str = "/",
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[AttachedPolicy]:
        return await self._list_attached(
            GROUP, account_id, group_name, path_prefix, marker, max_items
        )

    async def attach_role_policy(
        self, *, actor: str, account_id: str, role_name: str, policy_arn: str
    ) -> Written[None]:
        return await self._attach(ROLE, actor, account_id, role_name, policy_arn)

    async def detach_role_policy(
        self, *, actor: str, account_id: str, role_name: str, policy_arn: str
    ) -> Written[None]:
        return await self._detach(ROLE, actor, account_id, role_name, policy_arn)

    async def list_attached_role_policies(
        self,
        *,
        account_id: str,
        role_name: str,
        path_prefix: str = "/",
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[AttachedPolicy]:
        return await self._list_attached(
            ROLE, account_id, role_name, path_prefix, marker, max_items
        )

    # Inline policies -------------------------------------------------------------------

    def _inline_limit(self, kind: EntityKind) -> int:
        q = self._quotas
        return {
            "user": q.user_inline_policy_size,
            "group": q.group_inline_policy_size,
            "role": q.role_inline_policy_size,
        }[kind.kind]

    async def _put_inline(
        self,
        kind: EntityKind,
        actor: str,
        account_id: str,
        name: str,
        policy_name: str,
        document: str,
    ) -> Written[None]:
        validation.inline_policy_name(policy_name)
        limit = self._inline_limit(kind)
        size = check_document(
            document, PolicyKind.IDENTITY, limit=limit, what=f"PolicySize of a {kind.kind}"
        )
        async with self._write(actor, f"Put{kind.rpc_noun}Policy") as tx:
            conn = tx.conn
            owner = await find_entity(conn, kind, account_id, name, lock=True)
            others = await conn.fetchval(
                "SELECT coalesce(sum(size), 0) FROM iamd_inline_policies"
                " WHERE owner_id = $1 AND name <> $2",
                owner["id"],
                policy_name,
            )
            if others + size > limit:
                raise LimitExceeded(
                    f"Maximum policy size of {limit} bytes exceeded for {kind.kind}"
                    f" {owner['name']} (inline policies would total {others + size})"
                )
            await conn.execute(
                "INSERT INTO iamd_inline_policies (owner_kind, owner_id, name, document, size)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_id, name) DO UPDATE"
                " SET document = excluded.document, size = excluded.size, updated_at = now()",
                kind.kind,
                owner["id"],
                policy_name,
                document,
                size,
            )
            tx.record(entity_arn(kind, owner), account_id, _owner_key(kind, owner))
        return Written(None, tx.revision)

    async def _get_inline(
        self, kind: EntityKind, account_id: str, name: str, policy_name: str
    ) -> InlinePolicyRecord:
        validation.account_id(account_id)
        async with self._read() as conn:
            owner = await find_entity(conn, kind, account_id, name)
            document = await conn.fetchval(
                "SELECT document FROM iamd_inline_policies WHERE owner_id = $1 AND name = $2",
                owner["id"],
                policy_name,
            )
        if document is None:
            raise NotFound(f"Policy {policy_name} of {kind.label.lower()} {name} not found")
        return InlinePolicyRecord(owner["name"], policy_name, document)

    async def _delete_inline(
        self, kind: EntityKind, actor: str, account_id: str, name: str, policy_name: str
    ) -> Written[None]:
        async with self._write(actor, f"Delete{kind.rpc_noun}Policy") as tx:
            conn = tx.conn
            owner = await find_entity(conn, kind, account_id, name, lock=True)
            gone = await conn.fetchval(
                "DELETE FROM iamd_inline_policies WHERE owner_id = $1 AND name = $2 RETURNING 1",
                owner["id"],
                policy_name,
            )
            if gone is None:
                raise NotFound(f"Policy {policy_name} of {kind.label.lower()} {name} not found")
            tx.record(entity_arn(kind, owner), account_id, _owner_key(kind, owner))
        return Written(None, tx.revision)

    async def _list_inline(
        self, kind: EntityKind, account_id: str, name: str, marker: str | None, max_items: int
    ) -> Page[str]:
        validation.account_id(account_id)
        limit = check_max_items(max_items)
        after = decode_marker(marker)
        async with self._read() as conn:
            owner = await find_entity(conn, kind, account_id, name)
            rows = await conn.fetch(
                "SELECT name FROM iamd_inline_policies WHERE owner_id = $1"
                " AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3",
                owner["id"],
                after,
                limit + 1,
            )
        return make_page(rows, limit, lambda r: str(r["name"]), lambda r: str(r["name"]))

    async def put_user_policy(
        self, *, actor: str, account_id: str, user_name: str, policy_name: str, policy_document: str
    ) -> Written[None]:
        return await self._put_inline(
            USER, actor, account_id, user_name, policy_name, policy_document
        )

    async def get_user_policy(
        self, *, account_id: str, user_name: str, policy_name: str
    ) -> InlinePolicyRecord:
        return await self._get_inline(USER, account_id, user_name, policy_name)

    async def delete_user_policy(
        self, *, actor: str, account_id: str, user_name: str, policy_name: str
    ) -> Written[None]:
        return await self._delete_inline(USER, actor, account_id, user_name, policy_name)

    async def list_user_policies(
        self, *, account_id: str, user_name: str, marker: str | None = None, max_items: int = 100
    ) -> Page[str]:
        return await self._list_inline(USER, account_id, user_name, marker, max_items)

    async def put_group_policy(
        self,
        *,
        actor: str,
        account_id: str,
        group_name: str,
        policy_name: str,
        policy_document: str,
    ) -> Written[None]:
        return await self._put_inline(
            GROUP, actor, account_id, group_name, policy_name, policy_document
        )

    async def get_group_policy(
        self, *, account_id: str, group_name: str, policy_name: str
    ) -> InlinePolicyRecord:
        return await self._get_inline(GROUP, account_id, group_name, policy_name)

    async def delete_group_policy(
        self, *, actor: str, account_id: str, group_name: str, policy_name: str
    ) -> Written[None]:
        return await self._delete_inline(GROUP, actor, account_id, group_name, policy_name)

    async def list_group_policies(
        self, *, account_id: str, group_name: str, marker: str | None = None, max_items: int = 100
    ) -> Page[str]:
        return await self._list_inline(GROUP, account_id, group_name, marker, max_items)

    async def put_role_policy(
        self, *, actor: str, account_id: str, role_name: str, policy_name: str, policy_document: str
    ) -> Written[None]:
        return await self._put_inline(
            ROLE, actor, account_id, role_name, policy_name, policy_document
        )

    async def get_role_policy(
        self, *, account_id: str, role_name: str, policy_name: str
    ) -> InlinePolicyRecord:
        return await self._get_inline(ROLE, account_id, role_name, policy_name)

    async def delete_role_policy(
        self, *, actor: str, account_id: str, role_name: str, policy_name: str
    ) -> Written[None]:
        return await self._delete_inline(ROLE, actor, account_id, role_name, policy_name)

    async def list_role_policies(
        self, *, account_id: str, role_name: str, marker: str | None = None, max_items: int = 100
    ) -> Page[str]:
        return await self._list_inline(ROLE, account_id, role_name, marker, max_items)

    # Permissions boundaries ------------------------------------------------------------

    async def _set_boundary(
        self, kind: EntityKind, actor: str, account_id: str, name: str, policy_arn: str | None
    ) -> Written[None]:
        verb = "Put" if policy_arn else "Delete"
        async with self._write(actor, f"{verb}{kind.rpc_noun}PermissionsBoundary") as tx:
            conn = tx.conn
            owner = await find_entity(conn, kind, account_id, name, lock=True)
            policy_id = None
            keys = [_owner_key(kind, owner)]
            if policy_arn:
                policy = await find_policy(conn, policy_arn, field="permissions_boundary")
                if policy["account_id"] != account_id:
                    raise NotFound(f"Policy {policy_arn} does not exist or is not attachable")
                # The boundary is evaluated as its default version: validate it as one.
                document = await conn.fetchval(
                    "SELECT document FROM iamd_policy_versions WHERE policy_id = $1"
                    " AND version = $2",
                    policy["id"],
                    policy["default_version"],
                )
                self._check_managed(document, PolicyKind.PERMISSIONS_BOUNDARY)
                policy_id = policy["id"]
                keys.append(f"policy:{policy_arn_of(policy)}")
            elif owner["boundary_policy_id"] is None:
                raise NotFound(f"{kind.label} {name} has no permissions boundary")
            await conn.execute(
                f"UPDATE {kind.table} SET boundary_policy_id = $2 WHERE id = $1",
                owner["id"],
                policy_id,
            )
            tx.record(entity_arn(kind, owner), account_id, *keys)
        return Written(None, tx.revision)

    async def put_user_permissions_boundary(
        self, *, actor: str, account_id: str, user_name: str, permissions_boundary: str
    ) -> Written[None]:
        return await self._set_boundary(USER, actor, account_id, user_name, permissions_boundary)

    async def delete_user_permissions_boundary(
        self, *, actor: str, account_id: str, user_name: str
    ) -> Written[None]:
        return await self._set_boundary(USER, actor, account_id, user_name, None)

    async def put_role_permissions_boundary(
        self, *, actor: str, account_id: str, role_name: str, permissions_boundary: str
    ) -> Written[None]:
        return await self._set_boundary(ROLE, actor, account_id, role_name, permissions_boundary)

    async def delete_role_permissions_boundary(
        self, *, actor: str, account_id: str, role_name: str
    ) -> Written[None]:
        return await self._set_boundary(ROLE, actor, account_id, role_name, None)
