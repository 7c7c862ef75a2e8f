-- Credentials: passwords (login profiles, history, account policy, sign-in backoff), OpenID
-- Connect providers and role session revocations. Temporary credentials themselves are not
-- stored: their session tokens are sealed by the server and verified without a lookup.

-- At most one password per user; only an argon2 hash is stored.
CREATE TABLE iamd_login_profiles (
    user_id                 text PRIMARY KEY REFERENCES iamd_users (id) ON DELETE CASCADE,
    password_hash           text NOT NULL,
    password_reset_required boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    password_changed_at     timestamptz NOT NULL DEFAULT now()
);

-- Hashes of earlier passwords, for PasswordReusePrevention (the newest 24 are kept).
CREATE TABLE iamd_password_history (
    user_id       text NOT NULL REFERENCES iamd_users (id) ON DELETE CASCADE,
    set_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    password_hash text NOT NULL,
    PRIMARY KEY (user_id, set_at)
);

-- One optional policy per account; NULL = the field is absent.
CREATE TABLE iamd_password_policies (
    account_id                     text PRIMARY KEY REFERENCES iamd_accounts (account_id),
    minimum_password_length        integer NOT NULL CHECK (minimum_password_length BETWEEN 6 AND 128),
    require_symbols                boolean NOT NULL,
    require_numbers                boolean NOT NULL,
    require_uppercase_characters   boolean NOT NULL,
    require_lowercase_characters   boolean NOT NULL,
    allow_users_to_change_password boolean NOT NULL,
    max_password_age               integer CHECK (max_password_age BETWEEN 1 AND 1095),
    password_reuse_prevention      integer CHECK (password_reuse_prevention BETWEEN 1 AND 24),
    hard_expiry                    boolean NOT NULL,
    updated_at                     timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins per user: shared by all replicas so backoff holds across them. Not audited.
CREATE TABLE iamd_login_failures (
    user_id        text PRIMARY KEY REFERENCES iamd_users (id) ON DELETE CASCADE,
    failures       integer NOT NULL,
    last_failed_at timestamptz NOT NULL,
    blocked_until  timestamptz NOT NULL
);

-- host_path is the issuer URL without "https://"; the ARN is oidc-provider/<host_path>.
CREATE TABLE iamd_oidc_providers (
    account_id      text NOT NULL REFERENCES iamd_accounts (account_id),
    host_path       text NOT NULL,
    url             text NOT NULL,
    client_ids      jsonb NOT NULL,
    jwks            jsonb NOT NULL,
    jwks_url        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    jwks_updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, host_path)
);

-- Sessions of the role issued before revoked_before are refused. Rows go with the role; a
-- recreated role has a new id, so old sessions never come back either way.
CREATE TABLE iamd_role_session_revocations (
    role_id        text PRIMARY KEY REFERENCES iamd_roles (id) ON DELETE CASCADE,
    revoked_before timestamptz NOT NULL
);
