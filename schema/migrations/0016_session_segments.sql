-- What segments ask of a session (schema/views/audience.sql), kept with it per hour: its
-- device, browser and operating system, the traffic source of its first page
-- (microx_source), and its last event of any kind, so that microx.segment_sessions reads
-- about one row per session and hour instead of every event of the window, as often as a
-- report's views ask it. The per-session table is created again with the new columns and
-- refilled from microx.events (one pass over the stored events; apply it while no
-- collector inserts, as `microx serve` does: it migrates before it stores anything).
DROP TABLE IF EXISTS microx.session_hourly_mv;

DROP TABLE IF EXISTS microx.session_hourly;

CREATE TABLE IF NOT EXISTS microx.session_hourly
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    session_id UUID,
    moments SimpleAggregateFunction(sum, UInt64),
    visitor_id SimpleAggregateFunction(any, Nullable(UUID)),
    started SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ended SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    peak SimpleAggregateFunction(max, Float64),
    peak_moment_state AggregateFunction(argMax, String, UInt256),
    end_moment_state AggregateFunction(argMax, String, UInt256),
    end_pain_state AggregateFunction(argMax, Float64, UInt128),
    friction SimpleAggregateFunction(sum, Float64),
    variants_state AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    places SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    hurt SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    steps SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, String))),
    named SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    ratings SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, Nullable(Float64)))),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    device SimpleAggregateFunction(any, String),
    browser SimpleAggregateFunction(any, String),
    os SimpleAggregateFunction(any, String),
    source_state AggregateFunction(argMin, String, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, session_id)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS microx.session_hourly_mv TO microx.session_hourly
AS SELECT
    site,
    toStartOfHour(event_time) AS hour,
    session_id,
    count() AS moments,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    maxIf(event_time, lived) AS ended,
    max(pain) AS peak,
    argMaxState(moment, microx_peak_order(event_time, seq, pain, event_id))
        AS peak_moment_state,
    argMaxStateIf(moment, microx_with_id(end_order, event_id), lived) AS end_moment_state,
    argMaxStateIf(pain, end_order, lived) AS end_pain_state,
    sum(pain) AS friction,
    argMaxState(toJSONString(variants), event_time) AS variants_state,
    groupUniqArrayIf(moment, position(moment, ' @ ') = 0) AS places,
    groupUniqArrayIf(moment, pain > 0) AS hurt,
    groupUniqArrayIf((name, target), type = 'step') AS steps,
    groupUniqArrayIf(name, type = 'moment') AS named,
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings,
    max(event_time) AS last_seen,
    any(device) AS device,
    any(browser) AS browser,
    any(os) AS os,
    argMinState(microx_source(url, referrer), event_time) AS source_state
FROM
(
    SELECT
        site, session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
        variants, device, browser, os, url, referrer, lived,
        microx_pain_of(type, budget, measure) AS pain,
        microx_moment_on(type, name, target, route) AS moment,
        microx_end_order(event_time, kind, seq, pain) AS end_order
    FROM
    (
        SELECT
            site, session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
            variants, device, browser, os, url, referrer,
            microx_lived(type, sdk_version) AS lived,
            microx_route(path) AS route,
            microx_kind(type) AS kind,
            microx_measure(type, duration_ms, value) AS measure,
            microx_budget(type, name) AS budget
        FROM microx.events
        WHERE type NOT IN ('signal', 'form_field')
    )
)
GROUP BY site, hour, session_id;

INSERT INTO microx.session_hourly
SELECT
    site,
    toStartOfHour(event_time) AS hour,
    session_id,
    count() AS moments,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    maxIf(event_time, lived) AS ended,
    max(pain) AS peak,
    argMaxState(moment, microx_peak_order(event_time, seq, pain, event_id))
        AS peak_moment_state,
    argMaxStateIf(moment, microx_with_id(end_order, event_id), lived) AS end_moment_state,
    argMaxStateIf(pain, end_order, lived) AS end_pain_state,
    sum(pain) AS friction,
    argMaxState(toJSONString(variants), event_time) AS variants_state,
    groupUniqArrayIf(moment, position(moment, ' @ ') = 0) AS places,
    groupUniqArrayIf(moment, pain > 0) AS hurt,
    groupUniqArrayIf((name, target), type = 'step') AS steps,
    groupUniqArrayIf(name, type = 'moment') AS named,
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings,
    max(event_time) AS last_seen,
    any(device) AS device,
    any(browser) AS browser,
    any(os) AS os,
    argMinState(microx_source(url, referrer), event_time) AS source_state
FROM
(
    SELECT
        site, session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
        variants, device, browser, os, url, referrer, lived,
        microx_pain_of(type, budget, measure) AS pain,
        microx_moment_on(type, name, target, route) AS moment,
        microx_end_order(event_time, kind, seq, pain) AS end_order
    FROM
    (
        SELECT
            site, session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
            variants, device, browser, os, url, referrer,
            microx_lived(type, sdk_version) AS lived,
            microx_route(path) AS route,
            microx_kind(type) AS kind,
            microx_measure(type, duration_ms, value) AS measure,
            microx_budget(type, name) AS budget
        FROM microx.events
        WHERE type NOT IN ('signal', 'form_field')
    )
)
GROUP BY site, hour, session_id;
