-- A check value of the master key (HMAC-SHA256 of a fixed label under it), written at the
-- first start: a replica given another key refuses to start instead of failing every call
-- that needs a stored secret. It reveals nothing about the key.
CREATE TABLE iamd_master_key_check (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    check_value bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
