-- Customer signals per visit and item, for personalisation and for analysts: how often
-- the item was viewed (a repeated view is a second one in the same visit: the snippet
-- records each view and counting happens here, so the rule can change without a release),
-- and the basket changes. The visitor id is there only where the visitor consented.
CREATE OR REPLACE VIEW microx.customer_signals_in AS
SELECT
    session_id,
    any(visitor_id) AS visitor_id,
    target AS item,
    countIf(name = 'view') AS views,
    views >= 2 AS repeated_view,
    countIf(name = 'basket') AS basket_changes,
    sumIf(value, name = 'basket') AS basket_quantity,
    min(event_time) AS first_at,
    max(event_time) AS last_at
FROM microx.events
WHERE site = {site:String}
        AND microx_segment_known(microx_segment({segment:String})) = 0
        AND microx_in_segment(microx_segment({segment:String}), device, browser, os, path, variants)
        AND (NOT microx_by_session(microx_segment({segment:String}))
            OR session_id IN (SELECT session_id FROM microx.segment_sessions(
                site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},
                segment = {segment:String}, whole = 0)))
        AND event_time >= {since:DateTime('UTC')}
    AND event_time < {until:DateTime('UTC')}
    AND type = 'signal' AND name IN ('view', 'basket')
GROUP BY session_id, item
ORDER BY views DESC, basket_quantity DESC, last_at DESC;
