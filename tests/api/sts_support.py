"""Helpers shared by the STS, password and federation tests (no tests here)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from iamd.v1 import authorization_pb2, sts_pb2
from iamd.v1 import management_pb2 as pb
from iamd_client import signing
from iamd_client.signing import SigningCredentials

from tests.api.management_support import unique
from tests.harness import Stubs, stubs


def session_credentials(credentials: sts_pb2.Credentials) -> SigningCredentials:
    return SigningCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )


def trust(principal: dict[str, Any], action: str = "sts:AssumeRole", **condition: Any) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def new_role(
    root: Stubs,
    trust_policy: str,
    *,
    account_id: str = "",
    policy: str | None = None,
    max_session_duration: int = 3600,
    name: str | None = None,
) -> str:
    """Creates a role (optionally with an inline policy) and returns its ARN."""
    role_name = name or unique("role")
    role = root.management.CreateRole(
        pb.CreateRoleRequest(
            account_id=account_id,
            role_name=role_name,
            assume_role_policy_document=trust_policy,
            max_session_duration=max_session_duration,
        )
    ).role
    if policy is not None:
        root.management.PutRolePolicy(
            pb.PutRolePolicyRequest(
                account_id=account_id,
                role_name=role_name,
                policy_name="test",
                policy_document=policy,
            )
        )
    return str(role.arn)


def assume(
    caller: Stubs, role_arn: str, session_name: str = "s1", **fields: Any
) -> sts_pb2.AssumeRoleResponse:
    response: sts_pb2.AssumeRoleResponse = caller.sts.AssumeRole(
        sts_pb2.AssumeRoleRequest(role_arn=role_arn, role_session_name=session_name, **fields)
    )
    return response


def assumed_stubs(endpoint: str, caller: Stubs, role_arn: str, **fields: Any) -> Stubs:
    response = assume(caller, role_arn, **fields)
    return stubs(endpoint, session_credentials(response.credentials))


def whoami(client: Stubs) -> sts_pb2.GetCallerIdentityResponse:
    response: sts_pb2.GetCallerIdentityResponse = client.sts.GetCallerIdentity(
        sts_pb2.GetCallerIdentityRequest()
    )
    return response


def end_user_proof(
    credentials: SigningCredentials,
    method: str = "/shop.v1.Orders/Get",
    body: bytes = b"order 42",
    audience: str = "shop",
) -> authorization_pb2.SignedCredential:
    """What an end user sends service ``audience`` (signed for it), forwarded unchanged in
    AuthorizeRequest.end_user."""
    metadata = dict(signing.sign_metadata(method, body, credentials, audience=audience))
    return authorization_pb2.SignedCredential(
        access_key_id=credentials.access_key_id,
        date=metadata[signing.HEADER_DATE],
        signature=metadata[signing.HEADER_SIGNATURE],
        session_token=credentials.session_token or "",
        method=method,
        body_sha256=hashlib.sha256(body).hexdigest(),
        audience=audience,
    )
