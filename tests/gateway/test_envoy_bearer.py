"""Envoy's Check with `Authorization: Bearer` OpenID Connect tokens: the token acts as a role
whose trust policy allows it, exactly as AssumeRoleWithWebIdentity would (tokens signed by a
test key pair, no network)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from iamd.v1 import management_pb2 as pb

from tests.api.management_support import document, eventually, management_account
from tests.api.sts_support import new_role, trust
from tests.api.test_federation import CLIENT, Issuer
from tests.gateway.gateway_support import REGION, Checked, Envoy, check_request, new_orders_service
from tests.harness import ServerProcess, Stubs, stubs


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def envoy(server: ServerProcess) -> Iterator[Envoy]:
    client = Envoy(server.endpoint)
    yield client
    client.close()


@pytest.fixture(scope="module")
def service(root: Stubs) -> str:
    return new_orders_service(root)


@pytest.fixture(scope="module")
def account(root: Stubs) -> str:
    return management_account(root)


def _provider(root: Stubs, issuer: Issuer) -> str:
    response = root.management.CreateOpenIDConnectProvider(
        pb.CreateOpenIDConnectProviderRequest(
            url=issuer.url, client_ids=[CLIENT], jwks=issuer.jwks()
        )
    )
    return str(response.provider.arn)


@pytest.fixture(scope="module")
def issuer(root: Stubs) -> Issuer:
    issuer = Issuer("gateway-idp.example.test")
    _provider(root, issuer)
    return issuer


def _web_role(root: Stubs, issuer: Issuer, service: str, sub: str = "repo:org/*") -> str:
    provider = f"arn:aws:iam::{management_account(root)}:oidc-provider/{issuer.host}"
    return new_role(
        root,
        trust(
            {"Federated": provider},
            "sts:AssumeRoleWithWebIdentity",
            StringEquals={f"{issuer.host}:aud": CLIENT},
            StringLike={f"{issuer.host}:sub": sub},
        ),
        policy=document([f"{service}:GetOrder", f"{service}:ListOrders"]),
    )


@pytest.fixture(scope="module")
def role(root: Stubs, issuer: Issuer, service: str) -> str:
    return _web_role(root, issuer, service)


def _check(
    envoy: Envoy,
    service: str,
    token: str,
    *,
    role: str = "",
    method: str = "GET",
    path: str = "/orders/1",
    **route: str,
) -> Checked:
    headers = {"authorization": f"Bearer {token}"}
    if role:
        headers["x-iamd-role-arn"] = role
    extensions = {"iamd_service": service, "iamd_region": REGION, **route}
    return envoy.check(check_request(method, path, headers=headers, extensions=extensions))


def test_a_token_acts_as_the_role_that_trusts_it(
    envoy: Envoy, service: str, issuer: Issuer, role: str, account: str
) -> None:
    role_name = role.rsplit("/", 1)[-1]
    answer = _check(envoy, service, issuer.token(), role=role)
    assert answer.allowed, answer
    # The subject "repo:org/app:ref:main" is no valid session name: a hash of it names the
    # session.
    assert answer.principal is not None
    assert answer.principal.startswith(f"arn:aws:sts::{account}:assumed-role/{role_name}/sub-")
    again = _check(envoy, service, issuer.token(), role=role)  # another token, same subject
    assert again.principal == answer.principal
    plain = _check(envoy, service, issuer.token(sub="repo:org/x"), role=role)
    assert plain.principal != answer.principal
    # The role's policies decide: cancelling is not among them.
    cancel = _check(envoy, service, issuer.token(), role=role, method="DELETE")
    assert not cancel.allowed and cancel.status == 403
    assert cancel.body["action"] == f"{service}:CancelOrder"


def test_the_route_may_fix_the_role(
    root: Stubs, envoy: Envoy, service: str, issuer: Issuer, role: str
) -> None:
    readable = _web_role(root, issuer, service, sub="alice@example.test")
    token = issuer.token(sub="alice@example.test")
    answer = _check(envoy, service, token, iamd_role_arn=readable)
    assert answer.allowed
    assert answer.principal is not None
    assert answer.principal.endswith(f"/{readable.rsplit('/', 1)[-1]}/alice@example.test")
    # The route's role wins over the header's.
    answer = _check(envoy, service, token, role=role, iamd_role_arn=readable)
    assert answer.principal is not None and readable.rsplit("/", 1)[-1] in answer.principal


def test_tokens_that_do_not_verify_get_401(
    root: Stubs, envoy: Envoy, service: str, issuer: Issuer, role: str
) -> None:
    stranger = Issuer("stranger.example.test")  # registered nowhere
    impostor = Issuer(issuer.host)  # same issuer URL, another key
    now = int(time.time())
    for token in (
        issuer.token(aud="someone-else"),
        issuer.token(exp=now - 3600, iat=now - 7200),
        issuer.token(nbf=now + 3600),
        issuer.token(sub=None),
        impostor.token(),
        stranger.token(),
        issuer.token()[:-4] + "AAAA",
        "not.a.jwt",
        "x" * 30_000,
    ):
        answer = _check(envoy, service, token, role=role)
        assert not answer.allowed and answer.status == 401, token[:40]
        assert answer.body["error"] == "Unauthenticated"
    # A token without a role to act as, or with a malformed one.
    assert _check(envoy, service, issuer.token()).status == 401
    assert _check(envoy, service, issuer.token(), role="arn:aws:iam::1:user/x").status == 401


def test_a_role_that_does_not_trust_the_token_and_a_missing_one_look_alike(
    root: Stubs, envoy: Envoy, service: str, issuer: Issuer, account: str
) -> None:
    picky = _web_role(root, issuer, service, sub="repo:other/*")
    refused = _check(envoy, service, issuer.token(), role=picky)
    missing = _check(
        envoy, service, issuer.token(), role=f"arn:aws:iam::{account}:role/no-such-role"
    )
    assert refused.status == missing.status == 403
    assert refused.body == missing.body
    # The role's ARN must be exact: another path is another role.
    moved = picky.replace(":role/", ":role/elsewhere/")
    assert _check(envoy, service, issuer.token(sub="repo:other/a"), role=moved).status == 403
    assert _check(envoy, service, issuer.token(sub="repo:other/a"), role=picky).allowed


def test_revoked_sessions_and_removed_providers_end_cached_tokens(
    root: Stubs, envoy: Envoy, service: str
) -> None:
    issuer = Issuer("revocable-idp.example.test")
    provider = _provider(root, issuer)
    role = _web_role(root, issuer, service)
    token = issuer.token(iat=int(time.time()) - 5)
    assert _check(envoy, service, token, role=role).allowed
    root.management.RevokeRoleSessions(
        pb.RevokeRoleSessionsRequest(role_name=role.rsplit("/", 1)[-1])
    )
    eventually(lambda: _status(_check(envoy, service, token, role=role), 401))
    # Tokens issued after the revocation work.
    time.sleep(1.1)
    fresh = issuer.token(iat=int(time.time()) + 1)
    assert _check(envoy, service, fresh, role=role).allowed
    root.management.DeleteOpenIDConnectProvider(
        pb.DeleteOpenIDConnectProviderRequest(open_id_connect_provider_arn=provider)
    )
    eventually(lambda: _status(_check(envoy, service, fresh, role=role), 401))


def _status(answer: Checked, expected: int) -> None:
    assert answer.status == expected, answer
