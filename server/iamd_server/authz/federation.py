"""Whether a role trusts a verified OpenID Connect token: AssumeRoleWithWebIdentity's
decision, shared by STS and the HTTP gateways (a bearer token mapped to a role).

The provider is the principal the trust policy must name ("Federated"); the token's claims
are condition keys it may test (HOST/PATH:aud, :sub, :azp, :amr, aws:FederatedProvider).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from iamd_policy import Context, Decision, PolicySets, Principal, PrincipalKind
from iamd_policy.entries import PrincipalEntry

from iamd_server.authn import oidc
from iamd_server.authz.decisions import Decider

ACTION = "sts:AssumeRoleWithWebIdentity"


async def trusts_web_identity(
    decider: Decider,
    *,
    provider_arn: str,
    host_path: str,
    token: oidc.VerifiedToken,
    role_arn: str,
    role_account: str,
    session_name: str,
) -> bool:
    """True when the role's trust policy allows the token's identity to assume it."""
    keys: dict[str, str | Sequence[str]] = dict(oidc.condition_keys(host_path, token))
    keys["aws:FederatedProvider"] = provider_arn
    trusted = Context.from_mapping(keys)
    principal = Principal(arn=provider_arn, account=None, kind=PrincipalKind.SERVICE)
    entry = PrincipalEntry(principal, PolicySets(), trusted, decider.revision)
    resource_set = await decider.resource_policies(role_arn)
    request_context = Context.from_entries((("sts:RoleSessionName", "string", (session_name,)),))
    result = decider.evaluate(
        entry,
        ACTION,
        role_arn,
        role_account,
        request_context,
        resource_set,
        False,
        int(time.time()),
    )
    return result.decision is Decision.ALLOWED
