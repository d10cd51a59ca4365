-- Goals: what a visit is for. A goal is given by its parameters (docs/analysis.md):
--   goal = 'step'    the session took step {target} of funnel {name}
--   goal = 'moment'  it recorded the named moment {name} (microx.moment)
--   goal = 'rating'  it rated {name} at least {rating} (judged only where it rated)
--   goal = 'return'  the visitor began another session within {days} days of this one's
--                    start: judged only with a visitor id, and only where those days end
--                    before {until} (a fixed horizon: the last days of a window cannot
--                    tell yet)
-- Parameters a goal does not use are ignored: pass '' or 0.

-- The views below come in two forms: for one goal, given by the parameters above, and
-- `_each` for several at once, given as {goals} = [(goal, name, target, days, rating), ...],
-- with `goal_index`, the goal's place in that list (from 1). The report judges every goal in
-- one reading of the sessions: each reading merges every session of the window again, and
-- the engine analyses the views again, which took most of a goal view's time.

-- One row per session and goal: whether it met the goal, and whether it can be judged.
CREATE OR REPLACE VIEW microx.session_goals_each_in AS
SELECT
    goal_index,
    session_id,
    visitor_id,
    started,
    multiIf(
        goal = 'step', took_step,
        goal = 'moment', had_moment,
        goal = 'rating', rated AND best_rating >= goal_rating,
        goal = 'return', isNotNull(visitor_id) AND next_started > started
            AND next_started <= started + toIntervalDay(goal_days),
        false) AS met,
    multiIf(
        goal = 'rating', rated,
        goal = 'return', isNotNull(visitor_id)
            AND started + toIntervalDay(goal_days) <= {until:DateTime('UTC')},
        goal IN ('step', 'moment')) AS judged,
    prior,
    -- When the visitor's next session began (within the window; 1970 when none did).
    next_started,
    places,
    hurt,
    friction,
    variants
FROM
(
    SELECT
        goal_index,
        spec.1 AS goal,
        spec.4 AS goal_days,
        spec.5 AS goal_rating,
        session_id,
        visitor_id,
        started,
        has(steps, (spec.2, spec.3)) AS took_step,
        has(named, spec.2) AS had_moment,
        arrayExists(r -> r.1 = spec.2, ratings) AS rated,
        arrayMax(arrayMap(r -> r.2, arrayFilter(r -> r.1 = spec.2, ratings))) AS best_rating,
        -- The places it reached (microx_place), the moments that hurt it, what it met (the
        -- sum of its moments' pain) and the experiment variants in force at its last moment.
        places,
        hurt,
        friction,
        variants
    FROM microx.session_facts_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
        until = {until:DateTime('UTC')})
    ARRAY JOIN {goals:Array(Tuple(String, String, String, UInt32, Float64))} AS spec,
        arrayEnumerate({goals:Array(Tuple(String, String, String, UInt32, Float64))})
            AS goal_index
) AS facts
INNER JOIN
(
    -- Each visitor's sessions in the order they began, from their start times alone
    -- (ordering every session's sets with them took longer than the rest of the view).
    SELECT
        session_id,
        -- The visitor's next session.
        leadInFrame(started, 1, toDateTime64(0, 3, 'UTC')) OVER (
            PARTITION BY ifNull(visitor_id, session_id) ORDER BY started
            ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_started,
        -- The visitor's sessions before this one in the window: its prior engagement.
        row_number() OVER (
            PARTITION BY ifNull(visitor_id, session_id) ORDER BY started
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 1 AS prior
    FROM microx.session_starts(site = {site:String}, since = {since:DateTime('UTC')},
        until = {until:DateTime('UTC')})
) AS visits USING (session_id);

-- One row per session: whether it met the goal, and whether it can be judged.
CREATE OR REPLACE VIEW microx.session_goals_in AS
SELECT * EXCEPT (goal_index)
FROM microx.session_goals_each_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')}, goals = [({goal:String}, {name:String}, {target:String},
        {days:UInt32}, {rating:Float64})]);

-- What friction at a moment costs in a goal. Of the sessions that reached the moment (had
-- it, or loaded its page: microx_place) and can be judged on the goal, those that met
-- friction there against those that reached it without: the goal rate of each, the difference and its 95 % interval (Newcombe's hybrid
-- score interval, good at small counts and rates near 0 or 1), and `significant` when the
-- two-proportion test holds after Holm's correction across the moments compared. A moment
-- everyone who reached it met has no comparison (NULL). Association, not cause:
-- experiments prove a change.
CREATE OR REPLACE VIEW microx.goal_impact_each_in AS
SELECT
    * EXCEPT (scaled),
    -- Holm across the moments compared: the k-th smallest of m p-values times (m - k + 1),
    -- never below an earlier one.
    if(isNull(p_value), NULL, max(scaled) OVER holm) AS p_holm,
    ifNull(p_holm < 0.05, false) AS significant
FROM
(
    SELECT
        *,
        if(isNull(p_value), NULL, least(1, (countIf(isNotNull(p_value))
            OVER (PARTITION BY goal_index) - row_number() OVER holm + 1) * p_value)) AS scaled
    FROM
    (
        SELECT
            goal_index,
            moment,
            n1 AS sessions_met,
            x1 AS goal_met,
            round(goal_met / greatest(sessions_met, 1), 4) AS goal_rate_met,
            n2 AS sessions_not_met,
            x2 AS goal_not_met,
            round(goal_not_met / greatest(sessions_not_met, 1), 4) AS goal_rate_not_met,
            sessions_met > 0 AND sessions_not_met > 0 AS compared,
            if(compared, round(goal_rate_met - goal_rate_not_met, 4), NULL) AS difference,
            if(compared, round(microx_newcombe_low(goal_met, sessions_met, goal_not_met,
                sessions_not_met), 4), NULL) AS ci_low,
            if(compared, round(microx_newcombe_high(goal_met, sessions_met, goal_not_met,
                sessions_not_met), 4), NULL) AS ci_high,
            -- Two proportions, pooled: the test Holm corrects (the interval is Newcombe's).
            microx_two_proportion_p(goal_met, sessions_met, goal_not_met, sessions_not_met)
                AS p_value
        FROM
        (
            -- Each moment that hurt anyone: the sessions that reached its page and those of
            -- them that met friction there, looked up in `t`.
            SELECT
                goal_index,
                t[met_at].2 AS moment,
                arrayFirstIndex(r -> r.1 = 1 AND r.2 = microx_place(moment), t) AS reached_at,
                t[met_at].3 AS n1,
                t[met_at].4 AS x1,
                t[reached_at].3 - n1 AS n2,
                t[reached_at].4 - x1 AS x2
            FROM
            (
                SELECT goal_index, groupArray((kind, key, n, x)) AS t
                FROM
                (
                    -- Counted per key, not per pair of session and moment (pairing every
                    -- session with every moment took most of the view's time): each page
                    -- reached (kind 1), and each moment that hurt, where the session
                    -- reached it (2).
                    SELECT goal_index, item.1 AS kind, item.2 AS key, countIf(item.3) AS n,
                        countIf(item.3 AND met) AS x
                    FROM
                    (
                        SELECT goal_index, met, places, hurt
                        FROM microx.session_goals_each_in(segment = {segment:String}, site = {site:String},
                            since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                            goals = {goals:Array(Tuple(String, String, String, UInt32, Float64))})
                        WHERE judged
                    )
                    ARRAY JOIN arrayConcat(arrayMap(p -> (1, p, true), places),
                        arrayMap(m -> (2, m, has(places, microx_place(m))), hurt)) AS item
                    GROUP BY goal_index, kind, key
                )
                GROUP BY goal_index
            )
            ARRAY JOIN arrayFilter(i -> t[i].1 = 2, arrayEnumerate(t)) AS met_at
            WHERE reached_at > 0
        )
    )
    WINDOW holm AS (PARTITION BY goal_index ORDER BY p_value NULLS LAST, moment
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WINDOW holm AS (PARTITION BY goal_index ORDER BY p_value NULLS LAST, moment
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY goal_index, significant DESC, difference, sessions_met DESC, moment;

CREATE OR REPLACE VIEW microx.goal_impact_in AS
SELECT * EXCEPT (goal_index)
FROM microx.goal_impact_each_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')}, goals = [({goal:String}, {name:String}, {target:String},
        {days:UInt32}, {rating:Float64})])
ORDER BY significant DESC, difference, sessions_met DESC, moment;

-- Experiments, judged on friction and on a goal. Each variant against the control (the
-- variant named as one, microx_is_control, else the one whose name sorts first), one row
-- per metric. The unit is the one a site assigns by: the visitor where there is a visitor
-- id (a visitor's sessions are not independent samples: a regular who meets friction every
-- visit would count many times over, and a variant that makes visitors come back less
-- would look like a broken split), else the session. A unit seen under more than one
-- variant is counted (mixed_units) and judged in neither. Metrics: `friction` (per unit, the
-- mean over its sessions of the sum of a session's moments' pain; lower is better) and
-- `goal` (the share of units judged on it that met it in a session; higher is better).
-- Per row:
--   difference, ci_low, ci_high   variant - control, 95 % (Welch's normal interval for
--                                 friction, Newcombe's for the goal)
--   p_value                       for one look at the end of a fixed plan
--   p_always_valid                mSPRT (a normal mixture over effects of about 0.1 standard
--                                 deviation): valid however often it is looked at, daily
--                                 looks included
--   p_holm                        Holm's correction of p_always_valid across every row
--   srm_p                         sample ratio mismatch: chi-square of the two arms' units
--                                 against an even split (1 degree of freedom)
--   verdict                       'better' or 'harm' when p_holm < 0.05, else 'no difference';
--                                 'sample ratio mismatch' when srm_p < 0.001 (the split is
--                                 broken, so nothing is judged)
CREATE OR REPLACE VIEW microx.experiment_results_in AS
SELECT
    * EXCEPT (scaled),
    if(isNull(p_always_valid), NULL, max(scaled) OVER holm) AS p_holm,
    multiIf(
        srm_p < 0.001, 'sample ratio mismatch',
        ifNull(p_holm, 1) >= 0.05, 'no difference',
        (metric = 'friction') = (difference < 0), 'better',
        'harm') AS verdict
FROM
(
    SELECT
        *,
        if(isNull(p_always_valid), NULL, least(1, (countIf(isNotNull(p_always_valid)) OVER ()
            - row_number() OVER holm + 1) * p_always_valid)) AS scaled
    FROM
    (
        SELECT
            experiment,
            control,
            arm AS variant,
            m.1 AS metric,
            control_sessions,
            sessions AS variant_sessions,
            control_units,
            units AS variant_units,
            mixed_units,
            m.2 AS control_n,
            m.3 AS variant_n,
            round(m.4, 4) AS control_value,
            round(m.5, 4) AS variant_value,
            round(variant_value - control_value, 4) AS difference,
            -- The estimate's variance, and what the mixture assumes of the effect's.
            m.6 / greatest(variant_n, 1) + m.7 / greatest(control_n, 1) AS v,
            pow(0.1, 2) * (m.6 + m.7) / 2 AS tau2,
            round(if(m.1 = 'goal',
                microx_newcombe_low(m.5 * variant_n, variant_n, m.4 * control_n,
                    control_n),
                m.5 - m.4 - 1.959964 * sqrt(v)), 4) AS ci_low,
            round(if(m.1 = 'goal',
                microx_newcombe_high(m.5 * variant_n, variant_n, m.4 * control_n,
                    control_n),
                m.5 - m.4 + 1.959964 * sqrt(v)), 4) AS ci_high,
            if(control_n > 0 AND variant_n > 0 AND v > 0,
                erfc(abs(m.5 - m.4) / sqrt(v) / sqrt(2)), NULL) AS p_value,
            if(control_n > 0 AND variant_n > 0 AND v > 0,
                least(1, 1 / (sqrt(v / (v + tau2))
                    * exp(least(700, tau2 * pow(m.5 - m.4, 2)
                        / (2 * v * (v + tau2)))))), NULL) AS p_always_valid,
            erfc(sqrt(pow(variant_units - control_units, 2)
                / greatest(variant_units + control_units, 1)) / sqrt(2)) AS srm_p
        FROM
        (
            SELECT
                *,
                first_value(arm) OVER e AS control,
                first_value(sessions) OVER e AS control_sessions,
                first_value(units) OVER e AS control_units,
                first_value(friction_mean) OVER e AS control_friction,
                first_value(friction_var) OVER e AS control_friction_var,
                first_value(judged_units) OVER e AS control_judged,
                first_value(goal_rate) OVER e AS control_goal_rate
            FROM
            (
                SELECT
                    *,
                    -- The units seen under more than one variant: counted, never judged.
                    sumIf(units, arm = '') OVER (PARTITION BY experiment) AS mixed_units
                FROM
                (
                    SELECT
                        experiment,
                        if(arms = 1, first_arm, '') AS arm,
                        microx_is_control(arm) AS is_control,
                        count() AS units,
                        sum(unit_sessions) AS sessions,
                        avg(unit_friction) AS friction_mean,
                        varSamp(unit_friction) AS friction_var,
                        countIf(unit_judged) AS judged_units,
                        countIf(unit_judged AND unit_met) / greatest(judged_units, 1)
                            AS goal_rate
                    FROM
                    (
                        -- One unit per visitor where there is a visitor id, else per
                        -- session: its sessions' mean friction, and whether it met the goal
                        -- in any session judged on it.
                        SELECT
                            experiment,
                            ifNull(visitor_id, session_id) AS unit,
                            uniqExact(variants[experiment]) AS arms,
                            any(variants[experiment]) AS first_arm,
                            count() AS unit_sessions,
                            avg(friction) AS unit_friction,
                            countIf(judged) > 0 AS unit_judged,
                            countIf(judged AND met) > 0 AS unit_met
                        FROM microx.session_goals_in(segment = {segment:String}, site = {site:String},
                            since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                            goal = {goal:String}, name = {name:String},
                            target = {target:String}, days = {days:UInt32},
                            rating = {rating:Float64})
                        ARRAY JOIN mapKeys(variants) AS experiment
                        GROUP BY experiment, unit
                    )
                    GROUP BY experiment, arm
                )
            )
            WHERE arm != ''
            WINDOW e AS (PARTITION BY experiment ORDER BY is_control DESC, arm
                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        )
        ARRAY JOIN [
            ('friction', control_units, units, control_friction, friction_mean,
                friction_var, control_friction_var),
            ('goal', control_judged, judged_units, control_goal_rate, goal_rate,
                goal_rate * (1 - goal_rate), control_goal_rate * (1 - control_goal_rate))
        ] AS m
        WHERE arm != control
    )
    WINDOW holm AS (ORDER BY p_always_valid NULLS LAST, experiment, variant, metric
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WINDOW holm AS (ORDER BY p_always_valid NULLS LAST, experiment, variant, metric
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY experiment, variant, metric;
