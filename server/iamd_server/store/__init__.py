"""PostgreSQL storage: the `Store` facade that servicers and the authorization cache use.

Every write is one transaction that also takes a revision, writes an audit row and notifies
caches (see `writes.py`). Reads return frozen records from `records.py`.
"""

from __future__ import annotations

from iamd_server.store.access_keys import AccessKeyStore
from iamd_server.store.accounts import OrganizationStore
from iamd_server.store.base import Quotas
from iamd_server.store.credentials import CredentialStore
from iamd_server.store.groups import GroupStore
from iamd_server.store.last_accessed import LastAccessedStore
from iamd_server.store.loader import Loader
from iamd_server.store.policies import PolicyStore
from iamd_server.store.records import Page, Written
from iamd_server.store.resources import ResourceStore
from iamd_server.store.roles import RoleStore
from iamd_server.store.services import ServiceStore

__all__ = ["Page", "Quotas", "Store", "Written"]


class Store(
    OrganizationStore,
    RoleStore,
    GroupStore,
    PolicyStore,
    AccessKeyStore,
    CredentialStore,
    ResourceStore,
    ServiceStore,
    LastAccessedStore,
    Loader,
):
    """All Manage operations (named after their RPCs, in snake_case) and the cache's loads.

    `Store(pool, quotas)`; `pool` comes from `iamd_server.store.pool.create_pool`, whose
    connections decode JSONB to Python values.
    """
