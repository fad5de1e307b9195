/* Seed 000 `features.user_features`: one row per known user as of the run's execution time.
   Windows end at @execution_ts, so a row never counts an event after its as-of time (the ML
   training set recomputes the same definitions as of each label's time: hexlake.ml.features).
   engagement_percentile = PERCENT_RANK of 30-day interactions among users, in [0, 1]. */
MODEL (
  name features.user_features,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain user_key,
  audits (
    not_null(columns := (user_key, interactions_30d, engagement_percentile, as_of)),
    unique_values(columns := (user_key)),
    accepted_range(column := engagement_percentile, min_v := 0, max_v := 1),
    accepted_range(column := days_since_signup, min_v := 0)
  )
);

WITH events AS (
  SELECT user_key, ts, h3_r6, h3_r9
  FROM staging.stg_events
  WHERE user_key IS NOT NULL AND ts <= CAST(@execution_ts AS TIMESTAMP)
), interactions AS (
  SELECT user_key, ts, place_id, interaction_type, h3_r9
  FROM staging.stg_place_interactions
  WHERE user_key IS NOT NULL AND ts <= CAST(@execution_ts AS TIMESTAMP)
), firsts AS (
  SELECT user_key, MIN(ts) AS first_seen_at
  FROM events
  GROUP BY user_key
), counts AS (
  SELECT
    user_key,
    SUM(CASE WHEN interaction_type = 'post' AND ts > @add_days(CAST(@execution_ts AS TIMESTAMP), -7) THEN 1 ELSE 0 END) AS posts_7d,
    SUM(CASE WHEN interaction_type = 'post' AND ts > @add_days(CAST(@execution_ts AS TIMESTAMP), -30) THEN 1 ELSE 0 END) AS posts_30d,
    SUM(CASE WHEN ts > @add_days(CAST(@execution_ts AS TIMESTAMP), -7) THEN 1 ELSE 0 END) AS interactions_7d,
    SUM(CASE WHEN ts > @add_days(CAST(@execution_ts AS TIMESTAMP), -30) THEN 1 ELSE 0 END) AS interactions_30d,
    COUNT(DISTINCT CASE WHEN interaction_type IN ('visit', 'check_in') THEN place_id END) AS unique_places_visited,
    COUNT(DISTINCT place_id) AS unique_places_touched
  FROM interactions
  GROUP BY user_key
), cells AS (
  SELECT
    user_key,
    h3_r9,
    ROW_NUMBER() OVER (PARTITION BY user_key ORDER BY COUNT(*) DESC, h3_r9) AS cell_rank
  FROM events
  WHERE h3_r9 IS NOT NULL
  GROUP BY user_key, h3_r9
), regions AS (
  SELECT
    user_key,
    h3_r6,
    ROW_NUMBER() OVER (PARTITION BY user_key ORDER BY COUNT(*) DESC, h3_r6) AS cell_rank
  FROM events
  WHERE h3_r6 IS NOT NULL
  GROUP BY user_key, h3_r6
), joined AS (
  SELECT
    f.user_key,
    f.first_seen_at,
    COALESCE(c.posts_7d, 0) AS posts_7d,
    COALESCE(c.posts_30d, 0) AS posts_30d,
    COALESCE(c.interactions_7d, 0) AS interactions_7d,
    COALESCE(c.interactions_30d, 0) AS interactions_30d,
    COALESCE(c.unique_places_visited, 0) AS unique_places_visited,
    COALESCE(c.unique_places_touched, 0) AS unique_places_touched,
    h9.h3_r9 AS primary_h3_r9,
    h6.h3_r6 AS primary_h3_r6
  FROM firsts AS f
  LEFT JOIN counts AS c ON c.user_key = f.user_key
  LEFT JOIN cells AS h9 ON h9.user_key = f.user_key AND h9.cell_rank = 1
  LEFT JOIN regions AS h6 ON h6.user_key = f.user_key AND h6.cell_rank = 1
)
SELECT
  user_key,
  CAST(GREATEST(@day_diff(first_seen_at, CAST(@execution_ts AS TIMESTAMP)), 0) AS BIGINT) AS days_since_signup,
  CAST(posts_7d AS BIGINT) AS posts_7d,
  CAST(posts_30d AS BIGINT) AS posts_30d,
  CAST(interactions_7d AS BIGINT) AS interactions_7d,
  CAST(interactions_30d AS BIGINT) AS interactions_30d,
  @as_double(PERCENT_RANK() OVER (ORDER BY interactions_30d)) AS engagement_percentile,
  CAST(unique_places_visited AS BIGINT) AS unique_places_visited,
  CAST(unique_places_touched AS BIGINT) AS unique_places_touched,
  primary_h3_r9,
  primary_h3_r6,
  CAST(@execution_ts AS TIMESTAMP) AS as_of
FROM joined
