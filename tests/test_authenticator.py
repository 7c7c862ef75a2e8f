"""The authenticator's memory of unknown key ids is brief and bounded (real PostgreSQL)."""

from __future__ import annotations

import hashlib
import time

import asyncpg
import pytest
from iamd_server.authn.authenticator import Authenticator
from iamd_server.authn.crypto import MasterKey
from iamd_server.errors import Unauthenticated
from iamd_server.store import Store

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _key_id(n: int) -> str:
    digits = "".join(_BASE32[(n >> (5 * i)) & 31] for i in range(16))
    return "AKIA" + digits


async def test_unknown_key_ids_are_remembered_within_a_bound(db_pool: asyncpg.Pool) -> None:
    authenticator = Authenticator(Store(db_pool), MasterKey.generate(), max_unknown=50)
    digest = hashlib.sha256(b"").hexdigest()
    for n in range(120):
        with pytest.raises(Unauthenticated):
            await authenticator.verify("/m", str(int(time.time())), _key_id(n), digest, "0" * 64)
        assert authenticator.unknown_cached <= 50
    assert authenticator.unknown_cached == 50
    # A change notification about a key forgets it at once (a key created with that id).
    authenticator.invalidate(_key_id(119))
    assert authenticator.unknown_cached == 49
    authenticator.invalidate_all()
    assert authenticator.unknown_cached == 0
