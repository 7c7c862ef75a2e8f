"""Credentials storage: login profiles and password history, account password policies,
sign-in failure counters, OpenID Connect providers and role session revocations.

Manage writes go through the write transaction (revision, audit, notify). Sign-in failure
counters and JWKS refreshes are bookkeeping: no revision, no audit row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from iamd_server import validation
from iamd_server.errors import AlreadyExists, InvalidArgument, LimitExceeded, NotFound
from iamd_server.store.base import ROLE, USER, StoreBase, find_entity, iam_arn, require_account
from iamd_server.store.records import Written

# Password hashes kept per user for reuse prevention (the policy allows at most 24).
PASSWORD_HISTORY = 24
OIDC_PROVIDERS_PER_ACCOUNT = 100


@dataclass(frozen=True, slots=True)
class LoginProfileRecord:
    user_id: str
    account_id: str
    user_name: str
    user_arn: str
    create_date: datetime
    password_reset_required: bool
    password_changed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicyRecord:
    """An account password policy; None = the field is absent (iam-semantics 1.7)."""

    minimum_password_length: int = 6
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase_characters: bool = False
    require_lowercase_characters: bool = False
    allow_users_to_change_password: bool = False
    max_password_age: int | None = None
    password_reuse_prevention: int | None = None
    hard_expiry: bool = False


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """What Login needs about a user, read in one query."""

    user_id: str
    account_id: str
    user_name: str
    user_arn: str
    password_hash: str | None
    password_reset_required: bool
    password_changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OidcProviderRecord:
    arn: str
    account_id: str
    url: str
    host_path: str
    client_ids: tuple[str, ...]
    jwks: Mapping[str, Any]
    jwks_url: str | None
    create_date: datetime
    jwks_update_date: datetime


@dataclass(frozen=True, slots=True)
class RevokedSessions:
    principal_arn: str  # the role or user
    principal_id: str  # its unique id
    revoked_before: datetime


def oidc_provider_arn(account_id: str, host_path: str) -> str:
    return f"arn:aws:iam::{account_id}:oidc-provider/{host_path}"


def parse_oidc_provider_arn(
    arn: str, field: str = "open_id_connect_provider_arn"
) -> tuple[str, str]:
    """(account id, host/path) of arn:aws:iam::ACCT:oidc-provider/HOST/PATH."""
    parsed = validation.arn(arn, field)
    head, _, host_path = parsed.resource.partition("/")
    if parsed.service != "iam" or parsed.region or head != "oidc-provider" or not host_path:
        raise InvalidArgument(field, f"{arn[:256]!r} is not an OIDC provider ARN")
    validation.account_id(parsed.account, field)
    return parsed.account, host_path


def login_name_key(account: str, user_name: str) -> bytes:
    """What sign-in attempts are counted under: the account (id, or the text given when it
    names no account) and the user name, case-folded as IAM compares names."""
    return hashlib.sha256(f"{account.lower()}:{user_name.lower()}".encode()).digest()


def _profile(row: asyncpg.Record) -> LoginProfileRecord:
    return LoginProfileRecord(
        user_id=row["user_id"],
        account_id=row["account_id"],
        user_name=row["name"],
        user_arn=iam_arn(row["account_id"], "user", row["path"], row["name"]),
        create_date=row["created_at"],
        password_reset_required=row["password_reset_required"],
        password_changed_at=row["password_changed_at"],
    )


def _provider(row: asyncpg.Record) -> OidcProviderRecord:
    jwks = row["jwks"]
    if isinstance(jwks, str):
        jwks = json.loads(jwks)
    client_ids = row["client_ids"]
    if isinstance(client_ids, str):
        client_ids = json.loads(client_ids)
    return OidcProviderRecord(
        arn=oidc_provider_arn(row["account_id"], row["host_path"]),
        account_id=row["account_id"],
        url=row["url"],
        host_path=row["host_path"],
        client_ids=tuple(str(c) for c in client_ids),
        jwks=jwks,
        jwks_url=row["jwks_url"],
        create_date=row["created_at"],
        jwks_update_date=row["jwks_updated_at"],
    )


_PROFILE_SELECT = (
    "SELECT p.*, u.account_id, u.name, u.path FROM iamd_login_profiles p"
    " JOIN iamd_users u ON u.id = p.user_id WHERE p.user_id = $1"
)


class CredentialStore(StoreBase):
    """Mixed into the `Store` facade."""

    # ---- login profiles ----

    async def _user_row(
        self, conn: asyncpg.Connection, account_id: str, user_name: str, *, lock: bool
    ) -> asyncpg.Record:
        validation.account_id(account_id)
        return await find_entity(conn, USER, account_id, user_name, lock=lock)

    async def create_login_profile(
        self,
        *,
        actor: str,
        account_id: str,
        user_name: str,
        password_hash: str,
        password_reset_required: bool = False,
    ) -> Written[LoginProfileRecord]:
        async with self._write(actor, "CreateLoginProfile") as tx:
            conn = tx.conn
            user = await self._user_row(conn, account_id, user_name, lock=True)
            try:
                await conn.execute(
                    "INSERT INTO iamd_login_profiles (user_id, password_hash,"
                    " password_reset_required) VALUES ($1, $2, $3)",
                    user["id"],
                    password_hash,
                    password_reset_required,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(
                    f"Login Profile for User {user['name']} already exists"
                ) from exc
            await self._remember_password(conn, user["id"], password_hash)
            row = await conn.fetchrow(_PROFILE_SELECT, user["id"])
            record = _profile(row)
            tx.record(record.user_arn, account_id, f"login:{record.user_arn}")
        return Written(record, tx.revision)

    async def _remember_password(
        self, conn: asyncpg.Connection, user_id: str, password_hash: str
    ) -> None:
        await conn.execute(
            "INSERT INTO iamd_password_history (user_id, password_hash) VALUES ($1, $2)",
            user_id,
            password_hash,
        )
        await conn.execute(
            "DELETE FROM iamd_password_history WHERE user_id = $1 AND set_at < ("
            " SELECT min(set_at) FROM (SELECT set_at FROM iamd_password_history"
            " WHERE user_id = $1 ORDER BY set_at DESC LIMIT $2) newest)",
            user_id,
            PASSWORD_HISTORY,
        )

    async def update_login_profile(
        self,
        *,
        actor: str,
        account_id: str,
        user_name: str,
        password_hash: str | None = None,
        password_reset_required: bool | None = None,
    ) -> Written[None]:
        async with self._write(actor, "UpdateLoginProfile") as tx:
            conn = tx.conn
            user = await self._user_row(conn, account_id, user_name, lock=True)
            exists = await conn.fetchval(
                "SELECT 1 FROM iamd_login_profiles WHERE user_id = $1 FOR UPDATE", user["id"]
            )
            if exists is None:
                raise NotFound(f"Login Profile for User {user['name']} cannot be found")
            if password_hash is not None:
                await conn.execute(
                    "UPDATE iamd_login_profiles SET password_hash = $2,"
                    " password_changed_at = now() WHERE user_id = $1",
                    user["id"],
                    password_hash,
                )
                await self._remember_password(conn, user["id"], password_hash)
                await self._forget_attempts(conn, account_id, user["name"])
            if password_reset_required is not None:
                await conn.execute(
                    "UPDATE iamd_login_profiles SET password_reset_required = $2"
                    " WHERE user_id = $1",
                    user["id"],
                    password_reset_required,
                )
            arn = iam_arn(account_id, "user", user["path"], user["name"])
            tx.record(arn, account_id, f"login:{arn}")
        return Written(None, tx.revision)

    async def delete_login_profile(
        self, *, actor: str, account_id: str, user_name: str
    ) -> Written[None]:
        async with self._write(actor, "DeleteLoginProfile") as tx:
            conn = tx.conn
            user = await self._user_row(conn, account_id, user_name, lock=True)
            deleted = await conn.fetchval(
                "DELETE FROM iamd_login_profiles WHERE user_id = $1 RETURNING 1", user["id"]
            )
            if deleted is None:
                raise NotFound(f"Login Profile for User {user['name']} cannot be found")
            await conn.execute("DELETE FROM iamd_password_history WHERE user_id = $1", user["id"])
            await self._forget_attempts(conn, account_id, user["name"])
            arn = iam_arn(account_id, "user", user["path"], user["name"])
            tx.record(arn, account_id, f"login:{arn}")
        return Written(None, tx.revision)

    async def get_login_profile(self, *, account_id: str, user_name: str) -> LoginProfileRecord:
        async with self._read() as conn:
            user = await self._user_row(conn, account_id, user_name, lock=False)
            row = await conn.fetchrow(_PROFILE_SELECT, user["id"])
        if row is None:
            raise NotFound(f"Login Profile for User {user['name']} cannot be found")
        return _profile(row)

    async def password_history(self, *, account_id: str, user_name: str, limit: int) -> list[str]:
        """The user's newest ``limit`` password hashes (the current one first)."""
        if limit <= 0:
            return []
        async with self._read() as conn:
            user = await self._user_row(conn, account_id, user_name, lock=False)
            rows = await conn.fetch(
                "SELECT password_hash FROM iamd_password_history WHERE user_id = $1"
                " ORDER BY set_at DESC LIMIT $2",
                user["id"],
                limit,
            )
        return [str(r["password_hash"]) for r in rows]

    # ---- password policy ----

    async def update_account_password_policy(
        self, *, actor: str, account_id: str, policy: PasswordPolicyRecord
    ) -> Written[None]:
        async with self._write(actor, "UpdateAccountPasswordPolicy") as tx:
            conn = tx.conn
            await require_account(conn, account_id, lock=True)
            await conn.execute(
                "INSERT INTO iamd_password_policies (account_id, minimum_password_length,"
                " require_symbols, require_numbers, require_uppercase_characters,"
                " require_lowercase_characters, allow_users_to_change_password,"
                " max_password_age, password_reuse_prevention, hard_expiry)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (account_id) DO UPDATE SET"
                " minimum_password_length = EXCLUDED.minimum_password_length,"
                " require_symbols = EXCLUDED.require_symbols,"
                " require_numbers = EXCLUDED.require_numbers,"
                " require_uppercase_characters = EXCLUDED.require_uppercase_characters,"
                " require_lowercase_characters = EXCLUDED.require_lowercase_characters,"
                " allow_users_to_change_password = EXCLUDED.allow_users_to_change_password,"
                " max_password_age = EXCLUDED.max_password_age,"
                " password_reuse_prevention = EXCLUDED.password_reuse_prevention,"
                " hard_expiry = EXCLUDED.hard_expiry, updated_at = now()",
                account_id,
                policy.minimum_password_length,
                policy.require_symbols,
                policy.require_numbers,
                policy.require_uppercase_characters,
                policy.require_lowercase_characters,
                policy.allow_users_to_change_password,
                policy.max_password_age,
                policy.password_reuse_prevention,
                policy.hard_expiry,
            )
            tx.record(
                f"arn:aws:iam::{account_id}:root", account_id, f"password-policy:{account_id}"
            )
        return Written(None, tx.revision)

    async def get_account_password_policy(self, *, account_id: str) -> PasswordPolicyRecord | None:
        validation.account_id(account_id)
        async with self._read() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM iamd_password_policies WHERE account_id = $1", account_id
            )
        if row is None:
            return None
        return PasswordPolicyRecord(
            minimum_password_length=row["minimum_password_length"],
            require_symbols=row["require_symbols"],
            require_numbers=row["require_numbers"],
            require_uppercase_characters=row["require_uppercase_characters"],
            require_lowercase_characters=row["require_lowercase_characters"],
            allow_users_to_change_password=row["allow_users_to_change_password"],
            max_password_age=row["max_password_age"],
            password_reuse_prevention=row["password_reuse_prevention"],
            hard_expiry=row["hard_expiry"],
        )

    async def delete_account_password_policy(self, *, actor: str, account_id: str) -> Written[None]:
        async with self._write(actor, "DeleteAccountPasswordPolicy") as tx:
            conn = tx.conn
            await require_account(conn, account_id, lock=True)
            deleted = await conn.fetchval(
                "DELETE FROM iamd_password_policies WHERE account_id = $1 RETURNING 1", account_id
            )
            if deleted is None:
                raise NotFound(f"The Password Policy with domain name {account_id} cannot be found")
            tx.record(
                f"arn:aws:iam::{account_id}:root", account_id, f"password-policy:{account_id}"
            )
        return Written(None, tx.revision)

    # ---- sign-in ----

    async def login_candidate(self, *, account_id: str, user_name: str) -> LoginCandidate | None:
        """The user with its password hash; None when there is no user."""
        async with self._read() as conn:
            row = await conn.fetchrow(
                "SELECT u.id, u.account_id, u.name, u.path, p.password_hash,"
                " p.password_reset_required, p.password_changed_at"
                " FROM iamd_users u"
                " LEFT JOIN iamd_login_profiles p ON p.user_id = u.id"
                " WHERE u.account_id = $1 AND lower(u.name) = lower($2)",
                account_id,
                user_name,
            )
        if row is None:
            return None
        return LoginCandidate(
            user_id=row["id"],
            account_id=row["account_id"],
            user_name=row["name"],
            user_arn=iam_arn(row["account_id"], "user", row["path"], row["name"]),
            password_hash=row["password_hash"],
            password_reset_required=bool(row["password_reset_required"]),
            password_changed_at=row["password_changed_at"],
        )

    async def claim_login_attempt(
        self, *, name_key: bytes, forget_after_seconds: float, delays: Sequence[float]
    ) -> float:
        """Counts a sign-in attempt before its password is checked; returns 0 when it may go
        ahead, else the seconds left to wait (the attempt is then not counted).

        The name's row is locked while counting, so attempts sent together, to any replica,
        are counted one after the other and each sees the waits the others set. ``delays[n]``
        is the wait after the (n+1)-th attempt in a row (the last one repeats); an attempt
        more than ``forget_after_seconds`` after the previous one starts over. A successful
        sign-in forgets the name's attempts (`forget_login_attempts`).
        """
        forget = float(forget_after_seconds)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO iamd_login_attempts (name_key, attempts, last_attempt_at,"
                " blocked_until) VALUES ($1, 0, clock_timestamp(), clock_timestamp())"
                " ON CONFLICT (name_key) DO NOTHING",
                name_key,
            )
            row = await conn.fetchrow(
                "SELECT attempts, last_attempt_at < clock_timestamp()"
                " - make_interval(secs => $2) AS stale,"
                " extract(epoch FROM blocked_until - clock_timestamp())::float8 AS wait"
                " FROM iamd_login_attempts WHERE name_key = $1 FOR UPDATE",
                name_key,
                forget,
            )
            wait = float(row["wait"])
            if wait > 0:
                return wait
            attempts = 1 if row["stale"] else int(row["attempts"]) + 1
            delay = delays[min(attempts, len(delays)) - 1] if delays else 0.0
            await conn.execute(
                "UPDATE iamd_login_attempts SET attempts = $2, last_attempt_at = clock_timestamp(),"
                " blocked_until = clock_timestamp() + make_interval(secs => $3)"
                " WHERE name_key = $1",
                name_key,
                attempts,
                float(delay),
            )
            # Each attempt removes up to two expired rows: the table cannot outgrow the
            # names tried within the forget window.
            await conn.execute(
                "DELETE FROM iamd_login_attempts WHERE name_key IN (SELECT name_key"
                " FROM iamd_login_attempts WHERE last_attempt_at < clock_timestamp()"
                " - make_interval(secs => $1) LIMIT 2 FOR UPDATE SKIP LOCKED)",
                forget,
            )
        return 0.0

    async def forget_login_attempts(self, *, name_key: bytes) -> None:
        async with self._read() as conn:
            await conn.execute("DELETE FROM iamd_login_attempts WHERE name_key = $1", name_key)

    @staticmethod
    async def _forget_attempts(conn: asyncpg.Connection, account_id: str, user_name: str) -> None:
        """A new or removed password starts the user's count over."""
        await conn.execute(
            "DELETE FROM iamd_login_attempts WHERE name_key = $1",
            login_name_key(account_id, user_name),
        )

    async def find_account_by_name(self, *, name: str) -> str | None:
        """The id of the only account with this name (None when none or several)."""
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT account_id FROM iamd_accounts WHERE lower(name) = lower($1) LIMIT 2", name
            )
        return str(rows[0]["account_id"]) if len(rows) == 1 else None

    # ---- OpenID Connect providers ----

    async def create_oidc_provider(
        self,
        *,
        actor: str,
        account_id: str,
        url: str,
        host_path: str,
        client_ids: Sequence[str],
        jwks: Mapping[str, Any],
        jwks_url: str | None = None,
    ) -> Written[OidcProviderRecord]:
        async with self._write(actor, "CreateOpenIDConnectProvider") as tx:
            conn = tx.conn
            await require_account(conn, account_id, lock=True)
            count = await conn.fetchval(
                "SELECT count(*) FROM iamd_oidc_providers WHERE account_id = $1", account_id
            )
            if count >= OIDC_PROVIDERS_PER_ACCOUNT:
                raise LimitExceeded(
                    f"Cannot exceed quota for OpenIdConnectProvidersPerAccount:"
                    f" {OIDC_PROVIDERS_PER_ACCOUNT}"
                )
            arn = oidc_provider_arn(account_id, host_path)
            try:
                row = await conn.fetchrow(
                    "INSERT INTO iamd_oidc_providers (account_id, host_path, url, client_ids,"
                    " jwks, jwks_url) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                    account_id,
                    host_path,
                    url,
                    list(client_ids),
                    dict(jwks),
                    jwks_url,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"Provider with url {url} already exists") from exc
            tx.record(arn, account_id, f"oidc:{arn}")
        return Written(_provider(row), tx.revision)

    async def get_oidc_provider(self, *, arn: str) -> OidcProviderRecord:
        account_id, host_path = parse_oidc_provider_arn(arn)
        found = await self.find_oidc_provider(account_id=account_id, host_path=host_path)
        if found is None:
            raise NotFound(f"OpenIDConnect Provider not found for arn {arn}")
        return found

    async def find_oidc_provider(
        self, *, account_id: str, host_path: str
    ) -> OidcProviderRecord | None:
        async with self._read() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM iamd_oidc_providers WHERE account_id = $1 AND host_path = $2",
                account_id,
                host_path,
            )
        return None if row is None else _provider(row)

    async def list_oidc_providers(self, *, account_id: str) -> list[OidcProviderRecord]:
        validation.account_id(account_id)
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT * FROM iamd_oidc_providers WHERE account_id = $1 ORDER BY host_path",
                account_id,
            )
        return [_provider(r) for r in rows]

    async def update_oidc_provider_jwks(
        self,
        *,
        actor: str,
        arn: str,
        jwks: Mapping[str, Any] | None = None,
        jwks_url: str | None = None,
        set_jwks_url: bool = False,
    ) -> Written[None]:
        account_id, host_path = parse_oidc_provider_arn(arn)
        async with self._write(actor, "UpdateOpenIDConnectProviderJwks") as tx:
            conn = tx.conn
            found = await conn.fetchval(
                "SELECT 1 FROM iamd_oidc_providers WHERE account_id = $1 AND host_path = $2"
                " FOR UPDATE",
                account_id,
                host_path,
            )
            if found is None:
                raise NotFound(f"OpenIDConnect Provider not found for arn {arn}")
            if jwks is not None:
                await conn.execute(
                    "UPDATE iamd_oidc_providers SET jwks = $3, jwks_updated_at = now()"
                    " WHERE account_id = $1 AND host_path = $2",
                    account_id,
                    host_path,
                    dict(jwks),
                )
            if set_jwks_url:
                await conn.execute(
                    "UPDATE iamd_oidc_providers SET jwks_url = $3"
                    " WHERE account_id = $1 AND host_path = $2",
                    account_id,
                    host_path,
                    jwks_url,
                )
            tx.record(arn, account_id, f"oidc:{arn}")
        return Written(None, tx.revision)

    async def refresh_oidc_provider_jwks(
        self, *, account_id: str, host_path: str, jwks: Mapping[str, Any]
    ) -> None:
        """Keys fetched from the provider's JWKS URL (background refresh; not audited)."""
        async with self._read() as conn:
            await conn.execute(
                "UPDATE iamd_oidc_providers SET jwks = $3, jwks_updated_at = now()"
                " WHERE account_id = $1 AND host_path = $2",
                account_id,
                host_path,
                dict(jwks),
            )

    async def providers_with_jwks_url(self) -> list[OidcProviderRecord]:
        async with self._read() as conn:
            rows = await conn.fetch("SELECT * FROM iamd_oidc_providers WHERE jwks_url IS NOT NULL")
        return [_provider(r) for r in rows]

    async def delete_oidc_provider(self, *, actor: str, arn: str) -> Written[None]:
        account_id, host_path = parse_oidc_provider_arn(arn)
        async with self._write(actor, "DeleteOpenIDConnectProvider") as tx:
            deleted = await tx.conn.fetchval(
                "DELETE FROM iamd_oidc_providers WHERE account_id = $1 AND host_path = $2"
                " RETURNING 1",
                account_id,
                host_path,
            )
            if deleted is None:
                raise NotFound(f"OpenIDConnect Provider not found for arn {arn}")
            tx.record(arn, account_id, f"oidc:{arn}")
        return Written(None, tx.revision)

    # ---- role sessions ----

    async def revoke_role_sessions(
        self, *, actor: str, account_id: str, role_name: str
    ) -> Written[RevokedSessions]:
        """Sessions of the role issued before now stop working. The notification carries
        "sessions:<role id>:<epoch ms>" so replicas apply it without reading the database."""
        validation.account_id(account_id)
        async with self._write(actor, "RevokeRoleSessions") as tx:
            conn = tx.conn
            role = await find_entity(conn, ROLE, account_id, role_name, lock=True)
            revoked: datetime = await conn.fetchval(
                "INSERT INTO iamd_role_session_revocations (role_id, revoked_before)"
                " VALUES ($1, clock_timestamp()) ON CONFLICT (role_id) DO UPDATE"
                " SET revoked_before = greatest(iamd_role_session_revocations.revoked_before,"
                " EXCLUDED.revoked_before) RETURNING revoked_before",
                role["id"],
            )
            arn = iam_arn(account_id, "role", role["path"], role["name"])
            millis = int(revoked.timestamp() * 1000)
            tx.record(arn, account_id, f"role:{arn}", f"sessions:{role['id']}:{millis}")
        return Written(RevokedSessions(arn, role["id"], revoked), tx.revision)

    async def revoke_user_sessions(
        self, *, actor: str, account_id: str, user_name: str
    ) -> Written[RevokedSessions]:
        """The user's sessions (GetSessionToken, Login) issued before now stop working; its
        access keys keep working. Notified like role revocations: "sessions:<user id>:<ms>"."""
        validation.account_id(account_id)
        async with self._write(actor, "RevokeUserSessions") as tx:
            conn = tx.conn
            user = await find_entity(conn, USER, account_id, user_name, lock=True)
            revoked: datetime = await conn.fetchval(
                "INSERT INTO iamd_user_session_revocations (user_id, revoked_before)"
                " VALUES ($1, clock_timestamp()) ON CONFLICT (user_id) DO UPDATE"
                " SET revoked_before = greatest(iamd_user_session_revocations.revoked_before,"
                " EXCLUDED.revoked_before) RETURNING revoked_before",
                user["id"],
            )
            arn = iam_arn(account_id, "user", user["path"], user["name"])
            millis = int(revoked.timestamp() * 1000)
            tx.record(arn, account_id, f"sessions:{user['id']}:{millis}")
        return Written(RevokedSessions(arn, user["id"], revoked), tx.revision)

    async def load_session_revocations(self) -> dict[str, float]:
        """role or user id -> epoch seconds before which its sessions are refused."""
        async with self._read() as conn:
            rows = await conn.fetch(
                "SELECT role_id AS id, revoked_before FROM iamd_role_session_revocations"
                " UNION ALL SELECT user_id, revoked_before FROM iamd_user_session_revocations"
            )
        return {str(r["id"]): r["revoked_before"].timestamp() for r in rows}

    async def current_unique_id(self, *, arn: str) -> str | None:
        """The unique id of the user or role with exactly this ARN now, or None."""
        kind = "role" if ":role/" in arn else "user"
        try:
            parsed = validation.iam_arn(arn, kind)
        except InvalidArgument:
            return None
        table = "iamd_roles" if kind == "role" else "iamd_users"
        async with self._read() as conn:
            value = await conn.fetchval(
                f"SELECT id FROM {table} WHERE account_id = $1 AND lower(name) = lower($2)"
                " AND name = $2 AND path = $3",
                parsed.account_id,
                parsed.name,
                parsed.path,
            )
        return None if value is None else str(value)
