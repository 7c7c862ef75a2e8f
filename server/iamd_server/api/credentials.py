"""Manage calls on credentials: login profiles, the account password policy, OpenID Connect
providers, and revoking a role's or a user's sessions.

Authorized like the other Manage calls: ``iam:<Rpc>`` on the target ARN (the user, the
provider, ``*`` for account-wide settings). Two calls have no IAM action of their own and
use the closest one: UpdateOpenIDConnectProviderJwks -> iam:UpdateOpenIDConnectProviderThumbprint
(both replace what the provider's tokens are checked against), RevokeRoleSessions ->
iam:PutRolePolicy (AWS revokes sessions by putting an inline Deny policy on the role) and
RevokeUserSessions -> iam:PutUserPolicy (the same Deny, on the user).
"""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

import json
import urllib.parse

from iamd.v1 import management_pb2 as pb

from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase, Target
from iamd_server.authn import oidc, passwords
from iamd_server.errors import InvalidArgument, NotFound
from iamd_server.store.credentials import (
    LoginProfileRecord,
    OidcProviderRecord,
    PasswordPolicyRecord,
    oidc_provider_arn,
    parse_oidc_provider_arn,
)


def _profile(record: LoginProfileRecord) -> pb.LoginProfile:
    return pb.LoginProfile(
        user_name=record.user_name,
        create_date=convert.timestamp(record.create_date),
        password_reset_required=record.password_reset_required,
        account_id=record.account_id,
    )


def _provider(record: OidcProviderRecord) -> pb.OpenIDConnectProvider:
    return pb.OpenIDConnectProvider(
        arn=record.arn,
        url=record.url,
        client_ids=list(record.client_ids),
        jwks=json.dumps(dict(record.jwks), separators=(",", ":")),
        jwks_url=record.jwks_url or "",
        create_date=convert.timestamp(record.create_date),
        account_id=record.account_id,
        jwks_update_date=convert.timestamp(record.jwks_update_date),
    )


def _policy(record: PasswordPolicyRecord) -> pb.PasswordPolicy:
    return pb.PasswordPolicy(
        minimum_password_length=record.minimum_password_length,
        require_symbols=record.require_symbols,
        require_numbers=record.require_numbers,
        require_uppercase_characters=record.require_uppercase_characters,
        require_lowercase_characters=record.require_lowercase_characters,
        allow_users_to_change_password=record.allow_users_to_change_password,
        max_password_age=record.max_password_age or 0,
        password_reuse_prevention=record.password_reuse_prevention or 0,
        hard_expiry=record.hard_expiry,
        expire_passwords=bool(record.max_password_age),
    )


def _jwks_url(value: str, *, allow_http: bool) -> str | None:
    if not value:
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        named_host = bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        named_host = False
    if (
        len(value) > 2048
        or not named_host
        or not oidc.jwks_url_scheme_allowed(value, allow_http=allow_http)
        or parts.username is not None
        or parts.fragment
        or any(c.isspace() or not c.isprintable() for c in value)
    ):
        raise InvalidArgument(
            "jwks_url", "the JWKS URL must be an https:// URL naming a host (at most 2048 chars)"
        )
    return value


class CredentialsServicer(ManagementBase):
    """`CredentialsServicer(store, decider, master_key)`: the credential Manage RPCs."""

    # Plain http JWKS URLs are accepted only when the server is told so (`--oidc-allow-http`).
    allow_http_jwks = False

    # ---- login profiles ----

    async def _login_user(self, call: Call, account_id: str, user_name: str) -> Target:
        caller = call.require_caller()
        account = targets.account_for(account_id, caller)
        name = user_name or self._own_user_name(caller, account)
        return await self._user(call, account, name)

    async def _checked_password(
        self, target: Target, user_name: str, password: str, *, check_reuse: bool
    ) -> str:
        """The argon2 hash of a password that satisfies the account's policy."""
        policy = await self._store.get_account_password_policy(account_id=target.account)
        passwords.check_against_policy(password, policy)
        if check_reuse and policy is not None and policy.password_reuse_prevention:
            history = await self._store.password_history(
                account_id=target.account,
                user_name=user_name,
                limit=policy.password_reuse_prevention,
            )
            if await passwords.reused(password, history):
                raise InvalidArgument(
                    "password",
                    "Password does not conform to the account password policy: it was one of"
                    f" the last {policy.password_reuse_prevention} passwords",
                )
        return await passwords.hash_password_async(password)

    @staticmethod
    def _name_of(target: Target) -> str:
        return target.arn.rsplit("/", 1)[-1]

    async def CreateLoginProfile(
        self, request: pb.CreateLoginProfileRequest, call: Call
    ) -> pb.CreateLoginProfileResponse:
        target = await self._login_user(call, request.account_id, request.user_name)
        await self._check(target, "iam:CreateLoginProfile")
        name = self._name_of(target)
        hashed = await self._checked_password(target, name, request.password, check_reuse=False)
        written = await self._store.create_login_profile(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=name,
            password_hash=hashed,
            password_reset_required=request.password_reset_required,
        )
        return pb.CreateLoginProfileResponse(
            login_profile=_profile(written.value), revision=written.revision
        )

    async def UpdateLoginProfile(
        self, request: pb.UpdateLoginProfileRequest, call: Call
    ) -> pb.UpdateLoginProfileResponse:
        target = await self._login_user(call, request.account_id, request.user_name)
        await self._check(target, "iam:UpdateLoginProfile")
        name = self._name_of(target)
        hashed = None
        if request.HasField("password"):
            await self._store.get_login_profile(account_id=target.account, user_name=name)
            hashed = await self._checked_password(target, name, request.password, check_reuse=True)
        written = await self._store.update_login_profile(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=name,
            password_hash=hashed,
            password_reset_required=(
                request.password_reset_required
                if request.HasField("password_reset_required")
                else None
            ),
        )
        return pb.UpdateLoginProfileResponse(revision=written.revision)

    async def DeleteLoginProfile(
        self, request: pb.DeleteLoginProfileRequest, call: Call
    ) -> pb.DeleteLoginProfileResponse:
        target = await self._login_user(call, request.account_id, request.user_name)
        await self._check(target, "iam:DeleteLoginProfile")
        written = await self._store.delete_login_profile(
            actor=target.caller.arn, account_id=target.account, user_name=self._name_of(target)
        )
        return pb.DeleteLoginProfileResponse(revision=written.revision)

    async def GetLoginProfile(
        self, request: pb.GetLoginProfileRequest, call: Call
    ) -> pb.GetLoginProfileResponse:
        target = await self._login_user(call, request.account_id, request.user_name)
        await self._check(target, "iam:GetLoginProfile")
        record = await self._store.get_login_profile(
            account_id=target.account, user_name=self._name_of(target)
        )
        return pb.GetLoginProfileResponse(login_profile=_profile(record))

    # ---- password policy ----

    async def UpdateAccountPasswordPolicy(
        self, request: pb.UpdateAccountPasswordPolicyRequest, call: Call
    ) -> pb.UpdateAccountPasswordPolicyResponse:
        target = self._account_target(call, request.account_id)
        policy = passwords.policy_from_request(
            minimum_password_length=(
                request.minimum_password_length
                if request.HasField("minimum_password_length")
                else None
            ),
            require_symbols=request.require_symbols,
            require_numbers=request.require_numbers,
            require_uppercase_characters=request.require_uppercase_characters,
            require_lowercase_characters=request.require_lowercase_characters,
            allow_users_to_change_password=request.allow_users_to_change_password,
            max_password_age=request.max_password_age or None,
            password_reuse_prevention=request.password_reuse_prevention or None,
            hard_expiry=request.hard_expiry,
        )
        await self._check(target, "iam:UpdateAccountPasswordPolicy")
        written = await self._store.update_account_password_policy(
            actor=target.caller.arn, account_id=target.account, policy=policy
        )
        return pb.UpdateAccountPasswordPolicyResponse(revision=written.revision)

    async def GetAccountPasswordPolicy(
        self, request: pb.GetAccountPasswordPolicyRequest, call: Call
    ) -> pb.GetAccountPasswordPolicyResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:GetAccountPasswordPolicy")
        record = await self._store.get_account_password_policy(account_id=target.account)
        if record is None:
            raise NotFound(f"The Password Policy with domain name {target.account} cannot be found")
        return pb.GetAccountPasswordPolicyResponse(password_policy=_policy(record))

    async def DeleteAccountPasswordPolicy(
        self, request: pb.DeleteAccountPasswordPolicyRequest, call: Call
    ) -> pb.DeleteAccountPasswordPolicyResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:DeleteAccountPasswordPolicy")
        written = await self._store.delete_account_password_policy(
            actor=target.caller.arn, account_id=target.account
        )
        return pb.DeleteAccountPasswordPolicyResponse(revision=written.revision)

    # ---- OpenID Connect providers ----

    def _provider_target(self, call: Call, arn: str) -> Target:
        if not arn:
            raise InvalidArgument("open_id_connect_provider_arn", "the provider ARN is required")
        account, _ = parse_oidc_provider_arn(arn)
        return Target(call.require_caller(), account, arn)

    async def CreateOpenIDConnectProvider(
        self, request: pb.CreateOpenIDConnectProviderRequest, call: Call
    ) -> pb.CreateOpenIDConnectProviderResponse:
        caller = call.require_caller()
        account = targets.account_for(request.account_id, caller)
        url, host_path = oidc.normalize_url(request.url)
        client_ids = oidc.check_client_ids(list(request.client_ids))
        if not request.jwks:
            raise InvalidArgument(
                "jwks", "the provider's signing keys (a JWKS document) are required"
            )
        jwks = oidc.parse_jwks(request.jwks)
        jwks_url = _jwks_url(request.jwks_url, allow_http=self.allow_http_jwks)
        target = Target(caller, account, oidc_provider_arn(account, host_path))
        await self._check(target, "iam:CreateOpenIDConnectProvider")
        written = await self._store.create_oidc_provider(
            actor=caller.arn,
            account_id=account,
            url=url,
            host_path=host_path,
            client_ids=client_ids,
            jwks=jwks,
            jwks_url=jwks_url,
        )
        return pb.CreateOpenIDConnectProviderResponse(
            provider=_provider(written.value), revision=written.revision
        )

    async def GetOpenIDConnectProvider(
        self, request: pb.GetOpenIDConnectProviderRequest, call: Call
    ) -> pb.GetOpenIDConnectProviderResponse:
        target = self._provider_target(call, request.open_id_connect_provider_arn)
        await self._check(target, "iam:GetOpenIDConnectProvider")
        record = await self._store.get_oidc_provider(arn=target.arn)
        return pb.GetOpenIDConnectProviderResponse(provider=_provider(record))

    async def ListOpenIDConnectProviders(
        self, request: pb.ListOpenIDConnectProvidersRequest, call: Call
    ) -> pb.ListOpenIDConnectProvidersResponse:
        target = self._account_target(call, request.account_id)
        await self._check(target, "iam:ListOpenIDConnectProviders")
        records = await self._store.list_oidc_providers(account_id=target.account)
        return pb.ListOpenIDConnectProvidersResponse(providers=[_provider(r) for r in records])

    async def UpdateOpenIDConnectProviderJwks(
        self, request: pb.UpdateOpenIDConnectProviderJwksRequest, call: Call
    ) -> pb.UpdateOpenIDConnectProviderJwksResponse:
        target = self._provider_target(call, request.open_id_connect_provider_arn)
        jwks = oidc.parse_jwks(request.jwks) if request.jwks else None
        set_url = request.HasField("jwks_url")
        jwks_url = _jwks_url(request.jwks_url, allow_http=self.allow_http_jwks) if set_url else None
        if jwks is None and not set_url:
            raise InvalidArgument("jwks", "give a new JWKS document or JWKS URL")
        await self._check(target, "iam:UpdateOpenIDConnectProviderThumbprint")
        written = await self._store.update_oidc_provider_jwks(
            actor=target.caller.arn,
            arn=target.arn,
            jwks=jwks,
            jwks_url=jwks_url,
            set_jwks_url=set_url,
        )
        return pb.UpdateOpenIDConnectProviderJwksResponse(revision=written.revision)

    async def DeleteOpenIDConnectProvider(
        self, request: pb.DeleteOpenIDConnectProviderRequest, call: Call
    ) -> pb.DeleteOpenIDConnectProviderResponse:
        target = self._provider_target(call, request.open_id_connect_provider_arn)
        await self._check(target, "iam:DeleteOpenIDConnectProvider")
        written = await self._store.delete_oidc_provider(actor=target.caller.arn, arn=target.arn)
        return pb.DeleteOpenIDConnectProviderResponse(revision=written.revision)

    # ---- role sessions ----

    async def RevokeRoleSessions(
        self, request: pb.RevokeRoleSessionsRequest, call: Call
    ) -> pb.RevokeRoleSessionsResponse:
        target = await self._role(call, request.account_id, request.role_name)
        await self._check(target, "iam:PutRolePolicy")
        written = await self._store.revoke_role_sessions(
            actor=target.caller.arn,
            account_id=target.account,
            role_name=self._name_of(target),
        )
        return pb.RevokeRoleSessionsResponse(
            revision=written.revision,
            revoked_before=convert.timestamp(written.value.revoked_before),
        )

    # ---- user sessions ----

    async def RevokeUserSessions(
        self, request: pb.RevokeUserSessionsRequest, call: Call
    ) -> pb.RevokeUserSessionsResponse:
        target = await self._login_user(call, request.account_id, request.user_name)
        await self._check(target, "iam:PutUserPolicy")
        written = await self._store.revoke_user_sessions(
            actor=target.caller.arn,
            account_id=target.account,
            user_name=self._name_of(target),
        )
        return pb.RevokeUserSessionsResponse(
            revision=written.revision,
            revoked_before=convert.timestamp(written.value.revoked_before),
        )
