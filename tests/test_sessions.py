"""Session tokens without a server: sealing, verification, expiry, revocation, oidc helpers
and password policy checks."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from iamd_client import signing
from iamd_server.authn import oidc, passwords
from iamd_server.authn.sessions import MAX_TOKEN_BYTES, SessionAuthority, SessionClaims, SessionKeys
from iamd_server.errors import InvalidArgument, Unauthenticated
from iamd_server.store.credentials import PasswordPolicyRecord

ROLE_ARN = "arn:aws:iam::111122223333:role/app/deployer"


class FakeIds:
    """The two lookups the authority makes, answered from memory."""

    def __init__(self) -> None:
        self.ids: dict[str, str | None] = {ROLE_ARN: "AROAEXAMPLE"}
        self.revocations: dict[str, float] = {}
        self.lookups = 0

    async def current_unique_id(self, *, arn: str) -> str | None:
        self.lookups += 1
        return self.ids.get(arn)

    async def load_session_revocations(self) -> dict[str, float]:
        return dict(self.revocations)


def claims(**changes: object) -> SessionClaims:
    now = round(time.time(), 3)  # tokens carry milliseconds
    values: dict[str, object] = {
        "session_id": "ABCDEFGHIJKLMNOP",
        "kind": "role",
        "arn": "arn:aws:sts::111122223333:assumed-role/deployer/s1",
        "base_arn": ROLE_ARN,
        "principal_id": "AROAEXAMPLE",
        "account_id": "111122223333",
        "issued_at": now,
        "expires_at": now + 900,
        "session_name": "s1",
        "tags": (("team", "blue"),),
        "policy": '{"Version":"2012-10-17","Statement":[]}',
    }
    values.update(changes)
    return SessionClaims(**values)  # type: ignore[arg-type]


def signed(authority: SessionAuthority, minted_claims: SessionClaims, *, secret: str | None = None):  # type: ignore[no-untyped-def]
    minted = authority.mint(minted_claims)
    date = str(int(time.time()))
    digest = hashlib.sha256(b"body").hexdigest()
    key = signing.derive_signing_key(
        secret or minted.secret_access_key, signing.signing_day(date), "iamd", "/m"
    )
    signature = signing.compute_signature(key, "/m", date, minted.access_key_id, digest)
    return {
        "key_id": minted.access_key_id,
        "token": minted.session_token,
        "method": "/m",
        "date": date,
        "body_sha256_hex": digest,
        "signature": signature,
    }


@pytest.fixture
def keys() -> SessionKeys:
    return SessionKeys(os.urandom(32))


async def test_round_trip(keys: SessionKeys) -> None:
    original = claims()
    opened = keys.open(keys.seal(original))
    assert opened == original and opened.key_id == "ASIAABCDEFGHIJKLMNOP"
    authority = SessionAuthority(keys, FakeIds())
    verified = await authority.verify(**signed(authority, original))
    assert verified.tags == (("team", "blue"),)


async def test_other_deployment_and_tampering_are_refused(keys: SessionKeys) -> None:
    token = keys.seal(claims())
    with pytest.raises(Unauthenticated):
        SessionKeys(os.urandom(32)).open(token)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(Unauthenticated):
        keys.open(flipped)
    authority = SessionAuthority(keys, FakeIds())
    call = signed(authority, claims(), secret="x" * 40)
    with pytest.raises(Unauthenticated, match="signature"):
        await authority.verify(**call)
    call = signed(authority, claims())
    call["key_id"] = "ASIAZZZZZZZZZZZZZZZZ"
    with pytest.raises(Unauthenticated, match="does not belong"):
        await authority.verify(**call)


async def test_expiry(keys: SessionKeys) -> None:
    authority = SessionAuthority(keys, FakeIds())
    call = signed(authority, claims())
    assert await authority.verify(**call, now=time.time() + 899)
    with pytest.raises(Unauthenticated, match="expired"):
        await authority.verify(**call, now=time.time() + 901)


async def test_revocation_from_notifications_and_start(keys: SessionKeys) -> None:
    ids = FakeIds()
    authority = SessionAuthority(keys, ids)
    await authority.start()
    issued = time.time() - 10
    call = signed(authority, claims(issued_at=issued))
    assert await authority.verify(**call)
    authority.on_change(5, [f"sessions:AROAEXAMPLE:{int((issued + 1) * 1000)}"])
    with pytest.raises(Unauthenticated, match="revoked"):
        await authority.verify(**call)
    # A later session of the role is fine; an earlier revocation instant never wins.
    authority.on_change(6, [f"sessions:AROAEXAMPLE:{int((issued - 100) * 1000)}"])
    assert await authority.verify(**signed(authority, claims(session_id="QQQQQQQQQQQQQQQQ")))
    # A fresh replica learns revocations when it starts.
    ids.revocations["AROAEXAMPLE"] = issued + 1
    other = SessionAuthority(keys, ids)
    await other.start()
    with pytest.raises(Unauthenticated, match="revoked"):
        await other.verify(**call)


async def test_deleted_role(keys: SessionKeys) -> None:
    ids = FakeIds()
    authority = SessionAuthority(keys, ids)
    call = signed(authority, claims())
    assert await authority.verify(**call)
    assert await authority.verify(**call)
    assert ids.lookups == 1  # cached until a notification about the role
    ids.ids[ROLE_ARN] = "AROARECREATED"
    authority.on_change(7, [f"role:{ROLE_ARN}"])
    with pytest.raises(Unauthenticated, match="no longer exists"):
        await authority.verify(**call)


def test_token_size_limit(keys: SessionKeys) -> None:
    authority = SessionAuthority(keys, FakeIds())
    small = authority.mint(claims())
    assert small.packed_percent < 20
    noise = os.urandom(4000).hex()  # incompressible
    with pytest.raises(InvalidArgument, match="PackedPolicyTooLarge"):
        authority.mint(claims(tags=(("big", noise),)))
    assert MAX_TOKEN_BYTES == 6144


def test_oidc_url_and_condition_keys() -> None:
    assert oidc.normalize_url("https://Token.Example.com/a/B/") == (
        "https://Token.Example.com/a/B",
        "token.example.com/a/B",
    )
    with pytest.raises(InvalidArgument):
        oidc.normalize_url("https://x.example.com#frag")
    token = oidc.VerifiedToken({"amr": ["pwd"], "azp": "c"}, "sub-1", "c")
    keys = oidc.condition_keys("x.example.com", token)
    assert keys["x.example.com:sub"] == "sub-1" and keys["x.example.com:amr"] == ["pwd"]


def test_password_policy_checks() -> None:
    policy = PasswordPolicyRecord(minimum_password_length=10, require_symbols=True)
    assert passwords.policy_violations("short!", policy) == ["at least 10 characters"]
    assert passwords.policy_violations("longenough", policy) == ["at least one symbol"]
    assert passwords.policy_violations("longenough!", policy) == []
    with pytest.raises(InvalidArgument):
        passwords.check_password_text("tab\there")
    hashed = passwords.hash_password("Secret-123")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "Secret-123")
    assert not passwords.verify_password(hashed, "Secret-124")
    assert not passwords.verify_password(None, "iamd-no-such-password")
