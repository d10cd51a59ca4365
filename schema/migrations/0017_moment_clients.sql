-- The hourly aggregate (0013) once more per device, browser and operating system: the
-- views of moments over a segment that names only those read whole hours from here
-- instead of every row of the window (schema/views/friction.sql, microx.moment_states_in).
-- The same states as microx.moment_hourly, by the same functions; a moment has a row per
-- hour and client it was met on. It is filled from the events stored so far: apply it
-- while no collector inserts (`microx serve` migrates before it stores anything).
CREATE TABLE IF NOT EXISTS microx.moment_client_hourly
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    kind String,
    device LowCardinality(String),
    browser LowCardinality(String),
    os LowCardinality(String),
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
ORDER BY (site, device, browser, os, hour, kind, moment)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS microx.moment_client_hourly_mv
TO microx.moment_client_hourly
AS SELECT
    site,
    toStartOfHour(event_time) AS hour,
    kind,
    device,
    browser,
    os,
    microx_moment_on(type, name, target, route) AS moment,
    countState() AS occurrences_state,
    countStateIf(isNotNull(measure) AND budget > 0) AS timed_state,
    countStateIf(measure > budget AND budget > 0) AS slow_state,
    sumStateIf(pain, budget > 0) AS latency_pain_state,
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
    uniqStateIf(session_id, pain > 0) AS hurt_state,
    quantilesTDigestStateIf(0.5, 0.75, 0.95)(assumeNotNull(measure),
        isNotNull(measure) AND type NOT IN ('form_field', 'step', 'rage_click'))
        AS duration_state,
    topKStateIf(3)(props['by'], type = 'loading' AND props['by'] != '') AS started_by_state,
    sumState(microx_lost_ms_of(type, name, budget, measure)) AS lost_ms_state,
    uniqStateIf(session_id, microx_frustrated(type)) AS frustrated_state
FROM
(
    SELECT
        site, event_time, type, name, target, value, props, session_id, device, browser, os,
        kind, route, measure, budget, microx_pain_of(type, budget, measure) AS pain
    FROM
    (
        SELECT
            site, event_time, type, name, target, value, props, session_id, device, browser, os,
            microx_kind(type) AS kind,
            microx_route(path) AS route,
            microx_measure(type, duration_ms, value) AS measure,
            microx_budget(type, name) AS budget
        FROM microx.events
    )
)
GROUP BY site, hour, kind, moment, device, browser, os;

INSERT INTO microx.moment_client_hourly
SELECT
    site,
    toStartOfHour(event_time) AS hour,
    kind,
    device,
    browser,
    os,
    microx_moment_on(type, name, target, route) AS moment,
    countState() AS occurrences_state,
    countStateIf(isNotNull(measure) AND budget > 0) AS timed_state,
    countStateIf(measure > budget AND budget > 0) AS slow_state,
    sumStateIf(pain, budget > 0) AS latency_pain_state,
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
    uniqStateIf(session_id, pain > 0) AS hurt_state,
    quantilesTDigestStateIf(0.5, 0.75, 0.95)(assumeNotNull(measure),
        isNotNull(measure) AND type NOT IN ('form_field', 'step', 'rage_click'))
        AS duration_state,
    topKStateIf(3)(props['by'], type = 'loading' AND props['by'] != '') AS started_by_state,
    sumState(microx_lost_ms_of(type, name, budget, measure)) AS lost_ms_state,
    uniqStateIf(session_id, microx_frustrated(type)) AS frustrated_state
FROM
(
    SELECT
        site, event_time, type, name, target, value, props, session_id, device, browser, os,
        kind, route, measure, budget, microx_pain_of(type, budget, measure) AS pain
    FROM
    (
        SELECT
            site, event_time, type, name, target, value, props, session_id, device, browser, os,
            microx_kind(type) AS kind,
            microx_route(path) AS route,
            microx_measure(type, duration_ms, value) AS measure,
            microx_budget(type, name) AS budget
        FROM microx.events
    )
)
GROUP BY site, hour, kind, moment, device, browser, os;
