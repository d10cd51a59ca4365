-- What the snippet learned to say after the first release: the visitor (only with
-- consent), which consent categories and sample rate were in force, the experiment
-- variants each event ran under, and which definition (name, version, thresholds)
-- produced a derived signal such as a rage or dead click.
ALTER TABLE microx.events
    ADD COLUMN IF NOT EXISTS visitor_id Nullable(UUID),
    ADD COLUMN IF NOT EXISTS consent Array(LowCardinality(String)),
    ADD COLUMN IF NOT EXISTS sample_rate Float32 DEFAULT 1,
    ADD COLUMN IF NOT EXISTS variants Map(LowCardinality(String), String),
    ADD COLUMN IF NOT EXISTS definition LowCardinality(String);
