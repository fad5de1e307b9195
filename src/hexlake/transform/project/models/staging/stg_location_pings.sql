/* Location pings with a position (already coarsened by the gate without precise consent): live
   `location_ping`s and imported location history (Takeout `location_record`, source `takeout`). */
MODEL (
  name staging.stg_location_pings,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ts, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain event_id,
  audits (
    not_null(columns := (event_id, ts, lat, lng)),
    unique_values(columns := (event_id)),
    accepted_range(column := lat, min_v := -90, max_v := 90),
    accepted_range(column := lng, min_v := -180, max_v := 180)
  )
);

SELECT
  event_id,
  ts,
  event_date,
  source,
  user_key,
  anonymous_key,
  session_id,
  lat,
  lng,
  accuracy_m,
  h3_r6,
  h3_r9,
  h3_r12
FROM staging.stg_events
WHERE ts BETWEEN @start_dt AND @end_dt
  AND event_type IN ('location_ping', 'location_record')
  AND lat IS NOT NULL
  AND lng IS NOT NULL
