"""What a caller of Authorize may hand in, checked the same way by the server and by the
SDK's LocalAuthorizer: the request context (bounded, the service's own keys dropped), the
resource and its owner, and whether an action is declared. Pure functions; a refusal is a
`RequestFieldError` naming the request field at fault."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .builtin_services import builtin_registry
from .context import Context
from .entries import definition_from_record, reserved_key, valid_account
from .errors import ContextError
from .services import ServiceDefinitionError, ServiceRegistry

log = logging.getLogger(__name__)

# Request context bounds (README, API notes): keys per request, values per key, characters
# per value (2,048: the longest ARN AWS allows) and per key name.
MAX_CONTEXT_ENTRIES = 100
MAX_CONTEXT_VALUES = 100
MAX_CONTEXT_VALUE_LENGTH = 2048
MAX_CONTEXT_KEY_LENGTH = 256
MAX_RESOURCE_LENGTH = 2048

# (key, type name as the engine spells it or None when the request gave none, values)
ContextItem = tuple[str, str | None, Sequence[str]]


class RequestFieldError(ValueError):
    """A request field is refused: ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_context_sizes(items: Sequence[ContextItem], field: str) -> None:
    """Bounds the work a request's context can cause (every value may be matched against
    every pattern of every statement)."""
    if len(items) > MAX_CONTEXT_ENTRIES:
        raise RequestFieldError(field, f"at most {MAX_CONTEXT_ENTRIES} context entries")
    for index, (key, _, values) in enumerate(items):
        if not 5 <= len(key) <= MAX_CONTEXT_KEY_LENGTH or ":" not in key:
            raise RequestFieldError(
                f"{field}[{index}].key", f"must be 5-{MAX_CONTEXT_KEY_LENGTH} chars, vendor:Name"
            )
        if len(values) > MAX_CONTEXT_VALUES:
            raise RequestFieldError(
                f"{field}[{index}].values", f"at most {MAX_CONTEXT_VALUES} values per key"
            )
        for position, value in enumerate(values):
            if len(value) > MAX_CONTEXT_VALUE_LENGTH:
                raise RequestFieldError(
                    f"{field}[{index}].values[{position}]",
                    f"at most {MAX_CONTEXT_VALUE_LENGTH} characters",
                )


def request_context(
    items: Sequence[ContextItem], field: str, *, keep_reserved: bool = False
) -> Context | None:
    """A request's context entries -> an engine Context (None when empty). Keys the service
    sets itself (principal, session and clock keys) are dropped unless ``keep_reserved``."""
    if not items:
        return None
    check_context_sizes(items, field)
    converted: list[tuple[str, str, Sequence[str]]] = []
    for index, (key, type_name, values) in enumerate(items):
        if type_name is None:
            raise RequestFieldError(f"{field}[{index}].type", "a context key type is required")
        if not keep_reserved and reserved_key(key.lower()):
            continue
        converted.append((key, type_name, tuple(values)))
    try:
        return Context.from_entries(converted) if converted else None
    except ContextError as exc:
        raise RequestFieldError(field, str(exc)) from None


def is_resource(value: str) -> bool:
    """An ARN or `*` (empty means `*` too)."""
    return (
        not value
        or value == "*"
        or (
            value.startswith("arn:") and value.count(":") >= 5 and len(value) <= MAX_RESOURCE_LENGTH
        )
    )


def resource(value: str, field: str = "resource_arn") -> str:
    if not is_resource(value):
        raise RequestFieldError(field, "must be an ARN or *")
    return value or "*"


def owner(value: str | None, field: str = "resource_owner_account") -> str | None:
    if not value:
        return None
    if not valid_account(value):
        raise RequestFieldError(field, "must be a 12-digit account id")
    return value


def declares(registry: ServiceRegistry, action: str) -> bool:
    """Whether a service definition of ``registry`` declares ``action``."""
    service, _, name = action.lower().partition(":")
    definition = registry.get(service) if name else None
    return definition is not None and name in definition.actions


def undeclared(action: str, field: str = "action") -> RequestFieldError:
    return RequestFieldError(
        field, f"{action[:256]!r} is not an action declared by a service definition"
    )


def registry_of(definitions: Iterable[tuple[str, Mapping[str, Any]]]) -> ServiceRegistry:
    """The built-in services plus stored definitions ((prefix, stored shape) pairs);
    unreadable ones are skipped, as the server's registry skips them."""
    registry = builtin_registry()
    for prefix, data in definitions:
        try:
            registry = registry.with_definition(definition_from_record(prefix, data))
        except (ServiceDefinitionError, KeyError, TypeError, ValueError):
            log.exception("skipping unreadable service definition %s", prefix)
    return registry
