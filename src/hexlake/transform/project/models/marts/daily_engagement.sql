/* CANVS daily_engagement: per day and H3 r6 cell, posts, reactions and comments at places
   (from place interactions), plus distinct engaged users. */
MODEL (
  name marts.daily_engagement,
  kind INCREMENTAL_BY_TIME_RANGE (time_column date, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain (date, h3_cell_res6),
  audits (
    not_null(columns := (date, h3_cell_res6)),
    unique_combination_of_columns(columns := (date, h3_cell_res6)),
    accepted_range(column := posts, min_v := 0)
  )
);

SELECT
  event_date AS date,
  h3_r6 AS h3_cell_res6,
  CAST(SUM(CASE WHEN interaction_type = 'post' THEN 1 ELSE 0 END) AS BIGINT) AS posts,
  CAST(SUM(CASE WHEN interaction_type = 'reaction' THEN 1 ELSE 0 END) AS BIGINT) AS reactions,
  CAST(SUM(CASE WHEN interaction_type = 'comment' THEN 1 ELSE 0 END) AS BIGINT) AS comments,
  CAST(COUNT(DISTINCT COALESCE(user_key, anonymous_key)) AS BIGINT) AS unique_users
FROM staging.stg_place_interactions
WHERE ts BETWEEN @start_dt AND @end_dt
  AND h3_r6 IS NOT NULL
  AND interaction_type IN ('post', 'reaction', 'comment')
GROUP BY event_date, h3_r6
