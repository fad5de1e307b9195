/* Seed 001's place dimension as the warehouse sees it: one row per place that has had an
   interaction, with where it is (the mean interaction position and its commonest H3 r9 cell) and
   when it was first and last seen. Names and categories live in the places registry
   (`hexlake places`); this table is the warehouse-side join key for marts and ML. */
MODEL (
  name marts.dim_places,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain place_id,
  audits (
    not_null(columns := (place_id, first_seen_at, last_seen_at, interactions_total)),
    unique_values(columns := (place_id)),
    accepted_range(column := lat, min_v := -90, max_v := 90),
    accepted_range(column := lng, min_v := -180, max_v := 180)
  )
);

WITH interactions AS (
  SELECT *
  FROM staging.stg_place_interactions
  WHERE ts <= CAST(@execution_ts AS TIMESTAMP)
), cells AS (
  SELECT
    place_id,
    h3_r9,
    ROW_NUMBER() OVER (PARTITION BY place_id ORDER BY COUNT(*) DESC, h3_r9) AS cell_rank
  FROM interactions
  WHERE h3_r9 IS NOT NULL
  GROUP BY place_id, h3_r9
), per_place AS (
  SELECT
    place_id,
    MIN(ts) AS first_seen_at,
    MAX(ts) AS last_seen_at,
    AVG(lat) AS lat,
    AVG(lng) AS lng,
    COUNT(*) AS interactions_total,
    COUNT(DISTINCT COALESCE(user_key, anonymous_key)) AS unique_users
  FROM interactions
  GROUP BY place_id
)
SELECT
  p.place_id,
  @as_double(p.lat) AS lat,
  @as_double(p.lng) AS lng,
  c.h3_r9,
  p.first_seen_at,
  p.last_seen_at,
  CAST(p.interactions_total AS BIGINT) AS interactions_total,
  CAST(p.unique_users AS BIGINT) AS unique_users,
  CAST(@execution_ts AS TIMESTAMP) AS as_of
FROM per_place AS p
LEFT JOIN cells AS c ON c.place_id = p.place_id AND c.cell_rank = 1
