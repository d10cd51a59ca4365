-- Change annotations: a deploy, a fix, a copy change, recorded by `microx annotate` or
-- `POST /v1/annotations` so that a review can set each moment's friction before it against
-- after it. An annotation sent again (same id) is stored once.
CREATE TABLE IF NOT EXISTS microx.annotations
(
    site LowCardinality(String),
    id UUID,
    at DateTime64(3, 'UTC'),
    text String,
    moment String,
    created_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (site, id)
SETTINGS non_replicated_deduplication_window = 1000;
