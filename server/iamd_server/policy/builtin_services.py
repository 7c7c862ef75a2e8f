"""Built-in service definitions: iam, sts, kms, organizations and iamd itself."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from .services import ActionDefinition, ResourceTypeDefinition, ServiceDefinition, ServiceRegistry

__all__ = ["builtin_registry"]

_IAM = "arn:${Partition}:iam::${Account}:"


def _service(
    prefix: str,
    types: dict[str, tuple[str, bool]],
    actions_by_types: Mapping[tuple[str, ...], str],
) -> ServiceDefinition:
    """`actions_by_types` maps a tuple of resource type names to space-separated actions."""
    resource_types = [
        ResourceTypeDefinition(name, pattern, requires_resource_policy_grant=grant)
        for name, (pattern, grant) in types.items()
    ]
    actions = [
        ActionDefinition(name, resource_types=type_names)
        for type_names, names in actions_by_types.items()
        for name in names.split()
    ]
    return ServiceDefinition(prefix, actions, resource_types)


def _iam() -> ServiceDefinition:
    types = {
        "access-report": (_IAM + "access-report/${EntityPath}", False),
        "group": (_IAM + "group/${GroupNameWithPath}", False),
        "instance-profile": (_IAM + "instance-profile/${InstanceProfileNameWithPath}", False),
        "mfa": (_IAM + "mfa/${MfaTokenIdWithPath}", False),
        "oidc-provider": (_IAM + "oidc-provider/${OidcProviderName}", False),
        "policy": (_IAM + "policy/${PolicyNameWithPath}", False),
        "role": (_IAM + "role/${RoleNameWithPath}", False),
        "saml-provider": (_IAM + "saml-provider/${SamlProviderName}", False),
        "server-certificate": (_IAM + "server-certificate/${CertificateNameWithPath}", False),
        "sms-mfa": (_IAM + "sms-mfa/${MfaTokenIdWithPath}", False),
        "user": (_IAM + "user/${UserNameWithPath}", False),
        # Resource policies and ACLs that iamd stores for other services' resources.
        "any-resource": ("arn:*:*:*:*:*", False),
    }
    actions: dict[tuple[str, ...], str] = {
        ("any-resource",): (
            "PutResourcePolicy GetResourcePolicy DeleteResourcePolicy PutResourceAcl GetResourceAcl"
        ),
        ("user",): (
            "CreateUser GetUser DeleteUser UpdateUser TagUser UntagUser ListUserTags "
            "CreateAccessKey DeleteAccessKey UpdateAccessKey ListAccessKeys GetAccessKeyLastUsed "
            "CreateLoginProfile GetLoginProfile UpdateLoginProfile DeleteLoginProfile "
            "ChangePassword AttachUserPolicy DetachUserPolicy PutUserPolicy GetUserPolicy "
            "DeleteUserPolicy ListUserPolicies ListAttachedUserPolicies "
            "PutUserPermissionsBoundary DeleteUserPermissionsBoundary ListGroupsForUser "
            "ListMFADevices EnableMFADevice DeactivateMFADevice ResyncMFADevice "
            "ListSSHPublicKeys UploadSSHPublicKey GetSSHPublicKey UpdateSSHPublicKey "
            "DeleteSSHPublicKey ListSigningCertificates UploadSigningCertificate "
            "UpdateSigningCertificate DeleteSigningCertificate ListServiceSpecificCredentials "
            "CreateServiceSpecificCredential DeleteServiceSpecificCredential "
            "ResetServiceSpecificCredential UpdateServiceSpecificCredential "
        ),
        ("group",): (
            "CreateGroup GetGroup DeleteGroup UpdateGroup AddUserToGroup RemoveUserFromGroup "
            "AttachGroupPolicy DetachGroupPolicy PutGroupPolicy GetGroupPolicy "
            "DeleteGroupPolicy ListGroupPolicies ListAttachedGroupPolicies"
        ),
        ("role",): (
            "CreateRole GetRole DeleteRole UpdateRole UpdateRoleDescription "
            "UpdateAssumeRolePolicy TagRole UntagRole ListRoleTags AttachRolePolicy "
            "DetachRolePolicy PutRolePolicy GetRolePolicy DeleteRolePolicy ListRolePolicies "
            "ListAttachedRolePolicies PutRolePermissionsBoundary DeleteRolePermissionsBoundary "
            "PassRole ListInstanceProfilesForRole CreateServiceLinkedRole "
            "DeleteServiceLinkedRole GetServiceLinkedRoleDeletionStatus"
        ),
        ("policy",): (
            "CreatePolicy GetPolicy DeletePolicy CreatePolicyVersion GetPolicyVersion "
            "DeletePolicyVersion ListPolicyVersions SetDefaultPolicyVersion TagPolicy "
            "UntagPolicy ListPolicyTags ListEntitiesForPolicy"
        ),
        ("instance-profile",): (
            "CreateInstanceProfile GetInstanceProfile DeleteInstanceProfile "
            "AddRoleToInstanceProfile RemoveRoleFromInstanceProfile TagInstanceProfile "
            "UntagInstanceProfile ListInstanceProfileTags"
        ),
        ("oidc-provider",): (
            "CreateOpenIDConnectProvider GetOpenIDConnectProvider DeleteOpenIDConnectProvider "
            "AddClientIDToOpenIDConnectProvider RemoveClientIDFromOpenIDConnectProvider "
            "UpdateOpenIDConnectProviderThumbprint TagOpenIDConnectProvider "
            "UntagOpenIDConnectProvider ListOpenIDConnectProviderTags"
        ),
        ("saml-provider",): (
            "CreateSAMLProvider GetSAMLProvider DeleteSAMLProvider UpdateSAMLProvider "
            "TagSAMLProvider UntagSAMLProvider ListSAMLProviderTags"
        ),
        ("mfa",): "CreateVirtualMFADevice DeleteVirtualMFADevice TagMFADevice UntagMFADevice "
        "ListMFADeviceTags",
        ("sms-mfa",): "DeactivateSMSMFADevice",
        ("server-certificate",): (
            "UploadServerCertificate GetServerCertificate DeleteServerCertificate "
            "UpdateServerCertificate TagServerCertificate UntagServerCertificate "
            "ListServerCertificateTags"
        ),
        ("user", "group", "role"): "SimulatePrincipalPolicy GetContextKeysForPrincipalPolicy",
        ("user", "group", "role", "policy"): "GenerateServiceLastAccessedDetails",
        ("access-report",): "GenerateOrganizationsAccessReport",
        (): (
            "ListUsers ListGroups ListRoles ListPolicies ListInstanceProfiles "
            "ListOpenIDConnectProviders ListSAMLProviders ListVirtualMFADevices "
            "ListServerCertificates ListAccountAliases CreateAccountAlias DeleteAccountAlias "
            "GetAccountSummary GetAccountPasswordPolicy UpdateAccountPasswordPolicy "
            "DeleteAccountPasswordPolicy GetAccountAuthorizationDetails "
            "GenerateCredentialReport GetCredentialReport SimulateCustomPolicy "
            "GetContextKeysForCustomPolicy SetSecurityTokenServicePreferences "
            "GetServiceLastAccessedDetails GetServiceLastAccessedDetailsWithEntities "
            "GetOrganizationsAccessReport ListPoliciesGrantingServiceAccess "
            "ListSTSRegionalEndpointsStatus GetAccountEmailAddress GetAccountName "
            "ListAuditEvents"
        ),
    }
    return _service("iam", types, actions)


def _sts() -> ServiceDefinition:
    types = {
        # The role's trust policy is its resource policy and must grant the caller.
        "role": (_IAM + "role/${RoleNameWithPath}", True),
        "user": (_IAM + "user/${UserNameWithPath}", False),
        "oidc-provider": (_IAM + "oidc-provider/${OidcProviderName}", False),
        "saml-provider": (_IAM + "saml-provider/${SamlProviderName}", False),
    }
    actions: dict[tuple[str, ...], str] = {
        ("role",): "AssumeRole AssumeRoleWithSAML AssumeRoleWithWebIdentity SetContext",
        ("role", "user"): "TagSession SetSourceIdentity",
        ("user",): "GetFederationToken",
        (): "GetCallerIdentity GetSessionToken DecodeAuthorizationMessage GetAccessKeyInfo "
        "GetServiceBearerToken GetWebIdentityToken",
    }
    return _service("sts", types, actions)


def _kms() -> ServiceDefinition:
    types = {
        # Key policies must delegate to the account (or grant the caller directly).
        "key": ("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}", True),
        "alias": ("arn:${Partition}:kms:${Region}:${Account}:alias/${Alias}", False),
    }
    actions: dict[tuple[str, ...], str] = {
        ("key",): (
            "Encrypt Decrypt ReEncryptFrom ReEncryptTo GenerateDataKey "
            "GenerateDataKeyWithoutPlaintext GenerateDataKeyPair "
            "GenerateDataKeyPairWithoutPlaintext GenerateMac VerifyMac Sign Verify "
            "DescribeKey GetKeyPolicy PutKeyPolicy GetKeyRotationStatus EnableKeyRotation "
            "DisableKeyRotation EnableKey DisableKey ScheduleKeyDeletion CancelKeyDeletion "
            "CreateGrant ListGrants RevokeGrant RetireGrant ListKeyPolicies ListResourceTags "
            "TagResource UntagResource UpdateKeyDescription GetPublicKey ImportKeyMaterial "
            "DeleteImportedKeyMaterial GetParametersForImport ReplicateKey "
            "UpdatePrimaryRegion ListKeyRotations RotateKeyOnDemand DeriveSharedSecret"
        ),
        ("alias", "key"): "CreateAlias DeleteAlias UpdateAlias",
        (): (
            "ListKeys ListAliases CreateKey GenerateRandom ListRetirableGrants "
            "CreateCustomKeyStore DeleteCustomKeyStore DescribeCustomKeyStores "
            "ConnectCustomKeyStore DisconnectCustomKeyStore UpdateCustomKeyStore"
        ),
    }
    return _service("kms", types, actions)


def _organizations() -> ServiceDefinition:
    # Organization objects are authorized on resource `*` (no resource-level permissions).
    actions: dict[tuple[str, ...], str] = {
        (): (
            "CreateOrganization DescribeOrganization DeleteOrganization CreateAccount "
            "DescribeAccount ListAccounts ListAccountsForParent MoveAccount "
            "RemoveAccountFromOrganization CloseAccount CreateOrganizationalUnit "
            "DescribeOrganizationalUnit UpdateOrganizationalUnit DeleteOrganizationalUnit "
            "ListOrganizationalUnitsForParent ListRoots ListParents ListChildren CreatePolicy "
            "CreateServiceControlPolicy CreateResourceControlPolicy DescribePolicy "
            "UpdatePolicy DeletePolicy ListPolicies ListPoliciesForTarget AttachPolicy "
            "DetachPolicy AttachServiceControlPolicy DetachServiceControlPolicy "
            "AttachResourceControlPolicy DetachResourceControlPolicy ListTargetsForPolicy "
            "EnablePolicyType DisablePolicyType TagResource UntagResource "
            "ListTagsForResource DescribeEffectivePolicy ListOrganizationalUnits "
            "UpdateServiceControlPolicy DeleteServiceControlPolicy ListServiceControlPolicies "
            "ListServiceControlPoliciesForTarget"
        ),
    }
    return _service("organizations", {}, actions)


def _iamd() -> ServiceDefinition:
    types = {
        # Authorize acts on the principal it is asked about, so a policy can limit an
        # enforcement point to some principals (IAM ARNs have no region; STS sessions too).
        "principal": ("arn:${Partition}:*::${Account}:*", False),
    }
    actions: dict[tuple[str, ...], str] = {
        ("principal",): "Authorize AuthorizeBatch",
        (): (
            "SimulatePrincipalPolicy SimulateCustomPolicy "
            "GetContextKeysForPrincipalPolicy GetContextKeysForCustomPolicy "
            "PutServiceDefinition DeleteServiceDefinition GetServiceDefinition "
            "ListServiceDefinitions GetRevision"
        ),
    }
    return _service("iamd", types, actions)


@lru_cache(maxsize=1)
def builtin_registry() -> ServiceRegistry:
    """The registry with the built-in services (shared, immutable)."""
    return ServiceRegistry([_iam(), _sts(), _kms(), _organizations(), _iamd()])
