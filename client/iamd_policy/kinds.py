"""Policy kinds and their size limits."""

from __future__ import annotations

import enum

__all__ = ["INLINE_POLICY_SIZE_LIMITS", "MAX_POLICY_SIZE", "PolicyKind", "policy_size"]


class PolicyKind(enum.Enum):
    IDENTITY = "IDENTITY"
    PERMISSIONS_BOUNDARY = "PERMISSIONS_BOUNDARY"
    SESSION = "SESSION"
    SERVICE_CONTROL = "SERVICE_CONTROL"
    RESOURCE_CONTROL = "RESOURCE_CONTROL"
    RESOURCE = "RESOURCE"
    # A resource policy without Resource element whose Principal is required (role trust).
    TRUST = "TRUST"
    ACL = "ACL"


# Per-document limits in non-whitespace characters (iam-semantics 1.4). IDENTITY is the
# managed-policy limit; inline policies are limited by the sum per owner, see
# INLINE_POLICY_SIZE_LIMITS (a single inline role policy may reach 10,240).
MAX_POLICY_SIZE: dict[PolicyKind, int] = {
    PolicyKind.IDENTITY: 6144,
    PolicyKind.PERMISSIONS_BOUNDARY: 6144,
    PolicyKind.SESSION: 2048,
    PolicyKind.SERVICE_CONTROL: 5120,
    PolicyKind.RESOURCE_CONTROL: 5120,
    PolicyKind.RESOURCE: 20480,
    PolicyKind.TRUST: 2048,
    PolicyKind.ACL: 20480,
}

# Sum of all inline policies of one owner, by owner type.
INLINE_POLICY_SIZE_LIMITS: dict[str, int] = {"user": 2048, "group": 5120, "role": 10240}


def policy_size(document: str | bytes) -> int:
    """Number of characters that are not whitespace (whitespace inside strings included)."""
    if isinstance(document, bytes | bytearray):
        document = bytes(document).decode("utf-8", errors="replace")
    # str.split() splits on exactly the characters str.isspace() accepts, in C.
    return sum(map(len, document.split()))
