"""The loader's records, cached once for every Watch stream of this replica.

A thousand sidecars following one principal cost one database read per change, not a
thousand: entries are invalidated by the same change keys as the Decider's (a build that
overlaps an invalidation serves its callers but is not kept, so no stream is ever handed a
record older than a change it was told about).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from iamd_policy.entries import account_of, dependencies, name_key

from iamd_server.authz.cache import ALL, Built, DependencyCache
from iamd_server.errors import NotFound, Unavailable
from iamd_server.store.records import (
    LoadedAccessKey,
    LoadedResourcePolicy,
    PolicyRecord,
    PolicyVersionRecord,
    PrincipalPolicies,
    ServiceDefinitionRecord,
)

SERVICES_KEY = "services"  # the stored service definitions, as one value
INDEX_KEY = "resource-index"  # the ARNs with a resource policy or ACL, as one value


class RecordSource(Protocol):
    async def load_principal_policies(self, *, principal_arn: str) -> PrincipalPolicies | None: ...
    async def load_resource_policy(self, *, resource_arn: str) -> LoadedResourcePolicy | None: ...
    async def load_access_key(self, *, access_key_id: str) -> LoadedAccessKey | None: ...
    async def load_service_definitions(self) -> list[ServiceDefinitionRecord]: ...
    async def load_resource_arns(self, account_id: str | None = None) -> set[str]: ...
    async def get_policy(self, *, policy_arn: str) -> PolicyRecord: ...
    async def get_policy_version(
        self, *, policy_arn: str, version_id: str
    ) -> PolicyVersionRecord: ...


def expand(keys: Sequence[str]) -> list[str]:
    """Notification keys plus the name keys of the users and roles they name, as the
    Decider expands them (an entry for a name that did not exist yet depends on its name)."""
    expanded = list(keys)
    for key in keys:
        kind, _, rest = key.partition(":")
        if kind in ("user", "role"):
            named = name_key(rest)
            if named is not None:
                expanded.append(named)
        if kind == "service":
            expanded.append(SERVICES_KEY)
        elif kind == "resource":
            expanded.append(INDEX_KEY)
    return expanded


def principal_dependencies(arn: str, record: PrincipalPolicies | None) -> tuple[str, ...]:
    return tuple(dependencies(arn, account_of(arn), record))


def resource_dependencies(arn: str) -> tuple[str, ...]:
    return (f"resource:{arn}", f"role:{arn}")


def key_dependencies(key_id: str, record: LoadedAccessKey | None) -> tuple[str, ...]:
    if record is None:
        return (f"key:{key_id}",)
    # A renamed or deleted owner changes the key's owner ARN.
    return (f"key:{key_id}", f"user:{record.owner_arn}", f"account:{record.account_id}")


def _size(*texts: str | None) -> int:
    return 256 + sum(len(t) for t in texts if t)


class RecordCache:
    """Principal, resource and access-key records, service definitions and the resource
    index, each loaded once and kept until a change notification touches it."""

    def __init__(
        self,
        source: RecordSource,
        *,
        max_entries: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._source = source
        self.principals: DependencyCache[PrincipalPolicies | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes
        )
        self.resources: DependencyCache[LoadedResourcePolicy | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes // 4
        )
        self.keys: DependencyCache[LoadedAccessKey | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes // 16
        )
        self._services: DependencyCache[list[ServiceDefinitionRecord]] = DependencyCache(
            max_entries=1
        )
        self._index: DependencyCache[frozenset[str]] = DependencyCache(max_entries=64)
        # Managed policy ARN -> its default version's document (None: no such policy).
        self.managed: DependencyCache[str | None] = DependencyCache(
            max_entries=max_entries, max_bytes=max_bytes // 16
        )

    def on_change(self, _revision: int, keys: Sequence[str]) -> None:
        if ALL in keys:
            for cache in (self.principals, self.resources, self.keys):
                cache.clear()
            self._services.clear()
            self._index.clear()
            self.managed.clear()
            return
        expanded = expand(keys)
        self.principals.invalidate(expanded)
        self.resources.invalidate(expanded)
        self.keys.invalidate(expanded)
        self._services.invalidate(expanded)
        self._index.invalidate(expanded)
        self.managed.invalidate(expanded)

    async def principal(self, arn: str) -> PrincipalPolicies | None:
        async def build() -> Built[PrincipalPolicies | None]:
            try:
                record = await self._source.load_principal_policies(principal_arn=arn)
            except Exception as exc:
                raise Unavailable(f"cannot load {arn}: database unavailable") from exc
            size = 256
            if record is not None:
                size = _size(
                    *(p.document for p in record.identity),
                    record.boundary.document if record.boundary else None,
                    *(p.document for level in record.scp_levels for p in level),
                    record.trust_policy,
                )
            return Built(record, principal_dependencies(arn, record), size)

        return await self.principals.get(arn, build)

    async def resource(self, arn: str) -> LoadedResourcePolicy | None:
        async def build() -> Built[LoadedResourcePolicy | None]:
            try:
                record = await self._source.load_resource_policy(resource_arn=arn)
            except Exception as exc:
                raise Unavailable(f"cannot load {arn}: database unavailable") from exc
            size = _size(record.document) if record is not None else 256
            return Built(record, resource_dependencies(arn), size)

        return await self.resources.get(arn, build)

    async def access_key(self, key_id: str) -> LoadedAccessKey | None:
        async def build() -> Built[LoadedAccessKey | None]:
            try:
                record = await self._source.load_access_key(access_key_id=key_id)
            except Exception as exc:
                raise Unavailable("cannot load an access key: database unavailable") from exc
            return Built(record, key_dependencies(key_id, record), 512)

        return await self.keys.get(key_id, build)

    async def services(self) -> list[ServiceDefinitionRecord]:
        async def build() -> Built[list[ServiceDefinitionRecord]]:
            try:
                return Built(await self._source.load_service_definitions(), (SERVICES_KEY,))
            except Exception as exc:
                raise Unavailable("cannot load service definitions: database unavailable") from exc

        return await self._services.get(SERVICES_KEY, build)

    async def resource_index(self, account_id: str) -> frozenset[str]:
        """ARNs of the resources ``account_id`` owns that have a resource policy or ACL."""

        async def build() -> Built[frozenset[str]]:
            try:
                arns = await self._source.load_resource_arns(account_id)
            except Exception as exc:
                raise Unavailable("cannot load the resource index: database unavailable") from exc
            return Built(frozenset(arns), (INDEX_KEY,), 64 + sum(len(a) for a in arns))

        return await self._index.get(account_id, build)

    async def managed_policy(self, arn: str) -> str | None:
        """The default version's document of a managed policy (a session policy); None once
        the policy is gone (a session policy that allows nothing, as the server treats it)."""

        async def build() -> Built[str | None]:
            try:
                policy = await self._source.get_policy(policy_arn=arn)
                version = await self._source.get_policy_version(
                    policy_arn=arn, version_id=policy.default_version_id
                )
            except NotFound:
                return Built(None, (f"policy:{arn}",), 128)
            except Exception as exc:
                raise Unavailable(f"cannot load the policy {arn}: database unavailable") from exc
            return Built(version.document, (f"policy:{arn}",), _size(version.document))

        return await self.managed.get(arn, build)
