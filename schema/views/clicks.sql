-- Rage clicks recomputed from the raw click rows with other thresholds: at least
-- {clicks} clicks on one target, each within {ms} of the previous and within {px} of
-- it; double and triple clicks that selected text are left out, as the snippet does.
CREATE OR REPLACE VIEW microx.rage_clicks_with AS
SELECT
    concat(target, ' @ ', path) AS target,
    count() AS bursts,
    uniqExact(session_id) AS sessions,
    round(avg(burst_clicks), 2) AS avg_clicks
FROM
(
    SELECT session_id, target, path, burst, count() AS burst_clicks
    FROM
    (
        SELECT
            session_id,
            target,
            path,
            sum(new_burst) OVER (PARTITION BY session_id ORDER BY event_time, seq
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS burst
        FROM
        (
            SELECT
                session_id,
                target,
                path,
                event_time,
                seq,
                toFloat64OrZero(props['x']) AS x,
                toFloat64OrZero(props['y']) AS y,
                lagInFrame(target, 1, '') OVER w != target
                    OR lagInFrame(path, 1, '') OVER w != path
                    OR dateDiff('millisecond', lagInFrame(event_time, 1, event_time) OVER w,
                        event_time) > {ms:UInt32}
                    OR hypot(x - lagInFrame(x, 1, x) OVER w, y - lagInFrame(y, 1, y) OVER w)
                        > {px:Float64}
                    OR row_number() OVER w = 1 AS new_burst
            FROM microx.events
            WHERE site = {site:String} AND type = 'click' AND props['ex'] != 'select'
                AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
            WINDOW w AS (PARTITION BY session_id ORDER BY event_time, seq
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
    )
    GROUP BY session_id, target, path, burst
    HAVING burst_clicks >= {clicks:UInt32}
)
GROUP BY target
ORDER BY bursts DESC;

-- Dead clicks recomputed with another wait: a click on something clickable whose first
-- feedback came later than {ms} or never (within the snippet's own dead-click wait,
-- which bounds how long a wait can be tested).
CREATE OR REPLACE VIEW microx.dead_clicks_with AS
SELECT
    concat(target, ' @ ', path) AS target,
    count() AS clicks,
    countIf(props['fb'] = 'none' OR duration_ms > {ms:UInt32}) AS dead_clicks,
    round(dead_clicks / clicks, 4) AS dead_rate,
    uniqExactIf(session_id, props['fb'] = 'none' OR duration_ms > {ms:UInt32}) AS sessions
FROM microx.events
WHERE site = {site:String} AND type = 'click' AND props['ex'] = ''
    AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
GROUP BY target
HAVING dead_clicks > 0
ORDER BY dead_clicks DESC;
