"""ReplicationService on an iamd server: the record cache and change log every Watch stream
shares, and the gRPC handler."""

from __future__ import annotations

import grpc

from iamd_server.authn.authenticator import Authenticator
from iamd_server.authn.crypto import MasterKey
from iamd_server.authn.sessions import SessionAuthority
from iamd_server.authz.changes import ChangeFeed
from iamd_server.authz.decisions import Decider
from iamd_server.replication.changelog import ChangeLog
from iamd_server.replication.handler import SERVICE, watch_handler
from iamd_server.replication.records import RecordCache, RecordSource
from iamd_server.replication.watch import ReplicationServicer
from iamd_server.runtime import metrics

__all__ = ["SERVICE", "install"]


def install(
    server: grpc.aio.Server,
    *,
    feed: ChangeFeed,
    store: RecordSource,
    decider: Decider,
    authenticator: Authenticator,
    master_key: MasterKey,
    audience: str,
    sessions: SessionAuthority | None = None,
) -> ReplicationServicer:
    """Serves ReplicationService on ``server``. Call once the feed has started: the change
    log starts at the revision applied then."""
    records = RecordCache(store)
    log = ChangeLog(feed.applied_revision)
    feed.subscribe(records.on_change)
    feed.subscribe(log.on_change)
    metrics.watch_cache("replication_principals", records.principals)
    servicer = ReplicationServicer(
        records, log, feed, decider, master_key, audience, sessions=sessions
    )
    server.add_generic_rpc_handlers((watch_handler(servicer, authenticator, metrics.observe_rpc),))
    return servicer
