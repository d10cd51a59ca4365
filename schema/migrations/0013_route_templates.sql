-- Moments by route template: microx_moment now groups a page's path as microx_route
-- does (schema/views/functions.sql), so /contacts/16odw8b and /contacts/x7k2m9p are one
-- moment, /contacts/:id, in stores made before the snippet sent templates too. The
-- materialized view copied the functions it uses when it was created: the hourly
-- aggregate is created again with them and refilled from microx.events (one pass over the
-- stored events; apply it while no collector inserts, as `microx serve` does: it
-- migrates before it stores anything).
DROP TABLE IF EXISTS microx.moment_hourly_mv;

DROP TABLE IF EXISTS microx.moment_hourly;

CREATE TABLE IF NOT EXISTS microx.moment_hourly
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    kind String,
    moment String,
    occurrences_state AggregateFunction(count),
    timed_state AggregateFunction(count),
    slow_state AggregateFunction(count),
    latency_pain_state AggregateFunction(sum, Float64),
    clicks_state AggregateFunction(count),
    rage_state AggregateFunction(count),
    dead_state AggregateFunction(count),
    error_click_state AggregateFunction(count),
    form_start_state AggregateFunction(count),
    form_submit_state AggregateFunction(count),
    form_abandon_state AggregateFunction(count),
    form_invalid_state AggregateFunction(count),
    rating_state AggregateFunction(avg, Float64),
    sessions_state AggregateFunction(uniq, UUID),
    hurt_state AggregateFunction(uniq, UUID),
    duration_state AggregateFunction(quantilesTDigest(0.5, 0.75, 0.95), Float64),
    started_by_state AggregateFunction(topK(3), String),
    lost_ms_state AggregateFunction(sum, Float64),
    frustrated_state AggregateFunction(uniq, UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, kind, moment, hour)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS microx.moment_hourly_mv TO microx.moment_hourly
AS SELECT
    site,
    toStartOfHour(event_time) AS hour,
    microx_kind(type) AS kind,
    microx_moment(type, name, target, path) AS moment,
    countState() AS occurrences_state,
    countStateIf(isNotNull(microx_measure(type, duration_ms, value))
        AND microx_budget(type, name) > 0) AS timed_state,
    countStateIf(microx_measure(type, duration_ms, value) > microx_budget(type, name)
        AND microx_budget(type, name) > 0) AS slow_state,
    sumStateIf(microx_pain(type, name, duration_ms, value), microx_budget(type, name) > 0)
        AS latency_pain_state,
    countStateIf(type = 'click') AS clicks_state,
    countStateIf(type = 'rage_click') AS rage_state,
    countStateIf(type = 'dead_click') AS dead_state,
    countStateIf(type = 'error_click') AS error_click_state,
    countStateIf(type = 'form_start') AS form_start_state,
    countStateIf(type = 'form_submit') AS form_submit_state,
    countStateIf(type = 'form_abandon') AS form_abandon_state,
    countStateIf(type = 'form_invalid') AS form_invalid_state,
    avgStateIf(value, type = 'feedback') AS rating_state,
    uniqState(session_id) AS sessions_state,
    uniqStateIf(session_id, microx_pain(type, name, duration_ms, value) > 0) AS hurt_state,
    quantilesTDigestStateIf(0.5, 0.75, 0.95)(
        assumeNotNull(microx_measure(type, duration_ms, value)),
        isNotNull(microx_measure(type, duration_ms, value))
            AND type NOT IN ('form_field', 'step', 'rage_click'))
        AS duration_state,
    topKStateIf(3)(props['by'], type = 'loading' AND props['by'] != '') AS started_by_state,
    sumState(microx_lost_ms(type, name, duration_ms, value)) AS lost_ms_state,
    uniqStateIf(session_id, microx_frustrated(type)) AS frustrated_state
FROM microx.events
GROUP BY site, hour, kind, moment;

INSERT INTO microx.moment_hourly
SELECT
    site,
    toStartOfHour(event_time) AS hour,
    microx_kind(type) AS kind,
    microx_moment(type, name, target, path) AS moment,
    countState() AS occurrences_state,
    countStateIf(isNotNull(microx_measure(type, duration_ms, value))
        AND microx_budget(type, name) > 0) AS timed_state,
    countStateIf(microx_measure(type, duration_ms, value) > microx_budget(type, name)
        AND microx_budget(type, name) > 0) AS slow_state,
    sumStateIf(microx_pain(type, name, duration_ms, value), microx_budget(type, name) > 0)
        AS latency_pain_state,
    countStateIf(type = 'click') AS clicks_state,
    countStateIf(type = 'rage_click') AS rage_state,
    countStateIf(type = 'dead_click') AS dead_state,
    countStateIf(type = 'error_click') AS error_click_state,
    countStateIf(type = 'form_start') AS form_start_state,
    countStateIf(type = 'form_submit') AS form_submit_state,
    countStateIf(type = 'form_abandon') AS form_abandon_state,
    countStateIf(type = 'form_invalid') AS form_invalid_state,
    avgStateIf(value, type = 'feedback') AS rating_state,
    uniqState(session_id) AS sessions_state,
    uniqStateIf(session_id, microx_pain(type, name, duration_ms, value) > 0) AS hurt_state,
    quantilesTDigestStateIf(0.5, 0.75, 0.95)(
        assumeNotNull(microx_measure(type, duration_ms, value)),
        isNotNull(microx_measure(type, duration_ms, value))
            AND type NOT IN ('form_field', 'step', 'rage_click'))
        AS duration_state,
    topKStateIf(3)(props['by'], type = 'loading' AND props['by'] != '') AS started_by_state,
    sumState(microx_lost_ms(type, name, duration_ms, value)) AS lost_ms_state,
    uniqStateIf(session_id, microx_frustrated(type)) AS frustrated_state
FROM microx.events
GROUP BY site, hour, kind, moment;

-- The per-session table (0011) names moments with microx_moment too: created again and
-- refilled the same way, so the views that join the two agree on every moment's name.
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
    ratings SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, Nullable(Float64))))
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
    maxIf(event_time, microx_lived(type, sdk_version)) AS ended,
    max(microx_pain(type, name, duration_ms, value)) AS peak,
    argMaxState(microx_moment(type, name, target, path),
        microx_peak_order(event_time, seq, microx_pain(type, name, duration_ms, value), event_id))
        AS peak_moment_state,
    argMaxStateIf(microx_moment(type, name, target, path),
        microx_with_id(microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)), event_id),
        microx_lived(type, sdk_version)) AS end_moment_state,
    argMaxStateIf(microx_pain(type, name, duration_ms, value),
        microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)),
        microx_lived(type, sdk_version)) AS end_pain_state,
    sum(microx_pain(type, name, duration_ms, value)) AS friction,
    argMaxState(toJSONString(variants), event_time) AS variants_state,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        position(microx_moment(type, name, target, path), ' @ ') = 0) AS places,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        microx_pain(type, name, duration_ms, value) > 0) AS hurt,
    groupUniqArrayIf((name, target), type = 'step') AS steps,
    groupUniqArrayIf(name, type = 'moment') AS named,
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings
FROM microx.events
WHERE type NOT IN ('signal', 'form_field')
GROUP BY site, hour, session_id;

INSERT INTO microx.session_hourly
SELECT
    site,
    toStartOfHour(event_time) AS hour,
    session_id,
    count() AS moments,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    maxIf(event_time, microx_lived(type, sdk_version)) AS ended,
    max(microx_pain(type, name, duration_ms, value)) AS peak,
    argMaxState(microx_moment(type, name, target, path),
        microx_peak_order(event_time, seq, microx_pain(type, name, duration_ms, value), event_id))
        AS peak_moment_state,
    argMaxStateIf(microx_moment(type, name, target, path),
        microx_with_id(microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)), event_id),
        microx_lived(type, sdk_version)) AS end_moment_state,
    argMaxStateIf(microx_pain(type, name, duration_ms, value),
        microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)),
        microx_lived(type, sdk_version)) AS end_pain_state,
    sum(microx_pain(type, name, duration_ms, value)) AS friction,
    argMaxState(toJSONString(variants), event_time) AS variants_state,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        position(microx_moment(type, name, target, path), ' @ ') = 0) AS places,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        microx_pain(type, name, duration_ms, value) > 0) AS hurt,
    groupUniqArrayIf((name, target), type = 'step') AS steps,
    groupUniqArrayIf(name, type = 'moment') AS named,
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings
FROM microx.events
WHERE type NOT IN ('signal', 'form_field')
GROUP BY site, hour, session_id;
