"""One gateway decision: an HTTP request (as a proxy describes it) -> allow or deny.

The steps, in order, each with its answer:

1. The route's configuration (service, region, account, unbound policy) must be valid, and
   the service must have a definition: otherwise 500 (the gateway is misconfigured).
2. The request line must be well formed (method, target, no dot segments, no encoded
   slashes, ...): otherwise 401.
3. The method and path are matched to one HTTP binding of the service (a compiled route
   table, built once per definition). No match and the route opts out
   (`iamd_unbound: allow`): 200, no principal.
4. The principal is authenticated from the request (gateway.http_principal): otherwise 401
   (403 when a valid token may not act as the role).
5. No binding matched: 403 (fail closed).
6. The binding names the action and, from the path's variables, the resource ARN; the
   decision is the Decider's, as for Authorize (same caches, same engine), with aws:SourceIp,
   aws:SecureTransport, aws:UserAgent and aws:RequestedRegion in the request context:
   200 with `x-iamd-principal` and `x-iamd-revision` for the upstream, or 403 naming the
   action and the resource (never the statement that decided).

Anything unexpected is a 500 deny, never an allow.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iamd_policy import Context, Decision, EvaluationResult, ServiceDefinition
from iamd_policy.entries import UNKNOWN_PRINCIPAL, PrincipalEntry, valid_account

from iamd_server.authn.authenticator import Caller
from iamd_server.authz.cache import MISSING
from iamd_server.authz.changes import ChangeFeed
from iamd_server.authz.decisions import Decider
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.errors import InvalidArgument, PermissionDenied, Unauthenticated
from iamd_server.gateway.bindings import (
    MalformedTarget,
    Match,
    RouteTable,
    compile_routes,
    request_segments,
)
from iamd_server.gateway.http_principal import HttpPrincipals
from iamd_server.runtime.metrics import DECISIONS

if TYPE_CHECKING:
    from iamd_server.insight.observe import Insight

log = logging.getLogger(__name__)

PARTITION = "aws"
HEADER_PRINCIPAL = "x-iamd-principal"
HEADER_REVISION = "x-iamd-revision"
# Headers only iamd may set on the upstream request: removed when the route lets an
# unbound request through, so a client cannot pose as someone.
UPSTREAM_HEADERS = (HEADER_PRINCIPAL, HEADER_REVISION)
MAX_TARGET_LENGTH = 8192
MAX_METHOD_LENGTH = 20
MAX_RESOURCE_LENGTH = 2048
MAX_USER_AGENT = 1024
_REGION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# RFC 9110 token characters (a method).
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the proxy describes it, with the route's configuration."""

    method: str
    target: str  # the request target as received: path and query string, not decoded
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ","
    service: str  # the service prefix (route: iamd_service / X-Iamd-Service)
    source_ip: str  # the downstream client's address, as the proxy saw it
    secure: bool  # the client reached the proxy over TLS
    region: str = ""
    account: str = ""  # "" = the principal's account
    role_arn: str = ""  # the role bearer tokens act as ("" = the x-iamd-role-arn header)
    allow_unbound: bool = False
    body: bytes | None = None  # the whole body, when the proxy forwarded it


@dataclass(frozen=True, slots=True)
class Answer:
    """200: allow, with ``headers`` for the upstream request (``remove`` to drop from it);
    otherwise a denial, with ``headers`` and ``body`` for the client."""

    status: int
    outcome: str  # metrics label: allowed, denied, unbound, unauthenticated, malformed, error
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    remove: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.status == 200


def _json(status: int, outcome: str, payload: Mapping[str, str]) -> Answer:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Answer(status, outcome, (("content-type", "application/json"),), body)


def _error(status: int, outcome: str, code: str, message: str) -> Answer:
    return _json(status, outcome, {"error": code, "message": message})


INTERNAL = _error(500, "error", "InternalError", "the request could not be authorized")
MISCONFIGURED = _error(
    500, "error", "GatewayMisconfigured", "the gateway's route to iamd is misconfigured"
)
UNBOUND_ALLOWED = Answer(200, "unbound_allowed", remove=UPSTREAM_HEADERS)


class ConfigurationError(ValueError):
    """The route's configuration is unusable (answered 500)."""


class Gateway:
    """Decides on HTTP requests for Envoy's Check and the forward-auth listener."""

    def __init__(
        self,
        decider: Decider,
        feed: ChangeFeed,
        principals: HttpPrincipals,
        session_policies: SessionPolicies,
        *,
        own_audience: str,
    ) -> None:
        self._decider = decider
        self._feed = feed
        self._principals = principals
        self._session_policies = session_policies
        self._own_audience = own_audience  # iamd's own service name: never a gateway's
        # prefix -> (the definition it was compiled from, its route table)
        self._tables: dict[str, tuple[ServiceDefinition, RouteTable | None]] = {}
        self.insight: Insight | None = None  # set by the app: told every decision

    async def check(self, request: HttpRequest) -> Answer:
        """The answer for one request; never raises, and any failure is a denial."""
        try:
            return await self._check(request, time.monotonic())
        except ConfigurationError as exc:
            # The detail is for the operator's log, not for whoever sent the request.
            log.warning("gateway route misconfigured: %s", exc)
            return MISCONFIGURED
        except Exception:
            log.exception("gateway check failed; denying")
            return INTERNAL

    def routes(self, service: str) -> tuple[str, RouteTable] | None:
        """The service's prefix (as defined) and route table, compiled once per definition:
        a reloaded registry holds new definition objects, which are compiled again on first
        use. None when the service has no definition; ConfigurationError when its bindings
        do not compile (validated on write, so never expected), rather than treating every
        request as unbound, which a route may let through."""
        definition = self._decider.registry.get(service)
        if definition is None:
            return None
        cached = self._tables.get(service)
        if cached is None or cached[0] is not definition:
            try:
                patterns = {t.name: t.arn_pattern for t in definition.resource_types.values()}
                actions = list(definition.actions.values())
                table: RouteTable | None = compile_routes(definition.prefix, actions, patterns)
            except ValueError as exc:
                log.error("the HTTP bindings of %s do not compile: %s", service, exc)
                table = None
            cached = self._tables[service] = (definition, table)
        if cached[1] is None:
            raise ConfigurationError(f"the HTTP bindings of {service!r} do not compile")
        return definition.prefix, cached[1]

    async def _check(self, request: HttpRequest, started: float) -> Answer:
        service = request.service
        if not service:
            raise ConfigurationError("the route names no iamd service")
        if service == self._own_audience:
            raise ConfigurationError(f"{service!r} is iamd's own name, not a service's")
        region = request.region
        if len(region) > 32 or not set(region) <= _REGION_CHARACTERS:
            raise ConfigurationError("the route's region must be [a-z0-9-], at most 32")
        if request.account and not valid_account(request.account):
            raise ConfigurationError("the route's account must be a 12-digit account id")
        found = self.routes(service)
        if found is None:
            raise ConfigurationError(f"no service definition for {service[:64]!r}")
        service, table = found  # the prefix as defined: the audience of signed requests
        method, target = request.method, request.target
        if not (0 < len(method) <= MAX_METHOD_LENGTH and set(method) <= _TOKEN_CHARACTERS):
            return _error(401, "malformed", "MalformedRequest", "the request method is malformed")
        if not (
            0 < len(target) <= MAX_TARGET_LENGTH
            and target.isascii()
            and target.isprintable()
            and " " not in target
        ):
            return _error(401, "malformed", "MalformedRequest", "the request target is malformed")
        try:
            segments = request_segments(target)
        except MalformedTarget as exc:
            return _error(401, "malformed", "MalformedRequest", str(exc))
        matched = table.match(method, segments)
        if matched is None and request.allow_unbound:
            return UNBOUND_ALLOWED
        try:
            source = ipaddress.ip_address(request.source_ip.strip("[]"))
        except ValueError:
            raise ConfigurationError("the proxy sent no valid client address") from None
        if isinstance(source, ipaddress.IPv6Address) and source.ipv4_mapped is not None:
            source = source.ipv4_mapped  # an IPv4 client on a dual-stack listener
        try:
            caller = await self._principals.authenticate(
                method=method,
                target=target,
                headers=request.headers,
                service=service,
                role_arn=request.role_arn,
                body=request.body,
                used_for=matched.route.action if matched is not None else f"{service}:unbound",
            )
        except (Unauthenticated, InvalidArgument) as exc:
            return _error(401, "unauthenticated", "Unauthenticated", exc.reason)
        except PermissionDenied as exc:
            return _error(403, "denied", "AccessDenied", exc.reason)
        if matched is None:
            return _error(
                403,
                "unbound",
                "AccessDenied",
                f"no action of {service} is bound to {method} requests for this path",
            )
        return await self._decide(request, matched, caller, str(source), region, started)

    async def _decide(
        self,
        request: HttpRequest,
        matched: Match,
        caller: Caller,
        source: str,
        region: str,
        started: float,
    ) -> Answer:
        route = matched.route
        account = request.account or caller.account_id
        try:
            resource = route.resource(
                matched.segments, partition=PARTITION, region=region, account=account
            )
        except MalformedTarget as exc:
            return _error(401, "malformed", "MalformedRequest", str(exc))
        if len(resource) > MAX_RESOURCE_LENGTH:
            return _error(401, "malformed", "MalformedRequest", "the resource ARN is too long")
        decider = self._decider

        async def resolve() -> tuple[PrincipalEntry | None, Any]:
            entry = await self._entry(caller)
            if entry is None:
                return None, None
            found = decider.lookup_resource(resource)
            if found is MISSING:
                found = await decider.resource_policies(resource)
            return entry, found

        # Entries read at one generation, read again when a change arrived while they
        # loaded, and the replica proven current (else Unavailable): as Decider.decide.
        (entry, resource_entry), generation = await decider.settled(resolve)
        revision = self._feed.applied_revision
        context: Context | None = None
        if entry is None:
            result: EvaluationResult = UNKNOWN_PRINCIPAL
        else:
            context = self._context(request, source, region)
            result = decider.evaluate(
                entry,
                route.action,
                resource,
                None,
                context,
                resource_entry,
                False,
                int(time.time()),
                generation,
            )
        if self.insight is not None:
            self.insight.decided(
                "gateway", caller.arn, caller.arn, route.action, resource, None, context,
                entry, resource_entry, result, revision, started, request.headers,
            )  # fmt: skip
        decision = result.decision
        if decision is Decision.ALLOWED:
            DECISIONS.add("allowed")
            return Answer(
                200,
                "allowed",
                ((HEADER_PRINCIPAL, caller.arn), (HEADER_REVISION, str(revision))),
            )
        DECISIONS.add(
            "unknown_principal"
            if entry is None
            else "explicit_deny"
            if decision is Decision.EXPLICIT_DENY
            else "implicit_deny"
        )
        return _json(
            403,
            "denied",
            {
                "error": "AccessDenied",
                "message": f"{caller.arn} is not authorized to perform {route.action}"
                f" on resource {resource}",
                "action": route.action,
                "resource": resource,
            },
        )

    async def _entry(self, caller: Caller) -> PrincipalEntry | None:
        """The caller's compiled entry (its session's policies on top), or None when its
        ARN now names another user or role than its credentials (identity follows ids)."""
        decider = self._decider
        entry = decider.lookup_principal(caller.arn)
        if entry is MISSING:
            entry = await decider.principal_entry(caller.arn)
        if not isinstance(entry, PrincipalEntry) or entry.unique_id != caller.principal_id:
            return None
        if caller.session is not None:
            return await self._session_policies.entry(entry, caller.session)
        return entry

    @staticmethod
    def _context(request: HttpRequest, source: str, region: str) -> Context:
        entries: list[tuple[str, str, tuple[str, ...]]] = [
            ("aws:SourceIp", "ip", (source,)),
            ("aws:SecureTransport", "boolean", ("true" if request.secure else "false",)),
        ]
        agent = request.headers.get("user-agent", "")
        if agent and len(agent) <= MAX_USER_AGENT:
            entries.append(("aws:UserAgent", "string", (agent,)))
        if region:
            entries.append(("aws:RequestedRegion", "string", (region,)))
        return Context.from_entries(entries)
