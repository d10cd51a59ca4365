-- Which field people leave a form at, counted in sessions: a session's way through a form
-- ends at its last submit or abandonment, and an abandonment names the field focused last
-- (typed into or not). A session that focused the form but never typed into it is a
-- focus-only start. Per field: the sessions that stopped there, their share of the form's
-- abandoned sessions, of the sessions that touched the form and of those that reached the
-- field, and how long and how hesitantly the field is filled.
CREATE OR REPLACE VIEW microx.form_abandonment AS
WITH
    visits AS (
        SELECT
            name AS form,
            session_id,
            max(type = 'form_start') AS typed,
            -- The last end wins; a tie in time goes to the later event of the page.
            argMaxIf((type, target), (event_time, seq), type IN ('form_submit', 'form_abandon'))
                AS last_end,
            last_end.1 = 'form_abandon' AS abandoned,
            groupUniqArrayIf(target, type IN ('form_field', 'form_abandon')) AS fields_reached
        FROM microx.events
        WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')}
            AND type IN ('form_start', 'form_field', 'form_submit', 'form_abandon')
        GROUP BY form, session_id
    ),
    forms AS (
        SELECT
            form,
            count() AS touched,
            countIf(typed) AS started,
            countIf(NOT typed) AS focus_only_starts,
            countIf(last_end.1 = 'form_submit') AS submitted,
            countIf(abandoned) AS abandoned_sessions
        FROM visits
        GROUP BY form
    ),
    stops AS (
        SELECT
            form,
            field,
            count() AS sessions_reached,
            countIf(abandoned AND last_end.2 = field) AS stopped,
            countIf(abandoned AND last_end.2 = field AND NOT typed) AS stopped_unstarted
        FROM visits
        ARRAY JOIN fields_reached AS field
        GROUP BY form, field
    ),
    fields AS (
        SELECT
            name AS form,
            target AS field,
            countIf(type = 'form_field') AS visits,
            quantileIf(0.5)(duration_ms, type = 'form_field') AS median_time_ms,
            quantileIf(0.5)(toFloat64OrNull(props['hes']), type = 'form_field'
                AND props['hes'] != '') AS median_hesitation_ms,
            countIf(type = 'form_field' AND toUInt32OrZero(props['amends']) > 0) AS amended,
            countIf(type = 'form_invalid') AS invalid
        FROM microx.events
        WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
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
    stops.sessions_reached AS reached,
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
