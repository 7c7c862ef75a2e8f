"""A replica that has not yet heard of a rename must still not let old credentials speak for
the new holder of the name: decisions for a caller check the principal's unique id.

The change notifications are withheld here (the feed is never started), which is the
window a real replica has between a commit and its notification."""

from __future__ import annotations

import functools
import json
import time

import asyncpg
from iamd_policy import Decision
from iamd_server.authn.authenticator import Caller
from iamd_server.authn.sessions import SessionClaims
from iamd_server.authz.changes import ChangeFeed
from iamd_server.authz.decisions import Decider
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.store import Store

MGMT = "111111111111"
ROOT = f"arn:aws:iam::{MGMT}:root"
ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


async def test_stale_credentials_never_decide_as_the_new_holder_of_a_name(
    db_pool: asyncpg.Pool, database_url: str
) -> None:
    store = Store(db_pool)
    await store.bootstrap(management_account_id=MGMT)
    arn = f"arn:aws:iam::{MGMT}:user/dave"
    old = (await store.create_user(actor=ROOT, account_id=MGMT, user_name="dave")).value
    feed = ChangeFeed(database_url)  # never started: hears nothing
    # Notifications are withheld on purpose, so the staleness bound must not fail it closed.
    feed.fresh_until = float("inf")
    decider = Decider(store, feed)
    decider.session_decide = functools.partial(SessionPolicies(store).decide, decider)
    stale = Caller(arn=arn, account_id=MGMT, access_key_id="AKIAOLD", principal_id=old.user_id)
    assert (await decider.allows(stale, "iam:ListUsers", "*")).principal_known

    await store.update_user(actor=ROOT, account_id=MGMT, user_name="dave", new_user_name="old")
    new = (await store.create_user(actor=ROOT, account_id=MGMT, user_name="dave")).value
    await store.put_user_policy(
        actor=ROOT, account_id=MGMT, user_name="dave", policy_name="p", policy_document=ADMIN
    )
    decider.principals.clear()  # the entry is rebuilt from the database: the new dave

    outcome = await decider.allows(stale, "iam:ListUsers", "*")
    assert not outcome.principal_known
    assert outcome.result.decision is Decision.IMPLICIT_DENY
    assert not await decider.may_authorize_for(stale, f"arn:aws:iam::{MGMT}:user/old")
    current = Caller(arn=arn, account_id=MGMT, access_key_id="AKIANEW", principal_id=new.user_id)
    assert (await decider.allows(current, "iam:ListUsers", "*")).result.decision is (
        Decision.ALLOWED
    )

    # A session token of the old dave (its claims name the old id) is not the new dave's.
    now = time.time()
    claims = SessionClaims(
        session_id="ABCDEFGHIJKLMNOP",
        kind="user",
        arn=arn,
        base_arn=arn,
        principal_id=old.user_id,
        account_id=MGMT,
        issued_at=now,
        expires_at=now + 900,
    )
    session = Caller(
        arn=arn,
        account_id=MGMT,
        access_key_id=claims.key_id,
        principal_id=old.user_id,
        session=claims,
    )
    outcome = await decider.allows(session, "iam:ListUsers", "*")
    assert outcome.result.decision is Decision.IMPLICIT_DENY and not outcome.principal_known
