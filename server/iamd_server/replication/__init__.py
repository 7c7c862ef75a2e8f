"""Replication: the Watch stream that lets a follower (`iamd sidecar`) keep its own copy of
the policy state of the principals, access keys and resources it names.

`messages` converts the loader's records to and from the wire, `changelog` keeps the recent
change notifications (resume after a disconnect), `records` caches the records all streams
share, `watch` is the per-stream logic, `handler` the authenticated gRPC stream and
`service` puts them together on a server.
"""
