-- Goals: what a visit is for. A goal is given by its parameters (docs/analysis.md):
--   goal = 'step'    the session took step {target} of funnel {name}
--   goal = 'moment'  it recorded the named moment {name} (microx.moment)
--   goal = 'rating'  it rated {name} at least {rating} (judged only where it rated)
--   goal = 'return'  the visitor began another session within {days} days of this one's
--                    start: judged only with a visitor id, and only where those days end
--                    before {until} (a fixed horizon: the last days of a window cannot
--                    tell yet)
-- Parameters a goal does not use are ignored: pass '' or 0.

-- One row per session: whether it met the goal, and whether it can be judged.
CREATE OR REPLACE VIEW microx.session_goals AS
SELECT
    session_id,
    visitor_id,
    started,
    multiIf(
        {goal:String} = 'step', took_step,
        {goal:String} = 'moment', had_moment,
        {goal:String} = 'rating', rated AND best_rating >= {rating:Float64},
        {goal:String} = 'return', isNotNull(visitor_id) AND returned,
        false) AS met,
    multiIf(
        {goal:String} = 'rating', rated,
        {goal:String} = 'return', isNotNull(visitor_id)
            AND started + toIntervalDay({days:UInt32}) <= {until:DateTime('UTC')},
        {goal:String} IN ('step', 'moment')) AS judged,
    prior,
    places,
    hurt
FROM
(
    SELECT
        *,
        -- The visitor's next session, if it began within the horizon.
        leadInFrame(started, 1, toDateTime64(0, 3, 'UTC')) OVER (
            PARTITION BY ifNull(visitor_id, session_id) ORDER BY started
            ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_started,
        next_started > started
            AND next_started <= started + toIntervalDay({days:UInt32}) AS returned,
        -- The visitor's sessions before this one in the window: its prior engagement.
        row_number() OVER (
            PARTITION BY ifNull(visitor_id, session_id) ORDER BY started
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 1 AS prior
    FROM
    (
        SELECT
            session_id,
            any(visitor_id) AS visitor_id,
            min(event_time) AS started,
            max(kind = 'step' AND name = {name:String} AND target = {target:String})
                AS took_step,
            max(type = 'moment' AND name = {name:String}) AS had_moment,
            countIf(type = 'feedback' AND name = {name:String}) > 0 AS rated,
            maxIf(value, type = 'feedback' AND name = {name:String}) AS best_rating,
            -- The places it reached (microx_place), and the moments that hurt it.
            groupUniqArrayIf(moment, position(moment, ' @ ') = 0) AS places,
            groupUniqArrayIf(moment, pain > 0) AS hurt
        FROM microx.session_moments(site = {site:String}, since = {since:DateTime('UTC')},
            until = {until:DateTime('UTC')})
        GROUP BY session_id
    )
);

-- What friction at a moment costs in a goal. Of the sessions that reached the moment (had
-- it, or loaded its page: microx_place) and can be judged on the goal, those that met
-- friction there against those that reached it without: the goal rate of each, the difference and its 95 % interval (Newcombe's hybrid
-- score interval, good at small counts and rates near 0 or 1), and `significant` when the
-- two-proportion test holds after Holm's correction across the moments compared. A moment
-- everyone who reached it met has no comparison (NULL). Association, not cause:
-- experiments prove a change.
CREATE OR REPLACE VIEW microx.goal_impact AS
SELECT
    * EXCEPT (pooled, scaled),
    -- Holm across the moments compared: the k-th smallest of m p-values times (m - k + 1),
    -- never below an earlier one.
    if(isNull(p_value), NULL, max(scaled) OVER holm) AS p_holm,
    ifNull(p_holm < 0.05, false) AS significant
FROM
(
    SELECT
        *,
        if(isNull(p_value), NULL, least(1, (countIf(isNotNull(p_value)) OVER ()
            - row_number() OVER holm + 1) * p_value)) AS scaled
    FROM
    (
        SELECT
            moment,
            countIf(met_friction) AS sessions_met,
            countIf(met_friction AND met) AS goal_met,
            round(goal_met / greatest(sessions_met, 1), 4) AS goal_rate_met,
            countIf(NOT met_friction) AS sessions_not_met,
            countIf(NOT met_friction AND met) AS goal_not_met,
            round(goal_not_met / greatest(sessions_not_met, 1), 4) AS goal_rate_not_met,
            sessions_met > 0 AND sessions_not_met > 0 AS compared,
            if(compared, round(goal_rate_met - goal_rate_not_met, 4), NULL) AS difference,
            if(compared, round(microx_newcombe_low(goal_met, sessions_met, goal_not_met,
                sessions_not_met), 4), NULL) AS ci_low,
            if(compared, round(microx_newcombe_high(goal_met, sessions_met, goal_not_met,
                sessions_not_met), 4), NULL) AS ci_high,
            -- Two proportions, pooled: the test Holm corrects (the interval is Newcombe's).
            (goal_met + goal_not_met) / greatest(sessions_met + sessions_not_met, 1) AS pooled,
            if(compared AND pooled > 0 AND pooled < 1,
                erfc(abs(goal_met / sessions_met - goal_not_met / sessions_not_met)
                    / sqrt(pooled * (1 - pooled) * (1 / sessions_met + 1 / sessions_not_met))
                    / sqrt(2)), NULL) AS p_value
        FROM
        (
            SELECT candidate.1 AS moment, has(hurt, moment) AS met_friction, met
            FROM
            (
                -- Every moment that hurt anyone, with its place, beside each session.
                SELECT
                    *,
                    groupUniqArrayArray(arrayMap(m -> (m, microx_place(m)), hurt)) OVER ()
                        AS hurting
                FROM microx.session_goals(site = {site:String}, since = {since:DateTime('UTC')},
                    until = {until:DateTime('UTC')}, goal = {goal:String}, name = {name:String},
                    target = {target:String}, days = {days:UInt32}, rating = {rating:Float64})
                WHERE judged
            )
            ARRAY JOIN hurting AS candidate
            WHERE has(places, candidate.2)
        )
        GROUP BY moment
    )
    WINDOW holm AS (ORDER BY p_value NULLS LAST, moment
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WINDOW holm AS (ORDER BY p_value NULLS LAST, moment
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY significant DESC, difference, sessions_met DESC, moment;
