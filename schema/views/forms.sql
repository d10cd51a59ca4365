-- Which field people leave a form at, counted in sessions: a session's way through a form
-- ends at its last submit or abandonment, and an abandonment names the field focused last
-- (typed into or not). A session that focused the form but never typed into it is a
-- focus-only start. Per field: the sessions that stopped there, their share of the form's
-- abandoned sessions, of the sessions that touched the form and of those that reached the
-- field, and how long and how hesitantly the field is filled.
CREATE OR REPLACE VIEW microx.form_abandonment_in AS
WITH
    visits AS (
        -- One row per session and form: whether it typed, and how its way through the
        -- form ended: the field of its last end if that was an abandonment (always named,
        -- the field focused last), else ''. A tie in time goes to the later event.
        SELECT
            name AS form,
            session_id,
            max(type = 'form_start') AS typed,
            max(type IN ('form_submit', 'form_abandon')) AS ended,
            argMaxIf(if(type = 'form_abandon', target, ''),
                microx_end_order(event_time, 'form', seq, 0.),
                type IN ('form_submit', 'form_abandon')) AS stop
        FROM microx.events
        WHERE site = {site:String}
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path, variants)
        AND (NOT microx_by_session(microx_segment({segment:String}))
            OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                segment = {segment:String}, whole = 0)))
        AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')}
            AND type IN ('form_start', 'form_submit', 'form_abandon')
        GROUP BY form, session_id
    ),
    forms AS (
        SELECT
            form,
            count() AS touched,
            countIf(typed) AS started,
            countIf(NOT typed) AS focus_only_starts,
            countIf(ended AND stop = '') AS submitted,
            countIf(stop != '') AS abandoned_sessions
        FROM visits
        GROUP BY form
    ),
    stops AS (
        SELECT form, stop AS field, count() AS stopped, countIf(NOT typed) AS stopped_unstarted
        FROM visits
        WHERE stop != ''
        GROUP BY form, field
    ),
    fields AS (
        SELECT
            name AS form,
            target AS field,
            -- Reached: a visit of the field, or the abandonment that names it.
            uniqExactIf(session_id, type IN ('form_field', 'form_abandon')) AS reached,
            countIf(type = 'form_field') AS visits,
            quantileIf(0.5)(duration_ms, type = 'form_field') AS median_time_ms,
            quantileIf(0.5)(toFloat64OrNull(props['hes']), type = 'form_field'
                AND props['hes'] != '') AS median_hesitation_ms,
            countIf(type = 'form_field' AND toUInt32OrZero(props['amends']) > 0) AS amended,
            countIf(type = 'form_invalid') AS invalid
        FROM microx.events
        WHERE site = {site:String}
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path, variants)
        AND (NOT microx_by_session(microx_segment({segment:String}))
            OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                segment = {segment:String}, whole = 0)))
        AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')}
            AND type IN ('form_abandon', 'form_field', 'form_invalid')
        GROUP BY form, field
    )
SELECT
    form,
    field,
    stops.stopped AS abandons,
    stops.stopped_unstarted AS focus_only,
    round(abandons / greatest(forms.abandoned_sessions, 1), 4) AS share_of_abandons,
    round(abandons / greatest(forms.touched, 1), 4) AS abandon_rate,
    reached,
    round(abandons / greatest(reached, 1), 4) AS leave_rate,
    forms.touched AS form_sessions,
    forms.started AS form_starts,
    forms.focus_only_starts AS form_focus_only,
    forms.submitted AS form_submits,
    forms.abandoned_sessions AS form_abandons,
    visits,
    round(median_time_ms) AS median_time_ms,
    round(median_hesitation_ms) AS median_hesitation_ms,
    amended,
    invalid
FROM fields
INNER JOIN forms USING (form)
LEFT JOIN stops USING (form, field)
ORDER BY abandons DESC, invalid DESC, visits DESC, form, field;
