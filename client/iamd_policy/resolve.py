"""Principal elements bound to the unique ids their user and role ARNs resolved to.

IAM resolves a user or role ARN named as a principal to the entity's unique id when the
policy is saved (iam-semantics 2.3): the grant follows that entity, never a later one of the
same name. The store keeps the resolution; this applies it to a compiled policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from .compile import CompiledPolicy

__all__ = ["bind_principal_ids"]


def bind_principal_ids(policy: CompiledPolicy, ids: Mapping[str, str]) -> CompiledPolicy:
    """Binds, in place, each Principal/NotPrincipal entry listed in `ids` (the value as
    written in the document -> unique id). The policy must not be shared with other
    resources (compile it for this one)."""
    if ids:
        for statement in policy.statements:
            if statement.principal is not None:
                statement.principal = statement.principal.resolved(ids)
    return policy
