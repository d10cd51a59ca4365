-- Every moment of every session with how much it hurt: the raw material of peak-end
-- scores, loyalty and experiments. `lived` says whether the visitor lived it at its
-- event_time: an uncaught script error is not seen (the click it broke is, as an error
-- click), and snippet 0.1.0 stamped a vital with the time of its report, which for INP and
-- CLS is the page's hiding, after everything done there (from 0.2.0 a vital carries the
-- time of what it measures: the render, the interaction, the largest shift).
CREATE OR REPLACE VIEW microx.session_moments AS
SELECT
    session_id,
    visitor_id,
    event_id,
    event_time,
    seq,
    variants,
    microx_kind(type) AS kind,
    microx_moment(type, name, target, path) AS moment,
    microx_pain(type, name, duration_ms, value) AS pain,
    type != 'error' AND NOT (type = 'vital' AND sdk_version = '0.1.0') AS lived
FROM microx.events
WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
    AND event_time < {until:DateTime('UTC')} AND type NOT IN ('signal', 'form_field');

-- People remember a visit by its worst moment and its last one: peak-end = their mean.
-- The end is the last moment lived. Ties are broken the same way every time: for the
-- peak, the later moment; for the end, at one instant a moment comes after the vital that
-- measures it; then the later event of its page (the snippet numbers them as they happen:
-- a dead click after its click), the worse, the event id. The orders are numbers
-- (microx_peak_order, microx_end_order): one comparison a row where tuples took several.
CREATE OR REPLACE VIEW microx.session_peak_end AS
SELECT
    session_id,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    maxIf(event_time, lived) AS ended,
    count() AS moments,
    max(pain) AS peak,
    argMax(moment, microx_peak_order(event_time, seq, pain, event_id)) AS peak_moment,
    argMaxIf(moment, microx_with_id(microx_end_order(event_time, kind, seq, pain), event_id),
        lived) AS end_moment,
    argMaxIf(pain, microx_end_order(event_time, kind, seq, pain), lived) AS end_pain,
    round((peak + end_pain) / 2, 4) AS peak_end
FROM microx.session_moments(site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')})
GROUP BY session_id;

-- Do visitors come back after meeting friction at a moment? One row per moment: of the
-- sessions (with a visitor id) that met friction there, the share followed by another
-- session of the same visitor, against the same share for sessions that did not meet
-- it; the difference has a 95 % confidence interval (normal approximation, so it is
-- called significant only with at least 30 sessions on each side).
CREATE OR REPLACE VIEW microx.loyalty_impact AS
WITH
    visits AS (
        SELECT
            assumeNotNull(visitor_id) AS visitor,
            session_id,
            min(event_time) AS started,
            groupUniqArrayIf(moment, pain > 0) AS hurt
        FROM microx.session_moments(site = {site:String}, since = {since:DateTime('UTC')},
            until = {until:DateTime('UTC')})
        WHERE isNotNull(visitor_id)
        GROUP BY visitor, session_id
    ),
    ordered AS (
        SELECT
            hurt,
            leadInFrame(started, 1, toDateTime64(0, 3, 'UTC')) OVER (
                PARTITION BY visitor ORDER BY started
                ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) > started AS returned,
            -- Every moment that hurt anyone, computed in the same pass.
            groupUniqArrayArray(hurt) OVER () AS moments
        FROM visits
    )
SELECT
    moment,
    countIf(met) AS sessions_met,
    round(countIf(met AND returned) / greatest(sessions_met, 1), 4) AS return_rate_met,
    countIf(NOT met) AS sessions_not_met,
    round(countIf(NOT met AND returned) / greatest(sessions_not_met, 1), 4)
        AS return_rate_not_met,
    round(return_rate_met - return_rate_not_met, 4) AS difference,
    round(1.96 * sqrt(return_rate_met * (1 - return_rate_met) / greatest(sessions_met, 1)
        + return_rate_not_met * (1 - return_rate_not_met) / greatest(sessions_not_met, 1)), 4)
        AS margin,
    round(difference - margin, 4) AS ci_low,
    round(difference + margin, 4) AS ci_high,
    sessions_met >= 30 AND sessions_not_met >= 30 AND (ci_low > 0 OR ci_high < 0) AS significant
FROM
(
    SELECT
        moment,
        if(moment = '(any friction)', notEmpty(hurt), has(hurt, moment)) AS met,
        returned
    FROM ordered
    ARRAY JOIN arrayConcat(['(any friction)'], moments) AS moment
)
GROUP BY moment
HAVING sessions_met > 0
ORDER BY difference, sessions_met DESC;

-- Experiments: each variant against the control (the variant whose name sorts first),
-- on the friction a session met (the sum of its moments' pain, Welch's t-test) and the
-- share of sessions that met any (two-proportion z-test).
CREATE OR REPLACE VIEW microx.experiment_comparison AS
SELECT
    experiment,
    control,
    challenger AS variant,
    countIf(arm = control) AS control_sessions,
    countIf(arm = challenger) AS variant_sessions,
    round(avgIf(friction, arm = control), 4) AS control_friction,
    round(avgIf(friction, arm = challenger), 4) AS variant_friction,
    round(variant_friction - control_friction, 4) AS friction_difference,
    welchTTest(friction, toUInt8(arm = challenger)).2 AS friction_p_value,
    round(countIf(hurt AND arm = control) / greatest(control_sessions, 1), 4)
        AS control_hurt_rate,
    round(countIf(hurt AND arm = challenger) / greatest(variant_sessions, 1), 4)
        AS variant_hurt_rate,
    proportionsZTest(
        countIf(hurt AND arm = challenger), countIf(hurt AND arm = control),
        greatest(variant_sessions, 1), greatest(control_sessions, 1), 0.95, 'unpooled'
    ).p_value AS hurt_p_value,
    friction_p_value < 0.05 AS significant
FROM
(
    -- One pass: each session with its experiment's control and other variants beside it.
    SELECT
        *,
        min(arm) OVER (PARTITION BY experiment) AS control,
        groupUniqArray(arm) OVER (PARTITION BY experiment) AS variants_seen
    FROM
    (
        SELECT
            experiment,
            variants[experiment] AS arm,
            session_id,
            sum(pain) AS friction,
            max(pain > 0) AS hurt
        FROM microx.session_moments(site = {site:String}, since = {since:DateTime('UTC')},
            until = {until:DateTime('UTC')})
        ARRAY JOIN mapKeys(variants) AS experiment
        GROUP BY experiment, arm, session_id
    )
)
ARRAY JOIN arrayFilter(v -> v != control, variants_seen) AS challenger
WHERE arm IN (control, challenger)
GROUP BY experiment, control, challenger
ORDER BY experiment, challenger;
