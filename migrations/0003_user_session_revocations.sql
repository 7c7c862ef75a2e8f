-- Sessions of a user (GetSessionToken, Login) issued before revoked_before are refused
-- (RevokeUserSessions), as iamd_role_session_revocations does for roles. Rows go with the
-- user; a user re-created under the same name has a new id, so old sessions never return.
CREATE TABLE iamd_user_session_revocations (
    user_id        text PRIMARY KEY REFERENCES iamd_users (id) ON DELETE CASCADE,
    revoked_before timestamptz NOT NULL
);
