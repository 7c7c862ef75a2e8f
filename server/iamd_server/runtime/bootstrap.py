"""First start against an empty database: the organization, its management account, and a
root access key handed to the operator once (written to a credentials file, never logged).

`serve` does this at start unless told not to (`--no-bootstrap`); `iamd bootstrap` does it
as a step of its own, for deployments whose replicas must not write secrets to their disks.
"""

from __future__ import annotations

import configparser
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from iamd_client.credentials import write_profile
from iamd_client.signing import DEFAULT_AUDIENCE

from iamd_server.authn.crypto import MasterKey, new_secret_access_key
from iamd_server.store import Store
from iamd_server.store.ids import new_access_key_id

log = logging.getLogger(__name__)

# Serializes bootstrap between replicas (and `iamd bootstrap` runs) against one database.
_BOOTSTRAP_LOCK = 0x1A3D_0003
BOOTSTRAP_ACTOR = "iamd:bootstrap"


@dataclass(frozen=True, slots=True)
class RootKey:
    """The management account's first root access key, as created."""

    account_id: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Profile:
    """Where and how a client reaches iamd, written beside the key."""

    endpoint: str
    tls: bool = False
    audience: str = DEFAULT_AUDIENCE
    name: str = "default"

    def settings(self) -> dict[str, str]:
        """Profile keys besides the key: TLS, and the audience when it is not the default."""
        settings = {"tls": "true"} if self.tls else {}
        if self.audience != DEFAULT_AUDIENCE:
            settings["audience"] = self.audience
        return settings

    def text(self, key: RootKey) -> str:
        """The credentials file holding only this profile (the format `write_profile` uses)."""
        parser = configparser.ConfigParser(interpolation=None)
        parser[self.name] = {
            "endpoint": self.endpoint,
            "access_key_id": key.access_key_id,
            "secret_access_key": key.secret_access_key,
            **self.settings(),
        }
        out = io.StringIO()
        parser.write(out)
        return out.getvalue()


async def create_root_key_once(
    pool: asyncpg.Pool,
    store: Store,
    master_key: MasterKey,
    deliver: Callable[[RootKey], None],
) -> RootKey | None:
    """Creates the organization, its management account and a root key, unless the
    organization exists; then None. ``deliver`` hands the key over while the lock is held, so
    a replica starting meanwhile never sees an organization whose key is not delivered yet."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _BOOTSTRAP_LOCK)
        try:
            if await store.get_organization() is not None:
                return None
            account = (await store.bootstrap(actor=BOOTSTRAP_ACTOR)).value
            key = RootKey(account.account_id, new_access_key_id(), new_secret_access_key())
            await store.create_access_key(
                actor=BOOTSTRAP_ACTOR,
                account_id=account.account_id,
                user_name=None,
                access_key_id=key.access_key_id,
                encrypted_secret=master_key.encrypt(
                    key.secret_access_key, bound_to=key.access_key_id
                ),
            )
            deliver(key)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _BOOTSTRAP_LOCK)
    return key


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
    """`serve`'s first start: the root key goes into a profile of ``credentials_file``, which
    keeps its other profiles. True when the organization was created now."""
    settings = Profile(endpoint, tls, audience, profile)

    def write(key: RootKey) -> None:
        write_profile(
            credentials_file,
            profile,
            endpoint=endpoint,
            access_key_id=key.access_key_id,
            secret_access_key=key.secret_access_key,
            settings=settings.settings(),
        )

    key = await create_root_key_once(pool, store, master_key, write)
    if key is None:
        return False
    log.info(
        "created management account %s; root credentials written to %s (profile %r)",
        key.account_id,
        credentials_file,
        profile,
    )
    print(f"iamd: root credentials of the management account written to {credentials_file}")
    return True
