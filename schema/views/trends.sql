-- Friction over time, and what changed since the period before.

-- Per moment and bucket (bucket = 'hour' or 'day', UTC) of [since, until): the sessions
-- that reached it, those it hurt, its feedback or wait quantiles and what it cost, as
-- friction_by_moment counts them over the bucket. A bucket without the moment has no row.
CREATE OR REPLACE VIEW microx.moment_trend_in AS
SELECT
    bucket,
    kind,
    moment,
    sessions,
    hurt_sessions,
    round(hurt_sessions / greatest(sessions, 1), 4) AS hurt_rate,
    round(if(isNaN(q[1]), NULL, q[1]), 1) AS p50,
    round(if(isNaN(q[2]), NULL, q[2]), 1) AS p75,
    round(lost_ms / 1000 + frustrated_sessions * microx_frustration_s(), 1) AS score,
    round(score / greatest(sessions, 1), 3) AS cost_per_session_s
FROM
(
    SELECT
        if({bucket:String} = 'hour', hour, toStartOfDay(hour)) AS bucket,
        kind,
        moment,
        uniqMerge(sessions_state) AS sessions,
        uniqMerge(hurt_state) AS hurt_sessions,
        quantilesTDigestMerge(0.5, 0.75, 0.95)(duration_state) AS q,
        sumMerge(lost_ms_state) AS lost_ms,
        uniqMerge(frustrated_state) AS frustrated_sessions
    FROM microx.moment_states_in(site = {site:String}, since = {since:DateTime('UTC')},
        until = {until:DateTime('UTC')}, segment = {segment:String})
    GROUP BY bucket, kind, moment
)
ORDER BY kind, moment, bucket;

-- This period [since, until) against the one before it [before, since): per moment, the
-- share of the sessions reaching it that it hurt, in each, the change with Newcombe's 95 %
-- interval, the two-proportion test and Holm's correction across the moments in both.
--   verdict   'regression' / 'improvement': p_holm < 0.05 and the share moved by at least
--             one point and a tenth of what it was (a change too small to act on is not
--             news, and session counts come from uniq states, within about 0.5 %);
--             'new': reached now, not before; 'gone': reached before, not now; else 'steady'
CREATE OR REPLACE VIEW microx.moment_changes_in AS
SELECT
    * EXCEPT (scaled),
    if(isNull(p_value), NULL, max(scaled) OVER holm) AS p_holm,
    multiIf(
        sessions_before = 0, 'new',
        sessions = 0, 'gone',
        ifNull(p_holm, 1) < 0.05
            AND abs(change) >= greatest(0.01, 0.1 * hurt_rate_before),
        if(change > 0, 'regression', 'improvement'),
        'steady') AS verdict
FROM
(
    SELECT
        *,
        if(isNull(p_value), NULL, least(1, (countIf(isNotNull(p_value)) OVER ()
            - row_number() OVER holm + 1) * p_value)) AS scaled
    FROM
    (
        SELECT
            kind,
            moment,
            cur.sessions AS sessions,
            cur.hurt_sessions AS hurt_sessions,
            round(hurt_sessions / greatest(sessions, 1), 4) AS hurt_rate,
            prev.sessions AS sessions_before,
            prev.hurt_sessions AS hurt_sessions_before,
            round(hurt_sessions_before / greatest(sessions_before, 1), 4) AS hurt_rate_before,
            sessions > 0 AND sessions_before > 0 AS compared,
            if(compared, round(hurt_sessions / sessions
                - hurt_sessions_before / sessions_before, 4), NULL) AS change,
            if(compared, round(microx_newcombe_low(hurt_sessions, sessions,
                hurt_sessions_before, sessions_before), 4), NULL) AS ci_low,
            if(compared, round(microx_newcombe_high(hurt_sessions, sessions,
                hurt_sessions_before, sessions_before), 4), NULL) AS ci_high,
            microx_two_proportion_p(hurt_sessions, sessions, hurt_sessions_before,
                sessions_before) AS p_value,
            cur.p75 AS p75,
            prev.p75 AS p75_before,
            cur.score AS score,
            prev.score AS score_before,
            cur.cost_per_session_s AS cost_per_session_s,
            prev.cost_per_session_s AS cost_per_session_s_before
        FROM microx.friction_by_moment_in(site = {site:String}, since = {since:DateTime('UTC')},
            until = {until:DateTime('UTC')}, segment = {segment:String}) AS cur
        FULL OUTER JOIN microx.friction_by_moment_in(site = {site:String},
            since = {before:DateTime('UTC')}, until = {since:DateTime('UTC')},
            segment = {segment:String}) AS prev
            USING (kind, moment)
    )
    WINDOW holm AS (ORDER BY p_value NULLS LAST, kind, moment
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WINDOW holm AS (ORDER BY p_value NULLS LAST, kind, moment
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY verdict = 'regression' DESC, verdict = 'improvement' DESC, verdict = 'new' DESC,
    ifNull(change, 0) * greatest(sessions, sessions_before) DESC, moment;

-- A goal over time. Per bucket ('hour' or 'day', UTC) of [since, until), by when its
-- sessions began: the sessions judged on the goal, those that met it and their share; and
-- of the sessions with a visitor id that met it, the repeats: those whose visitor had met it
-- in an earlier session in the window (a repeat purchase, for a purchase goal), their share,
-- and the goals met per visitor who met one. As with return_trend, a visitor's sessions before
-- `since` are not seen: the first days of a window count some repeats as first times.
-- The goal's parameters are session_goals' (docs/analysis.md).
CREATE OR REPLACE VIEW microx.goal_trend_each_in AS
SELECT
    goal_index,
    bucket,
    countIf(judged) AS judged_sessions,
    countIf(judged AND met) AS met_sessions,
    round(met_sessions / greatest(judged_sessions, 1), 4) AS goal_rate,
    countIf(judged AND met AND isNotNull(visitor_id)) AS met_by_visitors,
    countIf(judged AND met AND isNotNull(visitor_id) AND met_before > 0) AS repeat_sessions,
    round(repeat_sessions / greatest(met_by_visitors, 1), 4) AS repeat_share,
    uniqExactIf(visitor_id, judged AND met AND isNotNull(visitor_id)) AS visitors_met,
    round(met_by_visitors / greatest(visitors_met, 1), 3) AS goals_per_visitor
FROM
(
    SELECT
        goal_index,
        if({bucket:String} = 'hour', toStartOfHour(started), toStartOfDay(started)) AS bucket,
        judged,
        met,
        visitor_id,
        -- The visitor's earlier sessions in the window that met the goal.
        sum(toUInt32(judged AND met)) OVER (
            PARTITION BY goal_index, ifNull(visitor_id, session_id)
            ORDER BY started, session_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            AS met_before
    FROM microx.session_goals_each_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
        until = {until:DateTime('UTC')},
        goals = {goals:Array(Tuple(String, String, String, UInt32, Float64))})
)
GROUP BY goal_index, bucket
ORDER BY goal_index, bucket;

CREATE OR REPLACE VIEW microx.goal_trend_in AS
SELECT * EXCEPT (goal_index)
FROM microx.goal_trend_each_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')}, bucket = {bucket:String}, goals = [({goal:String},
        {name:String}, {target:String}, {days:UInt32}, {rating:Float64})])
ORDER BY bucket;

-- A goal in this period [since, until) against the one before it [before, since): the
-- share of judged sessions that met it in each, the change with Newcombe's 95 % interval and
-- the two-proportion test, and the same for the share of goals met that were repeats.
-- Each period is counted as it would be alone, so the two compare alike: a repeat is a
-- visitor's second goal within the same period, and a return is judged only where its days
-- end before that period does.
--   verdict   'regression' / 'improvement': the goal rate moved with p < 0.05 and by at
--             least one point and a tenth of what it was (the rule of moment_changes; one
--             goal is one test, so there is nothing to correct across); 'new' when nothing
--             was judged before; else 'steady'
CREATE OR REPLACE VIEW microx.goal_changes_each_in AS
SELECT
    goal_index,
    judged_sessions,
    met_sessions,
    round(met_sessions / greatest(judged_sessions, 1), 4) AS goal_rate,
    judged_sessions_before,
    met_sessions_before,
    round(met_sessions_before / greatest(judged_sessions_before, 1), 4) AS goal_rate_before,
    judged_sessions > 0 AND judged_sessions_before > 0 AS compared,
    if(compared, round(met_sessions / judged_sessions
        - met_sessions_before / judged_sessions_before, 4), NULL) AS change,
    if(compared, round(microx_newcombe_low(met_sessions, judged_sessions,
        met_sessions_before, judged_sessions_before), 4), NULL) AS ci_low,
    if(compared, round(microx_newcombe_high(met_sessions, judged_sessions,
        met_sessions_before, judged_sessions_before), 4), NULL) AS ci_high,
    microx_two_proportion_p(met_sessions, judged_sessions, met_sessions_before,
        judged_sessions_before) AS p_value,
    met_by_visitors,
    repeat_sessions,
    round(repeat_sessions / greatest(met_by_visitors, 1), 4) AS repeat_share,
    met_by_visitors_before,
    repeat_sessions_before,
    round(repeat_sessions_before / greatest(met_by_visitors_before, 1), 4)
        AS repeat_share_before,
    if(met_by_visitors > 0 AND met_by_visitors_before > 0,
        round(repeat_sessions / met_by_visitors
            - repeat_sessions_before / met_by_visitors_before, 4), NULL) AS repeat_change,
    microx_two_proportion_p(repeat_sessions, met_by_visitors, repeat_sessions_before,
        met_by_visitors_before) AS repeat_p_value,
    multiIf(
        judged_sessions_before = 0, 'new',
        ifNull(p_value, 1) < 0.05
            AND abs(change) >= greatest(0.01, 0.1 * goal_rate_before),
        if(change < 0, 'regression', 'improvement'),
        'steady') AS verdict
FROM
(
    SELECT
        goal_index,
        countIf(now AND judged) AS judged_sessions,
        countIf(now AND judged AND met) AS met_sessions,
        countIf(NOT now AND judged) AS judged_sessions_before,
        countIf(NOT now AND judged AND met) AS met_sessions_before,
        countIf(now AND by_visitor) AS met_by_visitors,
        countIf(now AND by_visitor AND met_before > 0) AS repeat_sessions,
        countIf(NOT now AND by_visitor) AS met_by_visitors_before,
        countIf(NOT now AND by_visitor AND met_before > 0) AS repeat_sessions_before
    FROM
    (
        SELECT
            goal_index,
            now,
            judged,
            met,
            judged AND met AND isNotNull(visitor_id) AS by_visitor,
            -- The visitor's earlier goals in the same period.
            sum(toUInt32(by_visitor)) OVER (
                PARTITION BY goal_index, ifNull(visitor_id, session_id), now
                ORDER BY started, session_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                AS met_before
        FROM
        (
            -- Both periods read at once; a session counts in the one it began in, and the
            -- period before is judged as it would be alone: a return only where its days
            -- end before that period does, and only to a session within it.
            SELECT
                goal_index,
                {goals:Array(Tuple(String, String, String, UInt32, Float64))}[goal_index]
                    AS spec,
                session_id,
                visitor_id,
                started,
                started >= {since:DateTime('UTC')} AS now,
                judged AND (now OR spec.1 != 'return'
                    OR started + toIntervalDay(spec.4) <= {since:DateTime('UTC')})
                    AS judged,
                met AND (now OR spec.1 != 'return'
                    OR next_started < {since:DateTime('UTC')}) AS met
            FROM microx.session_goals_each_in(segment = {segment:String}, site = {site:String},
                since = {before:DateTime('UTC')}, until = {until:DateTime('UTC')},
                goals = {goals:Array(Tuple(String, String, String, UInt32, Float64))})
        )
        UNION ALL
        -- A row for every goal that counts nothing, so that each goal has its row,
        -- sessions or none.
        SELECT
            arrayJoin(arrayEnumerate(
                {goals:Array(Tuple(String, String, String, UInt32, Float64))})) AS goal_index,
            false AS now, false AS judged, false AS met, false AS by_visitor, 0 AS met_before
    )
    GROUP BY goal_index
)
ORDER BY goal_index;

CREATE OR REPLACE VIEW microx.goal_changes_in AS
SELECT * EXCEPT (goal_index)
FROM microx.goal_changes_each_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')}, before = {before:DateTime('UTC')},
    goals = [({goal:String}, {name:String}, {target:String}, {days:UInt32},
        {rating:Float64})]);
