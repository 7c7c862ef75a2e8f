"""`iamctl apply`: plan, dry run, convergence and idempotence, against a real server.

What changed is read back from the server's audit log (ListAuditEvents): a second apply of
the same file must write nothing, and an apply after an edit must write exactly the
difference.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from iamd_client import Client, NotFound
from iamd_client._apply import SpecError, execute, load_spec, plan, print_plan

from tests.client.conftest import iamctl
from tests.harness import ServerProcess

READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
WRITE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}],
}


def desired(prefix: str, account: str) -> dict[str, Any]:
    """A desired state whose every name starts with `prefix` (tests share one server)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return {
        "managed_policies": [
            {"name": f"{prefix}-read", "document": READ, "description": "read"},
            {"name": f"{prefix}-write", "document": json.dumps(WRITE)},
        ],
        "groups": [
            {
                "name": f"{prefix}-devs",
                "members": [f"{prefix}-alice", f"{prefix}-bob"],
                "attached_policies": [f"{prefix}-read"],
            }
        ],
        "users": [
            {
                "name": f"{prefix}-alice",
                "path": "/dev/",
                "tags": {"team": "payments"},
                "attached_policies": [f"{prefix}-write"],
                "inline_policies": {"extra": READ},
            },
            {"name": f"{prefix}-bob", "permissions_boundary": f"{prefix}-read"},
        ],
        "roles": [
            {
                "name": f"{prefix}-deployer",
                "trust_policy": trust,
                "description": "deploys",
                "max_session_duration": 7200,
                "attached_policies": [f"{prefix}-write"],
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


def head(client: Client) -> int:
    """The newest revision in the audit log."""
    return max((e.revision for e in client.iter_audit_events()), default=0)


def writes_since(client: Client, revision: int) -> list[tuple[str, str]]:
    """(rpc, target) of every write after `revision`, from the server's audit log."""
    return [
        (e.rpc, e.target_arn.rsplit(":", 1)[-1])
        for e in client.iter_audit_events(since_revision=revision)
        if e.revision > revision
    ]


def test_apply_converges_then_changes_nothing(root: Client, account: str, tmp_path: Path) -> None:
    first = apply(root, desired("a1", account), tmp_path)
    assert "+ create managed policy a1-read" in first
    assert "+ create user a1-alice" in first
    assert "+ add user a1-bob to group a1-devs" in first

    alice = root.get_user(user_name="a1-alice").user
    assert alice.path == "/dev/"
    assert {t.key: t.value for t in root.list_user_tags(user_name="a1-alice").tags} == {
        "team": "payments"
    }
    attached = root.list_attached_user_policies(user_name="a1-alice").attached_policies
    assert [p.policy_arn for p in attached] == [f"arn:aws:iam::{account}:policy/a1-write"]
    inline = root.get_user_policy(user_name="a1-alice", policy_name="extra").policy_document
    assert json.loads(inline) == READ
    bob = root.get_user(user_name="a1-bob").user
    assert bob.permissions_boundary_arn == f"arn:aws:iam::{account}:policy/a1-read"
    members = sorted(u.user_name for u in root.iter_group_members(group_name="a1-devs"))
    assert members == ["a1-alice", "a1-bob"]
    role = root.get_role(role_name="a1-deployer").role
    assert (role.max_session_duration, role.description) == (7200, "deploys")

    before = head(root)
    second = apply(root, desired("a1", account), tmp_path)
    assert second.strip() == "No changes."
    assert writes_since(root, before) == []


def test_dry_run_changes_nothing(root: Client, account: str, tmp_path: Path) -> None:
    before = head(root)
    text = apply(root, desired("a2", account), tmp_path, dry_run=True)
    assert "Plan:" in text
    assert writes_since(root, before) == []
    assert [u.user_name for u in root.iter_users() if u.user_name.startswith("a2-")] == []


def test_apply_after_an_edit_changes_only_the_difference(
    root: Client, account: str, tmp_path: Path
) -> None:
    apply(root, desired("a3", account), tmp_path)
    spec = desired("a3", account)
    spec["managed_policies"][0]["document"] = WRITE  # new default version of a3-read
    alice = spec["users"][0]
    alice.update(path="/ops/", tags={"Team": "core"}, attached_policies=[], inline_policies={})
    spec["groups"][0]["members"] = ["a3-alice"]
    spec["roles"][0]["max_session_duration"] = 3600
    before = head(root)
    text = apply(root, spec, tmp_path)
    for line in (
        "~ update managed policy a3-read (new default version)",
        "~ move user a3-alice from /dev/ to /ops/",
        "~ tag user a3-alice: Team=core",
        f"- detach arn:aws:iam::{account}:policy/a3-write from user a3-alice",
        "- delete inline policy extra of user a3-alice",
        "- remove user a3-bob from group a3-devs",
        "~ update role a3-deployer",
    ):
        assert line in text
    written = sorted(rpc for rpc, _ in writes_since(root, before))
    assert written == sorted(
        [
            "CreatePolicyVersion",
            "UpdateUser",
            "TagUser",  # "Team" replaces "team": tag keys are case-insensitive, no UntagUser
            "DetachUserPolicy",
            "DeleteUserPolicy",
            "RemoveUserFromGroup",
            "UpdateRole",
        ]
    )
    policy = root.get_policy(policy_arn=f"arn:aws:iam::{account}:policy/a3-read").policy
    version = root.get_policy_version(policy_arn=policy.arn, version_id=policy.default_version_id)
    assert json.loads(version.policy_version.document) == WRITE
    assert {t.key: t.value for t in root.list_user_tags(user_name="a3-alice").tags} == {
        "Team": "core"
    }
    assert [u.user_name for u in root.iter_group_members(group_name="a3-devs")] == ["a3-alice"]
    assert root.get_role(role_name="a3-deployer").role.max_session_duration == 3600
    before = head(root)
    assert apply(root, spec, tmp_path).strip() == "No changes."
    assert writes_since(root, before) == []


def test_full_policy_history_drops_the_oldest_version(
    root: Client, account: str, tmp_path: Path
) -> None:
    spec: dict[str, Any] = {"managed_policies": [{"name": "a4-p", "document": READ}]}
    apply(root, spec, tmp_path)
    for n in range(6):
        spec["managed_policies"][0]["document"] = {**READ, "Id": f"rev{n}"}
        apply(root, spec, tmp_path)
    arn = f"arn:aws:iam::{account}:policy/a4-p"
    versions = {v.version_id for v in root.iter_policy_versions(policy_arn=arn)}
    assert len(versions) == 5
    assert "v1" not in versions
    assert root.get_policy(policy_arn=arn).policy.default_version_id == "v7"


def test_unknown_policy_reference(root: Client, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown managed policy 'nope'"):
        plan(root, {"users": [{"name": "x", "attached_policies": ["nope"]}]}, base_dir=tmp_path)


def test_new_role_needs_a_trust_policy(root: Client, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="trust_policy"):
        plan(root, {"roles": [{"name": "a5-r"}]}, base_dir=tmp_path)


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
    root: Client, account: str, tmp_path: Path
) -> None:
    (tmp_path / "doc.json").write_text(json.dumps(READ))
    apply(root, {"managed_policies": [{"name": "a6-p", "document": "file://doc.json"}]}, tmp_path)
    arn = f"arn:aws:iam::{account}:policy/a6-p"
    version = root.get_policy_version(policy_arn=arn, version_id="v1").policy_version
    assert json.loads(version.document) == READ


def test_iamctl_apply_twice_then_after_an_edit(
    server: ServerProcess, root: Client, account: str, tmp_path: Path
) -> None:
    path = tmp_path / "state.yaml"
    spec = desired("a7", account)
    path.write_text(json.dumps(spec))  # JSON is YAML too
    argv = ("apply", "-f", str(path))

    dry = iamctl(server.credentials_file, *argv, "--dry-run")
    assert "Dry run: nothing changed." in dry.stdout

    first = iamctl(server.credentials_file, *argv)
    assert "+ create user a7-alice" in first.stdout
    assert "Applied (revision" in first.stdout

    before = head(root)
    second = iamctl(server.credentials_file, *argv)
    assert second.stdout.strip() == "No changes."
    assert writes_since(root, before) == []

    spec["users"][1]["permissions_boundary"] = ""  # only bob's boundary goes
    spec["roles"][0]["description"] = "deploys things"  # and the role's description changes
    path.write_text(json.dumps(spec))
    third = iamctl(server.credentials_file, *argv)
    changes = [line.strip() for line in third.stdout.splitlines() if line.startswith("  ")]
    planned = [c for c in changes if not c.startswith("done:")]
    assert planned == ["- remove permissions boundary of user a7-bob", "~ update role a7-deployer"]
    assert sorted(rpc for rpc, _ in writes_since(root, before)) == [
        "DeleteUserPermissionsBoundary",
        "UpdateRole",
    ]
    assert root.get_user(user_name="a7-bob").user.permissions_boundary_arn == ""
    assert root.get_role(role_name="a7-deployer").role.description == "deploys things"


def test_the_readme_example_applies_as_written(
    server: ServerProcess, root: Client, account: str, tmp_path: Path
) -> None:
    """client/README.md's example of each kind, applied with the installed iamctl."""
    readme = (Path(__file__).resolve().parents[2] / "client" / "README.md").read_text()
    section = re.search(
        r"<!-- apply:start -->\n```yaml\n(.*?)```\n<!-- apply:end -->", readme, re.S
    )
    assert section is not None, "client/README.md has no apply example"
    path = tmp_path / "desired.yaml"
    path.write_text(section.group(1))

    dry = iamctl(server.credentials_file, "apply", "-f", str(path), "--dry-run")
    assert "Dry run: nothing changed." in dry.stdout
    with pytest.raises(NotFound):  # the dry run created nothing
        root.get_user(user_name="carol")
    first = iamctl(server.credentials_file, "apply", "-f", str(path))
    for change in (
        "+ create managed policy iam-read",
        "+ create group support",
        "+ create user carol",
        "+ create role auditor",
    ):
        assert change in first.stdout
    before = head(root)
    second = iamctl(server.credentials_file, "apply", "-f", str(path))
    assert second.stdout.strip() == "No changes."
    assert writes_since(root, before) == []

    carol = root.get_user(user_name="carol").user
    assert carol.path == "/support/"
    assert carol.permissions_boundary_arn == f"arn:aws:iam::{account}:policy/support-boundary"
    members = {u.user_name for u in root.get_group(group_name="support").users}
    assert members == {"carol", "dave"}
    role = root.get_role(role_name="auditor").role
    assert role.description == "Reads IAM for audits"
    attached = [p.policy_name for p in root.iter_attached_role_policies(role_name="auditor")]
    assert attached == ["iam-read"]
    assert [p for p in root.iter_group_policies(group_name="support")] == ["own-keys"]
