"""Authorization decisions inside the caller's process (see `authorizer`)."""

from iamd_client.local.authorizer import AsyncLocalAuthorizer, LocalAuthorizer, Options
from iamd_client.local.decide import LocalDecision

__all__ = ["AsyncLocalAuthorizer", "LocalAuthorizer", "LocalDecision", "Options"]
