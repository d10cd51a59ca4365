-- From a ranked row to the sessions behind it.

-- Sessions a moment hurt in [since, until), the most hurt first (then in a fixed, arbitrary
-- order, so the same window shows the same examples): when, how much, how often. In a
-- segment, the moment's rows in it, as the views of moments count them.
CREATE OR REPLACE VIEW microx.moment_examples_in AS
SELECT
    session_id,
    min(event_time) AS first_at,
    round(max(pain), 3) AS worst_pain,
    count() AS occurrences
FROM
(
    SELECT session_id, event_time, microx_pain(type, name, duration_ms, value) AS pain
    FROM microx.events
    WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
        AND event_time < {until:DateTime('UTC')}
        AND microx_moment(type, name, target, path) = {moment:String}
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path,
            variants)
        AND (NOT microx_by_session(microx_segment({segment:String}))
            OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                site = {site:String}, since = {since:DateTime('UTC')},
                until = {until:DateTime('UTC')}, segment = {segment:String}, whole = 0)))
)
WHERE pain > 0
GROUP BY session_id
ORDER BY worst_pain DESC, cityHash64(session_id)
LIMIT 20;

-- One session's timeline: every moment in the order the visitor lived it, with its pain,
-- the seconds since the session's first event, and what each measured.
CREATE OR REPLACE VIEW microx.session_timeline AS
SELECT
    event_time,
    round(dateDiff('millisecond', min(event_time) OVER (), event_time) / 1000, 3) AS second,
    microx_kind(type) AS kind,
    type,
    microx_moment(type, name, target, path) AS moment,
    round(microx_pain(type, name, duration_ms, value), 3) AS pain,
    duration_ms,
    value,
    path
FROM microx.events
WHERE site = {site:String} AND session_id = toUUID({session:String})
ORDER BY event_time, seq;
