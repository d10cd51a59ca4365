-- Paths: what visitors did just before they left a form, and just after a frustrated click.

-- An action a path is made of, as a reader takes it: `click: button#pay @ /checkout`,
-- `page: /cart`, `form_start: checkout-address`.
CREATE OR REPLACE FUNCTION microx_action AS (t, n, tg, path) ->
    concat(t, ': ', microx_moment(t, n, tg, path));

-- Per trigger and subject: the actions around it, in the visitor's order, and what came of
-- it, with how often and in how many sessions.
--   form_abandon   the three actions before the visitor left the form; outcome: 'left the
--                  site' (nothing after it in the window) or 'stayed'
--   rage_click,    the two actions after it (after the burst's last press, for a rage click);
--   dead_click     outcome: 'retried' (a click on the same target), 'asked for help' (an
--                  action whose name says help, support, contact, chat or FAQ), 'left' (no
--                  action after it) or 'went on'
-- Events the snippet derives from others (rage, dead and error clicks, abandonments) are
-- not actions; vitals, signals, field summaries, errors and long tasks are not either.
-- `share` is the trigger's occurrences on that subject that took this path and outcome.
CREATE OR REPLACE VIEW microx.paths_in AS
SELECT
    trigger,
    subject,
    path,
    outcome,
    count() AS times,
    uniqExact(session_id) AS sessions,
    round(times / sum(times) OVER (PARTITION BY trigger, subject), 4) AS share
FROM
(
    SELECT
        session_id,
        e.3 AS trigger,
        e.5 AS subject,
        arrayFilter(a -> a.3 NOT IN ('rage_click', 'dead_click', 'error_click', 'form_abandon'),
            steps) AS actions,
        -- When the trigger ends: a rage click's burst lasts `d` ms from its first press.
        e.1 + toIntervalMillisecond(if(trigger = 'rage_click', e.7, 0)) AS ended,
        arrayFilter(a -> (a.1, a.2) < (e.1, e.2), actions) AS before,
        arrayFilter(a -> a.1 > ended OR (a.1 = ended AND a.2 > e.2), actions) AS after,
        if(trigger = 'form_abandon', arrayMap(a -> a.4, arraySlice(before, -3)),
            arrayMap(a -> a.4, arraySlice(after, 1, 2))) AS path,
        multiIf(
            trigger = 'form_abandon', if(empty(after), 'left the site', 'stayed'),
            empty(after), 'left',
            after[1].3 = 'click' AND after[1].6 = e.6, 'retried',
            match(lower(after[1].4), 'help|support|contact|chat|faq'), 'asked for help',
            'went on') AS outcome
    FROM
    (
        SELECT
            session_id,
            arraySort(a -> (a.1, a.2), groupArray((event_time, seq, type,
                microx_action(type, name, target, path), microx_moment(type, name, target, path),
                target, toUInt32(ifNull(duration_ms, 0))))) AS steps
        FROM microx.events
        WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND event_time >= {since:DateTime('UTC')}
            AND event_time < {until:DateTime('UTC')}
            AND type NOT IN ('vital', 'signal', 'form_field', 'error', 'long_task')
            AND session_id IN (
                SELECT session_id FROM microx.events
                WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND event_time >= {since:DateTime('UTC')}
                    AND event_time < {until:DateTime('UTC')}
                    AND type IN ('form_abandon', 'rage_click', 'dead_click'))
        GROUP BY session_id
    )
    ARRAY JOIN arrayFilter(a -> a.3 IN ('form_abandon', 'rage_click', 'dead_click'), steps) AS e
)
GROUP BY trigger, subject, path, outcome
ORDER BY trigger, subject, times DESC, path, outcome;

-- Where visitors who entered a funnel and never reached {last_step} went last: the three
-- actions before the end of each such session in the window, with how many sessions ended
-- that way and their share of the funnel's unfinished sessions.
CREATE OR REPLACE VIEW microx.funnel_exit_paths_in AS
SELECT
    path,
    count() AS sessions,
    round(sessions / sum(sessions) OVER (), 4) AS share
FROM
(
    SELECT
        session_id,
        arrayMap(a -> a.3, arraySlice(arraySort(a -> (a.1, a.2), groupArray((event_time, seq,
            microx_action(type, name, target, path)))), -3)) AS path
    FROM microx.events
    WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND event_time >= {since:DateTime('UTC')}
        AND event_time < {until:DateTime('UTC')}
        AND type NOT IN ('vital', 'signal', 'form_field', 'error', 'long_task', 'rage_click',
            'dead_click', 'error_click', 'form_abandon')
    GROUP BY session_id
    HAVING countIf(type = 'step' AND name = {funnel:String}) > 0
        AND countIf(type = 'step' AND name = {funnel:String} AND target = {last_step:String}) = 0
)
GROUP BY path
ORDER BY sessions DESC, path;
