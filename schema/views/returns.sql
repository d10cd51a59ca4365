-- Loyalty over time: visitors coming back, and how likely they say they are to recommend.

-- Per bucket ('hour' or 'day', UTC) of [since, until): the visitors with a visitor id who
-- began a session then, those of them who had begun one before in the window (returning),
-- their share, and sessions per visitor. A visitor's sessions before `since` are not seen:
-- the first days of a window count some returning visitors as new. In a segment, the
-- sessions in it, and whether their visitor had begun any session before.
CREATE OR REPLACE VIEW microx.return_trend_in AS
SELECT
    bucket,
    uniqExact(visitor_id) AS visitors,
    uniqExactIf(visitor_id, prior > 0) AS returning_visitors,
    round(returning_visitors / greatest(visitors, 1), 4) AS returning_share,
    count() AS sessions,
    round(sessions / greatest(visitors, 1), 3) AS sessions_per_visitor
FROM
(
    SELECT
        visitor AS visitor_id,
        if({bucket:String} = 'hour', toStartOfHour(started), toStartOfDay(started)) AS bucket,
        session_id,
        row_number() OVER (PARTITION BY visitor ORDER BY started, session_id) - 1 AS prior
    FROM
    (
        SELECT session_id, any(visitor_id) AS visitor, min(event_time) AS started
        FROM microx.events
        WHERE site = {site:String} AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')} AND isNotNull(visitor_id)
        GROUP BY session_id
    )
)
-- In a segment, its sessions, each still numbered among all of its visitor's.
WHERE {segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
    site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
    segment = {segment:String}, whole = 1))
GROUP BY bucket
ORDER BY bucket;

-- Per bucket: answers to the 0-10 "how likely are you to recommend" question a site asks
-- with microx.feedback({name}, score): promoters (9-10), passives (7-8), detractors (0-6)
-- and the net promoter score, 100 x (promoters - detractors) / answers, with a 95 % interval
-- by the adjusted Wald method (one promoter, one passive and one detractor added, which
-- keeps the interval sound at small counts). Answers outside 0-10 are not counted; a
-- visitor answering twice in a bucket counts once, with the last answer.
CREATE OR REPLACE VIEW microx.recommendation_trend_in AS
SELECT bucket, answers, promoters, passives, detractors, nps, nps_low, nps_high
FROM
(
    SELECT
        bucket,
        count() AS answers,
        countIf(score >= 9) AS promoters,
        countIf(score >= 7 AND score < 9) AS passives,
        countIf(score < 7) AS detractors,
        round(100 * (promoters - detractors) / greatest(answers, 1), 1) AS nps,
        (promoters + 1) / (answers + 3) AS p,
        (detractors + 1) / (answers + 3) AS d,
        1.959964 * sqrt((p + d - pow(p - d, 2)) / (answers + 3)) AS margin,
        round(greatest(-100, 100 * (p - d - margin)), 1) AS nps_low,
        round(least(100, 100 * (p - d + margin)), 1) AS nps_high
    FROM
    (
        SELECT
            if({bucket:String} = 'hour', toStartOfHour(event_time), toStartOfDay(event_time))
                AS bucket,
            ifNull(visitor_id, session_id) AS who,
            argMax(value, event_time) AS score
        FROM microx.events
        WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')} AND type = 'feedback'
            AND name = {name:String} AND value >= 0 AND value <= 10
        GROUP BY bucket, who
    )
    GROUP BY bucket
)
ORDER BY bucket;
