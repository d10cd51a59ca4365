-- Rage clicks recomputed from the raw click rows with other thresholds, by the snippet's
-- rule (sdk_js/src/clicks.ts): a click joins the burst under way when it is on the same
-- element (target, page), within {ms} of the burst's last click and within {px} of its
-- first one; otherwise it starts a burst. A burst of at least {clicks} clicks is a rage
-- click. Clicks that selected text (double and triple clicks where nothing is clickable)
-- are left out, as the snippet leaves them out, without ending the burst.
CREATE OR REPLACE VIEW microx.rage_clicks_with_in AS
SELECT
    concat(burst.1, ' @ ', microx_route(burst.2)) AS target,
    count() AS bursts,
    uniqExact(session_id) AS sessions,
    round(avg(burst.3), 2) AS avg_clicks
FROM
(
    SELECT
        session_id,
        -- (target, path, x, y of the first click, time of the last, clicks) of the burst
        -- under way, and the finished bursts long enough to count.
        arrayFold(
            (acc, c) -> if(
                acc.1.6 > 0 AND c.3 = acc.1.1 AND c.4 = acc.1.2
                    AND c.1 - acc.1.5 <= {ms:UInt32}
                    AND hypot(c.5 - acc.1.3, c.6 - acc.1.4) <= {px:Float64},
                ((acc.1.1, acc.1.2, acc.1.3, acc.1.4, c.1, toUInt32(acc.1.6 + 1)), acc.2),
                ((c.3, c.4, c.5, c.6, c.1, toUInt32(1)),
                    if(acc.1.6 >= {clicks:UInt32},
                        arrayPushBack(acc.2, (acc.1.1, acc.1.2, acc.1.6)), acc.2))),
            arraySort(groupArray((toUnixTimestamp64Milli(event_time), seq, target, path,
                toFloat64OrZero(props['x']), toFloat64OrZero(props['y'])))),
            (('', '', 0., 0., toInt64(0), toUInt32(0)),
                CAST([], 'Array(Tuple(String, String, UInt32))'))
        ) AS folded,
        arrayConcat(folded.2, if(folded.1.6 >= {clicks:UInt32},
            [(folded.1.1, folded.1.2, folded.1.6)], [])) AS found
    FROM microx.events
    WHERE site = {site:String}
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path, variants)
        AND (NOT microx_by_session(microx_segment({segment:String}))
            OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                segment = {segment:String}, whole = 0)))
        AND type = 'click' AND props['ex'] != 'select'
        AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
    GROUP BY session_id
    HAVING notEmpty(found)
)
ARRAY JOIN found AS burst
GROUP BY target
ORDER BY bursts DESC, target;

-- Dead clicks recomputed with another wait: a click on something clickable whose first
-- feedback came later than {ms} or never (within the snippet's own dead-click wait,
-- which bounds how long a wait can be tested).
CREATE OR REPLACE VIEW microx.dead_clicks_with_in AS
SELECT
    concat(target, ' @ ', microx_route(path)) AS target,
    count() AS clicks,
    countIf(props['fb'] = 'none' OR duration_ms > {ms:UInt32}) AS dead_clicks,
    round(dead_clicks / clicks, 4) AS dead_rate,
    uniqExactIf(session_id, props['fb'] = 'none' OR duration_ms > {ms:UInt32}) AS sessions
FROM microx.events
WHERE site = {site:String}
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path, variants)
        AND (NOT microx_by_session(microx_segment({segment:String}))
            OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                segment = {segment:String}, whole = 0)))
        AND type = 'click' AND props['ex'] = ''
    AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
GROUP BY target
HAVING dead_clicks > 0
ORDER BY dead_clicks DESC;
