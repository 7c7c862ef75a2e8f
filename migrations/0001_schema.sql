-- iamd schema. Names are unique case-insensitively within an account (unique indexes on
-- lower(name)); unique ids (AIDA..., AGPA..., AROA..., ANPA...) are the primary keys so a
-- deleted-and-recreated entity never takes over references to the old one.

-- Every Manage write takes one value; caches compare revisions instead of purging.
CREATE SEQUENCE iamd_revision AS bigint START 1;

CREATE TABLE iamd_audit (
    revision      bigint PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    principal_arn text NOT NULL,
    rpc           text NOT NULL,
    target_arn    text NOT NULL,
    account_id    text
);
CREATE INDEX iamd_audit_account ON iamd_audit (account_id, revision);

-- One organization; the root is the top node of the OU tree.
CREATE TABLE iamd_organization (
    id                    text PRIMARY KEY,
    root_id               text NOT NULL UNIQUE,
    management_account_id text NOT NULL,
    singleton             boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE iamd_ous (
    id         text PRIMARY KEY,
    parent_id  text REFERENCES iamd_ous (id),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX iamd_ous_parent_name ON iamd_ous (parent_id, name);

CREATE TABLE iamd_accounts (
    account_id text PRIMARY KEY CHECK (account_id ~ '^[0-9]{12}$'),
    name       text NOT NULL,
    email      text,
    parent_id  text NOT NULL REFERENCES iamd_ous (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX iamd_accounts_parent ON iamd_accounts (parent_id, account_id);

CREATE TABLE iamd_scps (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    document    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX iamd_scps_name ON iamd_scps (name);

-- target_id is the root id, an OU id or an account id.
CREATE TABLE iamd_scp_attachments (
    policy_id   text NOT NULL REFERENCES iamd_scps (id),
    target_id   text NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, target_id)
);
CREATE INDEX iamd_scp_attachments_target ON iamd_scp_attachments (target_id);

CREATE TABLE iamd_policies (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES iamd_accounts (account_id),
    name            text NOT NULL,
    path            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    default_version integer NOT NULL,
    -- Version ids keep increasing; a deleted vN is never reused.
    next_version    integer NOT NULL,
    tags            jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX iamd_policies_name ON iamd_policies (account_id, lower(name));

CREATE TABLE iamd_policy_versions (
    policy_id  text NOT NULL REFERENCES iamd_policies (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    document   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, version)
);

CREATE TABLE iamd_users (
    id                 text PRIMARY KEY,
    account_id         text NOT NULL REFERENCES iamd_accounts (account_id),
    name               text NOT NULL,
    path               text NOT NULL,
    boundary_policy_id text REFERENCES iamd_policies (id),
    tags               jsonb NOT NULL DEFAULT '[]',
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX iamd_users_name ON iamd_users (account_id, lower(name));
CREATE INDEX iamd_users_boundary ON iamd_users (boundary_policy_id)
    WHERE boundary_policy_id IS NOT NULL;

CREATE TABLE iamd_groups (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES iamd_accounts (account_id),
    name       text NOT NULL,
    path       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX iamd_groups_name ON iamd_groups (account_id, lower(name));

CREATE TABLE iamd_roles (
    id                   text PRIMARY KEY,
    account_id           text NOT NULL REFERENCES iamd_accounts (account_id),
    name                 text NOT NULL,
    path                 text NOT NULL,
    trust_policy         text NOT NULL,
    description          text NOT NULL DEFAULT '',
    max_session_duration integer NOT NULL DEFAULT 3600
        CHECK (max_session_duration BETWEEN 3600 AND 43200),
    boundary_policy_id   text REFERENCES iamd_policies (id),
    tags                 jsonb NOT NULL DEFAULT '[]',
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX iamd_roles_name ON iamd_roles (account_id, lower(name));
CREATE INDEX iamd_roles_boundary ON iamd_roles (boundary_policy_id)
    WHERE boundary_policy_id IS NOT NULL;

CREATE TABLE iamd_group_members (
    group_id text NOT NULL REFERENCES iamd_groups (id),
    user_id  text NOT NULL REFERENCES iamd_users (id),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX iamd_group_members_user ON iamd_group_members (user_id);

-- Managed policy attachments of users, groups and roles; owner_id is the owner's unique id
-- (prefixes keep the three id spaces apart). The owner row is locked before counting.
CREATE TABLE iamd_attachments (
    owner_kind  text NOT NULL CHECK (owner_kind IN ('user', 'group', 'role')),
    owner_id    text NOT NULL,
    policy_id   text NOT NULL REFERENCES iamd_policies (id),
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, policy_id)
);
CREATE INDEX iamd_attachments_policy ON iamd_attachments (policy_id);

CREATE TABLE iamd_inline_policies (
    owner_kind text NOT NULL CHECK (owner_kind IN ('user', 'group', 'role')),
    owner_id   text NOT NULL,
    name       text NOT NULL,
    document   text NOT NULL,
    -- Non-whitespace characters, summed per owner against the inline size quota.
    size       integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, name)
);

-- user_id NULL: a key of the account's root user. Only ciphertext is stored.
CREATE TABLE iamd_access_keys (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES iamd_accounts (account_id),
    user_id          text REFERENCES iamd_users (id),
    encrypted_secret bytea NOT NULL,
    status           text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz,
    last_used_rpc    text
);
CREATE INDEX iamd_access_keys_owner ON iamd_access_keys (account_id, user_id);

CREATE TABLE iamd_resource_policies (
    resource_arn text PRIMARY KEY,
    account_id   text NOT NULL,
    document     text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE iamd_acl_grants (
    resource_arn text NOT NULL,
    account_id   text NOT NULL,
    grantee      text NOT NULL,
    permission   text NOT NULL
        CHECK (permission IN ('READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL')),
    PRIMARY KEY (resource_arn, grantee, permission)
);

-- User and role principals of trust policies and resource policies, resolved to unique ids
-- when the document was saved. owner is 'role:<role id>' or 'resource:<arn>'; written_arn is
-- the ARN as it appears in the stored document text.
CREATE TABLE iamd_principal_refs (
    owner       text NOT NULL,
    written_arn text NOT NULL,
    unique_id   text NOT NULL,
    PRIMARY KEY (owner, written_arn)
);

CREATE TABLE iamd_service_definitions (
    service_prefix text PRIMARY KEY,
    definition     jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
