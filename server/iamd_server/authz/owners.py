"""The resource owner a request names, checked against the resource's own: the engine's
refusal (iamd_policy.entries.resource_owner) as the request's INVALID_ARGUMENT."""

from __future__ import annotations

from iamd_policy.entries import OwnerMismatch as EngineOwnerMismatch
from iamd_policy.entries import PrincipalEntry, ResourceEntry
from iamd_policy.entries import resource_owner as owner_of

from iamd_server.errors import InvalidArgument


class OwnerMismatch(InvalidArgument):
    """The request names a resource owner other than the resource's own (its ARN's account,
    or the account that claimed an ARN without one)."""

    def __init__(self) -> None:
        super().__init__(
            "resource_owner_account", "does not match the account that owns the resource"
        )


def resource_owner(
    entry: PrincipalEntry,
    resource: str,
    requested: str | None,
    resource_entry: ResourceEntry | None,
) -> str | None:
    """entries.resource_owner, its refusal as the request's INVALID_ARGUMENT."""
    try:
        return owner_of(entry, resource, requested, resource_entry)
    except EngineOwnerMismatch:
        raise OwnerMismatch() from None
