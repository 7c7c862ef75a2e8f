"""The scoped signing-key derivation (SigV4-style: day, then audience and method)."""

from __future__ import annotations

import hashlib
import hmac

from iamd_client import signing

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AUTHORIZE = "/iamd.v1.AuthorizationService/Authorize"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def test_derivation_is_the_documented_chain() -> None:
    k_date = _hmac(b"IAMD1" + SECRET.encode(), "20240229")
    k_scope = _hmac(k_date, "iamd/" + AUTHORIZE)
    k_signing = _hmac(k_scope, "iamd1_request")
    assert signing.derive_signing_key(SECRET, "20240229", "iamd", AUTHORIZE) == k_signing
    assert signing.date_key(SECRET, "20240229") == k_date
    assert signing.scoped_signing_key(k_date, "iamd", AUTHORIZE) == k_signing


def test_day_is_the_utc_day_of_the_request_date() -> None:
    assert signing.signing_day("0") == "19700101"
    assert signing.signing_day("86399") == "19700101"
    assert signing.signing_day("86400") == "19700102"
    assert signing.signing_day("1709251199") == "20240229"  # 23:59:59 UTC
    assert signing.signing_day("1709251200") == "20240301"


def test_a_key_is_scoped_to_one_day_audience_and_method() -> None:
    keys = signing.SigningKeys(SECRET)
    noon = "1709208000"  # 2024-02-29 12:00 UTC
    key = keys.for_request(noon, "iamd", AUTHORIZE)
    assert key == signing.derive_signing_key(SECRET, "20240229", "iamd", AUTHORIZE)
    assert keys.for_request("1709251199", "iamd", AUTHORIZE) == key  # same day
    others = {
        keys.for_request("1709251200", "iamd", AUTHORIZE),  # next day
        keys.for_request(noon, "orders", AUTHORIZE),  # another audience
        keys.for_request(noon, "iamd", "/iamd.v1.ManagementService/CreateUser"),
        keys.for_request(noon, "iamd", "/iamd.v1.AuthorizationService/AuthorizeBatch"),
    }
    assert key not in others and len(others) == 4


def test_a_signature_made_with_a_scoped_key_verifies_only_in_scope() -> None:
    date = "1709208000"
    digest = hashlib.sha256(b"body").hexdigest()
    scoped = signing.derive_signing_key(SECRET, "20240229", "iamd", AUTHORIZE)
    signature = signing.compute_signature(scoped, AUTHORIZE, date, "AKIAEXAMPLE", digest)
    keys = signing.SigningKeys(SECRET)
    assert signing.verify_signature(
        keys.for_request(date, "iamd", AUTHORIZE), AUTHORIZE, date, "AKIAEXAMPLE", digest, signature
    )
    create_user = "/iamd.v1.ManagementService/CreateUser"
    forged = signing.compute_signature(scoped, create_user, date, "AKIAEXAMPLE", digest)
    assert not signing.verify_signature(
        keys.for_request(date, "iamd", create_user),
        create_user,
        date,
        "AKIAEXAMPLE",
        digest,
        forged,
    )


def test_the_cache_stays_bounded() -> None:
    keys = signing.SigningKeys(SECRET)
    for index in range(3 * signing.SigningKeys.MAX_KEYS):
        keys.for_request("1709208000", "shop", f"/m{index}")
    assert len(keys._keys) <= signing.SigningKeys.MAX_KEYS
    assert "wJalr" not in repr(keys)
