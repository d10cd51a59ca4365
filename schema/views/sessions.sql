-- Every moment of every session with how much it hurt: what microx.session_facts folds per
-- session for peak-end scores, goals, loyalty and experiments. `lived` says whether the visitor lived it at its
-- event_time: an uncaught script error is not seen (the click it broke is, as an error
-- click), and snippet 0.1.0 stamped a vital with the time of its report, which for INP and
-- CLS is the page's hiding, after everything done there (from 0.2.0 a vital carries the
-- time of what it measures: the render, the interaction, the largest shift).
CREATE OR REPLACE VIEW microx.session_moments_in AS
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
    microx_lived(type, sdk_version) AS lived,
    type,
    name,
    target,
    value
FROM microx.events
WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND event_time >= {since:DateTime('UTC')}
    AND event_time < {until:DateTime('UTC')} AND type NOT IN ('signal', 'form_field');

-- One row per session: what it did in the window, merged from the per-hour states of
-- microx.session_hourly (migration 0011) for the window's whole hours and from the rows for
-- the minutes at its edges, in the same states (the two must agree). What it holds is
-- what microx.session_moments gives of a session, so the views below read it instead:
-- its visitor, first moment, last moment lived, peak and end (see below), the sum of its
-- pain, the variants at its last moment, the places it reached, the moments that hurt it,
-- the funnel steps it took, the named moments it recorded and its ratings.
CREATE OR REPLACE VIEW microx.session_facts_in AS
SELECT
    session_id,
    sum(moments) AS moments,
    any(visitor_id) AS visitor_id,
    min(started) AS started,
    max(ended) AS ended,
    max(peak) AS peak,
    argMaxMerge(peak_moment_state) AS peak_moment,
    argMaxMerge(end_moment_state) AS end_moment,
    argMaxMerge(end_pain_state) AS end_pain,
    sum(friction) AS friction,
    JSONExtract(argMaxMerge(variants_state), 'Map(String, String)') AS variants,
    groupUniqArrayArray(places) AS places,
    groupUniqArrayArray(hurt) AS hurt,
    groupUniqArrayArray(steps) AS steps,
    groupUniqArrayArray(named) AS named,
    groupUniqArrayArray(ratings) AS ratings
FROM
(
    SELECT * EXCEPT (site, hour, last_seen, device, browser, os, source_state)
    FROM microx.session_hourly
    WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
        AND hour >= microx_hour_after({since:DateTime('UTC')})
        AND hour < toStartOfHour({until:DateTime('UTC')})
    UNION ALL
    -- Each row's moment, pain and kind are named once below: written out at every use, the
    -- functions made the engine analyse them again each time, most of the view's cost on a
    -- window of a few days.
    SELECT
        session_id,
        count() AS moments,
        any(visitor_id) AS visitor_id,
        min(event_time) AS started,
        maxIf(event_time, lived) AS ended,
        max(pain) AS peak,
        argMaxState(moment, microx_peak_order(event_time, seq, pain, event_id))
            AS peak_moment_state,
        argMaxStateIf(moment,
            microx_with_id(microx_end_order(event_time, kind, seq, pain), event_id), lived)
            AS end_moment_state,
        argMaxStateIf(pain, microx_end_order(event_time, kind, seq, pain), lived)
            AS end_pain_state,
        sum(pain) AS friction,
        argMaxState(toJSONString(variants), event_time) AS variants_state,
        groupUniqArrayIf(moment, position(moment, ' @ ') = 0) AS places,
        groupUniqArrayIf(moment, pain > 0) AS hurt,
        groupUniqArrayIf((name, target), type = 'step') AS steps,
        groupUniqArrayIf(name, type = 'moment') AS named,
        groupUniqArrayIf((name, value), type = 'feedback') AS ratings
    FROM
    (
        SELECT
            session_id, visitor_id, event_time, seq, event_id, type, name, target, value,
            variants,
            microx_lived(type, sdk_version) AS lived,
            microx_pain(type, name, duration_ms, value) AS pain,
            microx_moment(type, name, target, path) AS moment,
            microx_kind(type) AS kind
        FROM microx.events
        WHERE site = {site:String}
        AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM microx.segment_sessions(
            site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
            segment = {segment:String}, whole = 1)))
            AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
            AND microx_in_part_hours(event_time, {since:DateTime('UTC')}, {until:DateTime('UTC')})
            AND type NOT IN ('signal', 'form_field')
    )
    GROUP BY session_id
)
GROUP BY session_id;

-- When each session began and whose it is, as microx.session_facts gives them, without its
-- moments: what the views that order a visitor's sessions read (microx.session_goals).
-- Reading session_facts for it again made the engine analyse its moments, pain and route
-- functions a second time in every such view. A segment does not change it: a visitor's
-- sessions are ordered, and their returns found, among all of them.
CREATE OR REPLACE VIEW microx.session_starts AS
SELECT session_id, any(visitor_id) AS visitor_id, min(started) AS started
FROM
(
    SELECT session_id, visitor_id, started
    FROM microx.session_hourly
    WHERE site = {site:String}
        AND hour >= microx_hour_after({since:DateTime('UTC')})
        AND hour < toStartOfHour({until:DateTime('UTC')})
    UNION ALL
    SELECT session_id, any(visitor_id) AS visitor_id, min(event_time) AS started
    FROM microx.events
    WHERE site = {site:String}
        AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}
        AND microx_in_part_hours(event_time, {since:DateTime('UTC')}, {until:DateTime('UTC')})
        AND type NOT IN ('signal', 'form_field')
    GROUP BY session_id
)
GROUP BY session_id;

-- People remember a visit by its worst moment and its last one: peak-end = their mean.
-- The end is the last moment lived. Ties are broken the same way every time: for the
-- peak, the later moment; for the end, at one instant a moment comes after the vital that
-- measures it; then the later event of its page (the snippet numbers them as they happen:
-- a dead click after its click), the worse, the event id. The orders are numbers
-- (microx_peak_order, microx_end_order): one comparison a row where tuples took several.
CREATE OR REPLACE VIEW microx.session_peak_end_in AS
SELECT
    session_id,
    visitor_id,
    started,
    ended,
    moments,
    peak,
    peak_moment,
    end_moment,
    end_pain,
    round((peak + end_pain) / 2, 4) AS peak_end
FROM microx.session_facts_in(segment = {segment:String}, site = {site:String}, since = {since:DateTime('UTC')},
    until = {until:DateTime('UTC')});

-- Do visitors come back after meeting friction at a moment? Of the sessions with a visitor
-- id whose follow-up of {days} days ended before {until} (a fixed horizon: a session late in
-- the window has not had the time to be followed by another), and that reached the
-- moment (had it, or loaded its page: microx_place): the share followed by another session of the same visitor within those days,
-- for those that met friction there against those that reached it without. Visitors who
-- come often come back more and meet more moments, so the comparison is made within strata
-- of prior engagement (the visitor's sessions before this one in the window: 0, 1, 2 or
-- more) and combined with Mantel-Haenszel weights; the difference has a 95 % interval and a
-- p-value, and `significant` holds after Holm's correction across the moments compared.
-- The row `(any friction)` compares sessions with and without any friction at all.
CREATE OR REPLACE VIEW microx.loyalty_impact_in AS
SELECT
    moment,
    sessions_met,
    return_rate_met,
    sessions_not_met,
    return_rate_not_met,
    round(return_rate_met - return_rate_not_met, 4) AS crude_difference,
    round(difference, 4) AS difference,
    round(microx_newcombe_low(p1 * n1e, n1e, p2 * n2e, n2e), 4) AS ci_low,
    round(microx_newcombe_high(p1 * n1e, n1e, p2 * n2e, n2e), 4) AS ci_high,
    -- The crude rates tell another story than the comparison within strata: who meets the
    -- moment comes back more (or less) for reasons of their own.
    isNotNull(difference) AND (crude_difference < ci_low OR crude_difference > ci_high)
        AS confounded,
    p_value,
    -- Holm: the k-th smallest of m p-values times (m - k + 1), never below an earlier one.
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
        sum(n1) AS sessions_met,
        round(sum(x1) / greatest(sessions_met, 1), 4) AS return_rate_met,
        sum(n2) AS sessions_not_met,
        round(sum(x2) / greatest(sessions_not_met, 1), 4) AS return_rate_not_met,
        -- Mantel-Haenszel risk difference over the strata where both groups exist: the
        -- difference of the two groups' rates averaged over the strata with weights
        -- n1·n2/(n1+n2) ...
        sumIf(w, n1 > 0 AND n2 > 0) AS weights,
        sumIf(w * x1 / n1, n1 > 0 AND n2 > 0) / nullIf(weights, 0) AS p1,
        sumIf(w * x2 / n2, n1 > 0 AND n2 > 0) / nullIf(weights, 0) AS p2,
        p1 - p2 AS difference,
        -- ... its interval Newcombe's, from each group's stratified Wilson interval at the
        -- sessions such a weighted rate is worth (Kish: W² / Σ w²/n): one session met gives
        -- an interval as wide as one session allows, where the normal approximation of
        -- Sato's variance gave ±0.01 ...
        pow(weights, 2) / sumIf(w * w / n1, n1 > 0 AND n2 > 0) AS n1e,
        pow(weights, 2) / sumIf(w * w / n2, n1 > 0 AND n2 > 0) AS n2e,
        -- ... and the p-value of the Cochran-Mantel-Haenszel test (1 degree of freedom).
        sumIf(x1 - n1 * (x1 + x2) / (n1 + n2), n1 > 0 AND n2 > 0) AS deviation,
        sumIf(n1 * n2 * (x1 + x2) * (n1 + n2 - x1 - x2) / (pow(n1 + n2, 2) * (n1 + n2 - 1)),
            n1 > 0 AND n2 > 0 AND n1 + n2 > 1) AS variance,
        if(isNull(difference) OR variance = 0, NULL,
            erfc(abs(deviation) / sqrt(variance) / sqrt(2))) AS p_value
    FROM
    (
        SELECT
            moment,
            stratum,
            if(met_at > 0, t[met_at].4, 0) AS n1,
            if(met_at > 0, t[met_at].5, 0) AS x1,
            t[reached_at].4 - n1 AS n2,
            t[reached_at].5 - x1 AS x2,
            if(n1 > 0 AND n2 > 0, n1 * n2 / (n1 + n2), 0) AS w
        FROM
        (
            -- Each moment that hurt anyone, in each stratum: the sessions that reached it
            -- (the count of its page, or of everyone for `(any friction)` and a moment
            -- without a page) and those of them that met friction there, looked up in `t`.
            SELECT
                pair.1 AS moment,
                pair.2 AS stratum,
                if(moment = '(any friction)', '', microx_place(moment)) AS place,
                if(place = '', arrayFirstIndex(r -> r.1 = stratum AND r.2 = 0, t),
                    arrayFirstIndex(r -> r.1 = stratum AND r.2 = 1 AND r.3 = place, t))
                    AS reached_at,
                arrayFirstIndex(r -> r.1 = stratum AND r.2 = 2 AND r.3 = moment, t) AS met_at,
                t
            FROM
            (
                SELECT groupArray((stratum, kind, key, n, x)) AS t
                FROM
                (
                    -- Counted per stratum and key, not per pair of session and moment
                    -- (pairing every session with every moment took most of the view's
                    -- time): everyone (kind 0), each page reached (1), and each moment
                    -- that hurt, where the session reached it (2).
                    SELECT
                        microx_engagement(prior) AS stratum,
                        item.1 AS kind,
                        item.2 AS key,
                        countIf(item.3) AS n,
                        countIf(item.3 AND met) AS x
                    FROM
                    (
                        SELECT prior, met, places, hurt
                        FROM microx.session_goals_in(segment = {segment:String}, site = {site:String},
                            since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                            goal = 'return', name = '', target = '', days = {days:UInt32},
                            rating = 0)
                        WHERE judged
                    )
                    ARRAY JOIN arrayConcat(
                        [(0, '', true)],
                        arrayMap(p -> (1, p, true), places),
                        if(notEmpty(hurt), [(2, '(any friction)', true)], []),
                        arrayMap(m -> (2, m, microx_place(m) = ''
                            OR has(places, microx_place(m))), hurt)) AS item
                    GROUP BY stratum, kind, key
                )
            )
            ARRAY JOIN arrayFlatten(arrayMap(m -> arrayMap(s -> (m, s),
                arrayDistinct(arrayMap(r -> r.1, t))),
                arrayDistinct(arrayMap(r -> r.3, arrayFilter(r -> r.2 = 2, t))))) AS pair
        )
        WHERE reached_at > 0
    )
    GROUP BY moment
    HAVING sessions_met > 0
    )
    WINDOW holm AS (ORDER BY p_value NULLS LAST, moment
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WINDOW holm AS (ORDER BY p_value NULLS LAST, moment
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY significant DESC, difference, sessions_met DESC, moment;

