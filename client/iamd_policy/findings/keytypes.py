"""Condition keys and their types: AWS's global keys, and the keys a service declares.

Used by policy findings to tell unknown keys and operators of the wrong type. The global
keys are those of AWS's global condition context key reference (iam-semantics section 5);
service keys come from the live registry (built-in catalogues and PutServiceDefinition).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..services import ServiceDefinition

__all__ = [
    "KeyType",
    "global_key_type",
    "key_type",
    "operator_family",
    "service_key",
]

# Operator families, by the base operator (set qualifier and IfExists removed).
_FAMILIES = {
    "StringEquals": "String",
    "StringNotEquals": "String",
    "StringEqualsIgnoreCase": "String",
    "StringNotEqualsIgnoreCase": "String",
    "StringLike": "String",
    "StringNotLike": "String",
    "NumericEquals": "Numeric",
    "NumericNotEquals": "Numeric",
    "NumericLessThan": "Numeric",
    "NumericLessThanEquals": "Numeric",
    "NumericGreaterThan": "Numeric",
    "NumericGreaterThanEquals": "Numeric",
    "DateEquals": "Date",
    "DateNotEquals": "Date",
    "DateLessThan": "Date",
    "DateLessThanEquals": "Date",
    "DateGreaterThan": "Date",
    "DateGreaterThanEquals": "Date",
    "Bool": "Bool",
    "BinaryEquals": "Binary",
    "IpAddress": "IP",
    "NotIpAddress": "IP",
    "ArnEquals": "ARN",
    "ArnLike": "ARN",
    "ArnNotEquals": "ARN",
    "ArnNotLike": "ARN",
}


@dataclass(frozen=True, slots=True)
class KeyType:
    """A key's type: its name as AWS writes it, the operator families that fit it, and
    whether the key holds several values (set qualifiers needed)."""

    name: str
    families: frozenset[str]
    multi: bool = False


def _type(name: str, *families: str, multi: bool = False) -> KeyType:
    return KeyType(name, frozenset(families), multi)


STRING = _type("String", "String")
# ARN keys take ARN operators and string operators (AWS accepts both).
ARN = _type("ARN", "ARN", "String")
NUMERIC = _type("Numeric", "Numeric")
DATE = _type("Date", "Date")
BOOL = _type("Boolean", "Bool")
IP = _type("IPAddress", "IP")
BINARY = _type("Binary", "Binary")

_BASES = {
    "string": STRING,
    "arn": ARN,
    "numeric": NUMERIC,
    "number": NUMERIC,
    "long": NUMERIC,
    "integer": NUMERIC,
    "date": DATE,
    "bool": BOOL,
    "boolean": BOOL,
    "ipaddress": IP,
    "ip": IP,
    "binary": BINARY,
}


def key_type(name: str) -> KeyType | None:
    """A service definition's type name (`String`, `ArrayOfARN`, `NumericList`, `Bool`,
    ...) -> KeyType; None for names iamd does not know (no type checks then)."""
    lowered = name.strip().lower()
    multi = False
    if lowered.startswith("arrayof"):
        multi, lowered = True, lowered[7:]
    elif lowered.endswith("list"):
        multi, lowered = True, lowered[:-4]
    base = _BASES.get(lowered)
    if base is None:
        return None
    return KeyType(base.name, base.families, multi) if multi else base


# AWS's global condition keys (lowercased) and their types.
_GLOBAL: dict[str, KeyType] = {
    "aws:calledvia": KeyType("ArrayOfString", STRING.families, True),
    "aws:calledviafirst": STRING,
    "aws:calledvialast": STRING,
    "aws:currenttime": DATE,
    # AWS documents EpochTime as Date or Numeric: both operator families fit.
    "aws:epochtime": _type("Date", "Date", "Numeric"),
    "aws:federatedprovider": STRING,
    "aws:multifactorauthage": NUMERIC,
    "aws:multifactorauthpresent": BOOL,
    "aws:principalaccount": STRING,
    "aws:principalarn": ARN,
    "aws:principalisawsservice": BOOL,
    "aws:principalorgid": STRING,
    "aws:principalorgpaths": KeyType("ArrayOfString", STRING.families, True),
    "aws:principalservicename": STRING,
    "aws:principalservicenameslist": KeyType("ArrayOfString", STRING.families, True),
    "aws:principaltype": STRING,
    "aws:referer": STRING,
    "aws:requestedregion": STRING,
    "aws:resourceaccount": STRING,
    "aws:resourceorgid": STRING,
    "aws:resourceorgpaths": KeyType("ArrayOfString", STRING.families, True),
    "aws:securetransport": BOOL,
    "aws:sourceaccount": STRING,
    "aws:sourcearn": ARN,
    "aws:sourceidentity": STRING,
    "aws:sourceip": IP,
    "aws:sourceorgid": STRING,
    "aws:sourceorgpaths": KeyType("ArrayOfString", STRING.families, True),
    "aws:sourcevpc": STRING,
    "aws:sourcevpcarn": ARN,
    "aws:sourcevpce": STRING,
    "aws:tagkeys": KeyType("ArrayOfString", STRING.families, True),
    "aws:tokenissuetime": DATE,
    "aws:useragent": STRING,
    "aws:userid": STRING,
    "aws:username": STRING,
    "aws:viaawsservice": BOOL,
    "aws:vpcsourceip": IP,
    "aws:ec2instancesourcevpc": STRING,
    "aws:ec2instancesourceprivateipv4": IP,
}
# Keys named after a tag: aws:RequestTag/KEY and friends.
_GLOBAL_PREFIXES = ("aws:requesttag/", "aws:resourcetag/", "aws:principaltag/")


def global_key_type(key: str) -> KeyType | None:
    """The type of an `aws:` key; None when AWS defines no such global key."""
    lowered = key.lower()
    found = _GLOBAL.get(lowered)
    if found is not None:
        return found
    for prefix in _GLOBAL_PREFIXES:
        if lowered.startswith(prefix) and len(lowered) > len(prefix):
            return STRING
    return None


def operator_family(base_operator: str) -> str | None:
    """`StringLike` -> "String", ...; None for Null (it fits every key)."""
    return _FAMILIES.get(base_operator)


@dataclass(frozen=True, slots=True)
class _ServiceKeys:
    exact: dict[str, KeyType | None]
    # (lowercased text before `${`, type) for templated keys such as iam:ResourceTag/${TagKey}.
    templates: tuple[tuple[str, KeyType | None], ...]


@lru_cache(maxsize=128)
def _service_keys(definition: ServiceDefinition) -> _ServiceKeys:
    exact: dict[str, KeyType | None] = {}
    templates: dict[str, KeyType | None] = {}

    def add(name: str, type_name: str | None) -> None:
        lowered = name.lower()
        typed = key_type(type_name) if type_name is not None else None
        cut = lowered.find("${")
        if cut >= 0:
            if typed is not None or lowered[:cut] not in templates:
                templates[lowered[:cut]] = typed
        elif typed is not None or lowered not in exact:
            exact[lowered] = typed

    for name, type_name in definition.condition_keys.items():
        add(name, type_name)
    for action in definition.actions.values():
        for name in action.condition_keys:
            add(name, None)
    for resource_type in definition.resource_types.values():
        for name in resource_type.condition_keys:
            add(name, None)
    return _ServiceKeys(exact, tuple(templates.items()))


def service_key(definition: ServiceDefinition, key: str) -> tuple[bool, KeyType | None]:
    """(whether the service declares `key`, its type when known)."""
    keys = _service_keys(definition)
    lowered = key.lower()
    if lowered in keys.exact:
        return True, keys.exact[lowered]
    for prefix, typed in keys.templates:
        if lowered.startswith(prefix) and len(lowered) > len(prefix):
            return True, typed
    return False, None
