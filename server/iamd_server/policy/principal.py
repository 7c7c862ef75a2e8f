"""The calling principal and Principal-element matching (iam-semantics 3.3, 6.5)."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
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


_ARN_RE = re.compile(r"arn:([^:]+):(iam|sts)::(\d{12}):(.+)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    `role_arn` is the session's role ARN with its path when known; when it is None a role
    principal in a policy matches on account and role name (the session ARN has no path).
    `parent_user_arn` is the IAM user that created a federated-user session.
    """

    arn: str
    account: str | None
    kind: PrincipalKind
    role_arn: str | None = None
    parent_user_arn: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    # Derived: (account, role name) of a role session, for path-less role matching.
    role_key: tuple[str, str] | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        key: tuple[str, str] | None = None
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
                    key = (match.group(3), name)
        object.__setattr__(self, "role_key", key)

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
    if len(value) == 12 and value.isdigit():
        return value
    match = _ARN_RE.fullmatch(value)
    if match is not None and match.group(2) == "iam" and match.group(4) == "root":
        return match.group(3)
    return None


class PrincipalMatcher:
    """Compiled Principal/NotPrincipal entries of one statement."""

    __slots__ = (
        "accounts",
        "other",
        "role_arns",
        "role_keys",
        "services",
        "session_arns",
        "user_arns",
        "wildcard",
    )

    def __init__(self, entries: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.wildcard = False
        accounts: set[str] = set()
        users: set[str] = set()
        sessions: set[str] = set()
        roles: set[str] = set()
        role_keys: set[tuple[str, str]] = set()
        services: set[str] = set()
        other: set[str] = set()
        for ptype, values in entries:
            for value in values:
                if ptype == "AWS":
                    if value == "*":
                        self.wildcard = True
                        continue
                    account = _root_account(value)
                    if account is not None:
                        accounts.add(account)
                        continue
                    match = _ARN_RE.fullmatch(value)
                    if match is None:
                        # A unique id that no longer resolves (or junk): never matches.
                        continue
                    rest = match.group(4)
                    if rest.startswith("user/"):
                        users.add(value)
                    elif rest.startswith("role/"):
                        roles.add(value)
                        role_keys.add((match.group(3), rest.rsplit("/", 1)[-1]))
                    else:
                        sessions.add(value)
                elif ptype == "Service":
                    services.add(value)
                else:
                    # Federated providers and canonical users match a caller with that name.
                    other.add(value)
        self.accounts = frozenset(accounts)
        self.user_arns = frozenset(users)
        self.session_arns = frozenset(sessions)
        self.role_arns = frozenset(roles)
        self.role_keys = frozenset(role_keys)
        self.services = frozenset(services)
        self.other = frozenset(other)

    def grant(self, principal: Principal) -> GrantClass:
        if self.wildcard:
            return GrantClass.WILDCARD
        kind = principal.kind
        if kind is PrincipalKind.SERVICE or kind is PrincipalKind.ANONYMOUS:
            if principal.arn in self.services or principal.arn in self.other:
                return GrantClass.SERVICE
            return GrantClass.NONE
        arn = principal.arn
        if kind is PrincipalKind.USER:
            if arn in self.user_arns:
                return GrantClass.DIRECT_USER
        elif kind is PrincipalKind.ROLE_SESSION:
            if arn in self.session_arns:
                return GrantClass.DIRECT_SESSION
            if self.role_arns:
                if principal.role_arn is not None and principal.role_arn in self.role_arns:
                    return GrantClass.ROLE
                # Without the role's path (only the session ARN is known) compare account
                # and role name; a known role ARN must match exactly.
                if (
                    principal.role_key is not None
                    and principal.role_key in self.role_keys
                    and (principal.role_arn is None or principal.role_arn == arn)
                ):
                    return GrantClass.ROLE
        elif kind is PrincipalKind.FEDERATED_USER:
            if arn in self.session_arns:
                return GrantClass.DIRECT_SESSION
            if (
                principal.parent_user_arn is not None
                and principal.parent_user_arn in self.user_arns
            ):
                return GrantClass.PARENT_USER
        if arn in self.other:
            return GrantClass.DIRECT_SESSION
        if principal.account is not None and principal.account in self.accounts:
            return GrantClass.ACCOUNT
        return GrantClass.NONE
