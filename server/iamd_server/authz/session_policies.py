"""Decisions for callers with temporary credentials: the stored principal's compiled entry
plus what the session adds (session policies, session tags, token keys).

Session permissions = the role's (or user's) identity policies ∩ its boundary ∩ the session
policies (inline document and managed ARNs, resolved to their current default versions),
with resource-policy grants per iam-semantics 6.5, all evaluated by the pure engine.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from iamd_policy import (
    CompiledPolicy,
    Context,
    PolicyKind,
    PolicySet,
    PolicySets,
    compile_policy,
)
from iamd_policy.entries import UNKNOWN_PRINCIPAL, PrincipalEntry, ResourceEntry, timeless

from iamd_server.authn.sessions import SessionClaims
from iamd_server.authz.cache import CacheStats
from iamd_server.authz.decisions import Decider, Outcome
from iamd_server.errors import NotFound, Unavailable

log = logging.getLogger(__name__)

_EMPTY_SESSION_POLICY = '{"Version":"2012-10-17","Statement":[]}'
# Approximate bytes of a session's entry (principal, merged context, policy sets) and of a
# compiled session policy set besides 8 per document character.
_ENTRY_BYTES = 3000
_SET_BYTES = 1024


def session_context(claims: SessionClaims) -> Context:
    """Keys only temporary credentials have (iam-semantics 5: S keys)."""
    stamp = datetime.fromtimestamp(int(claims.issued_at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries: dict[str, tuple[str, str, Sequence[str]]] = {
        "aws:tokenissuetime": ("aws:TokenIssueTime", "date", (stamp,)),
        "aws:multifactorauthpresent": (
            "aws:MultiFactorAuthPresent",
            "boolean",
            ("true" if claims.mfa else "false",),
        ),
    }
    for key, value in claims.tags:
        name = f"aws:PrincipalTag/{key}"
        entries[name.lower()] = (name, "string", (value,))
    if claims.federated_provider:
        entries["aws:federatedprovider"] = (
            "aws:FederatedProvider",
            "string",
            (claims.federated_provider,),
        )
    if claims.source_identity:
        entries["aws:sourceidentity"] = ("aws:SourceIdentity", "string", (claims.source_identity,))
    return Context.from_entries(entries.values())


class _Versioned(Protocol):
    @property
    def default_version_id(self) -> str: ...


class _Document(Protocol):
    @property
    def document(self) -> str: ...


class ManagedPolicies(Protocol):
    """Where managed session policies are read: the store, or a sidecar's followed copy."""

    async def get_policy(self, *, policy_arn: str) -> _Versioned: ...

    async def get_policy_version(self, *, policy_arn: str, version_id: str) -> _Document: ...


class SessionPolicies:
    """Builds (and caches) the entry of a session from the stored principal's entry."""

    def __init__(
        self, store: ManagedPolicies, *, max_cached: int = 20_000, max_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self._store = store
        self._max_cached = max_cached
        self.max_bytes = max_bytes
        # session id -> compiled session policy set (cleared when any managed policy changes)
        self._sets: dict[str, PolicySet] = {}
        # session id -> (the stored entry it was built from, the session's entry)
        self._entries: dict[str, tuple[PrincipalEntry, PrincipalEntry]] = {}
        # Approximate bytes of both (compiled session policies dominate); both are dropped
        # when either bound is reached. Exported as cache "sessions".
        self.bytes = 0
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._sets) + len(self._entries)

    def on_change(self, _revision: int, keys: Sequence[str]) -> None:
        if any(k == "*" or k.startswith("policy:") for k in keys):
            self.stats.invalidations += len(self)
            self._drop()

    def _drop(self) -> None:
        self._sets.clear()
        self._entries.clear()
        self.bytes = 0

    def _make_room(self, size: int, count: int) -> None:
        if count >= self._max_cached or self.bytes + size > self.max_bytes:
            self.stats.evictions += len(self)
            self._drop()
        self.bytes += size

    async def policy_set(self, claims: SessionClaims) -> PolicySet | None:
        if not claims.has_session_policies:
            return None
        cached = self._sets.get(claims.session_id)
        if cached is not None:
            return cached
        compiled: list[CompiledPolicy] = []
        size = _SET_BYTES + 8 * len(claims.policy)
        if claims.policy:
            compiled.append(
                compile_policy(
                    claims.policy,
                    PolicyKind.SESSION,
                    policy_id=f"{claims.arn}#session",
                    source_type="session",
                )
            )
        for arn in claims.policy_arns:
            document = await self._managed_document(arn)
            size += 8 * len(document or "")
            compiled.append(
                compile_policy(
                    document or _EMPTY_SESSION_POLICY,
                    PolicyKind.SESSION,
                    policy_id=arn,
                    source_type="session-managed",
                )
            )
        result = PolicySet.of(compiled)
        self._make_room(size, len(self._sets))
        self._sets[claims.session_id] = result
        return result

    async def _managed_document(self, arn: str) -> str | None:
        """The current default version; None (allows nothing) once the policy is gone."""
        try:
            policy = await self._store.get_policy(policy_arn=arn)
            version = await self._store.get_policy_version(
                policy_arn=arn, version_id=policy.default_version_id
            )
        except NotFound:
            return None
        except Exception as exc:
            raise Unavailable(f"cannot load the session policy {arn}") from exc
        return version.document

    async def entry(self, base: PrincipalEntry, claims: SessionClaims) -> PrincipalEntry:
        """The session's entry: session policies, session tags and token keys on top."""
        cached = self._entries.get(claims.session_id)
        if cached is not None and cached[0] is base:
            return cached[1]
        session_set = await self.policy_set(claims)
        p = base.policies
        policies = PolicySets(p.identity, p.boundary, session_set, p.scp_levels, p.rcp_levels)
        principal = base.principal
        if claims.tags:
            # Session tags replace the role's tags with the same key.
            names = {k.lower() for k, _ in claims.tags}
            tags = tuple(t for t in principal.tags if t[0].lower() not in names) + claims.tags
            principal = dataclasses.replace(principal, tags=tags)
        trusted = base.trusted.merge(session_context(claims))
        entry = PrincipalEntry(principal, policies, trusted, base.revision, base.unique_id)
        self._make_room(_ENTRY_BYTES, len(self._entries))
        self._entries[claims.session_id] = (base, entry)
        return entry

    async def decide(
        self,
        decider: Decider,
        claims: SessionClaims,
        action: str,
        resource: str,
        *,
        resource_account: str | None = None,
        context: Context | None = None,
        explain: bool = False,
    ) -> Outcome:
        """Decider.decide for a caller with temporary credentials."""

        async def resolve() -> tuple[PrincipalEntry | None, ResourceEntry | None]:
            base = await decider.principal_entry(claims.arn)
            if base is None or base.unique_id != claims.principal_id:
                # Gone, or its name now belongs to another user or role: not this session's.
                return None, None
            return await self.entry(base, claims), await decider.resource_policies(resource)

        (entry, resource_set), _ = await decider.settled(resolve)
        revision = decider.revision
        if entry is None:
            return Outcome(UNKNOWN_PRINCIPAL, False, revision, True)
        result = decider.evaluate(
            entry,
            action,
            resource,
            resource_account,
            context,
            resource_set,
            explain,
            int(time.time()),
        )
        return Outcome(result, True, revision, timeless(entry, resource_set, context))
