/* Every event once: typed, deduplicated on event_id (first delivery wins), event time `ts` is the
   gate's skew-corrected time (received_at - (sent_at - timestamp)). Recomputes the last
   @lookback_days days on every run so late events are counted. Reads raw_events_all (hot and
   cold tiers), so restating a day moved to the lake still sees its events. */
MODEL (
  name staging.stg_events,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ts, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain event_id,
  audits (
    not_null(columns := (event_id, event_type, source, ts, received_at)),
    unique_values(columns := (event_id)),
    freshness(column := ts, upstream := main.raw_events_all, upstream_column := ts, max_lag_hours := 1)
  )
);

SELECT
  event_id,
  event_type,
  schema_version,
  source,
  user_key,
  anonymous_key,
  session_id,
  ts,
  CAST(ts AS DATE) AS event_date,
  received_at,
  properties,
  context,
  lat,
  lng,
  accuracy_m,
  h3_r6,
  h3_r9,
  h3_r12,
  consent,
  log_offset,
  loaded_at
FROM (
  SELECT
    r.*,
    ROW_NUMBER() OVER (
      PARTITION BY r.event_id ORDER BY r.received_at, r.log_offset, r.loaded_at
    ) AS delivery_rank
  FROM main.raw_events_all AS r
  WHERE r.ts BETWEEN @start_dt AND @end_dt
) AS deliveries
WHERE delivery_rank = 1
