"""Decisions: what a caller may do, decided from cached, compiled policy entries.

`decisions` holds the Decider: the compiled per-principal and per-resource entries
(iamd_policy.entries) it caches in `cache` (bounded, single-flight, invalidated by dependency
keys), kept current by `changes` (the LISTEN/NOTIFY change feed) and read through the
interfaces in `sources`; `memos` its bounded grant and reply memos; `owners` the resource
owner check; `authorize_entry` Authorize's and AuthorizeBatch's entry into it, deciding what
`outcomes` describes;
`session_policies` narrows a session's decisions by its session policies and tags;
`federation` decides whether a role trusts a verified OpenID Connect token. It may import
`policy/`, `store/`, `authn/` (Caller, session claims) and the top-level `errors`; never
`api/`, `runtime/` or the front doors (`gateway/`, `replication/`, `sidecar/`).
"""
