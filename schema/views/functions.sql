-- The functions every definition of friction is written with: the one place each is
-- written, so the hourly aggregate and the views over raw rows can never disagree about
-- what a moment is or how much it hurt. docs/analysis.md explains each.
--
-- A materialized view copies the functions it uses into itself when it is created:
-- changing one that microx.moment_hourly_mv or microx.session_hourly_mv uses needs a
-- migration that creates that view again and refills its table, or stores made before and
-- after would disagree.

-- The kind of journey moment an event belongs to.
CREATE OR REPLACE FUNCTION microx_kind AS (t) -> multiIf(
    t IN ('page', 'route'), 'page',
    t IN ('click', 'rage_click', 'dead_click', 'error_click'), 'click',
    t = 'loading', 'loading',
    startsWith(t, 'form_'), 'form',
    t = 'step', 'step',
    t IN ('moment', 'feedback'), 'moment',
    t = 'vital', 'vital',
    t IN ('error', 'long_task'), 'error',
    'signal');

-- One segment of a path as the snippet sends it (sdk_js/src/lib/url.ts, cleanUrl): an email
-- becomes [email]; an id (a number, a UUID, 8-24 hex digits with a digit, 6-15 letters and
-- digits with letters between two digits) :id; a token (16 or more characters with a
-- letter from g to z beside a digit, or a run of 8 hex digits) [token]. Words, words with
-- a number (iphone15, h264) and slugs stay as they are.
CREATE OR REPLACE FUNCTION microx_path_part AS (s) -> multiIf(
    match(s, '(?i)@|%40'), '[email]',
    match(s, '^[0-9]+$') OR match(s, '^[0-9a-fA-F-]{36}$')
        OR (match(s, '^[0-9a-fA-F]{8,24}$') AND match(s, '[0-9]'))
        OR (match(s, '^[0-9A-Za-z]{6,15}$') AND match(s, '[0-9][A-Za-z]+[0-9]')), ':id',
    length(s) >= 16 AND match(s, '(?i)[g-z][0-9]|[0-9][g-z]|[0-9a-f]{8}'), '[token]',
    s);

-- A page's path as a route template: rows stored before the snippet sent templates (or
-- from an older snippet) keep their path as it came, and group here with the newer ones
-- (/contacts/16odw8b and /contacts/x7k2m9p are /contacts/:id). A site's declared routes
-- (data-routes) are known to the snippet only.
CREATE OR REPLACE FUNCTION microx_route AS (path) ->
    arrayStringConcat(arrayMap(s -> microx_path_part(s), splitByChar('/', path)), '/');

-- Which moment: a page by its route, a click target or a loading cue on its page, a form,
-- a funnel step, a named moment. A cue named with data-microx-loading keeps its name.
CREATE OR REPLACE FUNCTION microx_moment_on AS (t, n, tg, route) -> multiIf(
    t IN ('page', 'route', 'error', 'long_task'), route,
    t IN ('click', 'rage_click', 'dead_click', 'error_click'), concat(tg, ' @ ', route),
    t = 'loading', concat(if(n IN ('', 'busy', 'progressbar'), tg, n), ' @ ', route),
    t = 'step', concat(n, ' / ', tg),
    t = 'vital', concat(n, ' @ ', route),
    n);

CREATE OR REPLACE FUNCTION microx_moment AS (t, n, tg, path) ->
    microx_moment_on(t, n, tg, microx_route(path));

-- The latency budget of a timed moment, in its own unit (ms; CLS is a score). The page
-- and vital budgets are web-vitals' "good" limits, the click budget INP's; 0 = untimed.
CREATE OR REPLACE FUNCTION microx_budget AS (t, n) -> multiIf(
    t = 'page', 3000., t = 'route', 1000., t = 'click', 200., t = 'loading', 1000.,
    t != 'vital', 0.,
    n = 'LCP', 2500., n = 'INP', 200., n = 'FCP', 1800., n = 'TTFB', 800., n = 'CLS', 0.1,
    0.);

-- What is compared with the budget: a vital's value, every other moment's duration.
CREATE OR REPLACE FUNCTION microx_measure AS (t, d, v) -> if(t = 'vital', v, d);

-- How much one occurrence hurt, 0 to 1: a frustration signal or an abandoned form is 1;
-- a timed moment is 0 within budget, rising linearly to 1 at twice the budget.
-- microx_pain_of takes the budget and the measure already named (as the materialized
-- views name them once): each parameter is its argument's whole expression again at each use.
CREATE OR REPLACE FUNCTION microx_pain_of AS (t, budget, measure) -> multiIf(
    t IN ('rage_click', 'dead_click', 'error_click', 'form_abandon'), 1.,
    budget > 0, ifNull(least(1., greatest(0., measure / budget - 1.)), 0.),
    0.);

CREATE OR REPLACE FUNCTION microx_pain AS (t, n, d, v) ->
    microx_pain_of(t, microx_budget(t, n), microx_measure(t, d, v));

-- Whether the visitor lived an occurrence at its event_time (microx.session_moments says why
-- an uncaught error and a vital from snippet 0.1.0 are not).
CREATE OR REPLACE FUNCTION microx_lived AS (t, sdk) ->
    t != 'error' AND NOT (t = 'vital' AND sdk = '0.1.0');

-- The first whole hour at or after t: t itself when it starts an hour.
CREATE OR REPLACE FUNCTION microx_hour_after AS (t) ->
    if(toStartOfHour(t) = t, toStartOfHour(t), toStartOfHour(t) + INTERVAL 1 HOUR);

-- Whether t falls in the window's part hours, before its first whole hour or in its last
-- hour begun: the rows the views read raw, the hourly aggregates holding the whole hours.
CREATE OR REPLACE FUNCTION microx_in_part_hours AS (t, since, until) ->
    t < microx_hour_after(since) OR t >= toStartOfHour(until);

-- Time lost beyond the budget by one occurrence, in ms: how much longer than its budget
-- a timed moment took. CLS is a score, not a wait: it loses no time here.
CREATE OR REPLACE FUNCTION microx_lost_ms_of AS (t, n, budget, measure) -> if(
    budget > 0 AND NOT (t = 'vital' AND n = 'CLS'), ifNull(greatest(0., measure - budget), 0.), 0.);

CREATE OR REPLACE FUNCTION microx_lost_ms AS (t, n, d, v) ->
    microx_lost_ms_of(t, n, microx_budget(t, n), microx_measure(t, d, v));

-- Whether an occurrence is a frustration: an action that failed (a rage, dead or error
-- click) or a form left without submitting.
CREATE OR REPLACE FUNCTION microx_frustrated AS (t) ->
    t IN ('rage_click', 'dead_click', 'error_click', 'form_abandon');

-- What a session frustrated at a moment costs, in seconds of waiting: 10 s, the limit of
-- attention (a wait longer than that loses the visitor's attention, as a failed action
-- breaks it). Read at query time: changing it needs no migration.
CREATE OR REPLACE FUNCTION microx_frustration_s AS () -> 10.;

-- The order of a session's moments for its end (microx.session_peak_end), as one number:
-- the time in ms, then a moment before the vital that measures it at the same instant
-- (kind != 'vital'), then the page's sequence number, then the pain (to float precision).
CREATE OR REPLACE FUNCTION microx_end_order AS (t, kind, seq, pain) ->
    bitShiftLeft(toUInt128(toUnixTimestamp64Milli(t)), 64)
    + bitShiftLeft(toUInt128(kind != 'vital'), 63)
    + bitShiftLeft(toUInt128(seq), 31)
    + reinterpretAsUInt32(toFloat32(pain));

-- The order of a session's moments for its peak: the pain (its bits order a non-negative
-- float), then the time, then the page's sequence number, then the event id.
CREATE OR REPLACE FUNCTION microx_peak_order AS (t, seq, pain, id) ->
    bitShiftLeft(toUInt256(reinterpretAsUInt64(pain)), 137)
    + bitShiftLeft(toUInt256(toUnixTimestamp64Milli(t)), 96)
    + bitShiftLeft(toUInt256(seq), 64)
    + bitAnd(toUInt128(id), toUInt128(18446744073709551615));

-- An order made total by the event id (its low 64 bits), for picking one moment.
CREATE OR REPLACE FUNCTION microx_with_id AS (k, id) ->
    bitShiftLeft(toUInt256(k), 64) + bitAnd(toUInt128(id), toUInt128(18446744073709551615));

-- Wilson's score interval of a proportion x/n at 95 % (z = 1.959964), low and high end;
-- the basis of Newcombe's interval of a difference (microx.goal_impact).
CREATE OR REPLACE FUNCTION microx_wilson_low AS (x, n) -> if(n = 0, 0.,
    ((x / n) + 1.959964 * 1.959964 / (2 * n)
        - 1.959964 * sqrt((x / n) * (1 - x / n) / n + 1.959964 * 1.959964 / (4 * n * n)))
    / (1 + 1.959964 * 1.959964 / n));
CREATE OR REPLACE FUNCTION microx_wilson_high AS (x, n) -> if(n = 0, 1.,
    ((x / n) + 1.959964 * 1.959964 / (2 * n)
        + 1.959964 * sqrt((x / n) * (1 - x / n) / n + 1.959964 * 1.959964 / (4 * n * n)))
    / (1 + 1.959964 * 1.959964 / n));

-- Newcombe's hybrid score interval (his method 10) of p1 - p2 = x1/n1 - x2/n2, at 95 %.
CREATE OR REPLACE FUNCTION microx_newcombe_low AS (x1, n1, x2, n2) ->
    x1 / n1 - x2 / n2 - sqrt(pow(x1 / n1 - microx_wilson_low(x1, n1), 2)
        + pow(microx_wilson_high(x2, n2) - x2 / n2, 2));
CREATE OR REPLACE FUNCTION microx_newcombe_high AS (x1, n1, x2, n2) ->
    x1 / n1 - x2 / n2 + sqrt(pow(microx_wilson_high(x1, n1) - x1 / n1, 2)
        + pow(x2 / n2 - microx_wilson_low(x2, n2), 2));

-- A visit's stratum of prior engagement, from the visitor's sessions before it in the
-- window: 0, 1, 2, 3-4, 5-9, 10 or more. Return rates climb with every early visit, so the
-- first strata are single counts; regulars' later visits differ less.
CREATE OR REPLACE FUNCTION microx_engagement AS (prior) ->
    multiIf(prior < 3, prior, prior < 5, 3, prior < 10, 4, 5);

-- The two-sided p-value of x1/n1 - x2/n2 by the pooled two-proportion test; NULL where a
-- side is empty or the pooled rate is 0 or 1 (nothing to test).
CREATE OR REPLACE FUNCTION microx_two_proportion_p AS (x1, n1, x2, n2) -> if(
    n1 > 0 AND n2 > 0 AND x1 + x2 > 0 AND x1 + x2 < n1 + n2,
    erfc(abs(x1 / n1 - x2 / n2) / sqrt((x1 + x2) / (n1 + n2) * (1 - (x1 + x2) / (n1 + n2))
        * (1 / n1 + 1 / n2)) / sqrt(2)),
    NULL);

-- Where a moment is reached: its page for a moment on one (`target @ path`: a click, a
-- cue, a vital), else the moment itself (a page, a form, a step, a named moment). A session
-- reached a moment when it has its place: a button everyone who pressed found dead is
-- reached by everyone on its page.
CREATE OR REPLACE FUNCTION microx_place AS (moment) ->
    if(position(moment, ' @ ') > 0, splitByString(' @ ', moment)[-1], moment);

-- Whether an experiment's variant is named as its control.
CREATE OR REPLACE FUNCTION microx_is_control AS (arm) ->
    lower(arm) IN ('control', 'baseline', 'original', 'default', 'current', 'old', 'off', 'a');

-- A segment as the views take it (their `segment` parameter): `key=value` pairs joined by
-- `&`, as in a URL's query, e.g. 'device=mobile&visit=new'; '' is every visitor.
CREATE OR REPLACE FUNCTION microx_segment AS (text) -> extractKeyValuePairs(text, '=', '&');

-- 0 for a segment of known keys and values; anything else is refused with what is known,
-- so that a misspelt key filters nothing out silently.
CREATE OR REPLACE FUNCTION microx_segment_known AS (seg) ->
    throwIf(NOT arrayAll(k -> k IN ('device', 'browser', 'os', 'route', 'visit', 'variant',
            'source'), mapKeys(seg)),
        'a segment is key=value pairs joined by &, the keys device, browser, os, route, visit, variant and source')
    + throwIf(seg['visit'] NOT IN ('', 'new', 'returning'), 'visit= is new or returning')
    + throwIf(seg['variant'] != '' AND position(seg['variant'], '/') = 0,
        'variant= is EXPERIMENT/VARIANT');

-- Whether a device, browser and operating system are a segment's (values compare without
-- case: 'mobile', 'Mobile').
CREATE OR REPLACE FUNCTION microx_client_in AS (seg, device, browser, os) ->
    (seg['device'] = '' OR lower(device) = lower(seg['device']))
    AND (seg['browser'] = '' OR lower(browser) = lower(seg['browser']))
    AND (seg['os'] = '' OR lower(os) = lower(seg['os']));

-- Whether experiment variants hold a segment's (variant=EXPERIMENT/VARIANT, split at its
-- last /).
CREATE OR REPLACE FUNCTION microx_variant_in AS (seg, variants) ->
    seg['variant'] = '' OR variants[substring(seg['variant'], 1,
            length(seg['variant']) - position(reverse(seg['variant']), '/'))]
        = substring(seg['variant'], length(seg['variant']) - position(reverse(seg['variant']), '/') + 2);

-- Whether one row is in a segment's device, browser, operating system, route template and
-- experiment variant: the keys a row carries.
CREATE OR REPLACE FUNCTION microx_in_segment AS (seg, device, browser, os, path, variants) ->
    microx_client_in(seg, device, browser, os)
    AND (seg['route'] = '' OR microx_route(path) = seg['route'])
    AND microx_variant_in(seg, variants);

-- Whether a session is in a segment's device, browser, operating system, route template
-- (one of its pages: microx.session_facts's places) and variant (at its last moment, as
-- experiments judge it).
CREATE OR REPLACE FUNCTION microx_session_in_segment AS (seg, device, browser, os, places,
    variants) ->
    microx_client_in(seg, device, browser, os)
    AND (seg['route'] = '' OR has(places, seg['route']))
    AND microx_variant_in(seg, variants);

-- Whether a segment names nothing but a device, browser or operating system: what the
-- hourly aggregate per client (microx.moment_client_hourly) holds moments by.
CREATE OR REPLACE FUNCTION microx_client_only AS (seg) ->
    arrayAll(k -> k IN ('device', 'browser', 'os'), mapKeys(seg));

-- Whether a segment names what only a whole session has: a new or returning visitor, the
-- traffic source of its first page.
CREATE OR REPLACE FUNCTION microx_by_session AS (seg) ->
    seg['visit'] != '' OR seg['source'] != '';

-- Where a visit came from, by its first page (microx.session_hourly_mv keeps it: a change
-- here needs a migration that creates that view again and refills its table): its utm_source (where the site keeps it in
-- URLs, data-query), else the referring site's domain, else 'direct' (no referrer,
-- or the site itself).
CREATE OR REPLACE FUNCTION microx_source AS (url, referrer) -> multiIf(
    extractURLParameter(url, 'utm_source') != '', lower(extractURLParameter(url, 'utm_source')),
    referrer != '' AND domainWithoutWWW(referrer) != domainWithoutWWW(url),
        domainWithoutWWW(referrer),
    'direct');
