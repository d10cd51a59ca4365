-- Funnel steps in the order visitors take them (the median position among each funnel's
-- steps), with sessions reached, conversion from the first step, drop-off from the
-- previous one, and the time each step took. For strict order within a time window, see
-- microx.funnel below.
CREATE OR REPLACE VIEW microx.funnel_steps AS
SELECT
    funnel,
    step,
    position,
    sessions,
    round(sessions / first_value(sessions) OVER w, 4) AS conversion,
    round(1 - sessions / lagInFrame(sessions, 1, sessions) OVER w, 4) AS drop_off,
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
    WHERE site = {site:String} AND type = 'step' AND event_time >= {since:DateTime('UTC')}
        AND event_time < {until:DateTime('UTC')}
    GROUP BY funnel, step
)
WINDOW w AS (PARTITION BY funnel ORDER BY position, sessions DESC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY funnel, position, sessions DESC;

-- One funnel with its steps given in order: windowFunnel counts a session at level k
-- only if it took steps 1..k in that order within window_s seconds (up to 10 steps).
CREATE OR REPLACE VIEW microx.funnel AS
WITH {steps:Array(String)} AS s
SELECT
    level,
    s[level] AS step,
    countIf(reached >= level) AS sessions,
    round(sessions / greatest(max(sessions) OVER (), 1), 4) AS conversion
FROM
(
    SELECT
        session_id,
        windowFunnel({window_s:UInt32})(toDateTime(event_time),
            target = s[1], target = s[2], target = s[3], target = s[4], target = s[5],
            target = s[6], target = s[7], target = s[8], target = s[9], target = s[10])
            AS reached
    FROM microx.events
    WHERE site = {site:String} AND type = 'step' AND name = {funnel:String}
        AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
    GROUP BY session_id
)
ARRAY JOIN range(1, length(s) + 1) AS level
GROUP BY level
ORDER BY level;
