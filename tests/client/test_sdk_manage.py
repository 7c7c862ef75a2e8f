"""Every Manage RPC through the SDK against a real server, area by area.

The server runs with --metrics-listen; the last test reads its `iamd_rpc_total` counters and
checks that every RPC of the ManagementService descriptor was answered OK at least once, so
the coverage claim is made by the server, not by the test.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from iamd.v1 import management_pb2, types_pb2
from iamd_client import AsyncClient, Client, _transport
from iamd_client.signing import SigningCredentials
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.client.conftest import allow, connect, free_port, policy
from tests.harness import ServerProcess, start_server

MANAGEMENT = management_pb2.DESCRIPTOR.services_by_name["ManagementService"]
READ = policy(allow(["iam:Get*", "iam:List*"]))
TRUST_ROOT = "arn:aws:iam::{account}:root"


@pytest.fixture(scope="module")
def metrics_server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    metrics = f"127.0.0.1:{free_port()}"
    process = start_server(
        module_database_url,
        tmp_path_factory.mktemp("iamd-metrics"),
        extra_args=["--metrics-listen", metrics],
    )
    try:
        yield process, f"http://{metrics}/metrics"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(metrics_server: tuple[ServerProcess, str]) -> ServerProcess:
    return metrics_server[0]


def trust(account: str) -> str:
    return policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": TRUST_ROOT.format(account=account)},
            "Action": "sts:AssumeRole",
        }
    )


def test_organization(root: Client) -> None:
    member = root.create_account(name="sdk-member", email="member@example.test").account
    assert member.parent_id == "r-root"
    assert root.describe_account(account_id=member.account_id).account.name == "sdk-member"
    assert member.account_id in [a.account_id for a in root.iter_accounts()]

    unit = root.create_organizational_unit(parent_id="r-root", name="sdk-ou").organizational_unit
    assert unit.id.startswith("ou-")
    assert [u.id for u in root.iter_organizational_units(parent_id="r-root")] == [unit.id]
    root.move_account(
        account_id=member.account_id, destination_parent_id=unit.id, source_parent_id="r-root"
    )
    assert [a.account_id for a in root.iter_accounts(parent_id=unit.id)] == [member.account_id]

    scp = root.create_service_control_policy(
        name="sdk-deny-kms", document=policy({"Effect": "Deny", "Action": "kms:*", "Resource": "*"})
    ).policy
    root.update_service_control_policy(policy_id=scp.policy_id, description="no kms")
    assert "sdk-deny-kms" in [p.name for p in root.iter_service_control_policies()]
    root.attach_service_control_policy(policy_id=scp.policy_id, target_id=member.account_id)
    attached = root.list_service_control_policies_for_target(target_id=member.account_id)
    assert scp.policy_id in [p.policy_id for p in attached.policies]
    root.detach_service_control_policy(policy_id=scp.policy_id, target_id=member.account_id)
    root.delete_service_control_policy(policy_id=scp.policy_id)

    root.move_account(account_id=member.account_id, destination_parent_id="r-root")
    root.delete_organizational_unit(organizational_unit_id=unit.id)


def test_users_groups_and_tags(root: Client) -> None:
    user = root.create_user(user_name="m-alice", path="/m/", tags={"team": "a"}).user
    assert root.get_user(user_name="m-alice").user.arn == user.arn
    assert "m-alice" in [u.user_name for u in root.iter_users(path_prefix="/m/")]
    root.update_user(user_name="m-alice", new_path="/m2/")
    root.tag_user(user_name="m-alice", tags={"env": "prod"})
    root.untag_user(user_name="m-alice", tag_keys=["team"])
    assert {t.key: t.value for t in root.list_user_tags(user_name="m-alice").tags} == {
        "env": "prod"
    }

    root.create_group(group_name="m-devs", path="/m/")
    root.add_user_to_group(group_name="m-devs", user_name="m-alice")
    assert [u.user_name for u in root.get_group(group_name="m-devs").users] == ["m-alice"]
    assert "m-devs" in [g.group_name for g in root.iter_groups()]
    assert [g.group_name for g in root.list_groups_for_user(user_name="m-alice").groups] == [
        "m-devs"
    ]
    root.put_group_policy(group_name="m-devs", policy_name="read", policy_document=READ)
    stored = root.get_group_policy(group_name="m-devs", policy_name="read").policy_document
    assert json.loads(stored) == json.loads(READ)
    assert list(root.iter_group_policies(group_name="m-devs")) == ["read"]
    root.delete_group_policy(group_name="m-devs", policy_name="read")
    root.remove_user_from_group(group_name="m-devs", user_name="m-alice")
    root.delete_group(group_name="m-devs")

    root.put_user_policy(user_name="m-alice", policy_name="read", policy_document=READ)
    assert root.get_user_policy(user_name="m-alice", policy_name="read").policy_name == "read"
    assert list(root.iter_user_policies(user_name="m-alice")) == ["read"]
    root.delete_user_policy(user_name="m-alice", policy_name="read")
    assert root.revoke_user_sessions(user_name="m-alice").revoked_before.seconds > 0
    root.untag_user(user_name="m-alice", tag_keys=["env"])
    root.delete_user(user_name="m-alice")


def test_roles(root: Client, account: str) -> None:
    role = root.create_role(
        role_name="m-reader", assume_role_policy_document=trust(account), tags={"a": "1"}
    ).role
    assert root.get_role(role_name="m-reader").role.arn == role.arn
    assert "m-reader" in [r.role_name for r in root.iter_roles()]
    root.update_role(role_name="m-reader", description="reads", max_session_duration=7200)
    root.update_assume_role_policy(role_name="m-reader", policy_document=trust(account))
    root.tag_role(role_name="m-reader", tags={"b": "2"})
    root.untag_role(role_name="m-reader", tag_keys=["a"])
    assert [t.key for t in root.list_role_tags(role_name="m-reader").tags] == ["b"]
    root.put_role_policy(role_name="m-reader", policy_name="read", policy_document=READ)
    assert root.get_role_policy(role_name="m-reader", policy_name="read").policy_name == "read"
    assert list(root.iter_role_policies(role_name="m-reader")) == ["read"]
    assert root.revoke_role_sessions(role_name="m-reader").revoked_before.seconds > 0
    root.delete_role_policy(role_name="m-reader", policy_name="read")
    root.untag_role(role_name="m-reader", tag_keys=["b"])
    root.delete_role(role_name="m-reader")


def test_managed_policies_attachments_and_boundaries(root: Client, account: str) -> None:
    arn = root.create_policy(policy_name="m-read", policy_document=READ).policy.arn
    assert root.get_policy(policy_arn=arn).policy.default_version_id == "v1"
    assert arn in [p.arn for p in root.iter_policies(scope=management_pb2.POLICY_SCOPE_LOCAL)]
    root.create_policy_version(policy_arn=arn, policy_document=policy(allow("iam:Get*")))
    root.set_default_policy_version(policy_arn=arn, version_id="v2")
    assert root.get_policy_version(
        policy_arn=arn, version_id="v2"
    ).policy_version.is_default_version
    assert [v.version_id for v in root.iter_policy_versions(policy_arn=arn)] == ["v2", "v1"]
    root.delete_policy_version(policy_arn=arn, version_id="v1")

    root.create_user(user_name="m-bob")
    root.create_group(group_name="m-ops")
    root.create_role(role_name="m-runner", assume_role_policy_document=trust(account))
    root.attach_user_policy(user_name="m-bob", policy_arn=arn)
    root.attach_group_policy(group_name="m-ops", policy_arn=arn)
    root.attach_role_policy(role_name="m-runner", policy_arn=arn)
    listed = [
        root.list_attached_user_policies(user_name="m-bob").attached_policies,
        root.list_attached_group_policies(group_name="m-ops").attached_policies,
        root.list_attached_role_policies(role_name="m-runner").attached_policies,
    ]
    assert [[p.policy_arn for p in ps] for ps in listed] == [[arn]] * 3
    root.put_user_permissions_boundary(user_name="m-bob", permissions_boundary=arn)
    root.put_role_permissions_boundary(role_name="m-runner", permissions_boundary=arn)
    assert root.get_user(user_name="m-bob").user.permissions_boundary_arn == arn
    root.delete_user_permissions_boundary(user_name="m-bob")
    root.delete_role_permissions_boundary(role_name="m-runner")
    root.detach_user_policy(user_name="m-bob", policy_arn=arn)
    root.detach_group_policy(group_name="m-ops", policy_arn=arn)
    root.detach_role_policy(role_name="m-runner", policy_arn=arn)
    root.delete_policy(policy_arn=arn)


def test_access_keys_passwords_and_login(
    root: Client, server: ServerProcess, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root.create_user(user_name="m-carol")
    key = root.create_access_key(user_name="m-carol").access_key
    root.update_access_key(user_name="m-carol", access_key_id=key.access_key_id, status="Inactive")
    (listed,) = root.list_access_keys(user_name="m-carol").access_key_metadata
    assert listed.status == types_pb2.ACCESS_KEY_STATUS_INACTIVE
    root.delete_access_key(user_name="m-carol", access_key_id=key.access_key_id)

    root.update_account_password_policy(minimum_password_length=12, require_numbers=True)
    assert root.get_account_password_policy().password_policy.minimum_password_length == 12
    root.create_login_profile(user_name="m-carol", password="Correct-horse-1")
    root.update_login_profile(user_name="m-carol", password="Battery-staple-2")
    assert root.get_login_profile(user_name="m-carol").login_profile.user_name == "m-carol"
    with connect(server.endpoint, None) as anonymous:
        session = anonymous.login(account=account, user_name="m-carol", password="Battery-staple-2")
    assert session.credentials.access_key_id.startswith("ASIA")

    # A client that has credentials still sends Login unsigned (and it succeeds).
    signed: list[str] = []
    sign = _transport.Signer.metadata

    def spy(signer: _transport.Signer, method: str, payload: bytes) -> _transport.Metadata:
        signed.append(method)
        return sign(signer, method, payload)

    monkeypatch.setattr(_transport.Signer, "metadata", spy)
    assert root.access_key_id is not None
    again = root.login(account=account, user_name="m-carol", password="Battery-staple-2")
    assert again.arn == f"arn:aws:iam::{account}:user/m-carol"
    assert root.get_caller_identity().account == account
    assert signed == ["/iamd.v1.StsService/GetCallerIdentity"]
    credentials = again.credentials
    as_carol = SigningCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    with connect(server.endpoint, as_carol) as carol:
        assert carol.get_caller_identity().arn == again.arn

    root.delete_login_profile(user_name="m-carol")
    root.delete_account_password_policy()


def test_resource_policies_acls_and_service_definitions(root: Client, account: str) -> None:
    root.put_service_definition(
        definition=types_pb2.ServiceDefinition(
            service_prefix="mdocs",
            actions=[types_pb2.ServiceAction(name="ReadDoc", resource_types=["doc"])],
            resource_types=[
                types_pb2.ServiceResourceType(
                    name="doc", arn_pattern="arn:${Partition}:mdocs:::${Account}/${DocId}"
                )
            ],
        )
    )
    definition = root.get_service_definition(service_prefix="mdocs").definition
    assert [a.name for a in definition.actions] == ["ReadDoc"]
    assert "mdocs" in [d.service_prefix for d in root.iter_service_definitions()]

    doc = f"arn:aws:mdocs:::{account}/d1"
    document = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": account},
            "Action": "mdocs:ReadDoc",
            "Resource": doc,
        }
    )
    root.put_resource_policy(resource_arn=doc, policy_document=document, owner_account_id=account)
    got = root.get_resource_policy(resource_arn=doc, owner_account_id=account)
    assert json.loads(got.policy_document) == json.loads(document)
    root.delete_resource_policy(resource_arn=doc, owner_account_id=account)
    root.put_resource_acl(
        resource_arn=doc,
        owner_account_id=account,
        grants=[
            types_pb2.AclGrant(
                grantee=f"arn:aws:iam::{account}:root", permission=types_pb2.ACL_PERMISSION_READ
            )
        ],
    )
    assert len(root.get_resource_acl(resource_arn=doc, owner_account_id=account).grants) == 1
    root.delete_service_definition(service_prefix="mdocs")


def test_openid_connect_providers_and_web_identity(
    root: Client, server: ServerProcess, account: str
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    jwks = json.dumps({"keys": [key.as_dict(private=False)]})
    host = "sdk-token.example.test"
    arn = root.create_open_id_connect_provider(
        url=f"https://{host}", client_ids=["c1"], jwks=jwks
    ).provider.arn
    assert root.get_open_id_connect_provider(open_id_connect_provider_arn=arn).provider.url
    assert arn in [p.arn for p in root.list_open_id_connect_providers().providers]
    root.update_open_id_connect_provider_jwks(open_id_connect_provider_arn=arn, jwks=jwks)

    web_trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Federated": arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:aud": "c1"}},
        }
    )
    role = root.create_role(role_name="m-web", assume_role_policy_document=web_trust).role
    now = int(time.time())
    claims = {"iss": f"https://{host}", "sub": "s1", "aud": "c1", "iat": now, "exp": now + 600}
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
    with connect(server.endpoint, None) as anonymous:
        web = anonymous.assume_role_with_web_identity(
            role_arn=role.arn, role_session_name="web", web_identity_token=token
        )
    assert web.assumed_role_user.arn == f"arn:aws:sts::{account}:assumed-role/m-web/web"
    root.delete_role(role_name="m-web")
    root.delete_open_id_connect_provider(open_id_connect_provider_arn=arn)


def test_service_last_accessed_details(root: Client) -> None:
    arn = root.create_user(user_name="m-advised").user.arn
    root.put_user_policy(
        user_name="m-advised",
        policy_name="read",
        policy_document=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}],
            }
        ),
    )
    job = root.generate_service_last_accessed_details(arn=arn).job_id
    report = root.get_service_last_accessed_details(job_id=job)
    assert [s.service_namespace for s in report.services_last_accessed] == ["iam"]


def test_audit_events(root: Client) -> None:
    written = root.create_user(user_name="m-audited").revision
    events = list(root.iter_audit_events(since_revision=written - 1, max_items=50))
    assert [e.rpc for e in events if e.revision == written] == ["CreateUser"]


async def test_async_client_main_calls(server: ServerProcess, account: str) -> None:
    root = server.root
    async with AsyncClient(
        endpoint=server.endpoint,
        access_key_id=root.access_key_id,
        secret_access_key=root.secret_access_key,
    ) as client:
        assert (await client.get_caller_identity()).account == account
        await client.create_user(user_name="m-async", path="/async/")
        await client.create_group(group_name="m-async-g")
        await client.add_user_to_group(group_name="m-async-g", user_name="m-async")
        await client.put_group_policy(
            group_name="m-async-g", policy_name="read", policy_document=READ
        )
        arn = (await client.create_policy(policy_name="m-async-p", policy_document=READ)).policy.arn
        await client.attach_user_policy(user_name="m-async", policy_arn=arn)
        assert (await client.get_user(user_name="m-async")).user.path == "/async/"
        assert [u.user_name async for u in client.iter_users(path_prefix="/async/")] == ["m-async"]
        assert [g.group_name async for g in client.iter_groups_for_user(user_name="m-async")] == [
            "m-async-g"
        ]
        written = await client.create_role(
            role_name="m-async-r", assume_role_policy_document=trust(account)
        )
        decision = await client.authorize(
            principal_arn=f"arn:aws:iam::{account}:user/async/m-async",
            action="iam:GetUser",
            resource_arn=f"arn:aws:iam::{account}:user/async/m-async",
            at_least_revision=written.revision,
        )
        assert decision.decision == types_pb2.DECISION_ALLOWED
        await client.detach_user_policy(user_name="m-async", policy_arn=arn)
        await client.remove_user_from_group(group_name="m-async-g", user_name="m-async")
        await client.delete_user(user_name="m-async")


def test_every_manage_rpc_was_answered_ok(metrics_server: tuple[ServerProcess, str]) -> None:
    """Runs last in this module: the server's own counters prove the coverage."""
    with urllib.request.urlopen(metrics_server[1], timeout=10) as response:
        text = response.read().decode()
    answered: set[str] = set()
    for line in text.splitlines():
        if line.startswith("iamd_rpc_total{") and 'code="OK"' in line:
            method = line.split('method="', 1)[1].split('"', 1)[0]
            answered.add(method.rsplit("/", 1)[-1])
    expected = {m.name for m in MANAGEMENT.methods}
    assert expected - answered == set()
