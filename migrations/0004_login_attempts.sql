-- Sign-in backoff keyed by the name signed in to rather than by the user, so that names with
-- no user back off exactly like real ones and the answers do not tell them apart. name_key is
-- the SHA-256 of "<account>:<lower-case user name>". A row outlives its last attempt by the
-- forget window at most: each attempt purges a few expired rows, so the table holds only
-- names tried recently however many names are tried.
DROP TABLE iamd_login_failures;

CREATE TABLE iamd_login_attempts (
    name_key        bytea PRIMARY KEY,
    attempts        integer NOT NULL,
    last_attempt_at timestamptz NOT NULL,
    blocked_until   timestamptz NOT NULL
);

CREATE INDEX iamd_login_attempts_expiry ON iamd_login_attempts (last_attempt_at);
