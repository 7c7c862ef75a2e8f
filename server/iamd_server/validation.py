"""Validators for request fields: names, paths, tags, ids, ARNs.

Each raises `InvalidArgument(field, reason)`; the reason says what was wrong in terms a caller
can act on. The store calls them before any SQL, so servicers need not repeat them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iamd_server.errors import InvalidArgument

# AWS's patterns (IAM and STS API references), matched whole (fullmatch: "$" would let a
# trailing newline through) and ASCII only (re.ASCII: \w and \d are ASCII, as in AWS).
_NAME_CHARS = re.compile(r"[\w+=,.@-]+", re.ASCII)
_SESSION_NAME_CHARS = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID_CHARS = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_PATH = re.compile(r"/|/[\x21-\x7e]+/", re.ASCII)
# ListUsers & co.: "any ASCII character from ! (U+0021) through DEL (U+007F)".
_PATH_PREFIX = re.compile(r"/[\x21-\x7f]*", re.ASCII)
_ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)
_TAG_PUNCTUATION = frozenset(" _.:/=+-@")
_ARN = re.compile(r"arn:([a-z-]+):([a-z0-9.-]*):([a-z0-9-]*):([^:]*):(.+)", re.DOTALL | re.ASCII)

USER_NAME_MAX = 64
GROUP_NAME_MAX = 128
ROLE_NAME_MAX = 64
POLICY_NAME_MAX = 128
INLINE_POLICY_NAME_MAX = 128
PATH_MAX = 512
DESCRIPTION_MAX = 1000
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
MAX_TAGS = 50
MIN_SESSION_DURATION = 3600
MAX_SESSION_DURATION = 43200
SESSION_NAME_MIN, SESSION_NAME_MAX = 2, 64
EXTERNAL_ID_MIN, EXTERNAL_ID_MAX = 2, 1224


def _name(value: str, field: str, what: str, max_len: int) -> str:
    if not 1 <= len(value) <= max_len:
        raise InvalidArgument(field, f"{what} must be 1 to {max_len} characters long")
    if not _NAME_CHARS.fullmatch(value):
        raise InvalidArgument(
            field, f"{what} {value!r} may contain only ASCII letters, digits and + = , . @ _ -"
        )
    return value


def user_name(value: str, field: str = "user_name") -> str:
    return _name(value, field, "user name", USER_NAME_MAX)


def group_name(value: str, field: str = "group_name") -> str:
    return _name(value, field, "group name", GROUP_NAME_MAX)


def role_name(value: str, field: str = "role_name") -> str:
    return _name(value, field, "role name", ROLE_NAME_MAX)


def policy_name(value: str, field: str = "policy_name") -> str:
    return _name(value, field, "policy name", POLICY_NAME_MAX)


def inline_policy_name(value: str, field: str = "policy_name") -> str:
    return _name(value, field, "policy name", INLINE_POLICY_NAME_MAX)


def role_session_name(value: str, field: str = "role_session_name") -> str:
    """RoleSessionName (and SourceIdentity): 2-64 characters of [\\w+=,.@-], ASCII."""
    if not SESSION_NAME_MIN <= len(value) <= SESSION_NAME_MAX:
        raise InvalidArgument(
            field, f"must be {SESSION_NAME_MIN} to {SESSION_NAME_MAX} characters long"
        )
    if not _SESSION_NAME_CHARS.fullmatch(value):
        raise InvalidArgument(
            field, f"{value!r} may contain only ASCII letters, digits and + = , . @ _ -"
        )
    return value


def external_id(value: str, field: str = "external_id") -> str:
    if not EXTERNAL_ID_MIN <= len(value) <= EXTERNAL_ID_MAX:
        raise InvalidArgument(
            field, f"must be {EXTERNAL_ID_MIN} to {EXTERNAL_ID_MAX} characters long"
        )
    if not _EXTERNAL_ID_CHARS.fullmatch(value):
        raise InvalidArgument(field, "may contain only ASCII letters, digits and + = , . @ : / _ -")
    return value


def path(value: str, field: str = "path") -> str:
    if not 1 <= len(value) <= PATH_MAX:
        raise InvalidArgument(field, f"path must be 1 to {PATH_MAX} characters long")
    if not _PATH.fullmatch(value):
        raise InvalidArgument(
            field,
            f"path {value!r} must be '/' or start and end with '/' and contain only"
            " printable ASCII characters (no spaces)",
        )
    return value


def path_prefix(value: str, field: str = "path_prefix") -> str:
    if not 1 <= len(value) <= PATH_MAX:
        raise InvalidArgument(field, f"path prefix must be 1 to {PATH_MAX} characters long")
    if not _PATH_PREFIX.fullmatch(value):
        raise InvalidArgument(
            field,
            f"path prefix {value!r} must start with '/' and contain only ASCII characters"
            " from '!' (U+0021) to DEL (U+007F)",
        )
    return value


def account_id(value: str, field: str = "account_id") -> str:
    if not _ACCOUNT_ID.fullmatch(value):
        raise InvalidArgument(field, f"account id {value!r} must be exactly 12 decimal digits")
    return value


def description(value: str, field: str = "description") -> str:
    if len(value) > DESCRIPTION_MAX:
        raise InvalidArgument(
            field, f"description must be at most {DESCRIPTION_MAX} characters long"
        )
    return value


def max_session_duration(value: int, field: str = "max_session_duration") -> int:
    if not MIN_SESSION_DURATION <= value <= MAX_SESSION_DURATION:
        raise InvalidArgument(
            field,
            f"max session duration must be between {MIN_SESSION_DURATION} and"
            f" {MAX_SESSION_DURATION} seconds, got {value}",
        )
    return value


def _tag_text_ok(text: str) -> bool:
    return all(c.isalnum() or c in _TAG_PUNCTUATION for c in text)


def tag_key(key: str, field: str = "tag_keys") -> str:
    if not 1 <= len(key) <= TAG_KEY_MAX:
        raise InvalidArgument(field, f"tag key must be 1 to {TAG_KEY_MAX} characters long")
    if not _tag_text_ok(key):
        raise InvalidArgument(
            field,
            f"tag key {key!r} may contain only letters, digits, spaces and _ . : / = + - @",
        )
    if key.lower().startswith("aws:"):
        raise InvalidArgument(field, f"tag key {key!r} uses the reserved prefix 'aws:'")
    return key


def tag_value(value: str, field: str) -> str:
    if len(value) > TAG_VALUE_MAX:
        raise InvalidArgument(field, f"tag value must be at most {TAG_VALUE_MAX} characters long")
    if not _tag_text_ok(value):
        raise InvalidArgument(
            field,
            "tag value may contain only letters, digits, spaces and _ . : / = + - @",
        )
    if value.lower().startswith("aws:"):
        raise InvalidArgument(field, "tag value uses the reserved prefix 'aws:'")
    return value


def tags(
    pairs: Sequence[tuple[str, str]], *, case_insensitive_keys: bool, field: str = "tags"
) -> list[tuple[str, str]]:
    """Checks each tag and that no key repeats (compared per the object's key case rule)."""
    if len(pairs) > MAX_TAGS:
        raise InvalidArgument(field, f"at most {MAX_TAGS} tags are allowed, got {len(pairs)}")
    seen: set[str] = set()
    for index, (key, value) in enumerate(pairs):
        tag_key(key, f"{field}[{index}].key")
        tag_value(value, f"{field}[{index}].value")
        folded = key.lower() if case_insensitive_keys else key
        if folded in seen:
            raise InvalidArgument(f"{field}[{index}].key", f"duplicate tag key {key!r}")
        seen.add(folded)
    return list(pairs)


def tag_keys(keys: Iterable[str], field: str = "tag_keys") -> list[str]:
    checked = []
    for index, key in enumerate(keys):
        checked.append(tag_key(key, f"{field}[{index}]"))
    return checked


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def arn(value: str, field: str = "arn") -> Arn:
    """Parses `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` (the resource may hold colons)."""
    if len(value) > 2048:
        raise InvalidArgument(field, "ARN must be at most 2048 characters long")
    match = _ARN.fullmatch(value)
    if match is None or not match.group(2):
        raise InvalidArgument(
            field, f"{value!r} is not an ARN (arn:partition:service:region:account:resource)"
        )
    partition, service, region, account, resource = match.groups()
    if partition not in ("aws", "aws-cn", "aws-us-gov"):
        raise InvalidArgument(field, f"ARN {value!r} has an unknown partition {partition!r}")
    return Arn(partition, service, region, account, resource)


@dataclass(frozen=True, slots=True)
class IamArn:
    """An IAM entity ARN split into account, type (user/group/role/policy), path and name."""

    account_id: str
    kind: str
    path: str
    name: str


def iam_arn(value: str, kind: str, field: str = "arn") -> IamArn:
    """Parses `arn:aws:iam::ACCT:KIND/PATH/NAME` for the expected KIND."""
    parsed = arn(value, field)
    if parsed.service != "iam" or parsed.region:
        raise InvalidArgument(field, f"{value!r} is not an IAM {kind} ARN")
    account_id(parsed.account, field)
    head, _, rest = parsed.resource.partition("/")
    if head != kind or not rest:
        raise InvalidArgument(field, f"{value!r} is not an IAM {kind} ARN")
    directory, _, name = rest.rpartition("/")
    entity_path = f"/{directory}/" if directory else "/"
    path(entity_path, field)
    if not name:
        raise InvalidArgument(field, f"{value!r} does not end with a name")
    return IamArn(parsed.account, kind, entity_path, name)


def short_text(value: str, field: str, what: str, max_len: int) -> str:
    """A free-form name (accounts, OUs, SCPs): 1..max_len characters, no control characters."""
    if not 1 <= len(value) <= max_len:
        raise InvalidArgument(field, f"{what} must be 1 to {max_len} characters long")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgument(field, f"{what} must not contain control characters")
    return value


def email(value: str, field: str = "email") -> str:
    if not 6 <= len(value) <= 64 or value.count("@") != 1 or " " in value:
        raise InvalidArgument(field, f"{value!r} is not an email address")
    return value
