/* CANVS hourly heat map: per hour and H3 r9 cell, events and distinct people (user, else
   anonymous id). Cells with fewer than @heatmap_k distinct people are suppressed (not stored). */
MODEL (
  name marts.heatmap_hourly,
  kind INCREMENTAL_BY_TIME_RANGE (time_column hour, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain (hour, h3_cell),
  audits (
    not_null(columns := (hour, h3_cell, unique_users)),
    unique_combination_of_columns(columns := (hour, h3_cell)),
    accepted_range(column := unique_users, min_v := @heatmap_k),
    freshness(column := hour, upstream := staging.stg_events, upstream_column := ts, max_lag_hours := 24, blocking := FALSE)
  )
);

SELECT
  @trunc('hour', ts) AS hour,
  h3_r9 AS h3_cell,
  9 AS resolution,
  CAST(COUNT(*) AS BIGINT) AS activity_count,
  CAST(COUNT(DISTINCT COALESCE(user_key, anonymous_key)) AS BIGINT) AS unique_users,
  AVG(lat) AS center_lat,
  AVG(lng) AS center_lng
FROM staging.stg_events
WHERE ts BETWEEN @start_dt AND @end_dt
  AND h3_r9 IS NOT NULL
  AND COALESCE(user_key, anonymous_key) IS NOT NULL
GROUP BY @trunc('hour', ts), h3_r9
HAVING COUNT(DISTINCT COALESCE(user_key, anonymous_key)) >= @heatmap_k
