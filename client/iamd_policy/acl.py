"""ACL grants translated into synthetic resource-policy Allow statements (iam-semantics 8.1)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .compile import CompiledPolicy, compile_policy
from .kinds import PolicyKind
from .principal import GrantClass, Principal, PrincipalKind, PrincipalMatcher

__all__ = ["ACL_PERMISSIONS", "AUTHENTICATED", "acl_actions", "acl_grants_to_policy"]

AUTHENTICATED = "authenticated"
ACL_PERMISSIONS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")

# AWS's documented mapping of S3 ACL permissions to policy actions.
_S3_BUCKET = {
    "READ": ("s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"),
    "WRITE": ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
    "READ_ACP": ("s3:GetBucketAcl",),
    "WRITE_ACP": ("s3:PutBucketAcl",),
}
_S3_OBJECT = {
    "READ": ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent"),
    "WRITE": ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
    "READ_ACP": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
    "WRITE_ACP": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
}


def acl_actions(permission: str, resource_arn: str) -> tuple[str, ...]:
    """The action patterns one ACL permission grants on a resource."""
    permission = permission.upper()
    if permission not in ACL_PERMISSIONS:
        raise ValueError(f"unknown ACL permission {permission!r}")
    parts = resource_arn.split(":", 5)
    if len(parts) < 6:
        raise ValueError(f"ACL resource must be an ARN: {resource_arn[:256]!r}")
    service = parts[2]
    if service == "s3":
        table = _S3_OBJECT if "/" in parts[5] else _S3_BUCKET
        if permission == "FULL_CONTROL":
            return tuple(a for p in ("READ", "WRITE", "READ_ACP", "WRITE_ACP") for a in table[p])
        return table[permission]
    if permission == "FULL_CONTROL":
        return (f"{service}:*",)
    if permission == "READ":
        return (f"{service}:Get*", f"{service}:List*", f"{service}:Describe*")
    if permission == "WRITE":
        return (f"{service}:Put*", f"{service}:Create*", f"{service}:Delete*", f"{service}:Update*")
    if permission == "READ_ACP":
        return (f"{service}:Get*Acl", f"{service}:Get*Policy")
    return (f"{service}:Put*Acl", f"{service}:Put*Policy")


class _AuthenticatedMatcher(PrincipalMatcher):
    """S3's "authenticated users" group: any signed caller."""

    __slots__ = ()

    def _match(self, principal: Principal) -> tuple[GrantClass, str, str | None]:
        if principal.kind is PrincipalKind.ANONYMOUS:
            return GrantClass.NONE, "", None
        return GrantClass.WILDCARD, "authenticated users (ACL grantee)", None

    def describe(self, principal: Principal) -> str:
        if principal.kind is PrincipalKind.ANONYMOUS:
            return ""
        return 'ACL grantee "authenticated" (any signed caller)'

    def resolved(self, ids: Mapping[str, str]) -> PrincipalMatcher:
        return self


def _principal_element(grantee: str) -> object:
    if grantee in ("*", AUTHENTICATED):
        return "*"
    if len(grantee) == 64 and all(c in "0123456789abcdefABCDEF" for c in grantee):
        return {"CanonicalUser": grantee}
    return {"AWS": grantee}


def acl_grants_to_policy(
    grants: Sequence[tuple[str, str]], resource_arn: str, *, policy_id: str
) -> CompiledPolicy:
    """One Allow statement per grant; grantee is an account id, a principal ARN, "*" (all
    users) or "authenticated". Raises ValueError (PolicyValidationError) on bad input."""
    if not grants:
        raise ValueError("an ACL needs at least one grant")
    statements = []
    authenticated: list[int] = []
    for index, (grantee, permission) in enumerate(grants):
        statements.append(
            {
                "Effect": "Allow",
                "Principal": _principal_element(grantee),
                "Action": list(acl_actions(permission, resource_arn)),
                "Resource": resource_arn,
            }
        )
        if grantee == AUTHENTICATED:
            authenticated.append(index)
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    policy = compile_policy(document, PolicyKind.ACL, policy_id=policy_id, source_type="acl")
    for index in authenticated:
        policy.statements[index].principal = _AuthenticatedMatcher(())
    return policy
