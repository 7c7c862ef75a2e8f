"""Passwords: argon2id hashing, the account password policy, and sign-in backoff.

Hashing and verification are CPU-bound (tens of milliseconds by design), so callers run them
in a worker thread. argon2-cffi compares digests in constant time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from iamd_server.errors import InvalidArgument
from iamd_server.store.credentials import PasswordPolicyRecord

SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
MAX_PASSWORD_LENGTH = 128

# OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane (~20-40 ms per hash).
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the user does not exist or has no password, so that answering takes as long
# as a real check and does not reveal which user names exist.
_DUMMY_HASH = _HASHER.hash("iamd-no-such-password")

# Sign-in backoff: the first failures are free, then each one makes the user wait longer, up
# to a short cap: a guesser gets a handful of tries per minute, while someone failing on
# purpose can keep the real user waiting at most CAP seconds, never lock them out.
FREE_FAILURES = 3
BACKOFF_CAP_SECONDS = 15.0
BACKOFF_DELAYS: tuple[float, ...] = (
    *([0.0] * (FREE_FAILURES - 1)),
    1.0,
    2.0,
    4.0,
    8.0,
    BACKOFF_CAP_SECONDS,
)
# A failure this long after the previous one starts the count over.
FORGET_FAILURES_AFTER_SECONDS = 15 * 60.0


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; a missing hash still costs one verification."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


async def reused(password: str, previous_hashes: Sequence[str]) -> bool:
    """Whether the password equals one of the given earlier passwords."""

    def check() -> bool:
        return any(verify_password(h, password) for h in previous_hashes)

    return await asyncio.to_thread(check) if previous_hashes else False


# ---- policy ----


def policy_from_request(
    *,
    minimum_password_length: int | None,
    require_symbols: bool,
    require_numbers: bool,
    require_uppercase_characters: bool,
    require_lowercase_characters: bool,
    allow_users_to_change_password: bool,
    max_password_age: int | None,
    password_reuse_prevention: int | None,
    hard_expiry: bool,
) -> PasswordPolicyRecord:
    """Validates an UpdateAccountPasswordPolicy request (omitted fields take defaults)."""
    length = 6 if minimum_password_length is None else minimum_password_length
    if not 6 <= length <= 128:
        raise InvalidArgument("minimum_password_length", "must be between 6 and 128")
    age = max_password_age or None
    if age is not None and not 1 <= age <= 1095:
        raise InvalidArgument("max_password_age", "must be between 1 and 1095 days")
    reuse = password_reuse_prevention or None
    if reuse is not None and not 1 <= reuse <= 24:
        raise InvalidArgument("password_reuse_prevention", "must be between 1 and 24")
    return PasswordPolicyRecord(
        minimum_password_length=length,
        require_symbols=require_symbols,
        require_numbers=require_numbers,
        require_uppercase_characters=require_uppercase_characters,
        require_lowercase_characters=require_lowercase_characters,
        allow_users_to_change_password=allow_users_to_change_password,
        max_password_age=age,
        password_reuse_prevention=reuse,
        hard_expiry=hard_expiry,
    )


def policy_violations(password: str, policy: PasswordPolicyRecord | None) -> list[str]:
    """What the password lacks under the policy (empty = acceptable). Without a custom
    policy the default is at least 8 characters from at least 3 of the 4 classes."""
    problems: list[str] = []
    if policy is None:
        if len(password) < 8:
            problems.append("at least 8 characters")
        classes = sum(
            (
                any(c.isascii() and c.islower() for c in password),
                any(c.isascii() and c.isupper() for c in password),
                any(c.isascii() and c.isdigit() for c in password),
                any(not c.isalnum() for c in password),
            )
        )
        if classes < 3:
            problems.append("characters from at least 3 of: lowercase, uppercase, digits, symbols")
        return problems
    if len(password) < policy.minimum_password_length:
        problems.append(f"at least {policy.minimum_password_length} characters")
    if policy.require_symbols and not any(c in SYMBOLS for c in password):
        problems.append("at least one symbol")
    if policy.require_numbers and not any(c.isascii() and c.isdigit() for c in password):
        problems.append("at least one number")
    if policy.require_uppercase_characters and not any(
        c.isascii() and c.isupper() for c in password
    ):
        problems.append("at least one uppercase letter")
    if policy.require_lowercase_characters and not any(
        c.isascii() and c.islower() for c in password
    ):
        problems.append("at least one lowercase letter")
    return problems


def check_password_text(password: str, field: str = "password") -> None:
    """1-128 printable ASCII characters (iam-semantics 1.7)."""
    if not 1 <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidArgument(field, f"password must be 1 to {MAX_PASSWORD_LENGTH} characters")
    if any(not (0x20 <= ord(c) <= 0x7E) for c in password):
        raise InvalidArgument(field, "password must contain only printable ASCII characters")


def check_against_policy(
    password: str, policy: PasswordPolicyRecord | None, field: str = "password"
) -> None:
    check_password_text(password, field)
    problems = policy_violations(password, policy)
    if problems:
        raise InvalidArgument(
            field,
            "Password does not conform to the account password policy: needs "
            + ", ".join(problems),
        )


def password_expired(
    changed_at: datetime | None, policy: PasswordPolicyRecord | None, now: datetime | None = None
) -> bool:
    if policy is None or policy.max_password_age is None or changed_at is None:
        return False
    current = now or datetime.now(UTC)
    return current - changed_at > timedelta(days=policy.max_password_age)
