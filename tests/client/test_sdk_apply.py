"""`iamctl apply`: plan, dry run, convergence and idempotence."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from iamd_client import Client
from iamd_client._apply import SpecError, execute, load_spec, plan, print_plan

from tests.client.sdk_fake_server import ACCOUNT, RunningServer

READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
WRITE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}
WRITES = frozenset(
    {
        "CreatePolicy",
        "CreatePolicyVersion",
        "DeletePolicyVersion",
        "CreateUser",
        "UpdateUser",
        "TagUser",
        "UntagUser",
        "CreateGroup",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "CreateRole",
        "UpdateRole",
        "UpdateAssumeRolePolicy",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "AttachGroupPolicy",
        "AttachRolePolicy",
        "PutUserPolicy",
        "DeleteUserPolicy",
        "PutRolePolicy",
        "PutUserPermissionsBoundary",
    }
)


def desired() -> dict[str, Any]:
    return {
        "managed_policies": [
            {"name": "s3-read", "document": READ, "description": "read"},
            {"name": "s3-write", "document": json.dumps(WRITE)},
        ],
        "groups": [{"name": "devs", "members": ["alice", "bob"], "attached_policies": ["s3-read"]}],
        "users": [
            {
                "name": "alice",
                "path": "/dev/",
                "tags": {"team": "payments"},
                "attached_policies": ["s3-write"],
                "inline_policies": {"extra": READ},
            },
            {"name": "bob", "permissions_boundary": "s3-read"},
        ],
        "roles": [
            {
                "name": "deployer",
                "trust_policy": TRUST,
                "description": "deploys",
                "max_session_duration": 7200,
                "attached_policies": ["s3-write"],
                "inline_policies": {"inline": WRITE},
            }
        ],
    }


def apply(client: Client, spec: dict[str, Any], tmp_path: Path, *, dry_run: bool = False) -> str:
    out = io.StringIO()
    steps = plan(client, spec, base_dir=tmp_path)
    print_plan(steps, out)
    if not dry_run:
        execute(steps, out)
    return out.getvalue()


def writes(fake: RunningServer) -> list[str]:
    return [c.rpc for c in fake.fake.calls if c.rpc in WRITES]


def test_apply_converges_and_second_apply_changes_nothing(
    client: Client, fake: RunningServer, tmp_path: Path
) -> None:
    first = apply(client, desired(), tmp_path)
    assert "+ create managed policy s3-read" in first
    assert "+ create user alice" in first
    assert "+ add user bob to group devs" in first
    state = fake.fake
    alice = state.entities[("user", "alice")]
    assert alice.path == "/dev/"
    assert alice.tags == {"team": "payments"}
    assert alice.attached == [f"arn:aws:iam::{ACCOUNT}:policy/s3-write"]
    assert json.loads(alice.inline["extra"]) == READ
    assert state.entities[("user", "bob")].boundary == f"arn:aws:iam::{ACCOUNT}:policy/s3-read"
    assert sorted(state.entities[("group", "devs")].members) == ["alice", "bob"]
    role = state.entities[("role", "deployer")]
    assert (role.max_session_duration, role.description) == (7200, "deploys")

    state.calls.clear()
    second = apply(client, desired(), tmp_path)
    assert second.strip() == "No changes."
    assert writes(fake) == []


def test_dry_run_changes_nothing(client: Client, fake: RunningServer, tmp_path: Path) -> None:
    text = apply(client, desired(), tmp_path, dry_run=True)
    assert "Plan:" in text
    assert writes(fake) == []
    assert fake.fake.entities == {}


def test_apply_updates_and_removes_what_the_file_no_longer_lists(
    client: Client, fake: RunningServer, tmp_path: Path
) -> None:
    apply(client, desired(), tmp_path)
    spec = desired()
    spec["managed_policies"][0]["document"] = WRITE  # new default version of s3-read
    alice = spec["users"][0]
    alice.update(path="/ops/", tags={"Team": "core"}, attached_policies=[], inline_policies={})
    spec["groups"][0]["members"] = ["alice"]
    spec["roles"][0]["max_session_duration"] = 3600
    fake.fake.calls.clear()
    text = apply(client, spec, tmp_path)
    for line in (
        "~ update managed policy s3-read (new default version)",
        "~ move user alice from /dev/ to /ops/",
        "~ tag user alice: Team=core",
        "- detach arn:aws:iam::111122223333:policy/s3-write from user alice",
        "- delete inline policy extra of user alice",
        "- remove user bob from group devs",
        "~ update role deployer",
    ):
        assert line in text
    state = fake.fake
    policy = state.policies["s3-read"]
    assert json.loads(policy.versions[policy.default]) == WRITE
    assert state.entities[("user", "alice")].tags == {"Team": "core"}
    assert state.entities[("user", "alice")].attached == []
    assert state.entities[("group", "devs")].members == ["alice"]
    assert state.entities[("role", "deployer")].max_session_duration == 3600
    assert "UntagUser" not in writes(fake)  # "Team" replaced "team": keys are case-insensitive
    assert apply(client, spec, tmp_path).strip() == "No changes."


def test_full_policy_history_drops_the_oldest_version(
    client: Client, fake: RunningServer, tmp_path: Path
) -> None:
    spec: dict[str, Any] = {"managed_policies": [{"name": "p", "document": READ}]}
    apply(client, spec, tmp_path)
    for n in range(6):
        spec["managed_policies"][0]["document"] = {**READ, "Id": f"rev{n}"}
        apply(client, spec, tmp_path)
    policy = fake.fake.policies["p"]
    assert len(policy.versions) == 5
    assert "v1" not in policy.versions and policy.default == "v7"


def test_unknown_policy_reference(client: Client, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown managed policy 'nope'"):
        plan(client, {"users": [{"name": "x", "attached_policies": ["nope"]}]}, base_dir=tmp_path)


def test_new_role_needs_a_trust_policy(client: Client, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="trust_policy"):
        plan(client, {"roles": [{"name": "r"}]}, base_dir=tmp_path)


def test_load_spec_formats(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text(json.dumps(READ))
    yaml_file = tmp_path / "state.yaml"
    yaml_file.write_text(
        "managed_policies:\n  - name: p\n    document: file://doc.json\nusers:\n  - name: a\n"
    )
    spec = load_spec(yaml_file)
    assert spec["users"] == [{"name": "a"}]
    json_file = tmp_path / "state.json"
    json_file.write_text(json.dumps({"users": [{"name": "a"}]}))
    assert load_spec(json_file) == {"users": [{"name": "a"}]}
    json_file.write_text(json.dumps({"people": []}))
    with pytest.raises(SpecError, match="people"):
        load_spec(json_file)


def test_documents_from_files_relative_to_the_spec(
    client: Client, fake: RunningServer, tmp_path: Path
) -> None:
    (tmp_path / "doc.json").write_text(json.dumps(READ))
    apply(client, {"managed_policies": [{"name": "p", "document": "file://doc.json"}]}, tmp_path)
    assert json.loads(fake.fake.policies["p"].versions["v1"]) == READ


def test_iamctl_apply(
    fake: RunningServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from iamd_client import iamctl

    from tests.client.sdk_fake_server import ACCESS_KEY_ID, SECRET

    monkeypatch.setenv("IAMD_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("IAMD_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("IAMD_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    path = tmp_path / "state.json"
    path.write_text(json.dumps(desired()))
    argv = ["--endpoint", fake.endpoint, "apply", "-f", str(path)]
    assert iamctl.main([*argv, "--dry-run"]) == 0
    assert "Dry run: nothing changed." in capsys.readouterr().out
    assert iamctl.main(argv) == 0
    assert "Applied (revision" in capsys.readouterr().out
    assert iamctl.main(argv) == 0
    assert capsys.readouterr().out.strip() == "No changes."
