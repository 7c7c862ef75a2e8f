"""Context, principals and the service registry."""

from __future__ import annotations

from typing import Any

import pytest
from iamd_policy import (
    Context,
    ContextError,
    Principal,
    PrincipalKind,
    ServiceDefinition,
    ServiceDefinitionError,
    ServiceRegistry,
    builtin_registry,
)


def test_context_types_and_errors() -> None:
    ctx = Context.from_entries(
        [
            ("aws:SourceIp", "ip", ["10.0.0.1"]),
            ("aws:MultiFactorAuthPresent", "boolean", ["TRUE"]),
            ("aws:TagKeys", "stringList", ["a", "b"]),
            ("s3:max-keys", "numeric", ["10"]),
            ("aws:CurrentTime", "date", ["2024-01-01T00:00:00Z"]),
            ("k:bin", "binary", ["aGk="]),
            ("k:ips", "ipList", ["10.0.0.1", "::1"]),
        ]
    )
    assert "AWS:SOURCEIP" in ctx
    assert ctx.single("aws:multifactorauthpresent") == "true"
    assert ctx.is_multi("aws:tagkeys") and ctx.single("aws:TagKeys") is None
    for entry, reason in [
        (("k:a", "numeric", ["x"]), "not a valid numeric"),
        (("k:a", "boolean", ["yes"]), "not a valid boolean"),
        (("k:a", "ip", ["300.1.1.1"]), "not a valid ip"),
        (("k:a", "date", ["soon"]), "not a valid date"),
        (("k:a", "binary", ["***"]), "not a valid binary"),
        (("k:a", "nope", ["x"]), "unknown context key type"),
        (("k:a", "string", ["a", "b"]), "exactly one value"),
        (("k:a", "string", "a"), "list of strings"),
        (("k:a", "stringList", [1]), "strings"),
        (("", "string", ["a"]), "non-empty"),
    ]:
        with pytest.raises(ContextError) as info:
            Context.from_entries([entry])  # type: ignore[list-item]
        assert reason in str(info.value)
        assert isinstance(info.value, ValueError)
    with pytest.raises(ContextError, match="duplicate"):
        Context.from_entries([("k:a", "string", ["1"]), ("K:A", "string", ["2"])])


def test_context_merge_trusted_wins() -> None:
    caller = Context.from_entries(
        [("aws:username", "string", ["mallory"]), ("k:x", "string", ["1"])]
    )
    trusted = Context.from_entries([("aws:UserName", "string", ["alice"])])
    merged = caller.merge(trusted)
    assert merged.single("aws:username") == "alice"
    assert merged.single("k:x") == "1"
    assert caller.single("aws:username") == "mallory"


@pytest.mark.parametrize(
    ("arn", "kind", "account"),
    [
        ("arn:aws:iam::111122223333:root", PrincipalKind.ROOT, "111122223333"),
        ("arn:aws:iam::111122223333:user/p/bob", PrincipalKind.USER, "111122223333"),
        ("arn:aws:sts::111122223333:assumed-role/R/s", PrincipalKind.ROLE_SESSION, "111122223333"),
        (
            "arn:aws:sts::111122223333:federated-user/f",
            PrincipalKind.FEDERATED_USER,
            "111122223333",
        ),
        ("sns.amazonaws.com", PrincipalKind.SERVICE, None),
        ("anonymous", PrincipalKind.ANONYMOUS, None),
    ],
)
def test_principal_from_arn(arn: str, kind: PrincipalKind, account: str | None) -> None:
    principal = Principal.from_arn(arn)
    assert principal.kind is kind and principal.account == account


def test_principal_from_arn_rejects_junk() -> None:
    for bad in ("arn:aws:s3:::bucket", "bob", "arn:aws:iam::1:user/x", ""):
        with pytest.raises(ValueError):
            Principal.from_arn(bad)
    # Role names are unique case-insensitively: the key holds the lower-case name.
    assert Principal.from_arn("arn:aws:sts::111122223333:assumed-role/R/s").role_key == (
        "111122223333",
        "r",
    )


def test_builtin_registry_covers_common_actions() -> None:
    registry = builtin_registry()
    for action in (
        "iam:CreateUser",
        "iam:GetUser",
        "iam:ListUsers",
        "iam:DeleteUser",
        "iam:CreateGroup",
        "iam:AddUserToGroup",
        "iam:CreateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:AttachUserPolicy",
        "iam:PutUserPolicy",
        "iam:PutUserPermissionsBoundary",
        "iam:CreateAccessKey",
        "iam:PassRole",
        "iam:UpdateLoginProfile",
        "iam:ListAccessKeys",
        "iam:GetRole",
        "iam:ListRoles",
        "iam:UpdateRoleDescription",
        "sts:AssumeRole",
        "sts:TagSession",
        "sts:GetCallerIdentity",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
        "kms:ListKeys",
        "organizations:CreateAccount",
        "organizations:ListAccounts",
        "organizations:AttachServiceControlPolicy",
        "iamd:Authorize",
        "iamd:AuthorizeBatch",
        "iamd:PutServiceDefinition",
        "iamd:SimulateCustomPolicy",
    ):
        assert registry.knows_action(action), action
    assert not registry.knows_action("iam:NoSuchThing")
    assert registry.knows_action("s3:Anything")  # unknown service: no catalog
    user = "arn:aws:iam::111122223333:user/a/b"
    assert registry.check("iam", "getuser", user).applicable
    assert not registry.check("iam", "getuser", "arn:aws:iam::111122223333:role/r").applicable
    assert not registry.check("iam", "listusers", user).applicable
    assert registry.check("iam", "listusers", "*").applicable
    role = "arn:aws:iam::111122223333:role/r"
    assert registry.check("sts", "assumerole", role).requires_resource_policy_grant
    assert not registry.check("iam", "getrole", role).requires_resource_policy_grant
    key = "arn:aws:kms:us-east-1:111122223333:key/k"
    assert registry.check("kms", "decrypt", key).requires_resource_policy_grant
    assert not registry.check("iamd", "authorize", key).applicable
    assert registry.check("s3", "getobject", "arn:aws:s3:::b").applicable


def test_service_definition_from_plain_data() -> None:
    data = {
        "prefix": "s3",
        "resource_types": [
            {"name": "bucket", "arn_pattern": "arn:${Partition}:s3:::${BucketName}"},
            {"name": "object", "arn_pattern": "arn:${Partition}:s3:::${BucketName}/${ObjectName}"},
        ],
        "actions": [
            {"name": "GetObject", "resource_types": ["object"]},
            {"name": "ListBucket", "resource_types": ["bucket"]},
            {"name": "ListAllMyBuckets"},
        ],
        "condition_keys": {"s3:prefix": "String"},
    }
    definition = ServiceDefinition.from_dict(data)
    assert ServiceDefinition.from_dict(definition.to_dict()).to_dict() == definition.to_dict()
    base = builtin_registry()
    registry = base.with_definition(definition)
    assert registry is not base and registry.version == base.version + 1
    assert "s3" in registry and "s3" not in base
    assert registry.check("s3", "getobject", "arn:aws:s3:::b/k/x").applicable
    assert not registry.check("s3", "getobject", "arn:aws:s3:::b").applicable
    assert registry.check("s3", "listbucket", "arn:aws:s3:::b").applicable
    assert not registry.check("s3", "listbucket", "arn:aws:s3:::b/k").applicable
    assert not registry.check("s3", "listallmybuckets", "arn:aws:s3:::b").applicable
    assert "s3" not in registry.without("s3")
    bad: Any
    for bad in (
        {"prefix": "S 3", "actions": []},
        {"prefix": "s3", "actions": [{"name": "A", "resource_types": ["nope"]}]},
        {"prefix": "s3", "actions": [{"name": "A"}, {"name": "a"}]},
        {"prefix": "s3", "resource_types": [{"name": "x", "arn_pattern": "nope"}], "actions": []},
        {"actions": []},
        {"prefix": "s3", "actions": [{"name": "bad name"}]},
    ):
        with pytest.raises(ServiceDefinitionError):
            ServiceDefinition.from_dict(bad)
    assert isinstance(ServiceRegistry().version, int)
