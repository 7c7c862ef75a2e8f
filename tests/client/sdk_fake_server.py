"""A small in-memory iamd for SDK tests: a real grpc.aio server on port 0.

It implements just enough of the API (users, groups, roles, managed and inline policies,
attachments, tags, Authorize, GetCallerIdentity) to exercise the clients, their pagination,
error mapping, retries and `iamctl apply`. Handlers receive the raw request bytes, like the
real server, and check every signature over exactly those bytes. Pages hold 2 items by
default so that pagination is always exercised.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from iamd.v1 import authorization_pb2 as authz
from iamd.v1 import management_pb2 as mgmt
from iamd.v1 import sts_pb2 as sts
from iamd.v1 import types_pb2 as types
from iamd_client import signing

ACCOUNT = "111122223333"
ACCESS_KEY_ID = "AKIAFAKEFAKEFAKEFAKE"
SECRET = "fakeSecretAccessKey/0123456789abcdefghijk"
DEFAULT_PAGE = 2
_SERVICES = (mgmt.DESCRIPTOR, authz.DESCRIPTOR, sts.DESCRIPTOR)


class Fail(Exception):
    """Abort the call with this status (and the SDK's error trailers)."""

    def __init__(
        self, code: grpc.StatusCode, message: str, field: str = "", reason: str = ""
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.reason = code, message, field, reason


def not_found(what: str) -> Fail:
    return Fail(grpc.StatusCode.NOT_FOUND, f"{what} not found", "", "NoSuchEntity")


@dataclass
class Entity:
    kind: str
    name: str
    path: str = "/"
    tags: dict[str, str] = field(default_factory=dict)
    boundary: str = ""
    attached: list[str] = field(default_factory=list)
    inline: dict[str, str] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    trust: str = ""
    description: str = ""
    max_session_duration: int = 3600

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:{self.kind}{self.path}{self.name}"


@dataclass
class ManagedPolicy:
    name: str
    path: str
    description: str
    versions: dict[str, str]
    default: str
    next_version: int = 2

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:policy{self.path}{self.name}"


@dataclass
class Recorded:
    rpc: str
    metadata: dict[str, str]
    signature_ok: bool


def _page(items: Sequence[Any], marker: str, max_items: int) -> tuple[list[Any], str, bool]:
    start = int(marker or 0)
    size = max_items or DEFAULT_PAGE
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    return chunk, str(start + size) if more else "", more


class FakeIam:
    """The in-memory state and the RPC implementations."""

    def __init__(self) -> None:
        self.entities: dict[tuple[str, str], Entity] = {}
        self.policies: dict[str, ManagedPolicy] = {}
        self.calls: list[Recorded] = []
        self.unavailable: dict[str, int] = {}  # rpc -> number of calls to fail first
        self.revision = itertools.count(1)
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.entities.clear()
            self.policies.clear()
            self.calls.clear()
            self.unavailable.clear()

    def rpcs(self, name: str) -> list[Recorded]:
        return [c for c in self.calls if c.rpc == name]

    # -- helpers --

    def _get(self, kind: str, name: str) -> Entity:
        entity = self.entities.get((kind, name.lower()))
        if entity is None:
            raise not_found(f"{kind} {name}")
        return entity

    def _user(self, e: Entity) -> types.User:
        return types.User(
            user_name=e.name,
            user_id=f"AIDA{e.name.upper()}",
            arn=e.arn,
            path=e.path,
            permissions_boundary_arn=e.boundary,
            account_id=ACCOUNT,
        )

    def _group(self, e: Entity) -> types.Group:
        return types.Group(group_name=e.name, arn=e.arn, path=e.path, account_id=ACCOUNT)

    def _role(self, e: Entity, *, with_tags: bool) -> types.Role:
        return types.Role(
            role_name=e.name,
            arn=e.arn,
            path=e.path,
            assume_role_policy_document=e.trust,
            description=e.description,
            max_session_duration=e.max_session_duration,
            permissions_boundary_arn=e.boundary,
            tags=[types.Tag(key=k, value=v) for k, v in e.tags.items()] if with_tags else [],
            account_id=ACCOUNT,
        )

    def _policy(self, p: ManagedPolicy) -> types.Policy:
        attached = sum(p.arn in e.attached for e in self.entities.values())
        return types.Policy(
            policy_name=p.name,
            arn=p.arn,
            path=p.path,
            default_version_id=p.default,
            description=p.description,
            attachment_count=attached,
        )

    def _policy_by_arn(self, arn: str) -> ManagedPolicy:
        for p in self.policies.values():
            if p.arn == arn:
                return p
        raise not_found(f"policy {arn}")

    def _create(self, kind: str, name: str, path: str) -> Entity:
        key = (kind, name.lower())
        if key in self.entities:
            raise Fail(
                grpc.StatusCode.ALREADY_EXISTS,
                f"{kind} with name {name} already exists",
                f"{kind}_name",
                "EntityAlreadyExists",
            )
        entity = Entity(kind, name, path or "/")
        self.entities[key] = entity
        return entity

    def _tag(self, e: Entity, tags: Sequence[types.Tag]) -> None:
        for t in tags:
            for existing in [k for k in e.tags if k.lower() == t.key.lower()]:
                del e.tags[existing]
            e.tags[t.key] = t.value

    # -- dispatch --

    def handle(self, rpc: str, request: Any) -> Message:
        with self.lock:
            remaining = self.unavailable.get(rpc, 0)
            if remaining:
                self.unavailable[rpc] = remaining - 1
                raise Fail(grpc.StatusCode.UNAVAILABLE, "try again", "", "ServiceUnavailable")
            handler: Callable[[Any], Message] | None = getattr(self, f"rpc_{rpc}", None)
            if handler is None:
                raise Fail(grpc.StatusCode.UNIMPLEMENTED, f"{rpc} is not in the fake")
            return handler(request)

    # -- users --

    def rpc_CreateUser(self, r: mgmt.CreateUserRequest) -> Message:  # noqa: N802
        e = self._create("user", r.user_name, r.path)
        self._tag(e, r.tags)
        e.boundary = r.permissions_boundary
        return mgmt.CreateUserResponse(user=self._user(e), revision=next(self.revision))

    def rpc_GetUser(self, r: mgmt.GetUserRequest) -> Message:  # noqa: N802
        return mgmt.GetUserResponse(user=self._user(self._get("user", r.user_name)))

    def rpc_ListUsers(self, r: mgmt.ListUsersRequest) -> Message:  # noqa: N802
        users = sorted(
            (e for e in self.entities.values() if e.kind == "user"),
            key=lambda e: e.name.lower(),
        )
        users = [u for u in users if u.path.startswith(r.path_prefix or "/")]
        chunk, marker, more = _page(users, r.marker, r.max_items)
        return mgmt.ListUsersResponse(
            users=[self._user(u) for u in chunk], marker=marker, is_truncated=more
        )

    def rpc_UpdateUser(self, r: mgmt.UpdateUserRequest) -> Message:  # noqa: N802
        e = self._get("user", r.user_name)
        if r.HasField("new_path"):
            e.path = r.new_path
        return mgmt.UpdateUserResponse(user=self._user(e), revision=next(self.revision))

    def rpc_DeleteUser(self, r: mgmt.DeleteUserRequest) -> Message:  # noqa: N802
        self._get("user", r.user_name)
        del self.entities[("user", r.user_name.lower())]
        return mgmt.DeleteUserResponse(revision=next(self.revision))

    def rpc_ListUserTags(self, r: mgmt.ListUserTagsRequest) -> Message:  # noqa: N802
        e = self._get("user", r.user_name)
        tags = [types.Tag(key=k, value=v) for k, v in sorted(e.tags.items())]
        chunk, marker, more = _page(tags, r.marker, r.max_items)
        return mgmt.ListUserTagsResponse(tags=chunk, marker=marker, is_truncated=more)

    def rpc_TagUser(self, r: mgmt.TagUserRequest) -> Message:  # noqa: N802
        self._tag(self._get("user", r.user_name), r.tags)
        return mgmt.TagUserResponse(revision=next(self.revision))

    def rpc_UntagUser(self, r: mgmt.UntagUserRequest) -> Message:  # noqa: N802
        e = self._get("user", r.user_name)
        drop = {k.lower() for k in r.tag_keys}
        e.tags = {k: v for k, v in e.tags.items() if k.lower() not in drop}
        return mgmt.UntagUserResponse(revision=next(self.revision))

    def rpc_PutUserPermissionsBoundary(  # noqa: N802
        self, r: mgmt.PutUserPermissionsBoundaryRequest
    ) -> Message:
        self._get("user", r.user_name).boundary = r.permissions_boundary
        return mgmt.PutUserPermissionsBoundaryResponse(revision=next(self.revision))

    # -- groups --

    def rpc_CreateGroup(self, r: mgmt.CreateGroupRequest) -> Message:  # noqa: N802
        e = self._create("group", r.group_name, r.path)
        return mgmt.CreateGroupResponse(group=self._group(e), revision=next(self.revision))

    def rpc_ListGroups(self, r: mgmt.ListGroupsRequest) -> Message:  # noqa: N802
        groups = sorted(
            (e for e in self.entities.values() if e.kind == "group"), key=lambda e: e.name
        )
        chunk, marker, more = _page(groups, r.marker, r.max_items)
        return mgmt.ListGroupsResponse(
            groups=[self._group(g) for g in chunk], marker=marker, is_truncated=more
        )

    def rpc_GetGroup(self, r: mgmt.GetGroupRequest) -> Message:  # noqa: N802
        g = self._get("group", r.group_name)
        members = [self._get("user", m) for m in sorted(g.members)]
        chunk, marker, more = _page(members, r.marker, r.max_items)
        return mgmt.GetGroupResponse(
            group=self._group(g),
            users=[self._user(u) for u in chunk],
            marker=marker,
            is_truncated=more,
        )

    def rpc_AddUserToGroup(self, r: mgmt.AddUserToGroupRequest) -> Message:  # noqa: N802
        g = self._get("group", r.group_name)
        u = self._get("user", r.user_name)
        if u.name not in g.members:
            g.members.append(u.name)
        return mgmt.AddUserToGroupResponse(revision=next(self.revision))

    def rpc_RemoveUserFromGroup(  # noqa: N802
        self, r: mgmt.RemoveUserFromGroupRequest
    ) -> Message:
        g = self._get("group", r.group_name)
        g.members = [m for m in g.members if m.lower() != r.user_name.lower()]
        return mgmt.RemoveUserFromGroupResponse(revision=next(self.revision))

    # -- roles --

    def rpc_CreateRole(self, r: mgmt.CreateRoleRequest) -> Message:  # noqa: N802
        e = self._create("role", r.role_name, r.path)
        e.trust = r.assume_role_policy_document
        e.description = r.description
        if r.HasField("max_session_duration"):
            e.max_session_duration = r.max_session_duration
        e.boundary = r.permissions_boundary
        self._tag(e, r.tags)
        return mgmt.CreateRoleResponse(
            role=self._role(e, with_tags=True), revision=next(self.revision)
        )

    def rpc_GetRole(self, r: mgmt.GetRoleRequest) -> Message:  # noqa: N802
        return mgmt.GetRoleResponse(role=self._role(self._get("role", r.role_name), with_tags=True))

    def rpc_ListRoles(self, r: mgmt.ListRolesRequest) -> Message:  # noqa: N802
        roles = sorted(
            (e for e in self.entities.values() if e.kind == "role"), key=lambda e: e.name
        )
        chunk, marker, more = _page(roles, r.marker, r.max_items)
        return mgmt.ListRolesResponse(
            roles=[self._role(x, with_tags=False) for x in chunk], marker=marker, is_truncated=more
        )

    def rpc_UpdateRole(self, r: mgmt.UpdateRoleRequest) -> Message:  # noqa: N802
        e = self._get("role", r.role_name)
        if r.HasField("description"):
            e.description = r.description
        if r.HasField("max_session_duration"):
            e.max_session_duration = r.max_session_duration
        return mgmt.UpdateRoleResponse(
            role=self._role(e, with_tags=True), revision=next(self.revision)
        )

    def rpc_UpdateAssumeRolePolicy(  # noqa: N802
        self, r: mgmt.UpdateAssumeRolePolicyRequest
    ) -> Message:
        self._get("role", r.role_name).trust = r.policy_document
        return mgmt.UpdateAssumeRolePolicyResponse(revision=next(self.revision))

    def rpc_TagRole(self, r: mgmt.TagRoleRequest) -> Message:  # noqa: N802
        self._tag(self._get("role", r.role_name), r.tags)
        return mgmt.TagRoleResponse(revision=next(self.revision))

    # -- managed policies --

    def rpc_CreatePolicy(self, r: mgmt.CreatePolicyRequest) -> Message:  # noqa: N802
        if r.policy_name.lower() in self.policies:
            raise Fail(
                grpc.StatusCode.ALREADY_EXISTS, "exists", "policy_name", "EntityAlreadyExists"
            )
        p = ManagedPolicy(
            r.policy_name, r.path or "/", r.description, {"v1": r.policy_document}, "v1"
        )
        self.policies[r.policy_name.lower()] = p
        return mgmt.CreatePolicyResponse(policy=self._policy(p), revision=next(self.revision))

    def rpc_ListPolicies(self, r: mgmt.ListPoliciesRequest) -> Message:  # noqa: N802
        items = sorted(self.policies.values(), key=lambda p: p.name.lower())
        chunk, marker, more = _page(items, r.marker, r.max_items)
        return mgmt.ListPoliciesResponse(
            policies=[self._policy(p) for p in chunk], marker=marker, is_truncated=more
        )

    def rpc_GetPolicyVersion(self, r: mgmt.GetPolicyVersionRequest) -> Message:  # noqa: N802
        p = self._policy_by_arn(r.policy_arn)
        if r.version_id not in p.versions:
            raise not_found(f"version {r.version_id}")
        return mgmt.GetPolicyVersionResponse(
            policy_version=types.PolicyVersion(
                version_id=r.version_id,
                document=p.versions[r.version_id],
                is_default_version=r.version_id == p.default,
            )
        )

    def rpc_ListPolicyVersions(self, r: mgmt.ListPolicyVersionsRequest) -> Message:  # noqa: N802
        p = self._policy_by_arn(r.policy_arn)
        versions = [
            types.PolicyVersion(version_id=v, is_default_version=v == p.default)
            for v in sorted(p.versions, key=lambda v: -int(v[1:]))
        ]
        chunk, marker, more = _page(versions, r.marker, r.max_items)
        return mgmt.ListPolicyVersionsResponse(versions=chunk, marker=marker, is_truncated=more)

    def rpc_CreatePolicyVersion(  # noqa: N802
        self, r: mgmt.CreatePolicyVersionRequest
    ) -> Message:
        p = self._policy_by_arn(r.policy_arn)
        if len(p.versions) >= 5:
            raise Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, "5 versions", "", "LimitExceeded")
        version = f"v{p.next_version}"
        p.next_version += 1
        p.versions[version] = r.policy_document
        if r.set_as_default:
            p.default = version
        return mgmt.CreatePolicyVersionResponse(
            policy_version=types.PolicyVersion(
                version_id=version, is_default_version=r.set_as_default
            ),
            revision=next(self.revision),
        )

    def rpc_DeletePolicyVersion(  # noqa: N802
        self, r: mgmt.DeletePolicyVersionRequest
    ) -> Message:
        p = self._policy_by_arn(r.policy_arn)
        if r.version_id == p.default:
            raise Fail(grpc.StatusCode.FAILED_PRECONDITION, "default", "", "DeleteConflict")
        del p.versions[r.version_id]
        return mgmt.DeletePolicyVersionResponse(revision=next(self.revision))

    # -- attachments and inline policies (users, groups, roles alike) --

    def _attach(self, kind: str, name: str, arn: str) -> None:
        self._policy_by_arn(arn)
        e = self._get(kind, name)
        if arn not in e.attached:
            e.attached.append(arn)

    def _detach(self, kind: str, name: str, arn: str) -> None:
        e = self._get(kind, name)
        if arn not in e.attached:
            raise not_found(f"attachment {arn}")
        e.attached.remove(arn)

    def _attached(self, kind: str, name: str, marker: str, max_items: int) -> dict[str, Any]:
        e = self._get(kind, name)
        items = [
            types.AttachedPolicy(policy_arn=a, policy_name=a.rsplit("/", 1)[-1])
            for a in sorted(e.attached)
        ]
        chunk, next_marker, more = _page(items, marker, max_items)
        return {"attached_policies": chunk, "marker": next_marker, "is_truncated": more}

    def _inline_names(self, kind: str, name: str, marker: str, max_items: int) -> dict[str, Any]:
        chunk, next_marker, more = _page(sorted(self._get(kind, name).inline), marker, max_items)
        return {"policy_names": chunk, "marker": next_marker, "is_truncated": more}

    def _inline_get(self, kind: str, name: str, policy: str) -> str:
        e = self._get(kind, name)
        if policy not in e.inline:
            raise not_found(f"inline policy {policy}")
        return e.inline[policy]

    def rpc_AttachUserPolicy(self, r: mgmt.AttachUserPolicyRequest) -> Message:  # noqa: N802
        self._attach("user", r.user_name, r.policy_arn)
        return mgmt.AttachUserPolicyResponse(revision=next(self.revision))

    def rpc_DetachUserPolicy(self, r: mgmt.DetachUserPolicyRequest) -> Message:  # noqa: N802
        self._detach("user", r.user_name, r.policy_arn)
        return mgmt.DetachUserPolicyResponse(revision=next(self.revision))

    def rpc_ListAttachedUserPolicies(  # noqa: N802
        self, r: mgmt.ListAttachedUserPoliciesRequest
    ) -> Message:
        return mgmt.ListAttachedUserPoliciesResponse(
            **self._attached("user", r.user_name, r.marker, r.max_items)
        )

    def rpc_AttachGroupPolicy(self, r: mgmt.AttachGroupPolicyRequest) -> Message:  # noqa: N802
        self._attach("group", r.group_name, r.policy_arn)
        return mgmt.AttachGroupPolicyResponse(revision=next(self.revision))

    def rpc_ListAttachedGroupPolicies(  # noqa: N802
        self, r: mgmt.ListAttachedGroupPoliciesRequest
    ) -> Message:
        return mgmt.ListAttachedGroupPoliciesResponse(
            **self._attached("group", r.group_name, r.marker, r.max_items)
        )

    def rpc_AttachRolePolicy(self, r: mgmt.AttachRolePolicyRequest) -> Message:  # noqa: N802
        self._attach("role", r.role_name, r.policy_arn)
        return mgmt.AttachRolePolicyResponse(revision=next(self.revision))

    def rpc_ListAttachedRolePolicies(  # noqa: N802
        self, r: mgmt.ListAttachedRolePoliciesRequest
    ) -> Message:
        return mgmt.ListAttachedRolePoliciesResponse(
            **self._attached("role", r.role_name, r.marker, r.max_items)
        )

    def rpc_PutUserPolicy(self, r: mgmt.PutUserPolicyRequest) -> Message:  # noqa: N802
        self._get("user", r.user_name).inline[r.policy_name] = r.policy_document
        return mgmt.PutUserPolicyResponse(revision=next(self.revision))

    def rpc_GetUserPolicy(self, r: mgmt.GetUserPolicyRequest) -> Message:  # noqa: N802
        doc = self._inline_get("user", r.user_name, r.policy_name)
        return mgmt.GetUserPolicyResponse(
            user_name=r.user_name, policy_name=r.policy_name, policy_document=doc
        )

    def rpc_DeleteUserPolicy(self, r: mgmt.DeleteUserPolicyRequest) -> Message:  # noqa: N802
        self._inline_get("user", r.user_name, r.policy_name)
        del self._get("user", r.user_name).inline[r.policy_name]
        return mgmt.DeleteUserPolicyResponse(revision=next(self.revision))

    def rpc_ListUserPolicies(self, r: mgmt.ListUserPoliciesRequest) -> Message:  # noqa: N802
        return mgmt.ListUserPoliciesResponse(
            **self._inline_names("user", r.user_name, r.marker, r.max_items)
        )

    def rpc_PutRolePolicy(self, r: mgmt.PutRolePolicyRequest) -> Message:  # noqa: N802
        self._get("role", r.role_name).inline[r.policy_name] = r.policy_document
        return mgmt.PutRolePolicyResponse(revision=next(self.revision))

    def rpc_GetRolePolicy(self, r: mgmt.GetRolePolicyRequest) -> Message:  # noqa: N802
        doc = self._inline_get("role", r.role_name, r.policy_name)
        return mgmt.GetRolePolicyResponse(
            role_name=r.role_name, policy_name=r.policy_name, policy_document=doc
        )

    def rpc_ListRolePolicies(self, r: mgmt.ListRolePoliciesRequest) -> Message:  # noqa: N802
        return mgmt.ListRolePoliciesResponse(
            **self._inline_names("role", r.role_name, r.marker, r.max_items)
        )

    # -- authorization and STS --

    def rpc_Authorize(self, r: authz.AuthorizeRequest) -> Message:  # noqa: N802
        allowed = r.action == "s3:GetObject"
        response = authz.AuthorizeResponse(
            decision=types.DECISION_ALLOWED if allowed else types.DECISION_IMPLICIT_DENY,
            revision=7,
            principal_arn=r.principal_arn or f"arn:aws:iam::{ACCOUNT}:user/caller",
        )
        if r.explain:
            response.explain.reason = "allowed" if allowed else "no_allow"
            response.explain.missing_context_keys.extend(e.key for e in r.context)
        return response

    def rpc_AuthorizeBatch(self, r: authz.AuthorizeBatchRequest) -> Message:  # noqa: N802
        results = [
            authz.AuthorizeResult(
                decision=types.DECISION_ALLOWED
                if c.action == "s3:GetObject"
                else types.DECISION_IMPLICIT_DENY,
                principal_arn=c.principal_arn or r.principal_arn,
            )
            for c in r.checks
        ]
        return authz.AuthorizeBatchResponse(results=results, revision=7)

    def rpc_GetCallerIdentity(self, r: sts.GetCallerIdentityRequest) -> Message:  # noqa: N802
        return sts.GetCallerIdentityResponse(
            user_id="AIDACALLER", account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/caller"
        )

    def rpc_AssumeRoleWithWebIdentity(  # noqa: N802
        self, r: sts.AssumeRoleWithWebIdentityRequest
    ) -> Message:
        return sts.AssumeRoleWithWebIdentityResponse(
            credentials=sts.Credentials(access_key_id="ASIATEMP", session_token="tok"),
            subject_from_web_identity_token="sub-1",
        )


def _check_signature(full_method: str, raw: bytes, metadata: dict[str, str]) -> bool:
    key_id = metadata.get(signing.HEADER_KEY_ID)
    date = metadata.get(signing.HEADER_DATE, "")
    signature = metadata.get(signing.HEADER_SIGNATURE, "")
    if key_id != ACCESS_KEY_ID or not signing.timestamp_is_fresh(date):
        return False
    digest = hashlib.sha256(raw).hexdigest()
    return signing.verify_signature(
        signing.derive_signing_key(SECRET), full_method, date, key_id, digest, signature
    )


def _handler(fake: FakeIam, service: str, rpc: str, request_class: type[Message]) -> Any:
    full_method = f"/{service}/{rpc}"

    async def behavior(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        ok = _check_signature(full_method, raw, metadata)
        fake.calls.append(Recorded(rpc, metadata, ok))
        if not ok and rpc != "AssumeRoleWithWebIdentity":
            context.set_trailing_metadata((("iamd-error-reason", "SignatureDoesNotMatch"),))
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
        try:
            return fake.handle(rpc, request_class.FromString(raw)).SerializeToString()
        except Fail as e:
            trailers = []
            if e.field:
                trailers.append(("iamd-error-field", e.field))
            if e.reason:
                trailers.append(("iamd-error-reason", e.reason))
            context.set_trailing_metadata(tuple(trailers))
            await context.abort(e.code, e.message)
        raise AssertionError("unreachable")

    return grpc.unary_unary_rpc_method_handler(behavior)


def _generic_handlers(fake: FakeIam) -> list[grpc.GenericRpcHandler]:
    handlers: list[grpc.GenericRpcHandler] = []
    for file in _SERVICES:
        for service in file.services_by_name.values():
            methods = {
                m.name: _handler(fake, service.full_name, m.name, GetMessageClass(m.input_type))
                for m in service.methods
            }
            handlers.append(grpc.method_handlers_generic_handler(service.full_name, methods))
    return handlers


@dataclass
class RunningServer:
    fake: FakeIam
    endpoint: str


def serve() -> Iterator[RunningServer]:
    """Run the fake on its own event-loop thread (usable from sync and async tests)."""
    fake = FakeIam()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server_box: list[grpc.aio.Server] = []
    port_box: list[int] = []

    async def start() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(_generic_handlers(fake))
        port_box.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        server_box.append(server)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="fake-iamd", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake server did not start")
    try:
        yield RunningServer(fake, f"127.0.0.1:{port_box[0]}")
    finally:
        asyncio.run_coroutine_threadsafe(server_box[0].stop(None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
