-- The materialized views again, each row's route, budget, measure and pain named once
-- (0014 named the moment and pain, but microx_moment reads the route four times and
-- microx_pain the budget twice, each use analysed again on every insert): a 20-event
-- insert's analysis went from 38 to 30 ms of CPU. The rows they make are the same; only
-- the views are replaced (apply while no collector inserts, as `microx serve` does: it
-- migrates before it stores anything).
DROP TABLE IF EXISTS microx.moment_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS microx.moment_hourly_mv TO microx.moment_hourly
AS SELECT
    site,
    toStartOfHour(event_time) AS hour,
    kind,
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
        site, event_time, type, name, target, value, props, session_id, kind, route, measure,
        budget, microx_pain_of(type, budget, measure) AS pain
    FROM
    (
        SELECT
            site, event_time, type, name, target, value, props, session_id,
            microx_kind(type) AS kind,
            microx_route(path) AS route,
            microx_measure(type, duration_ms, value) AS measure,
            microx_budget(type, name) AS budget
        FROM microx.events
    )
)
GROUP BY site, hour, kind, moment;

DROP TABLE IF EXISTS microx.session_hourly_mv;

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
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings
FROM
(
    SELECT
        site, session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
        variants, lived, microx_pain_of(type, budget, measure) AS pain,
        microx_moment_on(type, name, target, route) AS moment,
        microx_end_order(event_time, kind, seq, pain) AS end_order
    FROM
    (
        SELECT
            site, session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
            variants,
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
