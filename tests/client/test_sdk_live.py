"""The SDK and iamctl end to end: Client -> gRPC -> `iamd serve` -> PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from iamd.v1 import types_pb2
from iamd_client import AlreadyExists, AsyncClient, Client, NotFound, Unauthenticated
from iamd_client._apply import execute, plan, print_plan

from tests.harness import ServerProcess

READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> Iterator[Client]:
    """A client signed with the management account's root credentials (from the profile the
    server wrote at bootstrap)."""
    with Client(
        endpoint=server.endpoint,
        access_key_id=server.root.access_key_id,
        secret_access_key=server.root.secret_access_key,
    ) as client:
        yield client


def test_bootstrap_profile_resolves(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMD_SHARED_CREDENTIALS_FILE", str(server.credentials_file))
    for name in ("IAMD_ACCESS_KEY_ID", "IAMD_SECRET_ACCESS_KEY", "IAMD_PROFILE", "IAMD_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with Client.from_environment(endpoint=server.endpoint) as client:
        assert client.access_key_id == server.root.access_key_id
        client.list_users(max_items=1)


def test_users_errors_and_pagination(root: Client) -> None:
    created = root.create_user(user_name="sdk-alice", path="/sdk/", tags={"team": "a"})
    assert created.user.arn.endswith(":user/sdk/sdk-alice")
    assert created.revision > 0
    with pytest.raises(AlreadyExists) as excinfo:
        root.create_user(user_name="SDK-ALICE")
    assert excinfo.value.reason == "EntityAlreadyExists"
    with pytest.raises(NotFound) as missing:
        root.get_user(user_name="sdk-nobody")
    assert missing.value.reason == "NoSuchEntity"
    for n in range(5):
        root.create_user(user_name=f"sdk-page-{n}", path="/sdk-page/")
    names = [u.user_name for u in root.iter_users(path_prefix="/sdk-page/", max_items=2)]
    assert names == [f"sdk-page-{n}" for n in range(5)]
    assert root.update_user(user_name="sdk-alice", new_path="/sdk2/").user.path == "/sdk2/"


def test_inline_policy_roundtrip(root: Client) -> None:
    root.create_user(user_name="sdk-bob")
    root.put_user_policy(user_name="sdk-bob", policy_name="read", policy_document=json.dumps(READ))
    stored = root.get_user_policy(user_name="sdk-bob", policy_name="read").policy_document
    assert json.loads(stored) == READ
    assert list(root.iter_user_policies(user_name="sdk-bob")) == ["read"]


def test_bad_secret_is_rejected(server: ServerProcess) -> None:
    with (
        Client(
            endpoint=server.endpoint,
            access_key_id=server.root.access_key_id,
            secret_access_key="x" * 40,
        ) as client,
        pytest.raises(Unauthenticated),
    ):
        client.list_users()


async def test_async_client(server: ServerProcess) -> None:
    async with AsyncClient(
        endpoint=server.endpoint,
        access_key_id=server.root.access_key_id,
        secret_access_key=server.root.secret_access_key,
    ) as client:
        await client.create_group(group_name="sdk-async")
        groups = [g.group_name async for g in client.iter_groups()]
        assert "sdk-async" in groups


def test_authorize(root: Client) -> None:
    root.put_service_definition(
        definition=types_pb2.ServiceDefinition(
            service_prefix="s3",
            actions=[types_pb2.ServiceAction(name="GetObject", resource_types=["object"])],
            resource_types=[
                types_pb2.ServiceResourceType(
                    name="object", arn_pattern="arn:${Partition}:s3:::${BucketName}/${ObjectName}"
                )
            ],
        )
    )
    root.create_user(user_name="sdk-carol")
    arn = root.get_user(user_name="sdk-carol").user.arn
    written = root.put_user_policy(
        user_name="sdk-carol", policy_name="read", policy_document=json.dumps(READ)
    )
    decision = root.authorize(
        principal_arn=arn,
        action="s3:GetObject",
        resource_arn="arn:aws:s3:::bucket/key",
        at_least_revision=written.revision,
        explain=True,
    )
    assert decision.decision == types_pb2.DECISION_ALLOWED
    assert decision.revision >= written.revision


def test_apply_is_idempotent(root: Client, tmp_path: Path) -> None:
    spec = {
        "managed_policies": [{"name": "sdk-apply-read", "document": READ}],
        "groups": [{"name": "sdk-apply-devs", "members": ["sdk-apply-u"]}],
        "users": [
            {
                "name": "sdk-apply-u",
                "tags": {"team": "x"},
                "attached_policies": ["sdk-apply-read"],
                "inline_policies": {"inline": READ},
            }
        ],
    }
    out = io.StringIO()
    execute(plan(root, spec, base_dir=tmp_path), out)
    second = plan(root, spec, base_dir=tmp_path)
    text = io.StringIO()
    print_plan(second, text)
    assert text.getvalue().strip() == "No changes.", text.getvalue()
