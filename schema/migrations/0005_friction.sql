-- The first hourly aggregate of friction per moment. Replaced by 0007, which keeps the
-- aggregate in a table of its own; the functions and views first released in this file
-- are definitions in schema/views/, created again at every start.

-- Per site, moment and hour: everything the ranking needs, as mergeable states, so the
-- ranking reads thousands of rows however many events there are.
CREATE MATERIALIZED VIEW IF NOT EXISTS microx.moment_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, kind, moment, hour)
TTL hour + INTERVAL 400 DAY
POPULATE
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
        isNotNull(microx_measure(type, duration_ms, value)) AND type NOT IN ('form_field', 'step'))
        AS duration_state,
    topKStateIf(3)(props['by'], type = 'loading' AND props['by'] != '') AS started_by_state
FROM microx.events
GROUP BY site, hour, kind, moment;

