-- Last-accessed data (AWS's access advisor): the newest allowed decision per principal
-- (a user's or role's unique id) and service, and per action ('' = the service as a whole).
-- Written in batches; times only move forward. Rows of deleted principals are never read
-- (identities are followed by unique id) and cost a few bytes each.
CREATE TABLE iamd_last_accessed (
    principal_id text NOT NULL,
    service      text NOT NULL,
    action       text NOT NULL,
    last_at      timestamptz NOT NULL,
    PRIMARY KEY (principal_id, service, action)
);

-- GenerateServiceLastAccessedDetails jobs: complete when created, read by
-- GetServiceLastAccessedDetails until they expire.
CREATE TABLE iamd_last_accessed_jobs (
    job_id       text PRIMARY KEY,
    account_id   text NOT NULL,
    arn          text NOT NULL,
    granularity  text NOT NULL CHECK (granularity IN ('SERVICE_LEVEL', 'ACTION_LEVEL')),
    created_at   timestamptz NOT NULL,
    completed_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    services     jsonb NOT NULL
);
CREATE INDEX iamd_last_accessed_jobs_expiry ON iamd_last_accessed_jobs (expires_at);
