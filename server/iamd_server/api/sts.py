"""The STS API: caller identity, temporary credentials for users, role assumption (by users,
role sessions and OIDC identities), and password sign-in (iam-semantics 6.8).

Role assumption is an authorization decision of the pure engine: action sts:AssumeRole (or
sts:AssumeRoleWithWebIdentity) on the role ARN, whose resource policy is the role's trust
policy, which must grant the caller (the engine's requires_resource_policy_grant rule); the
caller's own policies must also allow it unless the trust policy names the caller itself.
"""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from iamd.v1 import sts_pb2 as pb
from iamd.v1 import types_pb2
from iamd_policy import (
    Context,
    Decision,
    PolicyKind,
    PolicyValidationError,
    validate_policy,
)

from iamd_server import validation
from iamd_server.api import convert
from iamd_server.api.dispatch import Call
from iamd_server.authn import oidc, passwords
from iamd_server.authn.authenticator import Caller
from iamd_server.authn.sessions import (
    Minted,
    SessionAuthority,
    SessionClaims,
    new_session_id,
    session_arn,
)
from iamd_server.authz.decisions import Decider, Outcome
from iamd_server.authz.federation import trusts_web_identity
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.errors import (
    InvalidArgument,
    LimitExceeded,
    MalformedPolicyDocument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from iamd_server.store import Store
from iamd_server.store.credentials import login_name_key
from iamd_server.store.records import RoleRecord

_MIN_DURATION = 900
_DEFAULT_DURATION = 3600
_CHAINED_MAX = 3600
_MAX_SESSION_POLICY = 2048
_MAX_POLICY_ARNS = 10
_MAX_SESSION_TAGS = 50
_LOGIN_FAILED = "the account, user name or password is not correct"


def _credentials(minted: Minted) -> pb.Credentials:
    return pb.Credentials(
        access_key_id=minted.access_key_id,
        secret_access_key=minted.secret_access_key,
        session_token=minted.session_token,
        expiration=convert.timestamp(datetime.fromtimestamp(minted.expires_at, UTC)),
    )


def _duration(
    value: int | None, default: int, maximum: int, field: str = "duration_seconds"
) -> int:
    duration = default if value is None else value
    if duration < _MIN_DURATION:
        raise InvalidArgument(field, f"DurationSeconds must be at least {_MIN_DURATION}")
    if duration > maximum:
        raise InvalidArgument(field, f"DurationSeconds must be at most {maximum}")
    return duration


class StsServicer:
    """`StsServicer(store, decider, sessions, session_policies)`."""

    def __init__(
        self,
        store: Store,
        decider: Decider,
        sessions: SessionAuthority,
        session_policies: SessionPolicies,
    ) -> None:
        self._store = store
        self._decider = decider
        self._sessions = sessions
        self._session_policies = session_policies

    # ---- helpers ----

    async def _decide(
        self, caller: Caller, action: str, resource: str, account: str, context: Context
    ) -> Outcome:
        if caller.session is not None:
            outcome = await self._session_policies.decide(
                self._decider, caller.session, action, resource,
                resource_account=account, context=context,
            )  # fmt: skip
        else:
            outcome = await self._decider.decide(
                caller.arn,
                action,
                resource,
                resource_account=account,
                context=context,
                unique_id=caller.principal_id,
            )
        on_allowed = self._decider.on_allowed
        if on_allowed is not None and outcome.result.decision is Decision.ALLOWED:
            on_allowed(caller.principal_id, action)  # last-accessed data
        return outcome

    async def _find_role(self, role_arn: str) -> RoleRecord | None:
        """The role with exactly this ARN, or None. Callers refuse a missing role exactly as
        a role they may not assume, so nobody can probe which roles exist."""
        parsed = validation.iam_arn(role_arn, "role", "role_arn")
        validation.role_name(parsed.name, "role_arn")
        try:
            role = await self._store.get_role(account_id=parsed.account_id, role_name=parsed.name)
        except NotFound:
            return None
        return role if role.arn == role_arn else None

    @staticmethod
    def _check_session_policy(policy: str, policy_arns: Sequence[str]) -> None:
        """What can be checked of the session policies without looking anything up."""
        if policy:
            if len(policy) > _MAX_SESSION_POLICY:
                raise InvalidArgument(
                    "policy", f"the session policy must be at most {_MAX_SESSION_POLICY} characters"
                )
            try:
                validate_policy(policy, PolicyKind.SESSION)
            except PolicyValidationError as exc:
                raise MalformedPolicyDocument("policy", str(exc)) from exc
        if len(policy_arns) > _MAX_POLICY_ARNS:
            raise InvalidArgument("policy_arns", f"at most {_MAX_POLICY_ARNS} policy ARNs")
        for n, arn in enumerate(policy_arns):
            validation.iam_arn(arn, "policy", f"policy_arns[{n}]")

    async def _session_policy_arns(
        self, role: RoleRecord, policy_arns: Sequence[str]
    ) -> tuple[str, ...]:
        """The managed session policies, looked up only once the caller may assume the role
        (so only then does it learn which exist); as AWS requires, they must be in the
        role's account."""
        for n, arn in enumerate(policy_arns):
            parsed = validation.iam_arn(arn, "policy", f"policy_arns[{n}]")
            if parsed.account_id != role.account_id:
                raise InvalidArgument(
                    f"policy_arns[{n}]", "a session policy must be in the role's account"
                )
            try:
                await self._store.get_policy(policy_arn=arn)
            except NotFound as exc:
                raise InvalidArgument(f"policy_arns[{n}]", f"policy {arn} does not exist") from exc
        return tuple(dict.fromkeys(policy_arns))

    @staticmethod
    def _role_duration(requested: int | None, role: RoleRecord) -> int:
        """The session's duration within the role's maximum (told only to allowed callers)."""
        if requested is not None and requested > role.max_session_duration:
            raise InvalidArgument(
                "duration_seconds",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
        return _duration(requested, _DEFAULT_DURATION, role.max_session_duration)

    def _mint(self, claims: SessionClaims) -> Minted:
        return self._sessions.mint(claims)

    # ---- GetCallerIdentity ----

    async def GetCallerIdentity(
        self, request: pb.GetCallerIdentityRequest, call: Call
    ) -> pb.GetCallerIdentityResponse:
        caller = call.require_caller()
        session = caller.session
        if caller.is_root:
            user_id = caller.account_id
        elif session is not None and session.is_role_session:
            user_id = f"{session.principal_id}:{session.session_name}"
        elif session is not None:
            user_id = session.principal_id
        else:
            user_id = caller.principal_id
        return pb.GetCallerIdentityResponse(
            user_id=user_id, account=caller.account_id, arn=caller.arn
        )

    # ---- GetSessionToken ----

    async def GetSessionToken(
        self, request: pb.GetSessionTokenRequest, call: Call
    ) -> pb.GetSessionTokenResponse:
        caller = call.require_caller()
        if caller.session is not None:
            raise PermissionDenied("GetSessionToken needs long-term credentials")
        if request.serial_number or request.token_code:
            raise InvalidArgument("serial_number", "MFA devices are not supported")
        root = caller.is_root
        duration = _duration(
            request.duration_seconds if request.HasField("duration_seconds") else None,
            3600 if root else 43200,
            3600 if root else 129600,
        )
        if root:
            principal_id = caller.account_id
        else:
            found = await self._store.current_unique_id(arn=caller.arn)
            if found is None or found != caller.principal_id:
                raise Unauthenticated("the calling user no longer exists")
            principal_id = found
        now = time.time()
        minted = self._mint(
            SessionClaims(
                session_id=new_session_id(),
                kind="user",
                arn=caller.arn,
                base_arn=caller.arn,
                principal_id=principal_id,
                account_id=caller.account_id,
                issued_at=now,
                expires_at=now + duration,
            )
        )
        return pb.GetSessionTokenResponse(credentials=_credentials(minted))

    # ---- AssumeRole ----

    async def AssumeRole(self, request: pb.AssumeRoleRequest, call: Call) -> pb.AssumeRoleResponse:
        caller = call.require_caller()
        if caller.is_root:
            raise PermissionDenied("the root user cannot assume roles")
        parent = caller.session
        chained = parent is not None and parent.is_role_session
        session_name = validation.role_session_name(request.role_session_name)
        if request.serial_number or request.token_code:
            raise InvalidArgument("serial_number", "MFA devices are not supported")
        if request.external_id:
            validation.external_id(request.external_id)
        source_identity = request.source_identity
        if source_identity:
            validation.role_session_name(source_identity, "source_identity")
        if parent is not None and parent.source_identity:
            if source_identity and source_identity != parent.source_identity:
                raise InvalidArgument(
                    "source_identity", "the source identity of a session cannot be changed"
                )
            inherited_identity = parent.source_identity
        else:
            inherited_identity = ""
        tags, transitive = self._session_tags(request, parent)
        self._check_session_policy(request.policy, request.policy_arns)
        requested = request.duration_seconds if request.HasField("duration_seconds") else None
        _duration(requested, _DEFAULT_DURATION, validation.MAX_SESSION_DURATION)
        if chained and requested is not None and requested > _CHAINED_MAX:
            raise InvalidArgument(
                "duration_seconds",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles"
                " assumed by role chaining.",
            )

        # AWS's one answer for a missing role and a role the caller may not assume.
        refused = PermissionDenied(
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource:"
            f" {request.role_arn}"
        )
        role = await self._find_role(request.role_arn)
        if role is None:
            raise refused
        context = self._assume_context(
            session_name, request.external_id, source_identity, request.tags, transitive
        )
        outcome = await self._decide(caller, "sts:AssumeRole", role.arn, role.account_id, context)
        if outcome.result.decision is not Decision.ALLOWED:
            raise refused
        duration = self._role_duration(requested, role)
        policy_arns = await self._session_policy_arns(role, request.policy_arns)
        extra: list[str] = []
        if request.tags:
            extra.append("sts:TagSession")
        if source_identity and not inherited_identity:
            extra.append("sts:SetSourceIdentity")
        for action in extra:
            outcome = await self._decide(caller, action, role.arn, role.account_id, context)
            if outcome.result.decision is not Decision.ALLOWED:
                raise PermissionDenied(
                    f"User: {caller.arn} is not authorized to perform: {action} on resource:"
                    f" {role.arn}"
                )

        now = time.time()
        claims = SessionClaims(
            session_id=new_session_id(),
            kind="role",
            arn=session_arn(role.account_id, role.role_name, session_name),
            base_arn=role.arn,
            principal_id=role.role_id,
            account_id=role.account_id,
            issued_at=now,
            expires_at=now + duration,
            session_name=session_name,
            source_identity=source_identity or inherited_identity,
            tags=tags,
            transitive_tag_keys=transitive,
            chained=chained,
            policy=request.policy,
            policy_arns=policy_arns,
        )
        minted = self._mint(claims)
        return pb.AssumeRoleResponse(
            credentials=_credentials(minted),
            assumed_role_user=pb.AssumedRoleUser(
                assumed_role_id=f"{role.role_id}:{session_name}", arn=claims.arn
            ),
            packed_policy_size=minted.packed_percent,
            source_identity=claims.source_identity,
        )

    @staticmethod
    def _session_tags(
        request: pb.AssumeRoleRequest, parent: SessionClaims | None
    ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """(session tags, transitive tag keys): the request's plus the parent session's
        transitive ones, which survive chaining and cannot be replaced."""
        requested = [(t.key, t.value) for t in request.tags]
        if len(requested) > _MAX_SESSION_TAGS:
            raise InvalidArgument("tags", f"at most {_MAX_SESSION_TAGS} session tags")
        validation.tags(requested, case_insensitive_keys=True)
        keys = {k.lower() for k, _ in requested}
        transitive = list(request.transitive_tag_keys)
        for n, key in enumerate(transitive):
            if key.lower() not in keys:
                raise InvalidArgument(
                    f"transitive_tag_keys[{n}]", f"{key!r} is not one of the session tags"
                )
        inherited: list[tuple[str, str]] = []
        inherited_keys: list[str] = []
        if parent is not None and parent.transitive_tag_keys:
            wanted = {k.lower() for k in parent.transitive_tag_keys}
            for key, value in parent.tags:
                if key.lower() in wanted:
                    if key.lower() in keys:
                        raise InvalidArgument(
                            "tags", f"the transitive session tag {key!r} cannot be replaced"
                        )
                    inherited.append((key, value))
                    inherited_keys.append(key)
        tags = tuple(inherited + requested)
        if len(tags) > _MAX_SESSION_TAGS:
            raise InvalidArgument("tags", f"at most {_MAX_SESSION_TAGS} session tags in all")
        return tags, tuple(dict.fromkeys(inherited_keys + transitive))

    @staticmethod
    def _assume_context(
        session_name: str,
        external_id: str,
        source_identity: str,
        tags: Sequence[types_pb2.Tag],
        transitive: Sequence[str],
    ) -> Context:
        entries: dict[str, tuple[str, str, Sequence[str]]] = {
            "sts:rolesessionname": ("sts:RoleSessionName", "string", (session_name,)),
        }
        if external_id:
            entries["sts:externalid"] = ("sts:ExternalId", "string", (external_id,))
        if source_identity:
            entries["sts:sourceidentity"] = ("sts:SourceIdentity", "string", (source_identity,))
        if tags:
            for tag in tags:
                name = f"aws:RequestTag/{tag.key}"
                entries[name.lower()] = (name, "string", (tag.value,))
            entries["aws:tagkeys"] = ("aws:TagKeys", "stringList", tuple(t.key for t in tags))
        if transitive:
            entries["sts:transitivetagkeys"] = (
                "sts:TransitiveTagKeys",
                "stringList",
                tuple(transitive),
            )
        return Context.from_entries(entries.values())

    # ---- AssumeRoleWithWebIdentity ----

    async def AssumeRoleWithWebIdentity(
        self, request: pb.AssumeRoleWithWebIdentityRequest, call: Call
    ) -> pb.AssumeRoleWithWebIdentityResponse:
        session_name = validation.role_session_name(request.role_session_name)
        token = request.web_identity_token
        issuer = oidc.unverified_issuer(token)
        self._check_session_policy(request.policy, request.policy_arns)
        requested = request.duration_seconds if request.HasField("duration_seconds") else None
        _duration(requested, _DEFAULT_DURATION, validation.MAX_SESSION_DURATION)
        account = validation.iam_arn(request.role_arn, "role", "role_arn").account_id

        # The token is verified before anything about the role is looked up, and a token
        # of an issuer with no provider in the role's account fails like a forged one: the
        # caller has no credentials until then, so it must learn nothing about what exists.
        host_path = oidc.issuer_host_path(issuer)
        provider = (
            await self._store.find_oidc_provider(account_id=account, host_path=host_path)
            if host_path is not None
            else None
        )
        if provider is None:
            raise Unauthenticated(oidc.NOT_VERIFIED)
        verified = oidc.verify_token(
            token, url=provider.url, client_ids=provider.client_ids, jwks=provider.jwks
        )

        # AWS's one answer for a missing role and a role that does not trust the token.
        refused = PermissionDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
        role = await self._find_role(request.role_arn)
        if role is None:
            raise refused
        trusted = await trusts_web_identity(
            self._decider,
            provider_arn=provider.arn,
            host_path=provider.host_path,
            token=verified,
            role_arn=role.arn,
            role_account=role.account_id,
            session_name=session_name,
        )
        if not trusted:
            raise refused
        duration = self._role_duration(requested, role)
        policy_arns = await self._session_policy_arns(role, request.policy_arns)

        now = time.time()
        claims = SessionClaims(
            session_id=new_session_id(),
            kind="role",
            arn=session_arn(role.account_id, role.role_name, session_name),
            base_arn=role.arn,
            principal_id=role.role_id,
            account_id=role.account_id,
            issued_at=now,
            expires_at=now + duration,
            session_name=session_name,
            federated_provider=provider.arn,
            policy=request.policy,
            policy_arns=policy_arns,
        )
        minted = self._mint(claims)
        return pb.AssumeRoleWithWebIdentityResponse(
            credentials=_credentials(minted),
            assumed_role_user=pb.AssumedRoleUser(
                assumed_role_id=f"{role.role_id}:{session_name}", arn=claims.arn
            ),
            subject_from_web_identity_token=verified.subject,
            provider=provider.host_path,
            audience=verified.audience,
            packed_policy_size=minted.packed_percent,
        )

    # ---- Login ----

    async def Login(self, request: pb.LoginRequest, call: Call) -> pb.LoginResponse:
        """Every name is answered alike, whether or not a user (or account) goes by it: the
        same attempt counting and backoff, one slow hash, the same failure message."""
        if not request.account or not request.user_name or not request.password:
            raise InvalidArgument("account", "account, user_name and password are required")
        validation.short_text(request.account, "account", "account id or name", 50)
        validation.user_name(request.user_name)
        passwords.check_password_text(request.password)
        duration = _duration(
            request.duration_seconds if request.HasField("duration_seconds") else None,
            _DEFAULT_DURATION,
            43200,
        )
        account: str | None = request.account
        if not validation_account(request.account):
            account = await self._store.find_account_by_name(name=request.account)
        # Counted before the password is checked, so guesses sent together cannot all pass.
        name_key = login_name_key(account or request.account, request.user_name)
        wait = await self._store.claim_login_attempt(
            name_key=name_key,
            forget_after_seconds=passwords.FORGET_FAILURES_AFTER_SECONDS,
            delays=passwords.BACKOFF_DELAYS,
        )
        if wait > 0:
            raise LimitExceeded(
                f"too many failed sign-ins for this user name; retry in {math.ceil(wait)} s"
            )
        candidate = await self._store.login_candidate(
            account_id=account or "", user_name=request.user_name
        )
        hashed = candidate.password_hash if candidate is not None else None
        if not await passwords.verify_password_async(hashed, request.password):
            raise Unauthenticated(_LOGIN_FAILED)
        assert candidate is not None  # a password verified, so the user exists
        await self._store.forget_login_attempts(name_key=name_key)
        reset_required = candidate.password_reset_required
        policy = await self._store.get_account_password_policy(account_id=candidate.account_id)
        if passwords.password_expired(candidate.password_changed_at, policy, datetime.now(UTC)):
            if policy is not None and policy.hard_expiry:
                raise PermissionDenied("the password has expired; an administrator must reset it")
            reset_required = True
        issued = time.time()
        minted = self._mint(
            SessionClaims(
                session_id=new_session_id(),
                kind="user",
                arn=candidate.user_arn,
                base_arn=candidate.user_arn,
                principal_id=candidate.user_id,
                account_id=candidate.account_id,
                issued_at=issued,
                expires_at=issued + duration,
            )
        )
        return pb.LoginResponse(
            credentials=_credentials(minted),
            arn=candidate.user_arn,
            password_reset_required=reset_required,
        )


def validation_account(value: str) -> bool:
    return len(value) == 12 and value.isascii() and value.isdigit()
