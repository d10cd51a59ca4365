-- Which field people leave a form at (the last field they touched), with its share of
-- the form's abandonments, and how long and how hesitantly each field is filled.
CREATE OR REPLACE VIEW microx.form_abandonment AS
WITH
    forms AS (
        SELECT
            name AS form,
            uniqExactIf(session_id, type = 'form_start') AS started,
            uniqExactIf(session_id, type = 'form_submit') AS submitted,
            uniqExactIf(session_id, type = 'form_abandon') AS abandoned
        FROM microx.events
        WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')}
            AND type IN ('form_start', 'form_submit', 'form_abandon')
        GROUP BY form
    ),
    fields AS (
        SELECT
            name AS form,
            target AS field,
            countIf(type = 'form_abandon') AS abandons,
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
    abandons,
    round(abandons / greatest(forms.abandoned, 1), 4) AS share_of_abandons,
    round(abandons / greatest(forms.started, 1), 4) AS abandon_rate,
    forms.started AS form_starts,
    forms.submitted AS form_submits,
    visits,
    round(median_time_ms) AS median_time_ms,
    round(median_hesitation_ms) AS median_hesitation_ms,
    amended,
    invalid
FROM fields
INNER JOIN forms USING (form)
ORDER BY abandons DESC, invalid DESC, visits DESC;
