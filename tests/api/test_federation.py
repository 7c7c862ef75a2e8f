"""OpenID Connect federation over a real channel: providers registered with a JWKS document,
AssumeRoleWithWebIdentity with tokens signed by a test key pair (no network)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.api.management_support import (
    document,
    error_of,
    expect_error,
    management_account,
    unique,
)
from tests.api.sts_support import new_role, session_credentials, trust, whoami
from tests.harness import ServerProcess, Stubs, stubs

DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
CLIENT = "client-1"


class Issuer:
    """A test identity provider: a key pair and an issuer URL."""

    def __init__(self, host: str, *, kid: str = "k1", ec: bool = False) -> None:
        self.url = f"https://{host}"
        self.host = host
        self.kid = kid
        self.key: RSAKey | ECKey = (
            ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)
            if ec
            else RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
        )
        self.alg = "ES256" if ec else "RS256"

    def jwks(self) -> str:
        return json.dumps({"keys": [self.key.as_dict(private=False)]})

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "sub": "repo:org/app:ref:main",
            "aud": CLIENT,
            "iat": now,
            "exp": now + 600,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode({"alg": self.alg, "kid": self.kid}, body, self.key)


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def anonymous(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, None)
    yield client
    client.close()


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(f"{unique('token')}.example.test")


@pytest.fixture(scope="module")
def provider_arn(root: Stubs, issuer: Issuer) -> str:
    response = root.management.CreateOpenIDConnectProvider(
        pb.CreateOpenIDConnectProviderRequest(
            url=issuer.url, client_ids=[CLIENT, "client-2"], jwks=issuer.jwks()
        )
    )
    return str(response.provider.arn)


@pytest.fixture(scope="module")
def role_arn(root: Stubs, issuer: Issuer, provider_arn: str) -> str:
    return new_role(
        root,
        trust(
            {"Federated": provider_arn},
            "sts:AssumeRoleWithWebIdentity",
            StringEquals={f"{issuer.host}:aud": CLIENT},
            StringLike={f"{issuer.host}:sub": "repo:org/*"},
        ),
    )


def web_identity(
    client: Stubs, role_arn: str, token: str, **fields: Any
) -> sts_pb2.AssumeRoleWithWebIdentityResponse:
    response: sts_pb2.AssumeRoleWithWebIdentityResponse = client.sts.AssumeRoleWithWebIdentity(
        sts_pb2.AssumeRoleWithWebIdentityRequest(
            role_arn=role_arn, role_session_name="web", web_identity_token=token, **fields
        )
    )
    return response


def test_provider_management(root: Stubs, issuer: Issuer, provider_arn: str) -> None:
    account = management_account(root)
    assert provider_arn == f"arn:aws:iam::{account}:oidc-provider/{issuer.host}"
    m = root.management
    got = m.GetOpenIDConnectProvider(
        pb.GetOpenIDConnectProviderRequest(open_id_connect_provider_arn=provider_arn)
    ).provider
    assert got.url == issuer.url and list(got.client_ids) == [CLIENT, "client-2"]
    assert json.loads(got.jwks)["keys"][0]["kid"] == "k1"
    listed = m.ListOpenIDConnectProviders(pb.ListOpenIDConnectProvidersRequest()).providers
    assert provider_arn in [p.arn for p in listed]
    expect_error(
        lambda: m.CreateOpenIDConnectProvider(
            pb.CreateOpenIDConnectProviderRequest(
                url=issuer.url, client_ids=[CLIENT], jwks=issuer.jwks()
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )


def test_provider_validation(root: Stubs, issuer: Issuer) -> None:
    m = root.management

    def create(url: str, jwks: str, client_ids: tuple[str, ...] = (CLIENT,)) -> None:
        m.CreateOpenIDConnectProvider(
            pb.CreateOpenIDConnectProviderRequest(url=url, client_ids=client_ids, jwks=jwks)
        )

    expect_error(
        lambda: create("http://insecure.example.test", issuer.jwks()), INVALID, field="url"
    )
    expect_error(lambda: create("https://q.example.test/?a=1", issuer.jwks()), INVALID)
    expect_error(lambda: create("https://x.example.test", "{}"), INVALID, field="jwks")
    expect_error(lambda: create("https://x.example.test", issuer.jwks(), ()), INVALID)
    private = json.dumps({"keys": [issuer.key.as_dict(private=True)]})
    expect_error(lambda: create("https://x.example.test", private), INVALID)


def test_valid_token(
    server: ServerProcess, anonymous: Stubs, issuer: Issuer, role_arn: str, provider_arn: str
) -> None:
    response = web_identity(anonymous, role_arn, issuer.token(), duration_seconds=900)
    role_name = role_arn.rsplit("/", 1)[-1]
    assert response.assumed_role_user.arn.endswith(f":assumed-role/{role_name}/web")
    assert response.subject_from_web_identity_token == "repo:org/app:ref:main"
    assert response.audience == CLIENT
    assert response.provider == issuer.host
    assert response.credentials.access_key_id.startswith("ASIA")
    session = stubs(server.endpoint, session_credentials(response.credentials))
    assert whoami(session).arn == response.assumed_role_user.arn
    # azp counts as an audience too.
    assert web_identity(anonymous, role_arn, issuer.token(aud="other", azp=CLIENT)).audience


def test_wrong_audience(anonymous: Stubs, issuer: Issuer, role_arn: str) -> None:
    expect_error(
        lambda: web_identity(anonymous, role_arn, issuer.token(aud="other")), UNAUTHENTICATED
    )
    # An audience of the provider that the trust policy does not accept.
    expect_error(lambda: web_identity(anonymous, role_arn, issuer.token(aud="client-2")), DENIED)


def test_wrong_issuer(anonymous: Stubs, issuer: Issuer, role_arn: str) -> None:
    stranger = Issuer(f"{unique('stranger')}.example.test")
    expect_error(lambda: web_identity(anonymous, role_arn, stranger.token()), UNAUTHENTICATED)
    # The provider's key, but an issuer that is not the provider's URL.
    forged = issuer.token(iss=f"{issuer.url}/other")
    expect_error(lambda: web_identity(anonymous, role_arn, forged), UNAUTHENTICATED)


def test_expired_token(anonymous: Stubs, issuer: Issuer, role_arn: str) -> None:
    old = int(time.time()) - 3600
    expired = issuer.token(iat=old, exp=old + 600)
    error = expect_error(lambda: web_identity(anonymous, role_arn, expired), UNAUTHENTICATED)
    assert "expired" in (error.details() or "")
    expect_error(lambda: web_identity(anonymous, role_arn, issuer.token(exp=None)), UNAUTHENTICATED)


def test_bad_signature(anonymous: Stubs, issuer: Issuer, role_arn: str) -> None:
    impostor = Issuer(issuer.host, kid=issuer.kid)  # same issuer and kid, another key
    expect_error(lambda: web_identity(anonymous, role_arn, impostor.token()), UNAUTHENTICATED)
    token = issuer.token()
    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    expect_error(lambda: web_identity(anonymous, role_arn, tampered), UNAUTHENTICATED)
    expect_error(lambda: web_identity(anonymous, role_arn, "not-a-jwt"), UNAUTHENTICATED)


def test_trust_policy_condition_on_subject(anonymous: Stubs, issuer: Issuer, role_arn: str) -> None:
    expect_error(
        lambda: web_identity(anonymous, role_arn, issuer.token(sub="repo:elsewhere/app")), DENIED
    )
    assert web_identity(anonymous, role_arn, issuer.token(sub="repo:org/other")).credentials


def test_role_must_trust_the_provider(
    root: Stubs, anonymous: Stubs, issuer: Issuer, provider_arn: str
) -> None:
    account = management_account(root)
    not_federated = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:root"}))
    expect_error(lambda: web_identity(anonymous, not_federated, issuer.token()), DENIED)
    wrong_action = new_role(root, trust({"Federated": provider_arn}, "sts:AssumeRole"))
    expect_error(lambda: web_identity(anonymous, wrong_action, issuer.token()), DENIED)


def test_key_rotation_and_provider_deletion(root: Stubs, anonymous: Stubs) -> None:
    rotating = Issuer(f"{unique('rotating')}.example.test", ec=True)
    arn = root.management.CreateOpenIDConnectProvider(
        pb.CreateOpenIDConnectProviderRequest(
            url=rotating.url, client_ids=[CLIENT], jwks=rotating.jwks()
        )
    ).provider.arn
    role = new_role(root, trust({"Federated": arn}, "sts:AssumeRoleWithWebIdentity"))
    assert web_identity(anonymous, role, rotating.token()).credentials

    successor = Issuer(rotating.host, kid="k2", ec=True)
    expect_error(lambda: web_identity(anonymous, role, successor.token()), UNAUTHENTICATED)
    root.management.UpdateOpenIDConnectProviderJwks(
        pb.UpdateOpenIDConnectProviderJwksRequest(
            open_id_connect_provider_arn=arn, jwks=successor.jwks()
        )
    )
    assert web_identity(anonymous, role, successor.token()).credentials
    expect_error(lambda: web_identity(anonymous, role, rotating.token()), UNAUTHENTICATED)

    root.management.DeleteOpenIDConnectProvider(
        pb.DeleteOpenIDConnectProviderRequest(open_id_connect_provider_arn=arn)
    )
    expect_error(lambda: web_identity(anonymous, role, successor.token()), UNAUTHENTICATED)
    expect_error(
        lambda: root.management.GetOpenIDConnectProvider(
            pb.GetOpenIDConnectProviderRequest(open_id_connect_provider_arn=arn)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_answers_reveal_no_role_provider_or_policy(
    root: Stubs, anonymous: Stubs, issuer: Issuer, role_arn: str, provider_arn: str
) -> None:
    account = management_account(root)
    missing = f"arn:aws:iam::{account}:role/{unique('missing')}"
    policy = root.management.CreatePolicy(
        pb.CreatePolicyRequest(policy_name=unique("session"), policy_document=document("*"))
    ).policy.arn
    no_policy = f"arn:aws:iam::{account}:policy/{unique('nope')}"
    variants: list[dict[str, Any]] = [
        {},
        {"duration_seconds": 43200},  # beyond the existing role's maximum
        {"policy_arns": [policy]},
        {"policy_arns": [no_policy]},
    ]

    def answers(token: str, roles: tuple[str, ...]) -> set[tuple[str, str]]:
        found = set()
        for role in roles:
            for fields in variants:
                error = error_of(partial(web_identity, anonymous, role, token, **fields))
                found.add((error.code().name, error.details() or ""))
        return found

    # Forged tokens: the provider's issuer signed with another key, and an issuer with no
    # provider. Without a valid token nothing is learnt about roles, providers or policies.
    forged = Issuer(issuer.host, kid=issuer.kid).token()
    unknown_issuer = Issuer(f"{unique('stranger')}.example.test").token()
    forged_answers = answers(forged, (role_arn, missing)) | answers(
        unknown_issuer, (role_arn, missing)
    )
    assert len(forged_answers) == 1, forged_answers
    assert forged_answers.pop()[0] == UNAUTHENTICATED.name

    # A valid token: a role whose trust policy refuses it and a missing role answer alike.
    refusing = new_role(
        root,
        trust(
            {"Federated": provider_arn},
            "sts:AssumeRoleWithWebIdentity",
            StringEquals={f"{issuer.host}:sub": "somebody-else"},
        ),
    )
    valid_answers = answers(issuer.token(), (refusing, missing))
    assert len(valid_answers) == 1, valid_answers
    code, message = valid_answers.pop()
    assert code == DENIED.name
    assert message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"


def _segment(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_deeply_nested_json_is_refused_cleanly(
    root: Stubs, anonymous: Stubs, issuer: Issuer, role_arn: str
) -> None:
    deep = "[" * 6000 + "]" * 6000
    header = _segment(json.dumps({"alg": "RS256", "kid": issuer.kid}))
    claims = _segment(json.dumps({"iss": issuer.url, "sub": "x", "aud": CLIENT}))
    nested_header = _segment('{"alg":"RS256","kid":"k1","x":' + deep + "}")
    nested_claims = _segment('{"iss":"' + issuer.url + '","x":' + deep + "}")
    signature = _segment("not a signature")
    for token in (f"{nested_header}.{claims}.{signature}", f"{header}.{nested_claims}.{signature}"):
        assert len(token) <= 20_000
        error = expect_error(partial(web_identity, anonymous, role_arn, token), UNAUTHENTICATED)
        assert "internal" not in (error.details() or "").lower()
    expect_error(
        lambda: root.management.CreateOpenIDConnectProvider(
            pb.CreateOpenIDConnectProviderRequest(
                url=f"https://{unique('deep')}.example.test",
                client_ids=[CLIENT],
                jwks='{"keys":[' + "[" * 100_000 + "]" * 100_000 + "]}",
            )
        ),
        INVALID,
        field="jwks",
    )
