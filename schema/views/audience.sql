-- Segments: which sessions of a window a segment holds (docs/analysis.md, "Segments").
-- The views named X_in take a `segment` parameter and read only its visitors; each has a
-- twin X over every visitor (segment = '').

-- The sessions of [since, until) in a segment: those with a row in the window on its
-- device, browser, operating system, route template and experiment variant (any of the
-- session's rows: a session in the segment is counted whole by the views of sessions),
-- whose visitor is new or returning as it says, and whose first page came from its source.
--   visit   'new': the session is its visitor's first in the store; 'returning': a later
--           one. A session without a visitor id (no consent to the visitor category) is
--           neither.
--   source  microx_source of the session's first page: its rows are read from up to a day
--           before `since`, so that a session under way at the window's start has its start.
-- `whole`: 1 checks every key; 0 only visit and source, for the views of moments, which
-- check the others on each row themselves (and with neither key read nothing here).
CREATE OR REPLACE VIEW microx.segment_sessions AS
SELECT session_id
FROM
(
    SELECT
        session_id,
        any(visitor_id) AS visitor,
        argMin(microx_source(url, referrer), (event_time, seq)) AS source
    FROM microx.events
    WHERE site = {site:String} AND {segment:String} != ''
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND ({whole:UInt8} = 1 OR microx_by_session(microx_segment({segment:String})))
        AND event_time >= {since:DateTime('UTC')} - INTERVAL 1 DAY
        AND event_time < {until:DateTime('UTC')}
    GROUP BY session_id
    HAVING countIf(event_time >= {since:DateTime('UTC')}
            AND ({whole:UInt8} = 0 OR microx_in_segment(microx_segment({segment:String}),
                device, browser, os, path, variants))) > 0
        AND microx_segment({segment:String})['source'] IN ('', source)
)
WHERE microx_segment({segment:String})['visit'] = ''
    OR (isNotNull(visitor)
        AND (session_id IN (
            -- Each visitor's first session in the store.
            SELECT argMin(session_id, started)
            FROM microx.session_hourly
            WHERE site = {site:String} AND isNotNull(visitor_id)
                AND microx_segment({segment:String})['visit'] != ''
            GROUP BY visitor_id))
            = (microx_segment({segment:String})['visit'] = 'new'));
