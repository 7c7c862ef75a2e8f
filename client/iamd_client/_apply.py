"""`iamctl apply -f FILE`: declarative, idempotent desired state of one account.

File format (YAML with the ``iamd-client[yaml]`` extra, or the same structure as JSON)::

    account_id: "111122223333"        # optional; default: the caller's account
    managed_policies:
      - name: s3-read
        path: /                       # optional, default "/"
        description: Read the bucket  # optional; set at creation only
        document: {Version: "2012-10-17", Statement: [...]}   # or a JSON string, or file://p.json
    groups:
      - name: devs
        members: [alice]              # exact member list
        attached_policies: [s3-read]  # managed policy names from this file, or ARNs
        inline_policies: {extra: {...}}
    users:
      - name: alice
        path: /dev/
        tags: {team: payments}
        permissions_boundary: s3-read # name or ARN; "" removes it
        attached_policies: []
        inline_policies: {}
    roles:
      - name: deployer
        trust_policy: {...}           # required for a new role
        description: Deploys things
        max_session_duration: 3600
        tags: {}
        permissions_boundary: ...
        attached_policies: [...]
        inline_policies: {...}

Rules: entities not in the file are left alone. For an entity in the file, every key that is
present is enforced exactly (a listed ``attached_policies`` detaches what is not listed, a
listed ``tags`` removes other tags, ...); a key that is absent is not managed. The plan is
computed from the current state first and printed; nothing changes with --dry-run. Applying
the same file twice changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from iamd.v1 import management_pb2 as mgmt

from iamd_client.client import Client

MAX_POLICY_VERSIONS = 5
# Stands for the ARN of a managed policy this plan creates; resolved when the step runs.
_PENDING = "new-policy:"


class SpecError(ValueError):
    """The desired-state file is invalid."""


@dataclass(frozen=True, slots=True)
class Step:
    """One planned change ("+" create/add, "~" update, "-" remove) or a warning ("!")."""

    sign: str
    text: str
    run: Callable[[], object] | None = None


# ---- reading the file ----------------------------------------------------------------------


def load_spec(path: Path) -> dict[str, Any]:
    """Parse a desired-state file (YAML or JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e}") from e
    data: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _load_yaml(text, path)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if path.suffix.lower() == ".json":
                raise SpecError(f"{path}: invalid JSON: {e}") from e
            data = _load_yaml(text, path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    unknown = set(data) - {"account_id", "managed_policies", "users", "groups", "roles"}
    if unknown:
        raise SpecError(f"{path}: unknown top-level keys: {', '.join(sorted(unknown))}")
    return data


def _load_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise SpecError(
            f"{path}: reading YAML needs PyYAML (pip install 'iamd-client[yaml]'); "
            "or write the file as JSON"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: invalid YAML: {e}") from e


def _entries(spec: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SpecError(f"{key}: expected a list of mappings")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> str:
    unknown = set(entry) - allowed - {"name"}
    if unknown:
        raise SpecError(f"{where}: unknown keys: {', '.join(sorted(unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: 'name' is required")
    return name


def _str(entry: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = entry.get(key, default)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(f"{where}.{key}: expected a string")
    return value


def _str_list(entry: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}.{key}: expected a list of strings")
    return value


def _str_map(entry: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = entry.get(key) or {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}.{key}: expected a mapping")
    return {str(k): v for k, v in value.items()}


def _document(value: Any, where: str, base_dir: Path) -> str:
    """A policy document as JSON text, from a mapping, a JSON string or file://PATH."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: expected a policy document")
    text: str = value
    if text.startswith("file://"):
        path = base_dir / Path(text[len("file://") :]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"{where}: cannot read {path}: {e}") from e
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"{where}: invalid JSON document: {e}") from e
    return text


def same_document(a: str, b: str) -> bool:
    """Documents are equal when their JSON values are (formatting does not matter)."""
    try:
        return bool(json.loads(a) == json.loads(b))
    except json.JSONDecodeError:
        return a == b


# ---- planning ------------------------------------------------------------------------------


class _Planner:
    def __init__(self, client: Client, spec: Mapping[str, Any], base_dir: Path) -> None:
        self.c = client
        self.spec = spec
        self.base_dir = base_dir
        self.account = _str(spec, "account_id", "account_id")
        self.steps: list[Step] = []
        self.removals: list[Step] = []  # detach/delete steps run last
        self.policy_arns: dict[str, str] = {}
        self.existing_policy_arns: dict[str, str] = {}
        self.created_arns: dict[str, str] = {}
        self.existing_groups: set[str] = set()

    def add(self, sign: str, text: str, run: Callable[[], object] | None = None) -> None:
        self.steps.append(Step(sign, text, run))

    def remove(self, text: str, run: Callable[[], object]) -> None:
        self.removals.append(Step("-", text, run))

    def _later(self, fn: Callable[..., object], **kwargs: Any) -> Callable[[], object]:
        """A step action; ARNs of policies created by this plan are filled in when it runs."""

        def run() -> object:
            return fn(**{k: self._resolve(v) for k, v in kwargs.items()})

        return run

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(_PENDING):
            return self.created_arns[value[len(_PENDING) :]]
        return value

    @staticmethod
    def _show(arn: str) -> str:
        return f"new policy {arn[len(_PENDING) :]}" if arn.startswith(_PENDING) else arn

    def _create_policy(self, **kwargs: Any) -> object:
        response = self.c.create_policy(**kwargs)
        self.created_arns[kwargs["policy_name"].lower()] = response.policy.arn
        return response

    def plan(self) -> list[Step]:
        self._managed_policies()
        self._groups()
        self._users()
        self._roles()
        self._memberships()
        return self.steps + self.removals

    # -- managed policies --

    def _managed_policies(self) -> None:
        entries = _entries(self.spec, "managed_policies")
        existing = {
            p.policy_name.lower(): p
            for p in self.c.iter_policies(account_id=self.account, scope=mgmt.POLICY_SCOPE_LOCAL)
        }
        self.existing_policy_arns = {k: p.arn for k, p in existing.items()}
        for i, entry in enumerate(entries):
            where = f"managed_policies[{i}]"
            name = _check_keys(entry, {"path", "description", "document", "tags"}, where)
            path = _str(entry, "path", where, "/") or "/"
            document = _document(entry.get("document"), f"{where}.document", self.base_dir)
            current = existing.get(name.lower())
            if current is None:
                self.policy_arns[name.lower()] = _PENDING + name.lower()
                self.add(
                    "+",
                    f"create managed policy {name}",
                    self._later(
                        self._create_policy,
                        account_id=self.account,
                        policy_name=name,
                        path=path,
                        policy_document=document,
                        description=_str(entry, "description", where),
                        tags=_str_map(entry, "tags", where),
                    ),
                )
                continue
            arn = current.arn
            self.policy_arns[name.lower()] = arn
            if current.path != path:
                self.add("!", f"managed policy {name}: path {current.path} cannot change to {path}")
            if "description" in entry and current.description != _str(entry, "description", where):
                self.add("!", f"managed policy {name}: the description is set at creation only")
            version = self.c.get_policy_version(
                policy_arn=arn, version_id=current.default_version_id
            ).policy_version
            if same_document(version.document, document):
                continue
            versions = list(self.c.iter_policy_versions(policy_arn=arn))
            if len(versions) >= MAX_POLICY_VERSIONS:
                oldest = min(
                    (v for v in versions if not v.is_default_version),
                    key=lambda v: int(v.version_id.lstrip("v") or 0),
                )
                self.add(
                    "-",
                    f"delete version {oldest.version_id} of managed policy {name} (5 kept)",
                    self._later(
                        self.c.delete_policy_version,
                        policy_arn=arn,
                        version_id=oldest.version_id,
                    ),
                )
            self.add(
                "~",
                f"update managed policy {name} (new default version)",
                self._later(
                    self.c.create_policy_version,
                    policy_arn=arn,
                    policy_document=document,
                    set_as_default=True,
                ),
            )

    def _policy_arn(self, ref: str, where: str) -> str:
        if ref.startswith("arn:"):
            return ref
        arn = self.policy_arns.get(ref.lower()) or self.existing_policy_arns.get(ref.lower())
        if arn is None:
            raise SpecError(f"{where}: unknown managed policy {ref!r}")
        return arn

    # -- shared per-entity parts --

    def _attachments(
        self, kind: str, name: str, is_new: bool, entry: Mapping[str, Any], where: str
    ) -> None:
        if "attached_policies" not in entry:
            return
        refs = _str_list(entry, "attached_policies", where)
        desired = [self._policy_arn(r, f"{where}.attached_policies") for r in refs]
        current: set[str] = set()
        if not is_new:
            lister: Callable[..., Iterable[Any]] = getattr(self.c, f"iter_attached_{kind}_policies")
            current = {
                p.policy_arn for p in lister(account_id=self.account, **{f"{kind}_name": name})
            }
        attach = getattr(self.c, f"attach_{kind}_policy")
        detach = getattr(self.c, f"detach_{kind}_policy")
        for arn in dict.fromkeys(desired):
            if arn not in current:
                self.add(
                    "+",
                    f"attach {self._show(arn)} to {kind} {name}",
                    self._later(
                        attach, account_id=self.account, policy_arn=arn, **{f"{kind}_name": name}
                    ),
                )
        for arn in sorted(current - set(desired)):
            self.remove(
                f"detach {arn} from {kind} {name}",
                self._later(
                    detach, account_id=self.account, policy_arn=arn, **{f"{kind}_name": name}
                ),
            )

    def _inline(
        self, kind: str, name: str, is_new: bool, entry: Mapping[str, Any], where: str
    ) -> None:
        if "inline_policies" not in entry:
            return
        desired = {
            pname: _document(doc, f"{where}.inline_policies.{pname}", self.base_dir)
            for pname, doc in _str_map(entry, "inline_policies", where).items()
        }
        owner = {f"{kind}_name": name}
        current: set[str] = set()
        if not is_new:
            lister: Callable[..., Iterable[str]] = getattr(self.c, f"iter_{kind}_policies")
            current = set(lister(account_id=self.account, **owner))
        put = getattr(self.c, f"put_{kind}_policy")
        delete = getattr(self.c, f"delete_{kind}_policy")
        get = getattr(self.c, f"get_{kind}_policy")
        for pname, document in desired.items():
            if pname in current:
                stored = get(account_id=self.account, policy_name=pname, **owner).policy_document
                if same_document(stored, document):
                    continue
                sign, verb = "~", "update"
            else:
                sign, verb = "+", "put"
            self.add(
                sign,
                f"{verb} inline policy {pname} of {kind} {name}",
                self._later(
                    put,
                    account_id=self.account,
                    policy_name=pname,
                    policy_document=document,
                    **owner,
                ),
            )
        for pname in sorted(current - set(desired)):
            self.remove(
                f"delete inline policy {pname} of {kind} {name}",
                self._later(delete, account_id=self.account, policy_name=pname, **owner),
            )

    def _boundary(
        self, kind: str, name: str, current_arn: str, entry: Mapping[str, Any], where: str
    ) -> None:
        if "permissions_boundary" not in entry:
            return
        ref = _str(entry, "permissions_boundary", where)
        desired = self._policy_arn(ref, f"{where}.permissions_boundary") if ref else ""
        if desired == current_arn:
            return
        owner = {f"{kind}_name": name}
        if desired:
            put = getattr(self.c, f"put_{kind}_permissions_boundary")
            self.add(
                "~",
                f"set permissions boundary of {kind} {name} to {self._show(desired)}",
                self._later(put, account_id=self.account, permissions_boundary=desired, **owner),
            )
        else:
            delete = getattr(self.c, f"delete_{kind}_permissions_boundary")
            self.add(
                "-",
                f"remove permissions boundary of {kind} {name}",
                self._later(delete, account_id=self.account, **owner),
            )

    def _tags(
        self,
        kind: str,
        name: str,
        current: Mapping[str, str],
        entry: Mapping[str, Any],
        where: str,
    ) -> None:
        if "tags" not in entry:
            return
        desired = {str(k): str(v) for k, v in _str_map(entry, "tags", where).items()}
        # User and role tag keys are case-insensitive: tagging "dept" replaces "Dept".
        by_lower = {k.lower(): (k, v) for k, v in current.items()}
        changed = {k: v for k, v in desired.items() if by_lower.get(k.lower()) != (k, v)}
        wanted = {k.lower() for k in desired}
        extra = sorted(k for k in current if k.lower() not in wanted)
        owner = {f"{kind}_name": name}
        if changed:
            tag = getattr(self.c, f"tag_{kind}")
            self.add(
                "~",
                f"tag {kind} {name}: {', '.join(f'{k}={v}' for k, v in changed.items())}",
                self._later(tag, account_id=self.account, tags=changed, **owner),
            )
        if extra:
            untag = getattr(self.c, f"untag_{kind}")
            self.remove(
                f"untag {kind} {name}: {', '.join(extra)}",
                self._later(untag, account_id=self.account, tag_keys=extra, **owner),
            )

    # -- entities --

    def _groups(self) -> None:
        entries = _entries(self.spec, "groups")
        if not entries:
            return
        existing = {g.group_name.lower(): g for g in self.c.iter_groups(account_id=self.account)}
        self.existing_groups = set(existing)
        allowed = {"path", "members", "attached_policies", "inline_policies"}
        for i, entry in enumerate(entries):
            where = f"groups[{i}]"
            name = _check_keys(entry, allowed, where)
            path = _str(entry, "path", where, "/") or "/"
            current = existing.get(name.lower())
            if current is None:
                self.add(
                    "+",
                    f"create group {name}",
                    self._later(
                        self.c.create_group, account_id=self.account, group_name=name, path=path
                    ),
                )
            elif "path" in entry and current.path != path:
                self.add("!", f"group {name}: path {current.path} cannot change to {path}")
            self._attachments("group", name, current is None, entry, where)
            self._inline("group", name, current is None, entry, where)

    def _users(self) -> None:
        entries = _entries(self.spec, "users")
        if not entries:
            return
        existing = {u.user_name.lower(): u for u in self.c.iter_users(account_id=self.account)}
        allowed = {"path", "tags", "permissions_boundary", "attached_policies", "inline_policies"}
        for i, entry in enumerate(entries):
            where = f"users[{i}]"
            name = _check_keys(entry, allowed, where)
            path = _str(entry, "path", where, "/") or "/"
            current = existing.get(name.lower())
            if current is None:
                ref = _str(entry, "permissions_boundary", where)
                self.add(
                    "+",
                    f"create user {name}",
                    self._later(
                        self.c.create_user,
                        account_id=self.account,
                        user_name=name,
                        path=path,
                        tags={str(k): str(v) for k, v in _str_map(entry, "tags", where).items()},
                        permissions_boundary=self._policy_arn(ref, f"{where}.permissions_boundary")
                        if ref
                        else "",
                    ),
                )
            else:
                if "path" in entry and current.path != path:
                    self.add(
                        "~",
                        f"move user {name} from {current.path} to {path}",
                        self._later(
                            self.c.update_user,
                            account_id=self.account,
                            user_name=name,
                            new_path=path,
                        ),
                    )
                self._boundary("user", name, current.permissions_boundary_arn, entry, where)
                if "tags" in entry:
                    tags = self.c.iter_user_tags(account_id=self.account, user_name=name)
                    self._tags("user", name, {t.key: t.value for t in tags}, entry, where)
            self._attachments("user", name, current is None, entry, where)
            self._inline("user", name, current is None, entry, where)

    def _roles(self) -> None:
        entries = _entries(self.spec, "roles")
        if not entries:
            return
        existing = {r.role_name.lower() for r in self.c.iter_roles(account_id=self.account)}
        allowed = {
            "path",
            "description",
            "max_session_duration",
            "trust_policy",
            "tags",
            "permissions_boundary",
            "attached_policies",
            "inline_policies",
        }
        for i, entry in enumerate(entries):
            where = f"roles[{i}]"
            name = _check_keys(entry, allowed, where)
            path = _str(entry, "path", where, "/") or "/"
            duration = entry.get("max_session_duration")
            if duration is not None and (
                isinstance(duration, bool) or not isinstance(duration, int)
            ):
                raise SpecError(f"{where}.max_session_duration: expected seconds (an integer)")
            trust = (
                _document(entry["trust_policy"], f"{where}.trust_policy", self.base_dir)
                if entry.get("trust_policy") is not None
                else None
            )
            is_new = name.lower() not in existing
            if is_new:
                if trust is None:
                    raise SpecError(f"{where}: a new role needs trust_policy")
                ref = _str(entry, "permissions_boundary", where)
                self.add(
                    "+",
                    f"create role {name}",
                    self._later(
                        self.c.create_role,
                        account_id=self.account,
                        role_name=name,
                        path=path,
                        assume_role_policy_document=trust,
                        description=_str(entry, "description", where),
                        max_session_duration=duration,
                        tags={str(k): str(v) for k, v in _str_map(entry, "tags", where).items()},
                        permissions_boundary=self._policy_arn(ref, f"{where}.permissions_boundary")
                        if ref
                        else "",
                    ),
                )
            else:
                role = self.c.get_role(account_id=self.account, role_name=name).role
                if "path" in entry and role.path != path:
                    self.add("!", f"role {name}: path {role.path} cannot change to {path}")
                description = _str(entry, "description", where) if "description" in entry else None
                new_description = (
                    description if description not in (None, role.description) else None
                )
                new_duration = (
                    duration
                    if duration is not None and duration != role.max_session_duration
                    else None
                )
                if new_description is not None or new_duration is not None:
                    self.add(
                        "~",
                        f"update role {name}",
                        self._later(
                            self.c.update_role,
                            account_id=self.account,
                            role_name=name,
                            description=new_description,
                            max_session_duration=new_duration,
                        ),
                    )
                if trust is not None and not same_document(role.assume_role_policy_document, trust):
                    self.add(
                        "~",
                        f"update trust policy of role {name}",
                        self._later(
                            self.c.update_assume_role_policy,
                            account_id=self.account,
                            role_name=name,
                            policy_document=trust,
                        ),
                    )
                self._boundary("role", name, role.permissions_boundary_arn, entry, where)
                self._tags("role", name, {t.key: t.value for t in role.tags}, entry, where)
            self._attachments("role", name, is_new, entry, where)
            self._inline("role", name, is_new, entry, where)

    def _memberships(self) -> None:
        existing = self.existing_groups
        for i, entry in enumerate(_entries(self.spec, "groups")):
            if "members" not in entry:
                continue
            where = f"groups[{i}]"
            group = str(entry["name"])
            desired = _str_list(entry, "members", where)
            current: dict[str, str] = {}
            if group.lower() in existing:
                members = self.c.iter_group_members(account_id=self.account, group_name=group)
                current = {u.user_name.lower(): u.user_name for u in members}
            for user in dict.fromkeys(desired):
                if user.lower() not in current:
                    self.add(
                        "+",
                        f"add user {user} to group {group}",
                        self._later(
                            self.c.add_user_to_group,
                            account_id=self.account,
                            group_name=group,
                            user_name=user,
                        ),
                    )
            wanted = {u.lower() for u in desired}
            for lower, user in sorted(current.items()):
                if lower not in wanted:
                    self.remove(
                        f"remove user {user} from group {group}",
                        self._later(
                            self.c.remove_user_from_group,
                            account_id=self.account,
                            group_name=group,
                            user_name=user,
                        ),
                    )


def plan(client: Client, spec: Mapping[str, Any], *, base_dir: Path) -> list[Step]:
    """The steps that bring the account to `spec` (reads only; changes nothing)."""
    return _Planner(client, spec, base_dir).plan()


def print_plan(steps: list[Step], out: TextIO) -> None:
    changes = [s for s in steps if s.run is not None]
    for step in steps:
        out.write(f"  {step.sign} {step.text}\n")
    if not changes:
        out.write("No changes.\n")
    else:
        out.write(f"Plan: {len(changes)} change(s).\n")


def execute(steps: list[Step], out: TextIO) -> int:
    """Run the planned changes in order; return the last revision written (0 if none)."""
    revision = 0
    for step in steps:
        if step.run is None:
            continue
        result = step.run()
        revision = max(revision, int(getattr(result, "revision", 0) or 0))
        out.write(f"  done: {step.sign} {step.text}\n")
    return revision
