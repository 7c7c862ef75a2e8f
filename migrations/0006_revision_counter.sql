-- The newest committed revision, in a one-row table of its own. A write increments it as
-- the last step of its transaction; the row lock, held until commit, makes revisions commit
-- in increasing order. Caches read it on every load, so it must not live in a table that
-- exports or migrations lock for long (it was max(revision) of iamd_audit).
CREATE TABLE iamd_revision_counter (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision  bigint NOT NULL CHECK (revision >= 0)
);

INSERT INTO iamd_revision_counter (revision)
SELECT greatest(
    (SELECT coalesce(max(revision), 0) FROM iamd_audit),
    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM iamd_revision)
);

-- The counter replaces the sequence: one source of revisions.
DROP SEQUENCE iamd_revision;
