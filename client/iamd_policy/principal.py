"""The calling principal and Principal-element matching (iam-semantics 3.3, 6.5)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["GrantClass", "Principal", "PrincipalKind", "PrincipalMatcher"]


class PrincipalKind(enum.Enum):
    ROOT = "ROOT"
    USER = "USER"
    ROLE_SESSION = "ROLE_SESSION"
    FEDERATED_USER = "FEDERATED_USER"
    SERVICE = "SERVICE"
    ANONYMOUS = "ANONYMOUS"


class GrantClass(enum.IntEnum):
    """How a resource-policy principal matched the caller; higher is stronger (6.5)."""

    NONE = 0
    ACCOUNT = 1
    ROLE = 2
    PARENT_USER = 3
    DIRECT_USER = 4
    DIRECT_SESSION = 5
    SERVICE = 6
    WILDCARD = 7


_ARN_RE = re.compile(r"arn:([^:]+):(iam|sts)::([0-9]{12}):(.+)", re.DOTALL)
# IAM unique ids (AIDA... users, AROA... roles); AWS accepts them as principals.
_UNIQUE_ID_RE = re.compile(r"A[A-Z]{3}[A-Z0-9]{4,124}")

# (account, path, lower-case name): IAM user and role names are unique case-insensitively
# within an account (iam-semantics 1.2), so `role/team/Super-Admin` names role `super-admin`.
EntityKey = tuple[str, str, str]


def _entity_key(arn: str, kind: str) -> EntityKey | None:
    """The key of a user or role ARN (`kind` "user" or "role"), None for other ARNs."""
    match = _ARN_RE.fullmatch(arn)
    if match is None or match.group(2) != "iam":
        return None
    rest = match.group(4)
    prefix = kind + "/"
    if not rest.startswith(prefix):
        return None
    path, _, name = rest[len(prefix) - 1 :].rpartition("/")
    if not name:
        return None
    return match.group(3), path + "/", name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    `role_arn` is the session's role ARN with its path when known; when it is None a role
    principal in a policy matches on account and role name (the session ARN has no path).
    `parent_user_arn` is the IAM user that created a federated-user session. `unique_id` is
    the unique id of the IAM user, or of a session's role, when the caller is stored; a
    policy principal resolved to a unique id matches only a caller with that id.
    """

    arn: str
    account: str | None
    kind: PrincipalKind
    role_arn: str | None = None
    parent_user_arn: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    unique_id: str | None = None
    # Derived: (account, lower-case role name) of a role session, for path-less matching.
    role_key: tuple[str, str] | None = field(init=False, default=None, compare=False)
    # Derived: the user's (USER), role's (ROLE_SESSION with a known role ARN) or parent
    # user's (FEDERATED_USER) entity key.
    entity_key: EntityKey | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        key: tuple[str, str] | None = None
        entity: EntityKey | None = None
        if self.kind is PrincipalKind.ROLE_SESSION:
            source = self.role_arn or self.arn
            match = _ARN_RE.fullmatch(source)
            if match is not None:
                rest = match.group(4)
                if rest.startswith("assumed-role/"):
                    name = rest.split("/")[1]
                elif rest.startswith("role/"):
                    name = rest.rsplit("/", 1)[-1]
                else:
                    name = ""
                if name:
                    key = (match.group(3), name.lower())
            if self.role_arn is not None:
                entity = _entity_key(self.role_arn, "role")
        elif self.kind is PrincipalKind.USER:
            entity = _entity_key(self.arn, "user")
        elif self.kind is PrincipalKind.FEDERATED_USER and self.parent_user_arn is not None:
            entity = _entity_key(self.parent_user_arn, "user")
        object.__setattr__(self, "role_key", key)
        object.__setattr__(self, "entity_key", entity)

    @classmethod
    def from_arn(cls, arn: str) -> Principal:
        """Derive kind, account and role from an ARN or a service principal name."""
        if arn in ("*", "anonymous"):
            return cls(arn="anonymous", account=None, kind=PrincipalKind.ANONYMOUS)
        match = _ARN_RE.fullmatch(arn)
        if match is None:
            if ":" not in arn and "/" not in arn and "." in arn and arn.strip() == arn:
                return cls(arn=arn, account=None, kind=PrincipalKind.SERVICE)
            raise ValueError(f"not a principal ARN or service name: {arn[:256]!r}")
        _, service, account, rest = match.groups()
        if service == "iam":
            if rest == "root":
                return cls(arn=arn, account=account, kind=PrincipalKind.ROOT)
            if rest.startswith("user/") and len(rest) > 5:
                return cls(arn=arn, account=account, kind=PrincipalKind.USER)
            if rest.startswith("role/") and len(rest) > 5:
                return cls(arn=arn, account=account, kind=PrincipalKind.ROLE_SESSION, role_arn=arn)
        else:
            parts = rest.split("/")
            if parts[0] == "assumed-role" and len(parts) >= 3 and parts[1] and parts[2]:
                return cls(arn=arn, account=account, kind=PrincipalKind.ROLE_SESSION)
            if parts[0] == "federated-user" and len(parts) >= 2 and parts[1]:
                return cls(arn=arn, account=account, kind=PrincipalKind.FEDERATED_USER)
        raise ValueError(f"not a principal ARN: {arn[:256]!r}")


def _root_account(value: str) -> str | None:
    if len(value) == 12 and value.isascii() and value.isdigit():
        return value
    match = _ARN_RE.fullmatch(value)
    if match is not None and match.group(2) == "iam" and match.group(4) == "root":
        return match.group(3)
    return None


class PrincipalMatcher:
    """Compiled Principal/NotPrincipal entries of one statement.

    `resolved` maps user/role ARNs as written to the unique ids they resolved to when the
    policy was stored (iam-semantics 2.3); such an entry matches only the caller with that
    id. Unresolved user/role ARNs match on account, path and case-insensitive name.
    """

    __slots__ = (
        "accounts",
        "entries",
        "ids",
        "other",
        "role_keys",
        "role_names",
        "services",
        "session_arns",
        "users",
        "wildcard",
    )

    def __init__(
        self,
        entries: Sequence[tuple[str, Sequence[str]]],
        resolved: Mapping[str, str] | None = None,
    ) -> None:
        self.entries = tuple((ptype, tuple(values)) for ptype, values in entries)
        self.wildcard = False
        accounts: set[str] = set()
        users: dict[EntityKey, str] = {}
        sessions: set[str] = set()
        roles: dict[EntityKey, str] = {}
        role_names: dict[tuple[str, str], str] = {}
        ids: dict[str, str] = {}
        services: set[str] = set()
        other: set[str] = set()
        for ptype, values in self.entries:
            for value in values:
                if ptype == "AWS":
                    if value == "*":
                        self.wildcard = True
                        continue
                    account = _root_account(value)
                    if account is not None:
                        accounts.add(account)
                        continue
                    unique_id = resolved.get(value) if resolved else None
                    if unique_id is not None:
                        ids.setdefault(unique_id, value)
                        continue
                    if _UNIQUE_ID_RE.fullmatch(value):
                        ids.setdefault(value, value)
                        continue
                    match = _ARN_RE.fullmatch(value)
                    if match is None:
                        continue  # junk never matches
                    user = _entity_key(value, "user")
                    role = _entity_key(value, "role")
                    if user is not None:
                        users.setdefault(user, value)
                    elif role is not None:
                        roles.setdefault(role, value)
                        role_names.setdefault((role[0], role[2]), value)
                    else:
                        sessions.add(value)
                elif ptype == "Service":
                    services.add(value)
                else:
                    # Federated providers and canonical users match a caller with that name.
                    other.add(value)
        self.accounts = frozenset(accounts)
        self.users = users
        self.session_arns = frozenset(sessions)
        self.role_keys = roles
        self.role_names = role_names
        self.ids = ids
        self.services = frozenset(services)
        self.other = frozenset(other)

    def resolved(self, ids: Mapping[str, str]) -> PrincipalMatcher:
        """The same entries with user/role ARNs bound to unique ids."""
        return type(self)(self.entries, ids)

    def grant(self, principal: Principal) -> GrantClass:
        return self._match(principal)[0]

    def describe(self, principal: Principal) -> str:
        """Which entry matched the caller, for explanations ("" when none did)."""
        grant, entry, unique_id = self._match(principal)
        if grant is GrantClass.NONE:
            return ""
        if unique_id is not None:
            if entry == unique_id:
                return f"principal {unique_id} (a unique id)"
            return f'principal "{entry}" resolved to unique id {unique_id}'
        if grant is GrantClass.ACCOUNT:
            return f"principal account {entry}"
        return f'principal "{entry}"'

    def _match(self, principal: Principal) -> tuple[GrantClass, str, str | None]:
        """(grant class, the entry that matched, the unique id it matched by)."""
        if self.wildcard:
            return _WILDCARD
        kind = principal.kind
        arn = principal.arn
        if kind is PrincipalKind.ANONYMOUS:
            # Only "*" names an anonymous caller; it is no service and no federated identity.
            return _NO_MATCH
        if kind is PrincipalKind.SERVICE:
            # Identity providers (ARNs) are named by "Federated", services by "Service".
            if arn in (self.other if arn.startswith("arn:") else self.services):
                return GrantClass.SERVICE, arn, None
            return _NO_MATCH
        unique_id = principal.unique_id
        entity = principal.entity_key
        if kind is PrincipalKind.USER:
            if unique_id is not None and unique_id in self.ids:
                return GrantClass.DIRECT_USER, self.ids[unique_id], unique_id
            if entity is not None and entity in self.users:
                return GrantClass.DIRECT_USER, self.users[entity], None
        elif kind is PrincipalKind.ROLE_SESSION:
            if arn in self.session_arns:
                return GrantClass.DIRECT_SESSION, arn, None
            if unique_id is not None and unique_id in self.ids:
                return GrantClass.ROLE, self.ids[unique_id], unique_id
            if principal.role_arn is not None:
                if entity is not None and entity in self.role_keys:
                    return GrantClass.ROLE, self.role_keys[entity], None
            elif principal.role_key is not None and principal.role_key in self.role_names:
                # Only the session ARN is known (no role path): compare account and name.
                return GrantClass.ROLE, self.role_names[principal.role_key], None
        elif kind is PrincipalKind.FEDERATED_USER:
            if arn in self.session_arns:
                return GrantClass.DIRECT_SESSION, arn, None
            if entity is not None and entity in self.users:
                return GrantClass.PARENT_USER, self.users[entity], None
        if arn in self.other:
            return GrantClass.DIRECT_SESSION, arn, None
        account = principal.account
        if account is not None and account in self.accounts:
            return GrantClass.ACCOUNT, account, None
        return _NO_MATCH


_WILDCARD: tuple[GrantClass, str, str | None] = (GrantClass.WILDCARD, "*", None)
_NO_MATCH: tuple[GrantClass, str, str | None] = (GrantClass.NONE, "", None)
