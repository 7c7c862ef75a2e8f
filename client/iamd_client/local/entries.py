"""Compiled entries of what the follower holds, the way the server's Decider builds them
(iamd_policy.entries): per principal (role sessions share their role's compiled policies),
per resource (a role's trust policy is the role ARN's resource policy), and the service
registry. Rebuilt on the follower's loop as states change; read by deciding callers on any
thread without a lock, as a sequence lock: a change makes the generation odd, replaces
entries, and makes it even again; a reader takes the generation first and decides again
when it was odd or has moved since (see decide.Changed)."""

from __future__ import annotations

from iamd_policy import ServiceRegistry, builtin_registry
from iamd_policy.entries import (
    ROLE_ARN,
    PrincipalEntry,
    ResourceEntry,
    RoleBase,
    compile_principal,
    compile_resource,
    compile_trust,
    session_parts,
)
from iamd_policy.inputs import LoadedResourcePolicy, PrincipalPolicies
from iamd_policy.requests import registry_of

from iamd_client.local.follower import PRINCIPAL, Follower
from iamd_client.local.stream import Item


class Failed:
    """A stored document the engine refuses: decisions about it fail closed."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


PrincipalValue = PrincipalEntry | Failed | None  # None: no such principal
ResourceValue = ResourceEntry | Failed | None  # None: no resource policy


class Entries:
    """What decisions read; see the module docstring."""

    def __init__(self) -> None:
        self.principals: dict[str, PrincipalValue] = {}
        self.resources: dict[str, ResourceValue] = {}
        self.registry: ServiceRegistry = builtin_registry()
        self.known_actions: dict[str, bool] = {}
        self.generation = 0
        # Role sessions of one role share its compiled entry: "account:role" -> (record, base).
        self._roles: dict[str, tuple[PrincipalPolicies, RoleBase]] = {}
        self.follower: Follower | None = None

    def changed(self, items: list[Item], services: bool) -> None:
        """The follower's listener: entries of changed items are rebuilt (or dropped)."""
        follower = self.follower
        assert follower is not None
        # Odd while entries are being replaced: a decision that read any of them meanwhile
        # (on another thread) sees the generation move and decides again (decide.Changed).
        self.generation += 1
        for kind, arn in items:
            value = follower.held[kind].get(arn)
            if kind == PRINCIPAL:
                if value is None:
                    self.principals.pop(arn, None)
                    if ROLE_ARN.match(arn):
                        self.resources.pop(arn, None)
                    continue
                record = value if isinstance(value, PrincipalPolicies) else None
                self.principals[arn] = self._principal(arn, record)
                if ROLE_ARN.match(arn):
                    self.resources[arn] = self._trust(arn, record)
            elif value is None:
                self.resources.pop(arn, None)
            else:
                loaded = value if isinstance(value, LoadedResourcePolicy) else None
                self.resources[arn] = self._resource(arn, loaded)
        if services:
            self.registry = registry_of((r.service_prefix, r.definition) for r in follower.services)
            self.known_actions = {}
        if len(self._roles) > 2 * len(self.principals) + 100:
            self._roles.clear()
        self.generation += 1

    def _principal(self, arn: str, record: PrincipalPolicies | None) -> PrincipalValue:
        if record is None:
            return None
        try:
            session = session_parts(arn)
            if session is None:
                return compile_principal(arn, record)
            return self._role(session[0], session[1], arn, record).session(arn, session[2])
        except ValueError as exc:
            return Failed(f"cannot compile the policies of {arn}: {exc}")

    def _role(self, account: str, role: str, arn: str, record: PrincipalPolicies) -> RoleBase:
        key = f"{account}:{role}"
        known = self._roles.get(key)
        if known is not None and known[0] == record:
            return known[1]
        entry = compile_principal(record.principal_arn, record)
        base = RoleBase(entry, record.unique_id, ())
        self._roles[key] = (record, base)
        return base

    @staticmethod
    def _trust(arn: str, record: PrincipalPolicies | None) -> ResourceValue:
        if record is None:
            return None
        try:
            return compile_trust(arn, record)
        except ValueError as exc:
            return Failed(f"cannot compile the trust policy of {arn}: {exc}")

    @staticmethod
    def _resource(arn: str, loaded: LoadedResourcePolicy | None) -> ResourceValue:
        if loaded is None:
            return None
        try:
            return compile_resource(arn, loaded)
        except ValueError as exc:
            return Failed(f"cannot compile the resource policy of {arn}: {exc}")
