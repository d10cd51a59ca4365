-- What each session did, per hour, kept as events arrive: what the views judging sessions
-- (peak-end, goals, loyalty, experiments) need of a session, so that they merge about one
-- row per session instead of reading every event of every session again. Everything is
-- exact (sets of moments, not sketches). A window's whole hours come from here and the
-- minutes at its edges from the rows, as for the hourly aggregate. The sets, counts and
-- bounds are plain columns merged as they are (SimpleAggregateFunction), cheaper to read
-- than states; the variants at the last moment are kept as JSON text, whose arg-max state
-- reads ten times faster than a Map's. The table has a deduplication window, like every
-- table a view fills from a token insert (0007). It is filled from the events stored so
-- far: apply it while no collector inserts (`microx serve` migrates before it stores).
CREATE TABLE IF NOT EXISTS microx.session_hourly
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    session_id UUID,
    moments SimpleAggregateFunction(sum, UInt64),
    visitor_id SimpleAggregateFunction(any, Nullable(UUID)),
    started SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ended SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    peak SimpleAggregateFunction(max, Float64),
    peak_moment_state AggregateFunction(argMax, String, UInt256),
    end_moment_state AggregateFunction(argMax, String, UInt256),
    end_pain_state AggregateFunction(argMax, Float64, UInt128),
    friction SimpleAggregateFunction(sum, Float64),
    variants_state AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    places SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    hurt SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    steps SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, String))),
    named SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    ratings SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, Nullable(Float64))))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, session_id)
TTL hour + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS microx.session_hourly_mv TO microx.session_hourly
AS SELECT
    site,
    toStartOfHour(event_time) AS hour,
    session_id,
    count() AS moments,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    maxIf(event_time, microx_lived(type, sdk_version)) AS ended,
    max(microx_pain(type, name, duration_ms, value)) AS peak,
    argMaxState(microx_moment(type, name, target, path),
        microx_peak_order(event_time, seq, microx_pain(type, name, duration_ms, value), event_id))
        AS peak_moment_state,
    argMaxStateIf(microx_moment(type, name, target, path),
        microx_with_id(microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)), event_id),
        microx_lived(type, sdk_version)) AS end_moment_state,
    argMaxStateIf(microx_pain(type, name, duration_ms, value),
        microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)),
        microx_lived(type, sdk_version)) AS end_pain_state,
    sum(microx_pain(type, name, duration_ms, value)) AS friction,
    argMaxState(toJSONString(variants), event_time) AS variants_state,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        position(microx_moment(type, name, target, path), ' @ ') = 0) AS places,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        microx_pain(type, name, duration_ms, value) > 0) AS hurt,
    groupUniqArrayIf((name, target), type = 'step') AS steps,
    groupUniqArrayIf(name, type = 'moment') AS named,
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings
FROM microx.events
WHERE type NOT IN ('signal', 'form_field')
GROUP BY site, hour, session_id;

INSERT INTO microx.session_hourly
SELECT
    site,
    toStartOfHour(event_time) AS hour,
    session_id,
    count() AS moments,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started,
    maxIf(event_time, microx_lived(type, sdk_version)) AS ended,
    max(microx_pain(type, name, duration_ms, value)) AS peak,
    argMaxState(microx_moment(type, name, target, path),
        microx_peak_order(event_time, seq, microx_pain(type, name, duration_ms, value), event_id))
        AS peak_moment_state,
    argMaxStateIf(microx_moment(type, name, target, path),
        microx_with_id(microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)), event_id),
        microx_lived(type, sdk_version)) AS end_moment_state,
    argMaxStateIf(microx_pain(type, name, duration_ms, value),
        microx_end_order(event_time, microx_kind(type), seq,
            microx_pain(type, name, duration_ms, value)),
        microx_lived(type, sdk_version)) AS end_pain_state,
    sum(microx_pain(type, name, duration_ms, value)) AS friction,
    argMaxState(toJSONString(variants), event_time) AS variants_state,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        position(microx_moment(type, name, target, path), ' @ ') = 0) AS places,
    groupUniqArrayIf(microx_moment(type, name, target, path),
        microx_pain(type, name, duration_ms, value) > 0) AS hurt,
    groupUniqArrayIf((name, target), type = 'step') AS steps,
    groupUniqArrayIf(name, type = 'moment') AS named,
    groupUniqArrayIf((name, value), type = 'feedback') AS ratings
FROM microx.events
WHERE type NOT IN ('signal', 'form_field')
GROUP BY site, hour, session_id;
