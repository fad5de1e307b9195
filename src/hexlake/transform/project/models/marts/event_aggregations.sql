/* Pre-computed hourly, daily and weekly (ISO weeks, Monday start) statistics by event type and
   source (seed 003). Every run recomputes all periods from the ISO week containing the first
   reprocessed day and upserts them on (period_type, period_start, event_type, source), so a week
   that straddles the lookback window is recomputed from all of its events. */
MODEL (
  name marts.event_aggregations,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (period_type, period_start, event_type, source),
    lookback @lookback_days
  ),
  cron '@daily',
  allow_partials TRUE,
  grain (period_type, period_start, event_type, source),
  audits (
    not_null(columns := (period_type, period_start, event_type, source, event_count)),
    unique_combination_of_columns(columns := (period_type, period_start, event_type, source)),
    accepted_values(column := period_type, is_in := ('hour', 'day', 'week'))
  )
);

WITH events AS (
  SELECT event_id, event_type, source, ts, user_key, session_id
  FROM staging.stg_events
  WHERE ts >= @trunc('week', @start_dt) AND ts <= @end_dt
), bucketed AS (
  SELECT 'hour' AS period_type, @trunc('hour', ts) AS period_start, event_type, source, user_key, session_id FROM events
  UNION ALL
  SELECT 'day' AS period_type, @trunc('day', ts) AS period_start, event_type, source, user_key, session_id FROM events
  UNION ALL
  SELECT 'week' AS period_type, @trunc('week', ts) AS period_start, event_type, source, user_key, session_id FROM events
)
SELECT
  CAST(period_type AS VARCHAR) AS period_type,
  period_start,
  event_type,
  source,
  CAST(COUNT(*) AS BIGINT) AS event_count,
  CAST(COUNT(DISTINCT user_key) AS BIGINT) AS unique_users,
  CAST(COUNT(DISTINCT session_id) AS BIGINT) AS unique_sessions
FROM bucketed
GROUP BY period_type, period_start, event_type, source
