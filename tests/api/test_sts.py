"""STS over a real channel: AssumeRole (trust policy, caller policy, cross-account, chaining,
session policies and tags), GetSessionToken, GetCallerIdentity, token expiry and tampering."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2, types_pb2
from iamd_client.signing import SigningCredentials
from iamd_server.authn.sessions import SessionClaims, SessionKeys, new_session_id

from tests.api.management_support import (
    document,
    error_of,
    expect_error,
    management_account,
    new_member_account,
    new_user,
    unique,
)
from tests.api.sts_support import (
    assume,
    assumed_stubs,
    new_role,
    session_credentials,
    trust,
    whoami,
)
from tests.harness import ServerProcess, Stubs, stubs

DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Stubs]:
    client = stubs(server.endpoint, server.root)
    yield client
    client.close()


@pytest.fixture(scope="module")
def account(root: Stubs) -> str:
    return management_account(root)


def user_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def test_trust_naming_the_user_needs_no_identity_policy(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Edge case 42: a DIRECT grant in the trust policy is enough.
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}))
    response = assume(user, role_arn, "alice", duration_seconds=900)
    role_name = role_arn.rsplit("/", 1)[-1]
    session_arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/alice"
    assert response.assumed_role_user.arn == session_arn
    assert response.assumed_role_user.assumed_role_id.startswith("AROA")
    assert response.assumed_role_user.assumed_role_id.endswith(":alice")
    credentials = response.credentials
    assert credentials.access_key_id.startswith("ASIA") and len(credentials.access_key_id) == 20
    assert len(credentials.secret_access_key) == 40
    assert 850 < credentials.expiration.seconds - time.time() <= 900
    assert len(credentials.session_token) < 6144

    session = stubs(server.endpoint, session_credentials(credentials))
    identity = whoami(session)
    assert identity.arn == session_arn
    assert identity.account == account
    assert identity.user_id == response.assumed_role_user.assumed_role_id


def test_trust_naming_the_account_needs_the_callers_policy(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Edge case 41: an ACCOUNT grant also needs the caller's identity policy.
    role_arn = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:root"}))
    _, bare = new_user(root, server.endpoint)
    expect_error(lambda: assume(bare, role_arn), DENIED)
    _, allowed = new_user(root, server.endpoint, policy=document("sts:AssumeRole", role_arn))
    assert assume(allowed, role_arn).credentials.access_key_id.startswith("ASIA")


def test_identity_policy_alone_is_not_enough(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Edge case 44: the trust policy must name the caller or its account.
    other, _ = new_user(root, server.endpoint)
    role_arn = new_role(root, trust({"AWS": user_arn(account, other)}))
    _, caller = new_user(root, server.endpoint, policy=document("sts:AssumeRole"))
    expect_error(lambda: assume(caller, role_arn), DENIED)


def test_explicit_deny_in_callers_policy_wins(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, user = new_user(root, server.endpoint, policy=document("sts:AssumeRole", effect="Deny"))
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}))
    expect_error(lambda: assume(user, role_arn), DENIED)


def test_cross_account_needs_trust_and_callers_policy(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Edge case 43.
    member, member_root = new_member_account(root, server.endpoint)
    role_arn = new_role(member_root, trust({"AWS": account}), account_id=member)
    assert role_arn.startswith(f"arn:aws:iam::{member}:role/")
    _, bare = new_user(root, server.endpoint)
    expect_error(lambda: assume(bare, role_arn), DENIED)
    _, allowed = new_user(root, server.endpoint, policy=document("sts:AssumeRole", role_arn))
    response = assume(allowed, role_arn, "xacct")
    assert response.assumed_role_user.arn.startswith(f"arn:aws:sts::{member}:assumed-role/")
    session = stubs(server.endpoint, session_credentials(response.credentials))
    assert whoami(session).account == member

    # A trust policy naming another account does not let this one in.
    other_role = new_role(member_root, trust({"AWS": member}), account_id=member)
    expect_error(lambda: assume(allowed, other_role), DENIED)


def test_root_user_cannot_assume_roles(root: Stubs, account: str) -> None:
    # Edge case 71.
    role_arn = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:root"}))
    expect_error(lambda: assume(root, role_arn), DENIED)


def test_unknown_role_is_refused_like_an_unauthorized_one(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    _, user = new_user(root, server.endpoint, policy=document("sts:AssumeRole"))
    missing = f"arn:aws:iam::{account}:role/{unique('missing')}"
    expect_error(lambda: assume(user, missing), DENIED)


def refusal(call: Any, role_arn: str) -> tuple[str, str]:
    """(status code, message with the role ARN blanked) of a call that fails."""
    error = error_of(call)
    return error.code().name, (error.details() or "").replace(role_arn, "ROLE")


def test_missing_and_forbidden_roles_and_policies_answer_alike(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    other, _ = new_user(root, server.endpoint)
    existing = new_role(root, trust({"AWS": user_arn(account, other)}))
    missing = f"arn:aws:iam::{account}:role/{unique('missing')}"
    policy = root.management.CreatePolicy(
        pb.CreatePolicyRequest(policy_name=unique("session"), policy_document=document("*"))
    ).policy.arn
    no_policy = f"arn:aws:iam::{account}:policy/{unique('nope')}"
    _, allowed_everywhere = new_user(root, server.endpoint, policy=document("sts:AssumeRole"))
    _, bare = new_user(root, server.endpoint)
    for caller in (allowed_everywhere, bare):
        answers = {
            refusal(partial(assume, caller, role, **fields), role)
            for role in (existing, missing)
            for fields in (
                {},
                {"duration_seconds": 43200},  # beyond the existing role's maximum
                {"policy_arns": [policy]},
                {"policy_arns": [no_policy]},
            )
        }
        # One answer, as AWS gives: nothing tells which roles or policies exist.
        assert len(answers) == 1, answers
        code, message = answers.pop()
        assert code == DENIED.name
        assert "is not authorized to perform: sts:AssumeRole on resource: ROLE" in message


def test_duration_and_session_name_validation(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Edge cases 47 and 48.
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}), max_session_duration=7200)
    expect_error(lambda: assume(user, role_arn, duration_seconds=899), INVALID)
    expect_error(
        lambda: assume(user, role_arn, duration_seconds=7201), INVALID, field="duration_seconds"
    )
    assert assume(user, role_arn, duration_seconds=7200).credentials.expiration.seconds > 0
    expect_error(lambda: assume(user, role_arn, "a"), INVALID, field="role_session_name")
    expect_error(lambda: assume(user, role_arn, "a" * 65), INVALID, field="role_session_name")
    expect_error(lambda: assume(user, role_arn, "bad name"), INVALID)
    assert assume(user, role_arn, "a" * 64).assumed_role_user.arn.endswith("/" + "a" * 64)


def test_role_chaining_is_limited_to_one_hour(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Edge case 46.
    name, user = new_user(root, server.endpoint)
    first = new_role(
        root, trust({"AWS": user_arn(account, name)}), policy=document("sts:AssumeRole")
    )
    second = new_role(root, trust({"AWS": first}), max_session_duration=43200)
    session = assumed_stubs(server.endpoint, user, first)
    error = expect_error(lambda: assume(session, second, duration_seconds=7200), INVALID)
    assert "role chaining" in (error.details() or "")
    chained = assume(session, second, "chained", duration_seconds=3600)
    chained_stubs = stubs(server.endpoint, session_credentials(chained.credentials))
    assert whoami(chained_stubs).arn == chained.assumed_role_user.arn
    # The chained session's default duration is one hour too.
    default = assume(session, second, "default")
    assert default.credentials.expiration.seconds - time.time() <= 3600


def test_trust_naming_a_role_admits_its_sessions(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, user = new_user(root, server.endpoint)
    first = new_role(root, trust({"AWS": user_arn(account, name)}))
    second = new_role(root, trust({"AWS": first}))
    third = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:root"}))
    session = assumed_stubs(server.endpoint, user, first)
    # ROLE grant: no identity policy needed.
    assert assume(session, second).assumed_role_user.arn
    # ACCOUNT grant: the role has no policy allowing sts:AssumeRole.
    expect_error(lambda: assume(session, third), DENIED)


def test_session_policies_narrow_the_session(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, user = new_user(root, server.endpoint)
    broad = new_role(
        root, trust({"AWS": user_arn(account, name)}), policy=document("sts:AssumeRole")
    )
    allowed_target = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:root"}))
    other_target = new_role(root, trust({"AWS": f"arn:aws:iam::{account}:root"}))

    # Without session policies the role's policy lets the session assume both.
    plain = assumed_stubs(server.endpoint, user, broad)
    assert assume(plain, allowed_target).credentials.access_key_id
    assert assume(plain, other_target).credentials.access_key_id

    # An inline session policy keeps only what it allows.
    inline = assumed_stubs(
        server.endpoint, user, broad, policy=document("sts:AssumeRole", allowed_target)
    )
    assert assume(inline, allowed_target).credentials.access_key_id
    expect_error(lambda: assume(inline, other_target), DENIED)

    # A managed session policy, by ARN.
    managed = root.management.CreatePolicy(
        pb.CreatePolicyRequest(
            policy_name=unique("session"),
            policy_document=document("sts:AssumeRole", other_target),
        )
    ).policy
    by_arn = assumed_stubs(server.endpoint, user, broad, policy_arns=[managed.arn])
    assert assume(by_arn, other_target).credentials.access_key_id
    expect_error(lambda: assume(by_arn, allowed_target), DENIED)

    # A session policy never grants more than the role has.
    narrow = new_role(root, trust({"AWS": user_arn(account, name)}))
    wide_session = assumed_stubs(server.endpoint, user, narrow, policy=document("*"))
    expect_error(lambda: assume(wide_session, allowed_target), DENIED)


def test_session_policy_validation(server: ServerProcess, root: Stubs, account: str) -> None:
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}))
    expect_error(lambda: assume(user, role_arn, policy="{not json"), INVALID, field="policy")
    too_long = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": f"s3:GetObject{n}", "Resource": "*"}
                for n in range(60)
            ],
        }
    )
    expect_error(lambda: assume(user, role_arn, policy=too_long), INVALID, field="policy")
    missing = f"arn:aws:iam::{account}:policy/{unique('nope')}"
    expect_error(lambda: assume(user, role_arn, policy_arns=[missing]), INVALID)


def test_session_tags_become_principal_tags(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, user = new_user(root, server.endpoint)
    tag_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": user_arn(account, name)},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )
    first = new_role(root, tag_trust)
    gated = new_role(
        root,
        trust({"AWS": first}, StringEquals={"aws:PrincipalTag/team": "blue"}),
    )
    blue = assumed_stubs(
        server.endpoint, user, first, tags=[types_pb2.Tag(key="team", value="blue")]
    )
    assert assume(blue, gated).credentials.access_key_id
    red = assumed_stubs(server.endpoint, user, first, tags=[types_pb2.Tag(key="team", value="red")])
    expect_error(lambda: assume(red, gated), DENIED)
    # Tagging needs sts:TagSession in the trust policy.
    untaggable = new_role(root, trust({"AWS": user_arn(account, name)}))
    tags = [types_pb2.Tag(key="a", value="b")]
    expect_error(lambda: assume(user, untaggable, tags=tags), DENIED)


def test_external_id_condition(server: ServerProcess, root: Stubs, account: str) -> None:
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(
        root, trust({"AWS": user_arn(account, name)}, StringEquals={"sts:ExternalId": "x-123"})
    )
    expect_error(lambda: assume(user, role_arn), DENIED)
    expect_error(lambda: assume(user, role_arn, external_id="x-999"), DENIED)
    assert assume(user, role_arn, external_id="x-123").credentials.access_key_id


def test_get_session_token(server: ServerProcess, root: Stubs, account: str) -> None:
    name, user = new_user(root, server.endpoint)
    response = user.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest(duration_seconds=900))
    session = stubs(server.endpoint, session_credentials(response.credentials))
    identity = whoami(session)
    assert identity.arn == user_arn(account, name)
    assert identity.user_id.startswith("AIDA")
    # Temporary credentials cannot get more temporary credentials this way.
    expect_error(lambda: session.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest()), DENIED)
    expect_error(
        lambda: user.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest(duration_seconds=600)),
        INVALID,
    )
    # The root user's sessions last at most an hour.
    expect_error(
        lambda: root.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest(duration_seconds=7200)),
        INVALID,
    )
    root_session = root.sts.GetSessionToken(sts_pb2.GetSessionTokenRequest())
    assert root_session.credentials.expiration.seconds - time.time() <= 3600


def test_session_credentials_must_verify(server: ServerProcess, root: Stubs, account: str) -> None:
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}))
    good = assume(user, role_arn).credentials
    # Wrong secret, a token of another session, a tampered token, no token at all.
    wrong_secret = SigningCredentials(good.access_key_id, "x" * 40, good.session_token)
    other = assume(user, role_arn, "other").credentials
    swapped = SigningCredentials(good.access_key_id, good.secret_access_key, other.session_token)
    token = good.session_token
    tampered_token = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    tampered = SigningCredentials(good.access_key_id, good.secret_access_key, tampered_token)
    missing = SigningCredentials(good.access_key_id, good.secret_access_key)

    def call_with(credentials: SigningCredentials) -> object:
        return whoami(stubs(server.endpoint, credentials))

    for credentials in (wrong_secret, swapped, tampered, missing):
        expect_error(partial(call_with, credentials), UNAUTHENTICATED)
    assert whoami(stubs(server.endpoint, session_credentials(good))).arn


def test_expired_session_fails_unauthenticated(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # The shortest real session lasts 15 minutes, so mint one that expired a second ago with
    # the deployment's key (as the server would have), for a real role.
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}))
    live = assume(user, role_arn, "live")
    role_id = live.assumed_role_user.assumed_role_id.split(":")[0]
    keys = SessionKeys.from_master_key_file(server.master_key_file)
    role_name = role_arn.rsplit("/", 1)[-1]

    def session(expires_in: float) -> Stubs:
        now = time.time()
        claims = SessionClaims(
            session_id=new_session_id(),
            kind="role",
            arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/minted",
            base_arn=role_arn,
            principal_id=role_id,
            account_id=account,
            issued_at=now - 1000,
            expires_at=now + expires_in,
            session_name="minted",
        )
        credentials = SigningCredentials(
            claims.key_id, keys.secret_for(claims.session_id), keys.seal(claims)
        )
        return stubs(server.endpoint, credentials)

    assert whoami(session(60)).arn.endswith("/minted")
    error = expect_error(lambda: whoami(session(-1)), UNAUTHENTICATED)
    assert "expired" in (error.details() or "")
    expired = session(-1)
    expect_error(lambda: expired.management.ListUsers(pb.ListUsersRequest()), UNAUTHENTICATED)
    expect_error(lambda: assume(expired, role_arn), UNAUTHENTICATED)


def test_deleted_role_sessions_stop_working(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    # Recreating a role with the same name does not revive its old sessions.
    name, user = new_user(root, server.endpoint)
    role_name = unique("doomed")
    trust_policy = trust({"AWS": user_arn(account, name)})
    role_arn = new_role(root, trust_policy, name=role_name)
    session = assumed_stubs(server.endpoint, user, role_arn)
    assert whoami(session).arn
    root.management.DeleteRole(pb.DeleteRoleRequest(role_name=role_name))
    expect_error(lambda: whoami(session), UNAUTHENTICATED)
    new_role(root, trust_policy, name=role_name)
    expect_error(lambda: whoami(session), UNAUTHENTICATED)
    assert whoami(assumed_stubs(server.endpoint, user, role_arn)).arn


def test_revoke_role_sessions(server: ServerProcess, root: Stubs, account: str) -> None:
    name, user = new_user(root, server.endpoint)
    role_name = unique("revoked")
    role_arn = new_role(root, trust({"AWS": user_arn(account, name)}), name=role_name)
    before = assumed_stubs(server.endpoint, user, role_arn)
    assert whoami(before).arn
    response = root.management.RevokeRoleSessions(pb.RevokeRoleSessionsRequest(role_name=role_name))
    assert response.revision > 0 and response.revoked_before.seconds > 0
    expect_error(lambda: whoami(before), UNAUTHENTICATED)
    time.sleep(0.01)
    after = assumed_stubs(server.endpoint, user, role_arn, session_name="after")
    assert whoami(after).arn.endswith("/after")
    # Revoking needs iam:PutRolePolicy on the role.
    _, nobody = new_user(root, server.endpoint)
    expect_error(
        lambda: nobody.management.RevokeRoleSessions(
            pb.RevokeRoleSessionsRequest(role_name=role_name)
        ),
        DENIED,
    )


def test_session_policies_narrow_manage_calls(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    name, user = new_user(root, server.endpoint)
    role_arn = new_role(
        root,
        trust({"AWS": user_arn(account, name)}),
        policy=document(["iam:ListUsers", "iam:ListRoles"]),
    )
    plain = assumed_stubs(server.endpoint, user, role_arn)
    assert plain.management.ListUsers(pb.ListUsersRequest(max_items=1)) is not None
    assert plain.management.ListRoles(pb.ListRolesRequest(max_items=1)) is not None
    narrowed = assumed_stubs(server.endpoint, user, role_arn, policy=document("iam:ListRoles"))
    assert narrowed.management.ListRoles(pb.ListRolesRequest(max_items=1)) is not None
    expect_error(lambda: narrowed.management.ListUsers(pb.ListUsersRequest(max_items=1)), DENIED)
    # Token keys are in the session's context: a Deny on sessions issued before a time.
    root.management.PutRolePolicy(
        pb.PutRolePolicyRequest(
            role_name=role_arn.rsplit("/", 1)[-1],
            policy_name="old-sessions",
            policy_document=document(
                "*",
                effect="Deny",
                condition={"DateLessThan": {"aws:TokenIssueTime": "2999-01-01T00:00:00Z"}},
            ),
        )
    )
    from tests.api.management_support import eventually

    eventually(
        lambda: expect_error(
            lambda: plain.management.ListRoles(pb.ListRolesRequest(max_items=1)), DENIED
        )
    )


def _signed_credential(credentials: SigningCredentials, method: str, body: bytes) -> Any:
    from iamd.v1 import authorization_pb2
    from iamd_client import signing

    digest = hashlib.sha256(body).hexdigest()
    metadata = dict(signing.sign_metadata(method, body, credentials, audience="shop"))
    return authorization_pb2.SignedCredential(
        access_key_id=credentials.access_key_id,
        date=metadata[signing.HEADER_DATE],
        signature=metadata[signing.HEADER_SIGNATURE],
        session_token=credentials.session_token or "",
        method=method,
        body_sha256=digest,
        audience="shop",
    )


def test_authorize_with_end_user_credentials(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    from iamd.v1 import authorization_pb2

    name = unique("enduser")
    root.management.CreateUser(pb.CreateUserRequest(user_name=name))
    root.management.PutUserPolicy(
        pb.PutUserPolicyRequest(
            user_name=name, policy_name="p", policy_document=document("iam:GetUser")
        )
    )
    key = root.management.CreateAccessKey(pb.CreateAccessKeyRequest(user_name=name)).access_key
    end_user = SigningCredentials(key.access_key_id, key.secret_access_key)
    method, body = "/shop.v1.Orders/Get", b"order 42"
    target = user_arn(account, name)

    def authorize(proof: Any, action: str = "iam:GetUser") -> Any:
        return root.authorization.Authorize(
            authorization_pb2.AuthorizeRequest(action=action, resource_arn=target, end_user=proof)
        )

    allowed = authorize(_signed_credential(end_user, method, body))
    assert allowed.decision == types_pb2.DECISION_ALLOWED
    assert allowed.authenticated_principal_arn == target == allowed.principal_arn
    denied = authorize(_signed_credential(end_user, method, body), "iam:DeleteUser")
    assert denied.decision == types_pb2.DECISION_IMPLICIT_DENY

    forged = _signed_credential(SigningCredentials(key.access_key_id, "x" * 40), method, body)
    expect_error(lambda: authorize(forged), UNAUTHENTICATED)
    tampered = _signed_credential(end_user, method, body)
    tampered.body_sha256 = hashlib.sha256(b"order 43").hexdigest()
    expect_error(lambda: authorize(tampered), UNAUTHENTICATED)

    # Session credentials: the session's ARN, narrowed by its session policy.
    role_arn = new_role(root, trust({"AWS": target}), policy=document("iam:GetUser"))
    user = stubs(server.endpoint, end_user)
    session = session_credentials(
        assume(user, role_arn, "shopper", policy=document("iam:ListUsers")).credentials
    )
    result = authorize(_signed_credential(session, method, body))
    assert result.authenticated_principal_arn.endswith(
        ":assumed-role/" + role_arn.rsplit("/", 1)[-1] + "/shopper"
    )
    assert result.decision == types_pb2.DECISION_IMPLICIT_DENY
    wide = session_credentials(assume(user, role_arn, "wide").credentials)
    assert authorize(_signed_credential(wide, method, body)).decision == types_pb2.DECISION_ALLOWED

    # The service must be allowed to ask about the end user.
    _, service = new_user(root, server.endpoint)
    expect_error(
        lambda: service.authorization.Authorize(
            authorization_pb2.AuthorizeRequest(
                action="iam:GetUser",
                resource_arn=target,
                end_user=_signed_credential(end_user, method, body),
            )
        ),
        DENIED,
    )


def test_session_policies_narrow_who_a_session_may_ask_authorize_about(
    server: ServerProcess, root: Stubs, account: str
) -> None:
    """A service calling Authorize with role-session credentials needs iamd:Authorize in its
    session policy too, not only in its role's policy."""
    from iamd.v1 import authorization_pb2

    name, user = new_user(root, server.endpoint)
    asked_about = user_arn(account, name)
    enforcer = new_role(
        root, trust({"AWS": asked_about}), policy=document(["iamd:Authorize", "iam:GetUser"])
    )
    question = authorization_pb2.AuthorizeRequest(
        principal_arn=asked_about, action="iam:GetUser", resource_arn=asked_about
    )
    full = assumed_stubs(server.endpoint, user, enforcer)
    assert full.authorization.Authorize(question).principal_arn == asked_about
    narrowed = assumed_stubs(server.endpoint, user, enforcer, policy=document("iam:GetUser"))
    expect_error(lambda: narrowed.authorization.Authorize(question), DENIED)
    expect_error(
        lambda: narrowed.authorization.AuthorizeBatch(
            authorization_pb2.AuthorizeBatchRequest(
                principal_arn=asked_about,
                checks=[authorization_pb2.AuthorizeCheck(action="iam:GetUser")],
            )
        ),
        DENIED,
    )
    # The wider session of the same role keeps its answer: the cache is per session.
    assert full.authorization.Authorize(question).principal_arn == asked_about
