"""The policy engine: parse, validate, compile and evaluate AWS-style policy documents.

Pure and standard-library only. The server wraps it with storage and caching; the SDK's
LocalAuthorizer decides with it in the caller's process.
"""

from __future__ import annotations

from .acl import acl_actions, acl_grants_to_policy
from .builtin_services import builtin_registry
from .compile import CompiledPolicy, CompiledStatement, PolicySet, compile_policy
from .context import Context, ContextValue
from .errors import ContextError, PolicyValidationError
from .evaluate import (
    AuthorizationRequest,
    DecidedBy,
    Decision,
    EvaluationResult,
    MatchedStatement,
    PolicySets,
    evaluate,
)
from .grammar import ParsedPolicy, check_trust_actions, parse_policy
from .kinds import INLINE_POLICY_SIZE_LIMITS, MAX_POLICY_SIZE, PolicyKind, policy_size
from .principal import GrantClass, Principal, PrincipalKind
from .resolve import bind_principal_ids
from .services import (
    ActionDefinition,
    Applicability,
    HttpBinding,
    ResourceTypeDefinition,
    ServiceDefinition,
    ServiceDefinitionError,
    ServiceRegistry,
)
from .simulate import (
    InvalidInputError,
    SimulationInput,
    SimulationResult,
    result_to_json,
    simulate_custom_policy,
)

__all__ = [
    "INLINE_POLICY_SIZE_LIMITS",
    "MAX_POLICY_SIZE",
    "ActionDefinition",
    "Applicability",
    "AuthorizationRequest",
    "CompiledPolicy",
    "CompiledStatement",
    "Context",
    "ContextError",
    "ContextValue",
    "DecidedBy",
    "Decision",
    "EvaluationResult",
    "GrantClass",
    "HttpBinding",
    "InvalidInputError",
    "MatchedStatement",
    "ParsedPolicy",
    "PolicyKind",
    "PolicySet",
    "PolicySets",
    "PolicyValidationError",
    "Principal",
    "PrincipalKind",
    "ResourceTypeDefinition",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceRegistry",
    "SimulationInput",
    "SimulationResult",
    "acl_actions",
    "acl_grants_to_policy",
    "bind_principal_ids",
    "builtin_registry",
    "compile_policy",
    "evaluate",
    "parse_policy",
    "policy_size",
    "result_to_json",
    "simulate_custom_policy",
    "validate_policy",
]


def validate_policy(document: str | bytes, kind: PolicyKind, *, managed: bool = False) -> None:
    """Raise PolicyValidationError if the document is malformed for `kind`.

    `managed=True` applies the managed-policy rules (Version 2012-10-17 required, 6,144
    characters); permissions boundaries always get them. For writes: a trust policy may
    only name the trust actions (documents already stored are loaded with `parse_policy`).
    """
    parsed = parse_policy(document, kind, managed=managed)
    if kind is PolicyKind.TRUST:
        check_trust_actions(parsed)
