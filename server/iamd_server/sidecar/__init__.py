"""`iamd sidecar`: decides Authorize calls of the processes of its pod from a copy of the
policy state it follows from an upstream iamd (ReplicationService.Watch). No PostgreSQL, no
master key: it authenticates to the upstream with its own access key, and verifies its
callers' signatures with signing keys scoped to Authorize calls and to one day.

`follower` holds the followed state and is the Decider's source and revision feed,
`authentication` verifies callers with the scoped keys, `upstream` is the signed connection,
`handlers` serve Authorize / AuthorizeBatch and `app` runs the process.
"""
