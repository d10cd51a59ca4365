-- One row per micro-interaction. Queries filter by site and time range first, then by
-- type and name (friction per moment), so those lead the sorting key; session_id next
-- keeps one visit's rows together for funnels and peak-end scoring.
CREATE TABLE IF NOT EXISTS microx.events
(
    site LowCardinality(String),
    event_id UUID,
    session_id UUID,
    type LowCardinality(String),
    name String,
    target String,
    label String,
    duration_ms Nullable(Float64),
    value Nullable(Float64),
    seq UInt32,
    url String,
    path String,
    referrer String,
    props Map(LowCardinality(String), String),
    -- Times: what the client said, what the server saw, and the corrected event time
    -- (client time shifted by received_at - sent_at, so a wrong client clock does not
    -- scatter one session across days).
    client_time DateTime64(3, 'UTC'),
    sent_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    event_time DateTime64(3, 'UTC'),
    clock_skew_ms Int64,
    browser LowCardinality(String),
    os LowCardinality(String),
    device LowCardinality(String),
    viewport_w UInt16,
    viewport_h UInt16,
    lang LowCardinality(String),
    tz LowCardinality(String),
    sdk_version LowCardinality(String),
    contract_version UInt8,
    -- Resent events are looked up by id before insert; this keeps that lookup cheap.
    INDEX event_id_bloom event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (site, toDate(event_time), type, name, session_id, event_time)
TTL toDateTime(event_time) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
