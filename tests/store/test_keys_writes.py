"""Access keys (quota under concurrency), revisions, audit rows and NOTIFY payloads."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from iamd_server.errors import AlreadyExists, InvalidArgument, LimitExceeded, NotFound
from iamd_server.store import Store
from iamd_server.store.ids import new_access_key_id
from iamd_server.store.writes import NOTIFY_CHANNEL, notify_payload

ADMIN = "arn:aws:iam::111111111111:root"
ACCT = "222222222222"


async def test_concurrent_create_access_key_leaves_two(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="k")

    async def one() -> str:
        try:
            await store.create_access_key(
                actor=ADMIN,
                account_id=ACCT,
                user_name="k",
                access_key_id=new_access_key_id(),
                encrypted_secret=b"cipher",
            )
            return "ok"
        except LimitExceeded:
            return "limit"

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert results.count("ok") == 2 and results.count("limit") == 18
    keys = await store.list_access_keys(account_id=ACCT, user_name="k")
    assert len(keys.items) == 2


async def test_access_key_lifecycle_and_root_keys(store: Store) -> None:
    await store.create_user(actor=ADMIN, account_id=ACCT, user_name="k")
    key_id = new_access_key_id()
    assert key_id.startswith("AKIA") and len(key_id) == 20
    w = await store.create_access_key(
        actor=ADMIN, account_id=ACCT, user_name="k", access_key_id=key_id, encrypted_secret=b"s"
    )
    assert w.value.status == "Active" and w.value.owner_arn == f"arn:aws:iam::{ACCT}:user/k"
    await store.update_access_key(
        actor=ADMIN, account_id=ACCT, access_key_id=key_id, status="Inactive", user_name="k"
    )
    with pytest.raises(InvalidArgument):
        await store.update_access_key(
            actor=ADMIN, account_id=ACCT, access_key_id=key_id, status="Gone"
        )
    loaded = await store.load_access_key(access_key_id=key_id)
    assert loaded is not None and loaded.status == "Inactive" and loaded.encrypted_secret == b"s"
    await store.record_access_key_use(access_key_id=key_id, rpc="GetUser")
    listed = (await store.list_access_keys(account_id=ACCT, user_name="k")).items[0]
    assert listed.last_used_rpc == "GetUser"
    await store.delete_access_key(actor=ADMIN, account_id=ACCT, access_key_id=key_id)
    with pytest.raises(NotFound):
        await store.delete_access_key(actor=ADMIN, account_id=ACCT, access_key_id=key_id)
    # Root keys: no user, same limit of two.
    for _ in range(2):
        await store.create_access_key(
            actor=ADMIN,
            account_id=ACCT,
            user_name=None,
            access_key_id=new_access_key_id(),
            encrypted_secret=b"r",
        )
    with pytest.raises(LimitExceeded):
        await store.create_access_key(
            actor=ADMIN,
            account_id=ACCT,
            user_name=None,
            access_key_id=new_access_key_id(),
            encrypted_secret=b"r",
        )
    roots = await store.list_access_keys(account_id=ACCT, user_name=None)
    assert {k.owner_arn for k in roots.items} == {f"arn:aws:iam::{ACCT}:root"}


async def test_audit_rows_and_revisions(db_pool: asyncpg.Pool, store: Store) -> None:
    before = await store.current_revision()
    w = await store.create_user(actor=ADMIN, account_id=ACCT, user_name="a")
    assert w.revision == before + 1 == await store.current_revision()
    with pytest.raises(AlreadyExists):
        await store.create_user(actor=ADMIN, account_id=ACCT, user_name="A")
    assert await store.current_revision() == w.revision  # failed writes leave nothing
    events = await store.list_audit_events(account_id=ACCT, since_revision=before)
    assert [(e.rpc, e.target_arn, e.principal_arn) for e in events.items] == [
        ("CreateUser", f"arn:aws:iam::{ACCT}:user/a", ADMIN)
    ]
    async with db_pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM iamd_audit WHERE revision = $1", w.revision
        )
    assert count == 1


async def test_notify_payload(database_url: str, store: Store) -> None:
    listener = await asyncpg.connect(database_url)
    received: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: received.put_nowait(args[3]))
        w = await store.create_group(actor=ADMIN, account_id=ACCT, group_name="g")
        payload = json.loads(await asyncio.wait_for(received.get(), 5))
        assert payload == {"revision": w.revision, "keys": [f"group:{w.value.arn}"]}
    finally:
        await listener.close()


def test_notify_payload_falls_back_to_everything() -> None:
    keys = [f"user:arn:aws:iam::{ACCT}:user/{'x' * 60}{i}" for i in range(200)]
    assert json.loads(notify_payload(7, keys)) == {"revision": 7, "keys": ["*"]}
    assert json.loads(notify_payload(7, keys[:2]))["keys"] == keys[:2]
