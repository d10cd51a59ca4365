-- The session and visitor a refused event came with, when its envelope was readable: a
-- visitor's request to see or erase their data reaches these rows too. Not named
-- session_id: on a cluster, a table's sharding is chosen when it is created.
ALTER TABLE microx.rejected_events
    ADD COLUMN IF NOT EXISTS envelope_session_id Nullable(UUID),
    ADD COLUMN IF NOT EXISTS envelope_visitor_id Nullable(UUID);
