"""Who is calling: request signatures, temporary credentials and the secrets behind them.

`authenticator` (Authenticator, Caller) verifies a request's signature against cached access
keys or a session token (`sessions`); `crypto` and `master_key` keep secrets encrypted at rest
under the server's master key; `key_usage` records when each key was last used; `passwords`
and `oidc` check console passwords and OpenID Connect tokens; `end_users` verifies the proof of
an end user that a service forwards to Authorize. It may import `store/`, `policy/`, the
top-level `errors`, `startup` and `validation`, and `authz/` (only `end_users`, to apply the
end user's session policies); never `api/`, `runtime/` or the front doors (`gateway/`,
`replication/`, `sidecar/`).
"""
