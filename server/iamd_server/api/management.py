"""The Manage API servicer: CRUD on the organization, identities, policies, credentials,
resource policies and service definitions.

Each RPC is a method named after it (the dispatcher authenticates, parses and maps errors).
The methods live in per-area mixins; the authorization rule is documented in `targets`.
"""

from __future__ import annotations

from iamd_server.api.management_base import ManagementBase
from iamd_server.api.management_credentials import CredentialsMixin
from iamd_server.api.management_identities import IdentitiesMixin
from iamd_server.api.management_last_accessed import LastAccessedMixin
from iamd_server.api.management_org import OrganizationMixin
from iamd_server.api.management_policies import PoliciesMixin
from iamd_server.api.management_resources import ResourcesMixin

__all__ = ["ManagementServicer"]


class ManagementServicer(
    OrganizationMixin,
    IdentitiesMixin,
    PoliciesMixin,
    CredentialsMixin,
    ResourcesMixin,
    LastAccessedMixin,
    ManagementBase,
):
    """`ManagementServicer(store, decider, master_key)`; see the mixins for the RPCs."""
