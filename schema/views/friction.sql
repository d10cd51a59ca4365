-- Friction by moment from the hourly aggregate, and the loading cues and click targets
-- it ranks.

-- The hourly aggregate's states per hour and moment over exactly the window [since, until):
-- whole hours come from the aggregate, the minutes before the first and after the last from
-- the raw rows, so a window from 10:30 counts nothing from 10:00 to 10:30. In a segment
-- (audience.sql) of devices, browsers and operating systems alone, the whole hours come
-- from the aggregate per client; in any other, every hour comes from the rows: those on its
-- device, browser, operating system, route and variant, of its sessions where it names a
-- visit or a source.
CREATE OR REPLACE VIEW microx.moment_states_in AS
    -- The whole hours inside the window from the hourly aggregate...
    SELECT * EXCEPT (site)
    FROM microx.moment_hourly
    WHERE site = {site:String} AND {segment:String} = ''
        AND hour >= microx_hour_after({since:DateTime('UTC')})
        AND hour < toStartOfHour({until:DateTime('UTC')})
    UNION ALL
    -- ...or from the one per client, for its clients (a moment has a row per hour and
    -- client there: the views below merge them all)...
    SELECT * EXCEPT (site, device, browser, os)
    FROM microx.moment_client_hourly
    WHERE site = {site:String} AND {segment:String} != ''
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_client_only(microx_segment({segment:String}))
        AND microx_client_in(microx_segment({segment:String}), device, browser, os)
        AND hour >= microx_hour_after({since:DateTime('UTC')})
        AND hour < toStartOfHour({until:DateTime('UTC')})
    UNION ALL
    -- ...and the parts of hours at its edges from the rows themselves, in the same
    -- states as the materialized view keeps (migration 0013: the two must agree). Each
    -- row's measure, budget and pain are named once in the inner query: written out at
    -- every use, the functions were analysed again each time.
    SELECT
        toStartOfHour(event_time) AS hour,
        kind,
        moment,
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
        sumState(lost_ms) AS lost_ms_state,
        uniqStateIf(session_id, microx_frustrated(type)) AS frustrated_state
    FROM
    (
        SELECT
            event_time, type, value, props, session_id,
            microx_kind(type) AS kind,
            microx_moment(type, name, target, path) AS moment,
            microx_measure(type, duration_ms, value) AS measure,
            microx_budget(type, name) AS budget,
            microx_pain(type, name, duration_ms, value) AS pain,
            microx_lost_ms(type, name, duration_ms, value) AS lost_ms
        FROM microx.events
        WHERE site = {site:String}
            AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
            AND (NOT microx_client_only(microx_segment({segment:String}))
                OR microx_in_part_hours(event_time,
                    {since:DateTime('UTC')}, {until:DateTime('UTC')}))
            AND microx_segment_known(microx_segment({segment:String})) = 0
            AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path,
                variants)
            AND (NOT microx_by_session(microx_segment({segment:String}))
                OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                    site = {site:String}, since = {since:DateTime('UTC')},
                    until = {until:DateTime('UTC')}, segment = {segment:String}, whole = 0)))
    )
    GROUP BY hour, kind, moment;

-- Friction by moment, ranked by what it costs the visitors who reach it, in seconds:
--   cost = seconds lost beyond budget + frustrated sessions x microx_frustration_s()
-- (docs/analysis.md says why). Over exactly the window [since, until): whole hours come
-- from the hourly aggregate, the minutes before the first and after the last from the raw
-- rows, so a window from 10:30 counts nothing from 10:00 to 10:30. Query it as
-- SELECT * FROM microx.friction_by_moment(site = 'shop', since = '2026-11-01', until = '2026-12-01').
CREATE OR REPLACE VIEW microx.friction_by_moment_in AS
SELECT
    kind,
    moment,
    sessions,
    hurt_sessions,
    occurrences,
    round(if(isNaN(q[1]), NULL, q[1]), 1) AS p50,
    round(if(isNaN(q[2]), NULL, q[2]), 1) AS p75,
    round(if(isNaN(q[3]), NULL, q[3]), 1) AS p95,
    timed,
    slow,
    round(latency_pain, 4) AS latency_pain,
    round(lost_ms / 1000, 1) AS seconds_lost,
    clicks,
    rage_clicks,
    dead_clicks,
    error_clicks,
    round(frustration_rate, 4) AS frustration_rate,
    form_starts,
    form_abandons,
    round(abandon_rate, 4) AS abandon_rate,
    frustrated_sessions,
    round(avg_rating, 2) AS avg_rating,
    started_by,
    round(lost_ms / 1000 + frustrated_sessions * microx_frustration_s(), 1) AS score,
    round(score / greatest(sessions, 1), 3) AS cost_per_session_s
FROM
(
    SELECT
        kind,
        moment,
        uniqMerge(sessions_state) AS sessions,
        uniqMerge(hurt_state) AS hurt_sessions,
        countMerge(occurrences_state) AS occurrences,
        quantilesTDigestMerge(0.5, 0.75, 0.95)(duration_state) AS q,
        countMerge(timed_state) AS timed,
        countMerge(slow_state) AS slow,
        if(timed > 0, sumMerge(latency_pain_state) / timed, 0) AS latency_pain,
        sumMerge(lost_ms_state) AS lost_ms,
        countMerge(clicks_state) AS clicks,
        countMerge(rage_state) AS rage_clicks,
        countMerge(dead_state) AS dead_clicks,
        countMerge(error_click_state) AS error_clicks,
        if(clicks > 0, least(1, (rage_clicks + dead_clicks + error_clicks) / clicks), 0)
            AS frustration_rate,
        countMerge(form_start_state) AS form_starts,
        countMerge(form_abandon_state) AS form_abandons,
        -- Of the sessions that touched the form (focused a field, typed or not), those that
        -- left it at least once: the sessions hurt there, as only an abandonment hurts a form.
        if(kind = 'form', least(1, hurt_sessions / greatest(sessions, 1)), 0) AS abandon_rate,
        uniqMerge(frustrated_state) AS frustrated_sessions,
        avgMerge(rating_state) AS avg_rating,
        topKMerge(3)(started_by_state) AS started_by
    FROM microx.moment_states_in(site = {site:String}, since = {since:DateTime('UTC')},
        until = {until:DateTime('UTC')}, segment = {segment:String})
    GROUP BY kind, moment
)
ORDER BY score DESC, sessions DESC, moment;

CREATE OR REPLACE VIEW microx.slowest_loading_cues_in AS
SELECT
    moment AS cue, sessions, occurrences, p50, p75, p95, slow, latency_pain, seconds_lost,
    started_by, score
FROM microx.friction_by_moment_in(site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')}, segment = {segment:String})
WHERE kind = 'loading'
ORDER BY p75 DESC, occurrences DESC;

CREATE OR REPLACE VIEW microx.click_targets_in AS
SELECT
    moment AS target,
    sessions,
    clicks,
    rage_clicks,
    dead_clicks,
    error_clicks,
    frustration_rate,
    frustrated_sessions,
    p75 AS feedback_p75_ms,
    seconds_lost,
    score
FROM microx.friction_by_moment_in(site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')}, segment = {segment:String})
WHERE kind = 'click'
ORDER BY rage_clicks + dead_clicks + error_clicks DESC, clicks DESC;

-- Up to {per} waits of each loading cue, as the report draws their spread: a sample fixed
-- by the event ids (the same window shows the same points), cues named as in
-- slowest_loading_cues.
CREATE OR REPLACE VIEW microx.loading_samples_in AS
SELECT microx_moment(type, name, target, path) AS cue, duration_ms
FROM microx.events
WHERE site = {site:String} AND type = 'loading'
    AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
    AND isNotNull(duration_ms)
    AND microx_segment_known(microx_segment({segment:String})) = 0
    AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path, variants)
    AND (NOT microx_by_session(microx_segment({segment:String}))
        OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')},
            until = {until:DateTime('UTC')}, segment = {segment:String}, whole = 0)))
ORDER BY cityHash64(event_id)
LIMIT {per:UInt32} BY cue;
