/* Seed 000 `features.place_features`: one row per place as of the run's execution time.
   followers = users whose latest follow/unfollow is a follow; engagement_30d = reactions +
   2 * comments + 3 * posts in 30 days; places_within_500m counts other places whose mean position
   (marts.dim_places) is within 500 m (equirectangular distance, exact enough at this scale);
   trending_score = 7-day interactions over the 30-day weekly average (1 = steady, > 1 = rising);
   popularity_score comes from marts.place_popularity (0 where k-anonymity suppressed the place). */
MODEL (
  name features.place_features,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain place_id,
  audits (
    not_null(columns := (place_id, interactions_30d, popularity_score, trending_score, as_of)),
    unique_values(columns := (place_id)),
    accepted_range(column := popularity_score, min_v := 0, max_v := 1),
    accepted_range(column := trending_score, min_v := 0)
  )
);

WITH interactions AS (
  SELECT *
  FROM staging.stg_place_interactions
  WHERE ts <= CAST(@execution_ts AS TIMESTAMP)
), follow_state AS (
  SELECT
    place_id,
    interaction_type,
    ROW_NUMBER() OVER (PARTITION BY place_id, user_key ORDER BY ts DESC, event_id DESC) AS recency
  FROM interactions
  WHERE interaction_type IN ('follow', 'unfollow') AND user_key IS NOT NULL
), followers AS (
  SELECT place_id, COUNT(*) AS followers
  FROM follow_state
  WHERE recency = 1 AND interaction_type = 'follow'
  GROUP BY place_id
), per_place AS (
  SELECT
    place_id,
    SUM(CASE WHEN interaction_type = 'post' THEN 1 ELSE 0 END) AS posts_total,
    COUNT(DISTINCT CASE WHEN interaction_type = 'post' THEN user_key END) AS unique_posters,
    SUM(CASE WHEN ts > @add_days(CAST(@execution_ts AS TIMESTAMP), -7) THEN 1 ELSE 0 END) AS interactions_7d,
    SUM(CASE WHEN ts > @add_days(CAST(@execution_ts AS TIMESTAMP), -30) THEN 1 ELSE 0 END) AS interactions_30d,
    SUM(
      CASE
        WHEN ts <= @add_days(CAST(@execution_ts AS TIMESTAMP), -30) THEN 0
        WHEN interaction_type = 'reaction' THEN 1
        WHEN interaction_type = 'comment' THEN 2
        WHEN interaction_type = 'post' THEN 3
        ELSE 0
      END
    ) AS engagement_30d,
    AVG(rating) AS avg_rating
  FROM interactions
  GROUP BY place_id
), bands AS (
  /* 0.0045 degrees of latitude > 500 m: a place's neighbours lie in its own band or the two next
     to it, so the distance test runs on those pairs only (an equi-join), not on every pair. */
  SELECT place_id, lat, lng, CAST(FLOOR(lat / 0.0045) AS BIGINT) AS band
  FROM marts.dim_places
), pairs AS (
  SELECT a.place_id, b.place_id AS other_id
  FROM bands AS a
  CROSS JOIN (VALUES (-1), (0), (1)) AS o(offset_band)
  JOIN bands AS b
    ON b.band = a.band + o.offset_band
    AND b.place_id <> a.place_id
    AND 111320.0 * SQRT(
      POWER(b.lat - a.lat, 2) + POWER((b.lng - a.lng) * COS(RADIANS(a.lat)), 2)
    ) <= 500
), neighbours AS (
  SELECT place_id, COUNT(*) AS places_within_500m
  FROM pairs
  GROUP BY place_id
)
SELECT
  p.place_id,
  CAST(p.posts_total AS BIGINT) AS posts_total,
  CAST(p.unique_posters AS BIGINT) AS unique_posters,
  CAST(COALESCE(f.followers, 0) AS BIGINT) AS followers,
  CAST(p.interactions_7d AS BIGINT) AS interactions_7d,
  CAST(p.interactions_30d AS BIGINT) AS interactions_30d,
  CAST(p.engagement_30d AS BIGINT) AS engagement_30d,
  @as_double(p.avg_rating) AS avg_rating,
  CAST(COALESCE(n.places_within_500m, 0) AS BIGINT) AS places_within_500m,
  @as_double(COALESCE(pop.popularity_score, 0)) AS popularity_score,
  @as_double(p.interactions_7d) / (@as_double(p.interactions_30d) * 7.0 / 30.0 + 1.0) AS trending_score,
  CAST(@execution_ts AS TIMESTAMP) AS as_of
FROM per_place AS p
LEFT JOIN followers AS f ON f.place_id = p.place_id
LEFT JOIN neighbours AS n ON n.place_id = p.place_id
LEFT JOIN marts.place_popularity AS pop ON pop.place_id = p.place_id
