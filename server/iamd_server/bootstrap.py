"""First start against an empty database: the organization, its management account, and a
root access key written to the operator's credentials file (never printed)."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
from iamd_client.credentials import write_profile
from iamd_client.signing import DEFAULT_AUDIENCE

from iamd_server.crypto import MasterKey, new_secret_access_key
from iamd_server.store import Store
from iamd_server.store.ids import new_access_key_id

log = logging.getLogger(__name__)

# Serializes bootstrap between replicas that start together against one database.
_BOOTSTRAP_LOCK = 0x1A3D_0003
BOOTSTRAP_ACTOR = "iamd:bootstrap"


async def bootstrap(
    pool: asyncpg.Pool,
    store: Store,
    master_key: MasterKey,
    *,
    credentials_file: Path,
    endpoint: str,
    tls: bool = False,
    profile: str = "default",
    audience: str = DEFAULT_AUDIENCE,
) -> bool:
    """Creates the management account and its root key once; True when it did so now."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _BOOTSTRAP_LOCK)
        try:
            if await store.get_organization() is not None:
                return False
            account = (await store.bootstrap(actor=BOOTSTRAP_ACTOR)).value
            key_id = new_access_key_id()
            secret = new_secret_access_key()
            await store.create_access_key(
                actor=BOOTSTRAP_ACTOR,
                account_id=account.account_id,
                user_name=None,
                access_key_id=key_id,
                encrypted_secret=master_key.encrypt(secret, bound_to=key_id),
            )
            write_profile(
                credentials_file,
                profile,
                endpoint=endpoint,
                access_key_id=key_id,
                secret_access_key=secret,
                settings=_profile_settings(tls, audience),
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _BOOTSTRAP_LOCK)
    log.info(
        "created management account %s; root credentials written to %s (profile %r)",
        account.account_id,
        credentials_file,
        profile,
    )
    print(f"iamd: root credentials of the management account written to {credentials_file}")
    return True


def _profile_settings(tls: bool, audience: str) -> dict[str, str]:
    """Profile keys besides the key: TLS, and the audience when it is not the default."""
    settings = {"tls": "true"} if tls else {}
    if audience != DEFAULT_AUDIENCE:
        settings["audience"] = audience
    return settings
