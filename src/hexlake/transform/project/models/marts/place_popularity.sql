/* CANVS place popularity, as of the run's execution time:
     score = 0.4 * followers / max(followers) + 0.3 * posts / max(posts)
           + 0.3 * recent_engagement / max(recent_engagement)
   followers = users whose latest follow/unfollow of the place is a follow; posts = post
   interactions; recent_engagement = reactions + 2 * comments in the 7 days before as-of.
   Each max is over the places shown; a zero max contributes 0. Places with fewer than
   @heatmap_k distinct people are suppressed before normalising and ranking. */
MODEL (
  name marts.place_popularity,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain place_id,
  audits (
    not_null(columns := (place_id, popularity_score, popularity_rank)),
    unique_values(columns := (place_id)),
    accepted_range(column := popularity_score, min_v := 0, max_v := 1),
    accepted_range(column := unique_users, min_v := @heatmap_k)
  )
);

WITH interactions AS (
  SELECT *
  FROM staging.stg_place_interactions
  WHERE ts <= CAST(@execution_ts AS TIMESTAMP)
), follow_state AS (
  SELECT
    place_id,
    user_key,
    interaction_type,
    ROW_NUMBER() OVER (PARTITION BY place_id, user_key ORDER BY ts DESC, event_id DESC) AS recency
  FROM interactions
  WHERE interaction_type IN ('follow', 'unfollow') AND user_key IS NOT NULL
), followers AS (
  SELECT place_id, COUNT(*) AS follower_count
  FROM follow_state
  WHERE recency = 1 AND interaction_type = 'follow'
  GROUP BY place_id
), per_place AS (
  SELECT
    place_id,
    MAX(h3_r9) AS h3_r9,
    COUNT(DISTINCT COALESCE(user_key, anonymous_key)) AS unique_users,
    SUM(CASE WHEN interaction_type = 'post' THEN 1 ELSE 0 END) AS post_count,
    SUM(
      CASE
        WHEN ts <= @add_days(CAST(@execution_ts AS TIMESTAMP), -7) THEN 0
        WHEN interaction_type = 'reaction' THEN 1
        WHEN interaction_type = 'comment' THEN 2
        ELSE 0
      END
    ) AS recent_engagement,
    MAX(ts) AS last_interaction_at
  FROM interactions
  GROUP BY place_id
), eligible AS (
  SELECT
    p.place_id,
    p.h3_r9,
    p.unique_users,
    COALESCE(f.follower_count, 0) AS follower_count,
    p.post_count,
    p.recent_engagement,
    p.last_interaction_at
  FROM per_place AS p
  LEFT JOIN followers AS f ON f.place_id = p.place_id
  WHERE p.unique_users >= @heatmap_k
), scored AS (
  SELECT
    *,
    0.4 * COALESCE(@as_double(follower_count) / NULLIF(MAX(follower_count) OVER (), 0), 0)
      + 0.3 * COALESCE(@as_double(post_count) / NULLIF(MAX(post_count) OVER (), 0), 0)
      + 0.3 * COALESCE(@as_double(recent_engagement) / NULLIF(MAX(recent_engagement) OVER (), 0), 0)
      AS popularity_score
  FROM eligible
)
SELECT
  place_id,
  h3_r9,
  CAST(unique_users AS BIGINT) AS unique_users,
  CAST(follower_count AS BIGINT) AS follower_count,
  CAST(post_count AS BIGINT) AS post_count,
  CAST(recent_engagement AS BIGINT) AS recent_engagement,
  popularity_score,
  CAST(RANK() OVER (ORDER BY popularity_score DESC) AS BIGINT) AS popularity_rank,
  last_interaction_at,
  CAST(@execution_ts AS TIMESTAMP) AS as_of
FROM scored
