/* Seed 001's daily recommendation fact: one row per served recommendation list (a
   `recommendation_served` event from GET /v1/recommend), with the clicks that joined back to it:
   place interactions whose `context.recommendation_id` names it, within a day of serving.
   CTR by model version: SELECT model_version, AVG(clicked) FROM marts.fact_recommendations GROUP BY 1. */
MODEL (
  name marts.fact_recommendations,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain recommendation_id,
  audits (
    not_null(columns := (recommendation_id, served_at, model_version, arm, clicks, clicked)),
    unique_values(columns := (recommendation_id)),
    accepted_range(column := clicked, min_v := 0, max_v := 1)
  )
);

WITH served AS (
  SELECT
    @json_str(properties, 'recommendation_id') AS recommendation_id,
    MIN(ts) AS served_at,
    MAX(user_key) AS user_key,
    MAX(@json_str(properties, 'model_version')) AS model_version,
    MAX(@json_str(properties, 'arm')) AS arm,
    MAX(@json_num(properties, 'k')) AS k,
    BOOL_OR(@json_bool(properties, 'cached')) AS cached  -- max(boolean) does not exist on PostgreSQL
  FROM staging.stg_events
  WHERE event_type = 'recommendation_served'
    AND ts <= CAST(@execution_ts AS TIMESTAMP)
    AND @json_str(properties, 'recommendation_id') IS NOT NULL
  GROUP BY @json_str(properties, 'recommendation_id')
), clicks AS (
  SELECT
    @json_str(properties, 'context.recommendation_id') AS recommendation_id,
    ts,
    event_id
  FROM staging.stg_events
  WHERE event_type IN ('place_interaction', 'user_interaction')
    AND ts <= CAST(@execution_ts AS TIMESTAMP)
    AND @json_str(properties, 'context.recommendation_id') IS NOT NULL
), joined AS (
  SELECT s.recommendation_id, COUNT(DISTINCT c.event_id) AS clicks
  FROM served AS s
  LEFT JOIN clicks AS c
    ON c.recommendation_id = s.recommendation_id
    AND c.ts >= s.served_at
    AND c.ts <= @add_days(s.served_at, 1)
  GROUP BY s.recommendation_id
)
SELECT
  s.recommendation_id,
  s.served_at,
  CAST(s.served_at AS DATE) AS served_date,
  s.user_key,
  COALESCE(s.model_version, 'popularity') AS model_version,
  COALESCE(s.arm, 'a') AS arm,
  CAST(s.k AS BIGINT) AS k,
  COALESCE(s.cached, FALSE) AS cached,
  CAST(j.clicks AS BIGINT) AS clicks,
  CAST(CASE WHEN j.clicks > 0 THEN 1 ELSE 0 END AS BIGINT) AS clicked,
  CAST(@execution_ts AS TIMESTAMP) AS as_of
FROM served AS s
JOIN joined AS j ON j.recommendation_id = s.recommendation_id
