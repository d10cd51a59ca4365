-- Everything the collector refused, with why, so nothing disappears silently. The raw
-- copy is cut short: enough to debug a client, not a second copy of the traffic.
CREATE TABLE IF NOT EXISTS microx.rejected_events
(
    received_at DateTime64(3, 'UTC'),
    site LowCardinality(String),
    reason LowCardinality(String),
    field_path String,
    message String,
    event_index Int32,
    contract_version UInt8,
    raw String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (site, received_at)
TTL toDateTime(received_at) + INTERVAL 30 DAY;
