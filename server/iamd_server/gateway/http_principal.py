"""Who sent an HTTP request that a gateway asks about.

Two credentials, in this order:

- **An iamd signature** (`x-iamd-access-key-id`, `x-iamd-date`, `x-iamd-signature`,
  `x-iamd-content-sha256`, `x-iamd-security-token` for temporary credentials): the SDK's
  signature (iamd_client.signing.http_signature_headers) over "METHOD TARGET", the date, the
  key id and the body's SHA-256, for the service's name as audience, verified like any call
  to iamd. When the proxy forwards the whole body the hash is checked against it.
- **An OpenID Connect token** (`Authorization: Bearer <JWT>`) of a provider registered in
  the role's account, acting as the role named by the route (`iamd_role_arn`) or, when the
  route names none, by the `x-iamd-role-arn` header, exactly as AssumeRoleWithWebIdentity
  would allow it (iamd_server.authz.federation): the principal is the role session
  `assumed-role/ROLE/SUB` (the token's subject, or a hash of it when it is not a valid
  session name). Verified tokens are cached until they expire; the trust policy, the role
  and revocations (RevokeRoleSessions, by the token's `iat`) are checked at every request.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iamd_client import signing

from iamd_server import validation
from iamd_server.authn import oidc
from iamd_server.authn.authenticator import Authenticator, Caller, is_hex64
from iamd_server.authn.sessions import MAX_TOKEN_BYTES, SessionAuthority, SessionClaims, session_arn
from iamd_server.authz.decisions import Decider
from iamd_server.authz.federation import trusts_web_identity
from iamd_server.errors import InvalidArgument, PermissionDenied, Unauthenticated
from iamd_server.store import Store
from iamd_server.store.credentials import OidcProviderRecord

HEADER_ROLE_ARN = "x-iamd-role-arn"
NO_CREDENTIALS = (
    "the request carries no credentials: sign it (x-iamd-* headers) or send"
    " Authorization: Bearer with an OpenID Connect token"
)
# AWS's one answer for a missing role and a role that does not trust the token.
REFUSED_ROLE = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
# How long a provider lookup (found or not) is reused; change notifications drop it sooner.
PROVIDER_TTL = 10.0
_SESSION_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-"
)


def _printable(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and value.isascii() and value.isprintable()


def session_name_for(subject: str) -> str:
    """The token's subject when it is a valid role session name, else a hash of it."""
    if 2 <= len(subject) <= 64 and set(subject) <= _SESSION_CHARACTERS:
        return subject
    return "sub-" + hashlib.sha256(subject.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class _Token:
    verified: oidc.VerifiedToken
    provider_arn: str
    host_path: str
    issued_at: float  # the token's iat; 0 without one (then any revocation ends it)
    expires_at: float  # exp plus the leeway verify_token allows


class HttpPrincipals:
    """Authenticates the principal of an HTTP request (see the module docstring)."""

    def __init__(
        self,
        authenticator: Authenticator,
        decider: Decider,
        sessions: SessionAuthority,
        store: Store,
        *,
        max_tokens: int = 10_000,
    ) -> None:
        self._authenticator = authenticator
        self._decider = decider
        self._sessions = sessions
        self._store = store
        self._max_tokens = max_tokens
        # (sha256(token), role account) -> verified token
        self._tokens: dict[tuple[bytes, str], _Token] = {}
        # (account, provider host/path) -> (provider or None, monotonic deadline)
        self._providers: dict[tuple[str, str], tuple[OidcProviderRecord | None, float]] = {}
        self._generation = 0

    def on_change(self, _revision: int, keys: Sequence[str]) -> None:
        """A provider created, updated (keys, client ids) or deleted drops what was verified
        with it."""
        if any(k == "*" or k.startswith("oidc:") for k in keys):
            self._tokens.clear()
            self._providers.clear()
            self._generation += 1

    async def authenticate(
        self,
        *,
        method: str,
        target: str,
        headers: Mapping[str, str],
        service: str,
        role_arn: str = "",
        body: bytes | None = None,
        used_for: str | None = None,
    ) -> Caller:
        """The caller; Unauthenticated without valid credentials, PermissionDenied when the
        token may not act as the role."""
        if signing.HEADER_SIGNATURE in headers or signing.HEADER_KEY_ID in headers:
            return await self._signed(method, target, headers, service, body, used_for)
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("only Bearer tokens are accepted in Authorization")
            return await self._bearer(token.strip(), role_arn or headers.get(HEADER_ROLE_ARN, ""))
        raise Unauthenticated(NO_CREDENTIALS)

    # -- iamd signatures ---------------------------------------------------------------

    async def _signed(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        service: str,
        body: bytes | None,
        used_for: str | None,
    ) -> Caller:
        key_id = headers.get(signing.HEADER_KEY_ID, "")
        date = headers.get(signing.HEADER_DATE, "")
        signature = headers.get(signing.HEADER_SIGNATURE, "")
        content = headers.get(signing.HEADER_CONTENT_SHA256, "")
        token = headers.get(signing.HEADER_TOKEN, "")
        if not (0 < len(key_id) <= 128 and key_id.isascii() and key_id.isalnum()):
            raise Unauthenticated(f"{signing.HEADER_KEY_ID} must be an access key id")
        if not (0 < len(date) <= 12 and date.isascii() and date.isdigit()):
            raise Unauthenticated(f"{signing.HEADER_DATE} must be Unix seconds")
        if not is_hex64(signature):
            raise Unauthenticated(f"{signing.HEADER_SIGNATURE} must be 64 lowercase hex digits")
        if not is_hex64(content):
            raise Unauthenticated(
                f"{signing.HEADER_CONTENT_SHA256} must be the body's SHA-256 (64 lowercase hex"
                " digits)"
            )
        if token and not _printable(token, 2 * MAX_TOKEN_BYTES):
            raise Unauthenticated(f"{signing.HEADER_TOKEN} is malformed")
        if body is not None and hashlib.sha256(body).hexdigest() != content:
            raise Unauthenticated(f"the body does not match {signing.HEADER_CONTENT_SHA256}")
        return await self._authenticator.verify(
            signing.http_method_line(method, target),
            date,
            key_id,
            content,
            signature,
            token,
            service,
            used_for=used_for,
            scope=signing.HTTP_SCOPE,
        )

    # -- OpenID Connect tokens ---------------------------------------------------------

    async def _bearer(self, token: str, role_arn: str) -> Caller:
        if not role_arn:
            raise Unauthenticated(
                f"a bearer token acts as a role: the route's iamd_role_arn or {HEADER_ROLE_ARN}"
            )
        try:
            role = validation.iam_arn(role_arn, "role", HEADER_ROLE_ARN)
            validation.role_name(role.name, HEADER_ROLE_ARN)
        except InvalidArgument as exc:
            raise Unauthenticated(f"{HEADER_ROLE_ARN}: {exc.reason}") from None
        account = role.account_id
        # The token is verified before anything about the role is looked up: until then
        # the caller is nobody and learns nothing about which roles exist.
        found = await self._verified(token, account)
        session_name = session_name_for(found.verified.subject)
        arn = session_arn(account, role.name, session_name)
        base = await self._decider.principal_entry(arn)
        if base is None or base.principal.role_arn != role_arn:
            raise PermissionDenied(REFUSED_ROLE)
        trusted = await trusts_web_identity(
            self._decider,
            provider_arn=found.provider_arn,
            host_path=found.host_path,
            token=found.verified,
            role_arn=role_arn,
            role_account=account,
            session_name=session_name,
        )
        if not trusted:
            raise PermissionDenied(REFUSED_ROLE)
        digest = hashlib.sha256(f"{role_arn}\n{token}".encode()).digest()
        claims = SessionClaims(
            session_id=base64.b32encode(digest[:10]).decode(),
            kind="role",
            arn=arn,
            base_arn=role_arn,
            principal_id=base.unique_id,
            account_id=account,
            issued_at=found.issued_at,
            expires_at=found.expires_at,
            session_name=session_name,
            federated_provider=found.provider_arn,
        )
        await self._sessions.check_valid(claims)  # expiry, RevokeRoleSessions, role replaced
        return Caller(
            arn=arn,
            account_id=account,
            access_key_id=claims.key_id,
            principal_id=base.unique_id,
            session=claims,
        )

    async def _verified(self, token: str, account: str) -> _Token:
        if not 4 <= len(token) <= oidc.MAX_TOKEN_LENGTH:
            raise Unauthenticated(oidc.NOT_VERIFIED)
        key = (hashlib.sha256(token.encode()).digest(), account)
        now = time.time()
        cached = self._tokens.get(key)
        if cached is not None:
            if now < cached.expires_at:
                return cached
            del self._tokens[key]
        generation = self._generation
        issuer = oidc.unverified_issuer(token)
        host_path = oidc.issuer_host_path(issuer)
        provider = await self._provider(account, host_path) if host_path is not None else None
        if provider is None:
            raise Unauthenticated(oidc.NOT_VERIFIED)
        verified = oidc.verify_token(
            token, url=provider.url, client_ids=provider.client_ids, jwks=provider.jwks
        )
        iat = verified.claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else 0.0
        found = _Token(
            verified,
            provider.arn,
            provider.host_path,
            issued,
            float(verified.claims["exp"]) + oidc.LEEWAY_SECONDS,
        )
        # A provider change during the lookup may have made it stale: use it this once.
        if generation == self._generation:
            if len(self._tokens) >= self._max_tokens:
                self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
                if len(self._tokens) >= self._max_tokens:
                    self._tokens.clear()
            self._tokens[key] = found
        return found

    async def _provider(self, account: str, host_path: str) -> OidcProviderRecord | None:
        key = (account, host_path)
        now = time.monotonic()
        cached = self._providers.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        generation = self._generation
        provider = await self._store.find_oidc_provider(account_id=account, host_path=host_path)
        if generation == self._generation:
            if len(self._providers) >= self._max_tokens:
                self._providers.clear()
            self._providers[key] = (provider, now + PROVIDER_TTL)
        return provider
