/* Place interactions (seed 001 `data.interaction_type` / `data.place_id`): views, visits,
   ratings, follows, posts, reactions, comments... at one place. */
MODEL (
  name staging.stg_place_interactions,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ts, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain event_id,
  audits (
    not_null(columns := (event_id, ts, place_id, interaction_type)),
    unique_values(columns := (event_id)),
    /* the place_interaction schema's enum (the gate already enforces it) plus older short names */
    accepted_values(column := interaction_type, is_in := (
      'view', 'place_view', 'visit', 'check_in', 'rating', 'review', 'follow', 'unfollow', 'post',
      'post_view', 'reaction', 'comment', 'share', 'save', 'place_share', 'place_save', 'place_unsave',
      'directions', 'call', 'website_click', 'search_click', 'photo_view'
    ))
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
  @json_str(properties, 'place_id') AS place_id,
  LOWER(TRIM(@json_str(properties, 'interaction_type'))) AS interaction_type,
  @json_num(properties, 'rating') AS rating,
  lat,
  lng,
  h3_r6,
  h3_r9
FROM staging.stg_events
WHERE ts BETWEEN @start_dt AND @end_dt
  AND event_type = 'place_interaction'
  AND @json_str(properties, 'place_id') IS NOT NULL
