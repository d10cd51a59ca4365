-- Friction analysis. docs/analysis.md explains every definition here; the functions are
-- the one place each is written, so the hourly aggregate and the views over raw rows
-- can never disagree about what a moment is or how much it hurt.

-- The kind of journey moment an event belongs to.
CREATE FUNCTION IF NOT EXISTS microx_kind AS (t) -> multiIf(
    t IN ('page', 'route'), 'page',
    t IN ('click', 'rage_click', 'dead_click', 'error_click'), 'click',
    t = 'loading', 'loading',
    startsWith(t, 'form_'), 'form',
    t = 'step', 'step',
    t IN ('moment', 'feedback'), 'moment',
    t = 'vital', 'vital',
    t IN ('error', 'long_task'), 'error',
    'signal');

-- Which moment: a page by its path, a click target or a loading cue on its page, a form,
-- a funnel step, a named moment. A cue named with data-microx-loading keeps its name.
CREATE FUNCTION IF NOT EXISTS microx_moment AS (t, n, tg, path) -> multiIf(
    t IN ('page', 'route', 'error', 'long_task'), path,
    t IN ('click', 'rage_click', 'dead_click', 'error_click'), concat(tg, ' @ ', path),
    t = 'loading', concat(if(n IN ('', 'busy', 'progressbar'), tg, n), ' @ ', path),
    t = 'step', concat(n, ' / ', tg),
    t = 'vital', concat(n, ' @ ', path),
    n);

-- The latency budget of a timed moment, in its own unit (ms; CLS is a score). The page
-- and vital budgets are web-vitals' "good" limits, the click budget INP's; 0 = untimed.
CREATE FUNCTION IF NOT EXISTS microx_budget AS (t, n) -> multiIf(
    t = 'page', 3000., t = 'route', 1000., t = 'click', 200., t = 'loading', 1000.,
    t != 'vital', 0.,
    n = 'LCP', 2500., n = 'INP', 200., n = 'FCP', 1800., n = 'TTFB', 800., n = 'CLS', 0.1,
    0.);

-- What is compared with the budget: a vital's value, every other moment's duration.
CREATE FUNCTION IF NOT EXISTS microx_measure AS (t, d, v) -> if(t = 'vital', v, d);

-- How much one occurrence hurt, 0 to 1: a frustration signal or an abandoned form is 1;
-- a timed moment is 0 within budget, rising linearly to 1 at twice the budget.
CREATE FUNCTION IF NOT EXISTS microx_pain AS (t, n, d, v) -> multiIf(
    t IN ('rage_click', 'dead_click', 'error_click', 'form_abandon'), 1.,
    microx_budget(t, n) > 0,
    ifNull(least(1., greatest(0., microx_measure(t, d, v) / microx_budget(t, n) - 1.)), 0.),
    0.);

-- Per site, moment and hour: everything the ranking needs, as mergeable states, so the
-- ranking reads thousands of rows however many events there are.
CREATE MATERIALIZED VIEW IF NOT EXISTS microx.moment_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, kind, moment, hour)
TTL hour + INTERVAL 400 DAY
POPULATE
AS SELECT
    site,
    toStartOfHour(event_time) AS hour,
    microx_kind(type) AS kind,
    microx_moment(type, name, target, path) AS moment,
    countState() AS occurrences_state,
    countStateIf(isNotNull(microx_measure(type, duration_ms, value))
        AND microx_budget(type, name) > 0) AS timed_state,
    countStateIf(microx_measure(type, duration_ms, value) > microx_budget(type, name)
        AND microx_budget(type, name) > 0) AS slow_state,
    sumStateIf(microx_pain(type, name, duration_ms, value), microx_budget(type, name) > 0)
        AS latency_pain_state,
    countStateIf(type = 'click') AS clicks_state,
    countStateIf(type = 'rage_click') AS rage_state,
    countStateIf(type = 'dead_click') AS dead_state,
    countStateIf(type = 'error_click') AS error_click_state,
    countStateIf(type = 'form_start') AS form_start_state,
    countStateIf(type = 'form_submit') AS form_submit_state,
    countStateIf(type = 'form_abandon') AS form_abandon_state,
    countStateIf(type = 'form_invalid') AS form_invalid_state,
    avgStateIf(value, type = 'feedback') AS rating_state,
    uniqState(session_id) AS sessions_state,
    uniqStateIf(session_id, microx_pain(type, name, duration_ms, value) > 0) AS hurt_state,
    quantilesTDigestStateIf(0.5, 0.75, 0.95)(
        assumeNotNull(microx_measure(type, duration_ms, value)),
        isNotNull(microx_measure(type, duration_ms, value)) AND type NOT IN ('form_field', 'step'))
        AS duration_state,
    topKStateIf(3)(props['by'], type = 'loading' AND props['by'] != '') AS started_by_state
FROM microx.events
GROUP BY site, hour, kind, moment;

-- Friction by moment, ranked. severity = 1 - (1 - latency pain)(1 - frustration rate)
-- (1 - abandonment rate): the chance an occurrence hurt in at least one way; score =
-- severity x sessions, the sessions a fix would spare. Query it as
-- SELECT * FROM microx.friction_by_moment(site = 'shop', since = '2026-11-01', until = '2026-12-01').
CREATE VIEW IF NOT EXISTS microx.friction_by_moment AS
SELECT
    kind,
    moment,
    sessions,
    hurt_sessions,
    occurrences,
    round(if(isNaN(q[1]), NULL, q[1]), 1) AS p50,
    round(if(isNaN(q[2]), NULL, q[2]), 1) AS p75,
    round(if(isNaN(q[3]), NULL, q[3]), 1) AS p95,
    timed,
    slow,
    round(latency_pain, 4) AS latency_pain,
    clicks,
    rage_clicks,
    dead_clicks,
    error_clicks,
    round(frustration_rate, 4) AS frustration_rate,
    form_starts,
    form_abandons,
    round(abandon_rate, 4) AS abandon_rate,
    round(avg_rating, 2) AS avg_rating,
    started_by,
    round(1 - (1 - latency_pain) * (1 - frustration_rate) * (1 - abandon_rate), 4) AS severity,
    round(severity * sessions, 2) AS score
FROM
(
    SELECT
        kind,
        moment,
        uniqMerge(sessions_state) AS sessions,
        uniqMerge(hurt_state) AS hurt_sessions,
        countMerge(occurrences_state) AS occurrences,
        quantilesTDigestMerge(0.5, 0.75, 0.95)(duration_state) AS q,
        countMerge(timed_state) AS timed,
        countMerge(slow_state) AS slow,
        if(timed > 0, sumMerge(latency_pain_state) / timed, 0) AS latency_pain,
        countMerge(clicks_state) AS clicks,
        countMerge(rage_state) AS rage_clicks,
        countMerge(dead_state) AS dead_clicks,
        countMerge(error_click_state) AS error_clicks,
        if(clicks > 0, least(1, (rage_clicks + dead_clicks + error_clicks) / clicks), 0)
            AS frustration_rate,
        countMerge(form_start_state) AS form_starts,
        countMerge(form_abandon_state) AS form_abandons,
        if(form_starts > 0, least(1, form_abandons / form_starts), 0) AS abandon_rate,
        avgMerge(rating_state) AS avg_rating,
        topKMerge(3)(started_by_state) AS started_by
    FROM microx.moment_hourly
    WHERE site = {site:String}
        AND hour >= toStartOfHour({since:DateTime('UTC')})
        AND hour < {until:DateTime('UTC')}
    GROUP BY kind, moment
)
ORDER BY score DESC, sessions DESC, moment;

CREATE VIEW IF NOT EXISTS microx.slowest_loading_cues AS
SELECT moment AS cue, sessions, occurrences, p50, p75, p95, slow, latency_pain, started_by, score
FROM microx.friction_by_moment(site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')})
WHERE kind = 'loading'
ORDER BY p75 DESC, occurrences DESC;

CREATE VIEW IF NOT EXISTS microx.click_targets AS
SELECT
    moment AS target,
    sessions,
    clicks,
    rage_clicks,
    dead_clicks,
    error_clicks,
    frustration_rate,
    p75 AS feedback_p75_ms,
    score
FROM microx.friction_by_moment(site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')})
WHERE kind = 'click'
ORDER BY rage_clicks + dead_clicks + error_clicks DESC, clicks DESC;

-- Which field people leave a form at (the last field they touched), with its share of
-- the form's abandonments, and how long and how hesitantly each field is filled.
CREATE VIEW IF NOT EXISTS microx.form_abandonment AS
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

-- Funnel steps in the order visitors take them (the median position among each funnel's
-- steps), with sessions reached, conversion from the first step, drop-off from the
-- previous one, and the time each step took. For strict order within a time window, see
-- microx.funnel below.
CREATE VIEW IF NOT EXISTS microx.funnel_steps AS
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
CREATE VIEW IF NOT EXISTS microx.funnel AS
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

-- Every moment of every session with how much it hurt: the raw material of peak-end
-- scores, loyalty and experiments.
CREATE VIEW IF NOT EXISTS microx.session_moments AS
SELECT
    session_id,
    visitor_id,
    event_time,
    variants,
    microx_kind(type) AS kind,
    microx_moment(type, name, target, path) AS moment,
    microx_pain(type, name, duration_ms, value) AS pain
FROM microx.events
WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
    AND event_time < {until:DateTime('UTC')} AND type NOT IN ('signal', 'form_field');

-- People remember a visit by its worst moment and its last one: peak-end = their mean.
CREATE VIEW IF NOT EXISTS microx.session_peak_end AS
SELECT
    session_id,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    max(event_time) AS ended,
    count() AS moments,
    max(pain) AS peak,
    argMax(moment, (pain, event_time)) AS peak_moment,
    argMax(pain, event_time) AS end_pain,
    argMax(moment, event_time) AS end_moment,
    round((peak + end_pain) / 2, 4) AS peak_end
FROM microx.session_moments(site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')})
GROUP BY session_id;

-- Do visitors come back after meeting friction at a moment? One row per moment: of the
-- sessions (with a visitor id) that met friction there, the share followed by another
-- session of the same visitor, against the same share for sessions that did not meet
-- it; the difference has a 95 % confidence interval (normal approximation, so it is
-- called significant only with at least 30 sessions on each side).
CREATE VIEW IF NOT EXISTS microx.loyalty_impact AS
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
CREATE VIEW IF NOT EXISTS microx.experiment_comparison AS
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

-- Rage clicks recomputed from the raw click rows with other thresholds: at least
-- {clicks} clicks on one target, each within {ms} of the previous and within {px} of
-- it; double and triple clicks that selected text are left out, as the snippet does.
CREATE VIEW IF NOT EXISTS microx.rage_clicks_with AS
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
CREATE VIEW IF NOT EXISTS microx.dead_clicks_with AS
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
