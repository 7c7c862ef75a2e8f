"""Identifiers: unique ids, access key ids, account and organization ids.

All come from `secrets` so they cannot be predicted from earlier ones.
"""

from __future__ import annotations

import secrets
import string

_BASE32 = string.ascii_uppercase + "234567"
_LOWER_ALNUM = string.ascii_lowercase + string.digits

USER_PREFIX = "AIDA"
GROUP_PREFIX = "AGPA"
ROLE_PREFIX = "AROA"
POLICY_PREFIX = "ANPA"


def _pick(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def unique_id(prefix: str) -> str:
    """A 21-character unique id: the 4-character type prefix and 17 characters [A-Z2-7]."""
    return prefix + _pick(_BASE32, 17)


def new_access_key_id() -> str:
    """A long-term access key id: AKIA + 16 characters [A-Z2-7]."""
    return "AKIA" + _pick(_BASE32, 16)


def new_account_id() -> str:
    # No leading zero: some tools strip them, and nothing requires them.
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def new_organization_id() -> str:
    return "o-" + _pick(_LOWER_ALNUM, 10)


def new_root_id() -> str:
    return "r-" + _pick(_LOWER_ALNUM, 4)


def new_ou_id(root_id: str) -> str:
    return f"ou-{root_id.removeprefix('r-')}-{_pick(_LOWER_ALNUM, 8)}"


def new_scp_id() -> str:
    return "p-" + _pick(_LOWER_ALNUM, 8)
