"""What the Decider and the Authorize servicer read, as interfaces.

The server implements them with PostgreSQL (store.Store) and its change feed
(changes.ChangeFeed); `iamd sidecar` implements them with the state it follows over
ReplicationService.Watch (sidecar.follower), so both decide with the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from iamd_server.store.records import (
    LoadedPolicy,
    LoadedResourcePolicy,
    PrincipalPolicies,
    ServiceDefinitionRecord,
)

ChangeHandler = Callable[[int, Sequence[str]], None]


class PolicySource(Protocol):
    """The records compiled cache entries are built from."""

    async def load_principal_policies(self, *, principal_arn: str) -> PrincipalPolicies | None: ...

    async def load_resource_policy(self, *, resource_arn: str) -> LoadedResourcePolicy | None: ...

    async def load_service_definitions(self) -> list[ServiceDefinitionRecord]: ...

    async def load_resource_arns(self) -> set[str] | None:
        """ARNs with a resource policy or ACL; None = unknown (ask per resource)."""
        ...

    async def load_group_policies(
        self, *, group_arn: str
    ) -> tuple[str, tuple[LoadedPolicy, ...]] | None: ...

    async def resolve_principal_ids(self, *, document: str) -> dict[str, str]: ...


class RevisionFeed(Protocol):
    """Change notifications and the revision they have brought this process to."""

    # time.monotonic() until which this process has proved its copy current; past it,
    # decisions call check_fresh / ensure_fresh, which fail closed (Unavailable).
    fresh_until: float

    def check_fresh(self) -> None: ...

    async def ensure_fresh(self) -> None: ...

    @property
    def applied_revision(self) -> int: ...

    def subscribe(self, handler: ChangeHandler) -> None: ...

    async def wait_for(self, revision: int, timeout: float | None) -> bool: ...
