"""Policy grammar: JSON parsing and validation into a plain parsed form.

Checks run in the order of iam-semantics 2.5 over the whole document, and the first failure is
reported, naming the statement (index and Sid) and the element.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import PolicyValidationError
from .kinds import MAX_POLICY_SIZE, PolicyKind, policy_size
from .patterns import compile_globs
from .values import parse_date

__all__ = [
    "BASE_OPERATORS",
    "CURRENT_VERSION",
    "TRUST_ACTIONS",
    "ParsedPolicy",
    "ParsedStatement",
    "check_shape",
    "check_trust_actions",
    "parse_policy",
    "split_operator",
]

CURRENT_VERSION = "2012-10-17"
LEGACY_VERSION = "2008-10-17"

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
VERSION_MSG = "Policy document must be version 2012-10-17 or greater."

BASE_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
    }
)

# The only actions a role's trust policy is consulted for (AWS: the trust policy is the
# role's resource policy for assuming it, tagging the session, setting its source identity
# and context). Lowercase, as actions are compared.
TRUST_ACTIONS = (
    "sts:assumerole",
    "sts:assumerolewithwebidentity",
    "sts:assumerolewithsaml",
    "sts:tagsession",
    "sts:setsourceidentity",
    "sts:setcontext",
)
TRUST_ACTION_MESSAGE = "AssumeRole policy may only specify STS AssumeRole actions."

_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
)
IAM_RESOURCE_PREFIXES = (
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
)
# AWS: "Vendor s3* is not valid" - a vendor is `*` or letters, digits, `.` and `-`; the
# action name after the colon is not checked ("iam: asdf safdsf af " is accepted, stored and
# never matches an action).
_VENDOR_RE = re.compile(r"[A-Za-z0-9.-]+|\*")
_SID_RE = re.compile(r"[A-Za-z0-9]*")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_UNIQUE_ID_RE = re.compile(r"A[A-Z]{3}[A-Z0-9]{4,124}")
_CANONICAL_RE = re.compile(r"[0-9a-fA-F]{64}")
_IAM_PRINCIPAL_RE = re.compile(
    r"arn:[a-z-]+:iam::([0-9]{12}|aws):(root|user/.+|role/.+)"
    r"|arn:[a-z-]+:sts::[0-9]{12}:(assumed-role/[^/]+/.+|federated-user/.+)"
)
# Kinds written through IAM, whose Sids must be alphanumeric.
_IAM_KINDS = frozenset(
    {PolicyKind.IDENTITY, PolicyKind.PERMISSIONS_BOUNDARY, PolicyKind.SESSION, PolicyKind.TRUST}
)
_NO_PRINCIPAL_KINDS = frozenset(
    {
        PolicyKind.IDENTITY,
        PolicyKind.PERMISSIONS_BOUNDARY,
        PolicyKind.SESSION,
        PolicyKind.SERVICE_CONTROL,
    }
)
_DATE_OPERATORS = frozenset(op for op in BASE_OPERATORS if op.startswith("Date"))


def split_operator(name: str) -> tuple[str | None, str, bool] | None:
    """'ForAnyValue:StringLikeIfExists' -> ('ForAnyValue', 'StringLike', True); None if unknown."""
    prefix: str | None = None
    base = name
    if base.startswith("ForAllValues:"):
        prefix, base = "ForAllValues", base[13:]
    elif base.startswith("ForAnyValue:"):
        prefix, base = "ForAnyValue", base[12:]
    if_exists = False
    if base.endswith("IfExists"):
        if_exists, base = True, base[:-8]
    if base not in BASE_OPERATORS:
        return None
    if base == "Null" and (if_exists or prefix is not None):
        return None
    return prefix, base, if_exists


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    index: int
    sid: str | None
    effect: str
    # Principal entries by type ("AWS", "Service", ...); "*" as the whole value -> {"AWS": ("*",)}.
    principal: tuple[tuple[str, tuple[str, ...]], ...] | None
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    # None: no Resource element (trust policies), matches every resource.
    resources: tuple[str, ...] | None
    not_resource: bool
    # (operator, key, values) in document order; values normalised to strings.
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class ParsedPolicy:
    version: str | None
    id: str | None
    statements: tuple[ParsedStatement, ...]

    @property
    def variables_enabled(self) -> bool:
        return self.version == CURRENT_VERSION


class _DuplicateKeyError(Exception):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


# AWS's bound on a PolicyDocument request parameter; quotas per kind are smaller, but they
# count non-whitespace characters only.
MAX_DOCUMENT_CHARACTERS = 131_072
# A valid document nests 6 deep at most (document, Statement, statement, Condition, operator,
# values); anything much deeper is refused before the parser recurses into it.
MAX_NESTING = 32
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def _nesting_depth(document: str) -> int:
    """The deepest nesting of arrays and objects, strings skipped (a linear scan)."""
    if document.count("[") + document.count("{") <= MAX_NESTING:
        return 0  # cannot be deeper than that
    # Drop escaped backslashes, then escaped quotes (left to right, as JSON reads them), then
    # every byte but brackets, braces and quotes: what is left is the document's structure.
    plain = document.replace("\\\\", "").replace('\\"', "")
    structure = plain.encode("utf-8", "surrogatepass").translate(None, _NOT_STRUCTURE)
    depth = deepest = 0
    in_string = False
    for byte in structure:
        if byte == 0x22:  # "
            in_string = not in_string
        elif in_string:
            continue
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    break
        else:
            depth -= 1
    return deepest


def check_shape(document: str) -> None:
    """Refuse a document too long or too deeply nested to parse (PolicyValidationError);
    cheap, so callers may run it before anything else, size quotas included."""
    if len(document) > MAX_DOCUMENT_CHARACTERS:
        raise PolicyValidationError(
            SYNTAX + f" Document is longer than {MAX_DOCUMENT_CHARACTERS} characters."
        )
    if _nesting_depth(document) > MAX_NESTING:
        raise PolicyValidationError(
            SYNTAX + f" Document is nested deeper than {MAX_NESTING} levels."
        )


def _load(document: str | bytes) -> Any:
    if isinstance(document, bytes | bytearray):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyValidationError(SYNTAX + " Document is not valid UTF-8.") from None
    if not isinstance(document, str):
        raise PolicyValidationError(SYNTAX + " Document must be a JSON string.")
    check_shape(document)
    try:
        return json.loads(document, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
    except _DuplicateKeyError as exc:
        raise PolicyValidationError(
            SYNTAX + f" Duplicate key {exc.args[0]!r}.", field=str(exc.args[0])[:128]
        ) from None
    except RecursionError:
        raise PolicyValidationError(SYNTAX + " Document is nested too deeply.") from None
    except (ValueError, TypeError):
        raise PolicyValidationError(SYNTAX + " Document is not valid JSON.") from None


def _scalar_text(value: Any) -> str | None:
    """Condition values: strings, and numbers/booleans as their JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


class _Raw:
    """One statement during validation."""

    __slots__ = ("body", "index", "sid")

    def __init__(self, index: int, body: dict[str, Any]) -> None:
        self.index = index
        self.body = body
        sid = body.get("Sid")
        self.sid: str | None = sid[:128] if isinstance(sid, str) else None

    def error(self, message: str, field: str | None = None) -> PolicyValidationError:
        return PolicyValidationError(message, self.index, self.sid, field)


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse_policy(
    document: str | bytes,
    kind: PolicyKind,
    *,
    managed: bool = False,
    resource_optional: bool = False,
) -> ParsedPolicy:
    """Parse and validate; raises PolicyValidationError only.

    `resource_optional` lets statements of a resource policy omit Resource (they then match
    every resource, as in a role trust policy); the simulator uses it because its single
    ResourcePolicy input may be either kind of document.
    """
    try:
        return _parse(document, kind, managed, resource_optional)
    except PolicyValidationError:
        raise
    except RecursionError:
        raise PolicyValidationError(SYNTAX + " Document is nested too deeply.") from None
    except Exception as exc:  # defensive: validation must never leak another exception
        raise PolicyValidationError(SYNTAX + f" ({type(exc).__name__})") from None


def _parse(
    document: str | bytes, kind: PolicyKind, managed: bool, resource_optional: bool
) -> ParsedPolicy:
    data = _load(document)
    # Step 1: structure.
    if not isinstance(data, dict):
        raise PolicyValidationError(SYNTAX + " The document must be a JSON object.")
    for key in data:
        if key not in _TOP_KEYS:
            raise PolicyValidationError(SYNTAX + f" Unknown element {key!r}.", field=key[:128])
    if "Statement" not in data:
        raise PolicyValidationError(SYNTAX + " Missing Statement.", field="Statement")
    version = data.get("Version")
    if version is not None and not isinstance(version, str):
        raise PolicyValidationError(SYNTAX + " Version must be a string.", field="Version")
    pid = data.get("Id")
    if pid is not None and not isinstance(pid, str):
        raise PolicyValidationError(SYNTAX + " Id must be a string.", field="Id")
    body = data["Statement"]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise PolicyValidationError(
            SYNTAX + " Statement must be an object or a non-empty array.", field="Statement"
        )
    raws: list[_Raw] = []
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise PolicyValidationError(
                SYNTAX + " Each statement must be an object.", index, None, "Statement"
            )
        raws.append(_Raw(index, item))
    for raw in raws:
        _check_structure(raw)

    # Step 2: version.
    if version is None and "Version" in data:
        version = None
    if version is not None and version not in (CURRENT_VERSION, LEGACY_VERSION):
        raise PolicyValidationError(VERSION_MSG, field="Version")
    if (managed or kind is PolicyKind.PERMISSIONS_BOUNDARY) and version != CURRENT_VERSION:
        raise PolicyValidationError(VERSION_MSG, field="Version")

    # Step 3: effect and date values.
    for raw in raws:
        effect = raw.body["Effect"]
        if effect not in ("Allow", "Deny"):
            raise raw.error(
                LEGACY + f": Effect must be Allow or Deny, not {effect[:64]!r}.", "Effect"
            )
        for op_name, block in raw.body.get("Condition", {}).items():
            split = split_operator(op_name)
            if split is not None and split[1] in _DATE_OPERATORS:
                for key, values in block.items():
                    for value in values if isinstance(values, list) else [values]:
                        text = _scalar_text(value)
                        if text is None or parse_date(text) is None:
                            raise raw.error(
                                LEGACY + f": invalid date {str(value)[:64]!r} for {key[:128]}.",
                                "Condition",
                            )

    # Step 3 (cont.): the legacy ARN shape of resources, checked (as AWS does) only while
    # no resource has failed the format check of step 7.
    format_failed = False
    for raw in raws:
        entries = [
            (element, resource)
            for element in ("Resource", "NotResource")
            if element in raw.body
            for resource in _string_list(raw.body[element]) or ()
        ]
        if any(_resource_problem(resource) is not None for _, resource in entries):
            format_failed = True
        if format_failed:
            continue
        for element, resource in entries:
            legacy = _legacy_resource_problem(resource)
            if legacy is not None:
                raise raw.error(f"{LEGACY}: {legacy}.", element)

    # Step 4: Sids.
    seen: set[str] = set()
    for raw in raws:
        sid = raw.body.get("Sid")
        if sid is None or sid == "":
            continue
        if kind in _IAM_KINDS and not _SID_RE.fullmatch(sid):
            raise raw.error(
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies "
                "the regular expression [0-9A-Za-z]*",
                "Sid",
            )
        if sid in seen:
            raise raw.error("Statement IDs (SID) in a single policy must be unique.", "Sid")
        seen.add(sid)

    # Steps 5 and 6: actions and resources present.
    for raw in raws:
        if not (raw.body.get("Action") or raw.body.get("NotAction")):
            raise raw.error("Policy statement must contain actions.", "Action")
    if kind is not PolicyKind.TRUST and not resource_optional:
        for raw in raws:
            if not (raw.body.get("Resource") or raw.body.get("NotResource")):
                raise raw.error("Policy statement must contain resources.", "Resource")

    # Step 7: resource format.
    for raw in raws:
        for field in ("Resource", "NotResource"):
            if field in raw.body:
                for resource in _string_list(raw.body[field]) or ():
                    message = _resource_problem(resource)
                    if message is not None:
                        raise raw.error(message, field)

    # Step 8: action and condition-key format.
    for raw in raws:
        for field in ("Action", "NotAction"):
            if field in raw.body:
                for action in _string_list(raw.body[field]) or ():
                    message = _action_problem(action)
                    if message is not None:
                        raise raw.error(message, field)
        for block in raw.body.get("Condition", {}).values():
            for key in block:
                if ":" not in key:
                    raise raw.error(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, "
                        f"etc. (condition key {key[:128]!r})",
                        "Condition",
                    )

    # Step 9: principals.
    for raw in raws:
        _check_principal(raw, kind)

    # Step 10: characters and size.
    text = document if isinstance(document, str) else bytes(document).decode("utf-8")
    for ch in text:
        if not (ch in "\t\n\r" or " " <= ch <= "\u00ff"):
            raise PolicyValidationError(
                f"Policy document contains an invalid character U+{ord(ch):04X}; only TAB, LF, "
                "CR and U+0020-U+00FF are allowed."
            )
    limit = MAX_POLICY_SIZE[kind]
    if kind is PolicyKind.IDENTITY and not managed:
        limit = 10240
    if policy_size(text) > limit:
        raise PolicyValidationError(f"Cannot exceed quota for PolicySize: {limit}")

    return ParsedPolicy(version, pid, tuple(_build(raw) for raw in raws))


def _check_structure(raw: _Raw) -> None:
    body = raw.body
    for key in body:
        if key not in _STATEMENT_KEYS:
            raise raw.error(SYNTAX + f" Unknown element {key[:128]!r}.", key[:128])
    for a, b in (
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ):
        if a in body and b in body:
            raise raw.error(SYNTAX + f" A statement cannot have both {a} and {b}.", b)
    if "Sid" in body and not isinstance(body["Sid"], str):
        raise raw.error(SYNTAX + " Sid must be a string.", "Sid")
    if "Effect" not in body:
        raise raw.error(SYNTAX + " Missing Effect.", "Effect")
    if not isinstance(body["Effect"], str):
        raise raw.error(SYNTAX + " Effect must be a string.", "Effect")
    for field in ("Action", "NotAction", "Resource", "NotResource"):
        if field in body and _string_list(body[field]) is None:
            raise raw.error(SYNTAX + f" {field} must be a string or an array of strings.", field)
    for field in ("Principal", "NotPrincipal"):
        if field in body:
            value = body[field]
            if value == "*":
                continue
            if not isinstance(value, dict) or not value:
                raise raw.error(
                    SYNTAX + f' {field} must be "*" or an object of principal types.', field
                )
            for ptype, entries in value.items():
                if ptype not in _PRINCIPAL_TYPES:
                    raise raw.error(SYNTAX + f" Unknown principal type {ptype[:64]!r}.", field)
                listed = _string_list(entries)
                if not listed:
                    raise raw.error(
                        SYNTAX
                        + f" {field} {ptype} must be a string or non-empty array of strings.",
                        field,
                    )
    if "Condition" in body:
        condition = body["Condition"]
        if not isinstance(condition, dict):
            raise raw.error(SYNTAX + " Condition must be an object.", "Condition")
        for op_name, block in condition.items():
            if split_operator(op_name) is None:
                raise raw.error(
                    SYNTAX + f" Unknown condition operator {op_name[:128]!r}.", "Condition"
                )
            if not isinstance(block, dict):
                raise raw.error(
                    SYNTAX + f" Condition operator {op_name} must map keys to values.", "Condition"
                )
            for key, values in block.items():
                items = values if isinstance(values, list) else [values]
                if not items or any(_scalar_text(v) is None for v in items):
                    raise raw.error(
                        SYNTAX + f" Condition values for {key[:128]!r} must be strings, numbers "
                        "or booleans.",
                        "Condition",
                    )


def _resource_problem(resource: str) -> str | None:
    """The format check of a Resource/NotResource entry (reported at step 7).

    An ARN may have fewer than six segments, as AWS's validator accepts: `arn:aws:sqs` and
    `arn:aws:sqs:us-east-1:*` are valid entries (`_legacy_resource_problem` refuses the
    short ones with an empty segment). What they match: patterns.ArnPattern.
    """
    if resource == "*":
        return None
    shown = resource[:256]
    parts = resource.split(":", 5)
    if len(parts) < 2 or parts[0] != "arn":
        return f'Resource {shown} must be in ARN format or "*".'
    partition = parts[1]
    if partition not in PARTITIONS and "*" not in partition and "?" not in partition:
        return f'Partition "{partition[:64]}" is not valid for resource "{shown}".'
    service = parts[2] if len(parts) > 2 else None
    if service is None or "*" in service or "?" in service:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    region = parts[3] if len(parts) > 3 else None
    if service == "iam":
        if region is None or region:
            return f"IAM resource {shown} cannot contain region information."
        rest = parts[5] if len(parts) == 6 else "*"
        if rest not in ("*", "root") and not rest.startswith(IAM_RESOURCE_PREFIXES):
            return (
                'IAM resource path must either be "*" or start with '
                + ", ".join(IAM_RESOURCE_PREFIXES)
                + f" (resource {shown})."
            )
    if service == "s3":
        account = parts[4] if len(parts) > 4 else ""
        if region is None or (region and not account):
            return f"Resource {shown} can not contain region information."
    return None


def _legacy_resource_problem(resource: str) -> str | None:
    """AWS's legacy parser: a short ARN may not have an empty segment, and the service
    segment may not be empty (`arn:aws:s3::bucket`, `arn:aws::x`)."""
    if resource == "*":
        return None
    if resource.count(":") < 5 and "::" in resource:
        return f"resource {resource[:256]!r} has an empty segment and fewer than six"
    parts = resource.split(":", 3)
    if len(parts) > 2 and not parts[2]:
        return f"resource {resource[:256]!r} has an empty service segment"
    return None


def _action_problem(action: str) -> str | None:
    if action == "*":
        return None
    if ":" not in action:
        return (
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. "
            f"(action {action[:128]!r})"
        )
    vendor, _, name = action.partition(":")
    if ":" in name:
        return f"Actions/Condition can contain only one colon. (action {action[:128]!r})"
    if not _VENDOR_RE.fullmatch(vendor):
        return f"Vendor {vendor[:64]} is not valid (action {action[:128]!r})"
    return None


def check_trust_actions(parsed: ParsedPolicy) -> None:
    """A trust policy written now may name only the actions it is consulted for.

    AWS refuses other actions with "AssumeRole policy may only specify STS AssumeRole
    actions." (also a misspelt one such as `sts:TagSessions`). An entry is accepted when it
    is an `sts:` pattern matching at least one trust action (`sts:AssumeRole*`, `sts:*`);
    `*` alone is refused. This runs on writes only: documents stored before it existed still
    load, and evaluation consults any trust policy for the trust actions alone.
    """
    for statement in parsed.statements:
        field = "NotAction" if statement.not_action else "Action"
        for action in statement.actions:
            vendor, _, name = action.lower().partition(":")
            matcher = compile_globs((name,))
            if vendor != "sts" or not any(matcher(a[4:]) for a in TRUST_ACTIONS):
                raise PolicyValidationError(
                    TRUST_ACTION_MESSAGE, statement.index, statement.sid, field
                )


def _principal_value_ok(ptype: str, value: str) -> bool:
    if value == "*":
        return ptype == "AWS"
    if "*" in value or not value or any(c.isspace() for c in value):
        return False
    if ptype == "AWS":
        return bool(
            _ACCOUNT_RE.fullmatch(value)
            or _IAM_PRINCIPAL_RE.fullmatch(value)
            or _UNIQUE_ID_RE.fullmatch(value)
        )
    if ptype == "CanonicalUser":
        return bool(_CANONICAL_RE.fullmatch(value))
    return True


def _check_principal(raw: _Raw, kind: PolicyKind) -> None:
    body = raw.body
    has_p = "Principal" in body
    has_np = "NotPrincipal" in body
    if kind in _NO_PRINCIPAL_KINDS:
        if has_p or has_np:
            raise raw.error(
                "Policy document should not specify a principal.",
                "Principal" if has_p else "NotPrincipal",
            )
        return
    if kind in (PolicyKind.TRUST, PolicyKind.RESOURCE_CONTROL) and has_np:
        raise raw.error("Has prohibited field NotPrincipal", "NotPrincipal")
    if kind is PolicyKind.TRUST and ("Resource" in body or "NotResource" in body):
        field = "Resource" if "Resource" in body else "NotResource"
        raise raw.error(f"Has prohibited field {field}", field)
    if not has_p and not has_np:
        raise raw.error("Missing required field Principal", "Principal")
    if has_np and body["Effect"] != "Deny":
        raise raw.error('NotPrincipal is only supported with "Effect": "Deny".', "NotPrincipal")
    field = "Principal" if has_p else "NotPrincipal"
    value = body[field]
    if kind is PolicyKind.RESOURCE_CONTROL and value not in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
        raise raw.error('Resource control policies only support "Principal": "*".', field)
    if value == "*":
        return
    for ptype, entries in value.items():
        for entry in _string_list(entries) or ():
            if not _principal_value_ok(ptype, entry):
                raise raw.error(f'Invalid principal in policy: "{ptype}":"{entry[:256]}"', field)


def _build(raw: _Raw) -> ParsedStatement:
    body = raw.body
    principal: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    pfield = (
        "Principal" if "Principal" in body else "NotPrincipal" if "NotPrincipal" in body else None
    )
    if pfield is not None:
        value = body[pfield]
        if value == "*":
            principal = (("AWS", ("*",)),)
        else:
            principal = tuple((ptype, _string_list(v) or ()) for ptype, v in value.items())
    afield = "Action" if "Action" in body else "NotAction"
    rfield = "Resource" if "Resource" in body else "NotResource" if "NotResource" in body else None
    conditions: list[tuple[str, str, tuple[str, ...]]] = []
    for op_name, block in body.get("Condition", {}).items():
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            conditions.append((op_name, key, tuple(_scalar_text(v) or "" for v in items)))
    sid = body.get("Sid")
    return ParsedStatement(
        index=raw.index,
        sid=sid if sid else None,
        effect=body["Effect"],
        principal=principal,
        not_principal=pfield == "NotPrincipal",
        actions=_string_list(body[afield]) or (),
        not_action=afield == "NotAction",
        resources=None if rfield is None else (_string_list(body[rfield]) or ()),
        not_resource=rfield == "NotResource",
        conditions=tuple(conditions),
    )
