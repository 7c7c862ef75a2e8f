-- Placeholder: version 3 belongs to another change. Migrations are numbered without gaps, so
-- this empty file stands in for it until that change is merged, and is then removed.
SELECT 1;
