-- The session and visitor a refused event came with, when its envelope was readable: a
-- visitor's request to see or erase their data reaches these rows too.
ALTER TABLE microx.rejected_events
    ADD COLUMN IF NOT EXISTS session_id Nullable(UUID),
    ADD COLUMN IF NOT EXISTS visitor_id Nullable(UUID);
