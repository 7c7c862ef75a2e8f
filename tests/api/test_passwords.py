"""Passwords over a real channel: login profiles, the account password policy, Login and
its per-user backoff."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import grpc
import pytest
from iamd.v1 import management_pb2 as pb
from iamd.v1 import sts_pb2
from iamd_server.authn import passwords

from tests.api.management_support import (
    document,
    error_of,
    expect_error,
    management_account,
    new_member_account,
    new_user,
)
from tests.api.sts_support import session_credentials, whoami
from tests.harness import ServerProcess, Stubs, stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
GOOD = "Correct-Horse-9"


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


def login(client: Stubs, account: str, user: str, password: str) -> sts_pb2.LoginResponse:
    response: sts_pb2.LoginResponse = client.sts.Login(
        sts_pb2.LoginRequest(account=account, user_name=user, password=password)
    )
    return response


def create_profile(root: Stubs, user: str, password: str, account_id: str = "") -> None:
    root.management.CreateLoginProfile(
        pb.CreateLoginProfileRequest(account_id=account_id, user_name=user, password=password)
    )


def test_default_policy_without_a_custom_one(server: ServerProcess, root: Stubs) -> None:
    name, _ = new_user(root, server.endpoint)
    # At least 8 characters from 3 of the 4 classes.
    for weak in ("Ab1!", "abcdefgh", "abcdefg1"):
        expect_error(partial(create_profile, root, name, weak), INVALID, field="password")
    expect_error(lambda: create_profile(root, name, "caf\u00e9-Latte-1"), INVALID)
    create_profile(root, name, "abcdefG1")


def test_account_password_policy(server: ServerProcess, root: Stubs) -> None:
    member, member_root = new_member_account(root, server.endpoint)
    m = member_root.management
    expect_error(
        lambda: m.GetAccountPasswordPolicy(pb.GetAccountPasswordPolicyRequest()), NOT_FOUND
    )
    expect_error(
        lambda: m.UpdateAccountPasswordPolicy(
            pb.UpdateAccountPasswordPolicyRequest(minimum_password_length=5)
        ),
        INVALID,
        field="minimum_password_length",
    )
    expect_error(
        lambda: m.UpdateAccountPasswordPolicy(
            pb.UpdateAccountPasswordPolicyRequest(password_reuse_prevention=25)
        ),
        INVALID,
    )
    m.UpdateAccountPasswordPolicy(
        pb.UpdateAccountPasswordPolicyRequest(
            minimum_password_length=12,
            require_symbols=True,
            require_numbers=True,
            require_uppercase_characters=True,
            require_lowercase_characters=True,
            password_reuse_prevention=2,
            max_password_age=90,
        )
    )
    policy = m.GetAccountPasswordPolicy(pb.GetAccountPasswordPolicyRequest()).password_policy
    assert policy.minimum_password_length == 12 and policy.require_symbols
    assert policy.password_reuse_prevention == 2 and policy.max_password_age == 90
    assert policy.expire_passwords and not policy.hard_expiry

    name, _ = new_user(member_root, server.endpoint)
    violations = {
        "Short-1a!": "12 characters",
        "nouppercase-1!": "uppercase",
        "NOLOWERCASE-1!": "lowercase",
        "No-Numbers-Here!": "number",
        "NoSymbols12345": "symbol",
    }
    for password, problem in violations.items():
        error = expect_error(
            partial(create_profile, member_root, name, password), INVALID, field="password"
        )
        assert problem in (error.details() or ""), error.details()
    first, second, third = "First-Pass-123", "Second-Pass-123", "Third-Pass-123"
    create_profile(member_root, name, first)

    def update(password: str) -> None:
        m.UpdateLoginProfile(pb.UpdateLoginProfileRequest(user_name=name, password=password))

    # Reuse prevention covers the current password and the one before.
    expect_error(lambda: update(first), INVALID, field="password")
    update(second)
    expect_error(lambda: update(first), INVALID)
    update(third)
    update(first)
    assert login(stubs(server.endpoint, None), member, name, first).arn.endswith(f"/{name}")

    # Replacing the policy reverts omitted fields to their defaults.
    m.UpdateAccountPasswordPolicy(pb.UpdateAccountPasswordPolicyRequest(require_numbers=True))
    policy = m.GetAccountPasswordPolicy(pb.GetAccountPasswordPolicyRequest()).password_policy
    assert policy.minimum_password_length == 6 and not policy.require_symbols
    assert policy.password_reuse_prevention == 0 and not policy.expire_passwords
    m.DeleteAccountPasswordPolicy(pb.DeleteAccountPasswordPolicyRequest())
    expect_error(
        lambda: m.DeleteAccountPasswordPolicy(pb.DeleteAccountPasswordPolicyRequest()), NOT_FOUND
    )


def test_login_profile_lifecycle_and_login(
    server: ServerProcess, root: Stubs, anonymous: Stubs
) -> None:
    account = management_account(root)
    name, _ = new_user(root, server.endpoint, policy=document("iam:GetUser"))
    m = root.management
    expect_error(lambda: m.GetLoginProfile(pb.GetLoginProfileRequest(user_name=name)), NOT_FOUND)
    created = m.CreateLoginProfile(
        pb.CreateLoginProfileRequest(user_name=name, password=GOOD, password_reset_required=True)
    )
    assert created.login_profile.user_name == name
    assert created.login_profile.password_reset_required
    expect_error(lambda: create_profile(root, name, GOOD), grpc.StatusCode.ALREADY_EXISTS)
    got = m.GetLoginProfile(pb.GetLoginProfileRequest(user_name=name)).login_profile
    assert got.password_reset_required and got.create_date.seconds > 0

    response = login(anonymous, account, name, GOOD)
    assert response.arn == f"arn:aws:iam::{account}:user/{name}"
    assert response.password_reset_required
    assert response.credentials.access_key_id.startswith("ASIA")
    session = stubs(server.endpoint, session_credentials(response.credentials))
    assert whoami(session).arn == response.arn
    # The session acts as the user, with the user's policies.
    assert session.management.GetUser(pb.GetUserRequest(user_name=name)).user.user_name == name
    expect_error(
        lambda: session.management.ListUsers(pb.ListUsersRequest()),
        grpc.StatusCode.PERMISSION_DENIED,
    )

    m.UpdateLoginProfile(
        pb.UpdateLoginProfileRequest(user_name=name, password_reset_required=False)
    )
    assert not login(anonymous, account, name, GOOD).password_reset_required
    m.DeleteLoginProfile(pb.DeleteLoginProfileRequest(user_name=name))
    expect_error(lambda: login(anonymous, account, name, GOOD), UNAUTHENTICATED)
    expect_error(
        lambda: m.DeleteLoginProfile(pb.DeleteLoginProfileRequest(user_name=name)), NOT_FOUND
    )


def test_login_by_account_name(server: ServerProcess, root: Stubs, anonymous: Stubs) -> None:
    account = root.management.CreateAccount(
        pb.CreateAccountRequest(name=f"named-{time.time_ns()}")
    ).account
    member_key = root.management.CreateAccessKey(
        pb.CreateAccessKeyRequest(account_id=account.account_id)
    ).access_key
    from tests.api.management_support import credentials_of

    member_root = stubs(server.endpoint, credentials_of(member_key))
    name, _ = new_user(member_root, server.endpoint)
    create_profile(member_root, name, GOOD)
    assert login(anonymous, account.name, name, GOOD).arn.startswith(
        f"arn:aws:iam::{account.account_id}:user/"
    )


def test_login_failures(server: ServerProcess, root: Stubs, anonymous: Stubs) -> None:
    account = management_account(root)
    name, _ = new_user(root, server.endpoint)
    create_profile(root, name, GOOD)
    wrong = expect_error(lambda: login(anonymous, account, name, "Wrong-Horse-9"), UNAUTHENTICATED)
    unknown = expect_error(lambda: login(anonymous, account, "no-such-user", GOOD), UNAUTHENTICATED)
    # The same answer for a wrong password and an unknown user.
    assert wrong.details() == unknown.details()
    expect_error(lambda: login(anonymous, "000000000000", name, GOOD), UNAUTHENTICATED)
    expect_error(lambda: login(anonymous, account, name, ""), INVALID)
    # A successful sign-in clears the failure count.
    assert login(anonymous, account, name, GOOD).arn


def test_login_backoff(server: ServerProcess, root: Stubs, anonymous: Stubs) -> None:
    account = management_account(root)
    name, _ = new_user(root, server.endpoint)
    create_profile(root, name, GOOD)
    for _ in range(passwords.FREE_FAILURES):
        expect_error(lambda: login(anonymous, account, name, "Wrong-Horse-9"), UNAUTHENTICATED)
    # Backing off: even the right password waits (RESOURCE_EXHAUSTED with a retry hint).
    error = expect_error(lambda: login(anonymous, account, name, GOOD), EXHAUSTED)
    assert "retry in" in (error.details() or "")
    time.sleep(1.2)
    assert login(anonymous, account, name, GOOD).arn
    # The count started over: the next failure is free again.
    expect_error(lambda: login(anonymous, account, name, "Wrong-Horse-9"), UNAUTHENTICATED)
    assert login(anonymous, account, name, GOOD).arn
    # Nobody can keep a user out for long: the wait is capped.
    assert max(passwords.BACKOFF_DELAYS) <= 15


def answer(client: Stubs, account: str, user: str, password: str) -> tuple[str, str]:
    """(status code, message) of a Login that fails."""
    error = error_of(lambda: login(client, account, user, password))
    return error.code().name, error.details() or ""


def admitted_within(seconds: float) -> int:
    """How many sign-ins the backoff can let through in ``seconds`` from a standing start."""
    admitted = passwords.FREE_FAILURES
    waited = 0.0
    for delay in passwords.BACKOFF_DELAYS[passwords.FREE_FAILURES - 1 :]:
        waited += delay
        if waited > seconds:
            break
        admitted += 1
    return admitted


def test_parallel_guesses_are_counted_before_checking(
    server: ServerProcess, root: Stubs, anonymous: Stubs
) -> None:
    account = management_account(root)
    name, _ = new_user(root, server.endpoint)
    create_profile(root, name, GOOD)
    start = time.monotonic()
    with ThreadPoolExecutor(40) as pool:
        codes = list(
            pool.map(lambda _: answer(anonymous, account, name, "Wrong-Horse-9")[0], range(40))
        )
    elapsed = time.monotonic() - start
    checked = codes.count(UNAUTHENTICATED.name)
    assert checked + codes.count(EXHAUSTED.name) == 40, codes
    # Guesses sent together are counted before any is checked: only the free ones (and any
    # whose backoff ran out while the others were answered) reach the password check.
    assert 1 <= checked <= admitted_within(elapsed), (checked, elapsed)


def test_unknown_users_answer_like_known_ones(
    server: ServerProcess, root: Stubs, anonymous: Stubs
) -> None:
    account = management_account(root)
    guesses = ["Wrong-Horse-9"] * (passwords.FREE_FAILURES + 2)
    # The backoff reads the clock: a machine so loaded that one guess takes longer than the
    # backoff's first delay lets that name's next guess through. Such a run is repeated with
    # fresh names; a server whose answers depend on whether the user exists differs every time.
    attempts: list[dict[str, list[tuple[str, str]]]] = []
    for _ in range(3):
        with_password, _ = new_user(root, server.endpoint)
        create_profile(root, with_password, GOOD)
        without_password, _ = new_user(root, server.endpoint)
        unknown = f"nobody-{time.time_ns()}"
        targets = {
            "with password": (account, with_password),
            "without password": (account, without_password),
            "unknown user": (account, unknown),
            "unknown account": ("000000000000", unknown),
        }
        answers: dict[str, list[tuple[str, str]]] = {label: [] for label in targets}
        for guess in guesses:  # interleaved, so that every name sees the same load
            for label, (account_id, name) in targets.items():
                answers[label].append(answer(anonymous, account_id, name, guess))
        attempts.append(answers)
        if len({tuple(sequence) for sequence in answers.values()}) == 1:
            break
    # The same codes and messages, backoff included, whether or not the user (or the
    # account) exists.
    assert len({tuple(sequence) for sequence in attempts[-1].values()}) == 1, attempts
    assert attempts[-1]["unknown user"][-1][0] == EXHAUSTED.name


def test_login_profile_needs_permission(server: ServerProcess, root: Stubs) -> None:
    name, user = new_user(root, server.endpoint)
    expect_error(
        lambda: user.management.CreateLoginProfile(
            pb.CreateLoginProfileRequest(user_name=name, password=GOOD)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    self_service, allowed = new_user(
        root,
        server.endpoint,
        policy=document("iam:*LoginProfile", "arn:aws:iam::*:user/${aws:username}"),
    )
    # An empty user name means the calling user.
    allowed.management.CreateLoginProfile(pb.CreateLoginProfileRequest(password=GOOD))
    got = allowed.management.GetLoginProfile(pb.GetLoginProfileRequest()).login_profile
    assert got.user_name == self_service
