-- Funnel steps in the order visitors take them (the median of the order the snippet gives
-- each step in its visit), with the sessions that reached each by any path, conversion from
-- the first step, the share of those reaching it for which it was the last step taken, and
-- the time each step took. A step some visitors skip (an optional review) is reached by
-- fewer than the steps after it; nobody "drops" between them.
CREATE OR REPLACE VIEW microx.funnel_steps_in AS
SELECT
    funnel,
    step,
    position,
    sessions,
    round(sessions / first_value(sessions) OVER w, 4) AS conversion,
    round(ended / sessions, 4) AS last_share,
    median_ms,
    p75_ms
FROM
(
    SELECT
        name AS funnel,
        target AS step,
        uniqExact(session_id) AS sessions,
        median(toUInt32OrZero(props['i'])) AS position,
        round(medianIf(duration_ms, isNotNull(duration_ms))) AS median_ms,
        round(quantileIf(0.75)(duration_ms, isNotNull(duration_ms))) AS p75_ms
    FROM microx.events
    WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND type = 'step' AND event_time >= {since:DateTime('UTC')}
        AND event_time < {until:DateTime('UTC')}
    GROUP BY funnel, step
) AS steps
LEFT JOIN
(
    -- Where each session's way through the funnel ended: the last step it took.
    SELECT funnel, step, count() AS ended
    FROM
    (
        SELECT
            name AS funnel,
            argMax(target, microx_end_order(event_time, 'step', seq, 0.)) AS step
        FROM microx.events
        WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND type = 'step'
            AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
        GROUP BY funnel, session_id
    )
    GROUP BY funnel, step
) AS lasts USING (funnel, step)
WINDOW w AS (PARTITION BY funnel ORDER BY position, sessions DESC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY funnel, position, sessions DESC;

-- One funnel with its steps given in order (up to 10). A session enters it at its first
-- step; it reached step k when it took step k after entering, within window_s seconds, by
-- any path: a step it skipped (an optional review) does not keep it from the ones after.
-- `strict_sessions` is windowFunnel's count: steps 1..k all taken, in that order.
CREATE OR REPLACE VIEW microx.funnel_in AS
WITH {steps:Array(String)} AS s
SELECT
    level,
    s[level] AS step,
    countIf(reached[level]) AS sessions,
    round(sessions / greatest(countIf(reached[1]), 1), 4) AS conversion,
    countIf(NOT reached[level] AND has(arraySlice(reached, level + 1), 1)) AS skipped,
    countIf(strict >= level) AS strict_sessions,
    round(strict_sessions / greatest(countIf(reached[1]), 1), 4) AS strict_conversion
FROM
(
    SELECT
        session_id,
        windowFunnel({window_s:UInt32})(toDateTime(event_time),
            target = s[1], target = s[2], target = s[3], target = s[4], target = s[5],
            target = s[6], target = s[7], target = s[8], target = s[9], target = s[10])
            AS strict,
        minIf(event_time, target = s[1]) AS entered,
        countIf(target = s[1]) > 0 AS entered_funnel,
        groupArray((target, event_time)) AS taken,
        arrayMap(
            k -> entered_funnel AND arrayExists(
                x -> x.1 = s[k] AND x.2 >= entered
                    AND x.2 <= entered + toIntervalSecond({window_s:UInt32}),
                taken),
            range(1, length(s) + 1)) AS reached
    FROM microx.events
    WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND type = 'step' AND name = {funnel:String}
        AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
    GROUP BY session_id
)
ARRAY JOIN range(1, length(s) + 1) AS level
GROUP BY level
ORDER BY level;
