"""Service definitions: actions, resource types with ARN templates, condition keys.

A registry is immutable; adding or removing a definition returns a new registry, so a cached
registry can be shared by concurrent evaluations and swapped atomically.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .templates import compile_template

__all__ = [
    "ActionDefinition",
    "Applicability",
    "HttpBinding",
    "ResourceTypeDefinition",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceRegistry",
]

_PREFIX_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class ServiceDefinitionError(ValueError):
    """A service definition is malformed."""


@dataclass(frozen=True, slots=True)
class ResourceTypeDefinition:
    name: str
    arn_pattern: str
    # Trust/key-policy semantics: the resource policy must grant the caller or its account.
    requires_resource_policy_grant: bool = False
    condition_keys: tuple[str, ...] = ()
    # The ARN template compiled (templates.py: linear time, no regular expression).
    matcher: Callable[[str], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ServiceDefinitionError(f"invalid resource type name {self.name!r}")
        matcher = compile_template(self.arn_pattern)
        if matcher is None:
            raise ServiceDefinitionError(f"ARN template must have six parts: {self.arn_pattern!r}")
        object.__setattr__(self, "matcher", matcher)

    def matches(self, arn: str) -> bool:
        return self.matcher(arn)


@dataclass(frozen=True, slots=True)
class HttpBinding:
    """An HTTP request shape of an action (method, path template, resource type), matched by
    gateways (iamd_server.gateway.bindings, which also validates them)."""

    method: str
    path: str
    resource_type: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"method": self.method, "path": self.path}
        if self.resource_type:
            out["resource_type"] = self.resource_type
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HttpBinding:
        return cls(str(data["method"]), str(data["path"]), str(data.get("resource_type") or ""))


@dataclass(frozen=True, slots=True)
class ActionDefinition:
    name: str
    # Names of resource types; empty = the action takes no resource (resource `*`).
    resource_types: tuple[str, ...] = ()
    condition_keys: tuple[str, ...] = ()
    access_level: str = ""
    http: tuple[HttpBinding, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ServiceDefinitionError(f"invalid action name {self.name!r}")


@dataclass(frozen=True, slots=True)
class Applicability:
    """Result of checking an action against a resource."""

    known_service: bool
    known_action: bool
    applicable: bool
    requires_resource_policy_grant: bool


_UNKNOWN_SERVICE = Applicability(False, False, True, False)
_UNKNOWN_ACTION = Applicability(True, False, True, False)
_NOT_APPLICABLE = Applicability(True, True, False, False)
_APPLICABLE = Applicability(True, True, True, False)
_APPLICABLE_GRANT = Applicability(True, True, True, True)


class ServiceDefinition:
    """One service prefix: its actions, resource types and condition keys."""

    __slots__ = ("_targets", "actions", "condition_keys", "prefix", "resource_types")

    def __init__(
        self,
        prefix: str,
        actions: Iterable[ActionDefinition],
        resource_types: Iterable[ResourceTypeDefinition] = (),
        condition_keys: Mapping[str, str] | None = None,
    ) -> None:
        if not _PREFIX_RE.fullmatch(prefix):
            raise ServiceDefinitionError(f"invalid service prefix {prefix!r}")
        self.prefix = prefix
        types = {t.name: t for t in resource_types}
        self.resource_types: Mapping[str, ResourceTypeDefinition] = MappingProxyType(types)
        by_name: dict[str, ActionDefinition] = {}
        targets: dict[str, tuple[ResourceTypeDefinition, ...]] = {}
        for action in actions:
            lowered = action.name.lower()
            if lowered in by_name:
                raise ServiceDefinitionError(f"duplicate action {prefix}:{action.name}")
            for type_name in action.resource_types:
                if type_name not in types:
                    raise ServiceDefinitionError(
                        f"action {prefix}:{action.name} names unknown resource type {type_name!r}"
                    )
            by_name[lowered] = action
            targets[lowered] = tuple(types[t] for t in action.resource_types)
        self.actions: Mapping[str, ActionDefinition] = MappingProxyType(by_name)
        self._targets = targets
        self.condition_keys: Mapping[str, str] = MappingProxyType(dict(condition_keys or {}))

    def action(self, name: str) -> ActionDefinition | None:
        return self.actions.get(name.lower())

    def check(self, action_name_lower: str, resource: str) -> Applicability:
        targets = self._targets.get(action_name_lower)
        if targets is None:
            return _UNKNOWN_ACTION
        if resource == "*":
            # A wildcard request resource stands for any resource of the action.
            return _APPLICABLE
        for target in targets:
            if target.matcher(resource):
                return _APPLICABLE_GRANT if target.requires_resource_policy_grant else _APPLICABLE
        return _NOT_APPLICABLE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceDefinition:
        """From plain data (JSON / database rows):

        {"prefix": "s3", "resource_types": [{"name", "arn_pattern",
          "requires_resource_policy_grant"?, "condition_keys"?}],
         "actions": [{"name", "resource_types"?, "condition_keys"?, "access_level"?}],
         "condition_keys": {"s3:prefix": "String", ...}}
        """
        try:
            types = [
                ResourceTypeDefinition(
                    name=str(t["name"]),
                    arn_pattern=str(t["arn_pattern"]),
                    requires_resource_policy_grant=bool(
                        t.get("requires_resource_policy_grant", False)
                    ),
                    condition_keys=tuple(str(k) for k in t.get("condition_keys", ())),
                )
                for t in data.get("resource_types", ())
            ]
            actions = [
                ActionDefinition(
                    name=str(a["name"]),
                    resource_types=tuple(str(r) for r in a.get("resource_types", ())),
                    condition_keys=tuple(str(k) for k in a.get("condition_keys", ())),
                    access_level=str(a.get("access_level", "")),
                    http=tuple(HttpBinding.from_dict(b) for b in a.get("http", ())),
                )
                for a in data.get("actions", ())
            ]
            keys = {str(k): str(v) for k, v in dict(data.get("condition_keys", {})).items()}
            return cls(str(data["prefix"]), actions, types, keys)
        except ServiceDefinitionError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ServiceDefinitionError(f"malformed service definition: {exc!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "resource_types": [
                {
                    "name": t.name,
                    "arn_pattern": t.arn_pattern,
                    "requires_resource_policy_grant": t.requires_resource_policy_grant,
                    "condition_keys": list(t.condition_keys),
                }
                for t in self.resource_types.values()
            ],
            "actions": [
                {
                    "name": a.name,
                    "resource_types": list(a.resource_types),
                    "condition_keys": list(a.condition_keys),
                    "access_level": a.access_level,
                    **({"http": [b.to_dict() for b in a.http]} if a.http else {}),
                }
                for a in self.actions.values()
            ],
            "condition_keys": dict(self.condition_keys),
        }

    def __repr__(self) -> str:
        return f"<ServiceDefinition {self.prefix}: {len(self.actions)} actions>"


class ServiceRegistry:
    """Immutable prefix -> definition map; `version` grows with every derived registry."""

    __slots__ = ("_services", "version")

    def __init__(self, definitions: Iterable[ServiceDefinition] = (), *, version: int = 0) -> None:
        services: dict[str, ServiceDefinition] = {}
        for definition in definitions:
            services[definition.prefix] = definition
        self._services = services
        self.version = version

    def with_definition(self, definition: ServiceDefinition) -> ServiceRegistry:
        merged = dict(self._services)
        merged[definition.prefix] = definition
        return ServiceRegistry(merged.values(), version=self.version + 1)

    def without(self, prefix: str) -> ServiceRegistry:
        merged = {k: v for k, v in self._services.items() if k != prefix}
        return ServiceRegistry(merged.values(), version=self.version + 1)

    def get(self, prefix: str) -> ServiceDefinition | None:
        return self._services.get(prefix.lower())

    def __contains__(self, prefix: object) -> bool:
        return isinstance(prefix, str) and prefix.lower() in self._services

    def prefixes(self) -> Sequence[str]:
        return sorted(self._services)

    def knows_action(self, action: str) -> bool:
        """False for an unknown action of a known service (Authorize rejects those)."""
        service, _, name = action.lower().partition(":")
        definition = self._services.get(service)
        return definition is None or name in definition.actions

    def check(self, service_lower: str, action_name_lower: str, resource: str) -> Applicability:
        definition = self._services.get(service_lower)
        if definition is None:
            return _UNKNOWN_SERVICE
        return definition.check(action_name_lower, resource)

    def __repr__(self) -> str:
        return f"<ServiceRegistry v{self.version} {self.prefixes()}>"
