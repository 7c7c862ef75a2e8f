"""Store fixtures: a Store over a fresh database with an organization and one member account."""

from __future__ import annotations

import asyncpg
import pytest
from iamd_server.store import Store

ADMIN = "arn:aws:iam::111111111111:root"
MGMT = "111111111111"
ACCT = "222222222222"


@pytest.fixture
async def store(db_pool: asyncpg.Pool) -> Store:
    s = Store(db_pool)
    await s.bootstrap(management_account_id=MGMT)
    await s.create_account(actor=ADMIN, name="dev", account_id=ACCT)
    return s
