-- Segments: which sessions of a window a segment holds (docs/analysis.md, "Segments").
-- The views named X_in take a `segment` parameter and read only its visitors; each has a
-- twin X over every visitor (segment = '').

-- The sessions of [since, until) in a segment: those with an event in the window, on its
-- device, browser and operating system, that showed a page of its route template in the
-- window, ran under its experiment variant at their last moment in it, whose visitor is
-- new or returning as it says, and whose first page came from its source.
--   visit   'new': the session is its visitor's first in the store; 'returning': a later
--           one. A session without a visitor id (no consent to the visitor category) is
--           neither.
--   source  microx_source of the session's first page, looked for from a day before
--           `since`, so that a session under way at the window's start has its start.
-- `whole`: 1 checks every key; 0 only visit and source, for the views of moments, which
-- check the others on each row themselves (and with neither key read nothing here).
-- Whole hours come from microx.session_hourly (migration 0016), the minutes at the
-- window's edges from the rows, as in microx.session_facts.
CREATE OR REPLACE VIEW microx.segment_sessions AS
SELECT session_id
FROM
(
    SELECT
        session_id,
        any(visitor_id) AS visitor,
        max(in_window) AS seen,
        microx_session_in_segment(microx_segment({segment:String}), any(device), any(browser),
            any(os), groupUniqArrayArrayIf(places, in_window),
            JSONExtract(argMaxMergeIf(variants_state, in_window), 'Map(String, String)'))
            AS matched,
        argMinMerge(source_state) AS source
    FROM
    (
        SELECT
            session_id, visitor_id, device, browser, os, places, variants_state, source_state,
            hour >= microx_hour_after({since:DateTime('UTC')}) AS in_window
        FROM microx.session_hourly
        WHERE site = {site:String} AND {segment:String} != ''
            AND microx_segment_known(microx_segment({segment:String})) = 0
            AND ({whole:UInt8} = 1 OR microx_by_session(microx_segment({segment:String})))
            -- For the source only, before the window; the window's first part hour too,
            -- whose events are counted from the rows below.
            AND hour >= toStartOfHour({since:DateTime('UTC')} - INTERVAL 1 DAY)
            AND hour < toStartOfHour({until:DateTime('UTC')})
        UNION ALL
        SELECT
            session_id,
            any(visitor_id) AS visitor_id,
            any(device) AS device,
            any(browser) AS browser,
            any(os) AS os,
            groupUniqArrayIf(microx_route(path), type IN ('page', 'route', 'error', 'long_task'))
                AS places,
            argMaxState(toJSONString(variants), event_time) AS variants_state,
            argMinState(microx_source(url, referrer), event_time) AS source_state,
            true AS in_window
        FROM microx.events
        WHERE site = {site:String} AND {segment:String} != ''
            AND microx_segment_known(microx_segment({segment:String})) = 0
            AND ({whole:UInt8} = 1 OR microx_by_session(microx_segment({segment:String})))
            AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
            AND microx_in_part_hours(event_time, {since:DateTime('UTC')}, {until:DateTime('UTC')})
            AND type NOT IN ('signal', 'form_field')
        GROUP BY session_id
    )
    GROUP BY session_id
    HAVING seen AND ({whole:UInt8} = 0 OR matched)
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
