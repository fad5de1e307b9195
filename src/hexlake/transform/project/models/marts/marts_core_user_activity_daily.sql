/* One row per identified user per day with any event or login (seed 004). user_id is the HMAC user_key.
   Logins come from login events and, when a users table is extracted, from changes of its
   last_login_at (a value no login event already counts, to the second).
   engagement_score = login_count + 2 * session_count + api_calls_count;
   is_active = logged in within the last @churned_days days (this day included). */
MODEL (
  name marts.marts_core_user_activity_daily,
  kind INCREMENTAL_BY_TIME_RANGE (time_column activity_date, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain (activity_date, user_id),
  audits (
    not_null(columns := (activity_date, user_id, api_calls_count)),
    unique_combination_of_columns(columns := (activity_date, user_id)),
    accepted_range(column := login_count, min_v := 0),
    freshness(column := activity_date, upstream := staging.stg_events, upstream_column := ts, max_lag_hours := 24)
  )
);

WITH day_events AS (
  SELECT event_date AS activity_date, user_key, event_type, session_id
  FROM staging.stg_events
  WHERE ts BETWEEN @start_dt AND @end_dt AND user_key IS NOT NULL
), daily AS (
  SELECT
    activity_date,
    user_key AS user_id,
    SUM(CASE WHEN event_type = 'login' THEN 1 ELSE 0 END) AS login_count,
    COUNT(DISTINCT session_id) AS session_count,
    COUNT(*) AS api_calls_count,
    @sorted_set(event_type) AS features_used
  FROM day_events
  GROUP BY activity_date, user_key
), extracted_logins AS (
  /* last_login_at values of the extracted users table that no login event already counts */
  SELECT x.user_key, x.login_at
  FROM staging.stg_extracted_logins AS x
  WHERE x.login_at <= @end_dt AND NOT EXISTS (
    SELECT 1 FROM staging.stg_auth_events AS e
    WHERE e.event_type = 'login' AND e.user_key = x.user_key
      AND DATE_TRUNC('second', e.ts) = DATE_TRUNC('second', x.login_at)
  )
), extracted_daily AS (
  SELECT CAST(login_at AS DATE) AS activity_date, user_key AS user_id, COUNT(*) AS login_count
  FROM extracted_logins
  WHERE login_at BETWEEN @start_dt AND @end_dt
  GROUP BY CAST(login_at AS DATE), user_key
), all_days AS (
  /* event days plus extracted-login days (no rows from the latter when no users table is extracted) */
  SELECT
    COALESCE(d.activity_date, x.activity_date) AS activity_date,
    COALESCE(d.user_id, x.user_id) AS user_id,
    COALESCE(d.login_count, 0) + COALESCE(x.login_count, 0) AS login_count,
    COALESCE(d.session_count, 0) AS session_count,
    COALESCE(d.api_calls_count, 0) AS api_calls_count,
    d.features_used
  FROM daily AS d
  FULL OUTER JOIN extracted_daily AS x ON x.activity_date = d.activity_date AND x.user_id = d.user_id
), login_days AS (
  SELECT DISTINCT user_key, event_date AS login_date
  FROM staging.stg_auth_events
  WHERE event_type = 'login' AND ts <= @end_dt AND user_key IS NOT NULL
  UNION
  SELECT DISTINCT user_key, CAST(login_at AS DATE) AS login_date
  FROM extracted_logins
), last_login AS (
  SELECT d.activity_date, d.user_id, MAX(l.login_date) AS last_login_date
  FROM all_days AS d
  JOIN login_days AS l ON l.user_key = d.user_id AND l.login_date <= d.activity_date
  GROUP BY d.activity_date, d.user_id
)
SELECT
  d.activity_date,
  d.user_id,
  CAST(d.login_count AS BIGINT) AS login_count,
  CAST(d.session_count AS BIGINT) AS session_count,
  CAST(d.api_calls_count AS BIGINT) AS api_calls_count,
  d.features_used,
  CAST(d.login_count + 2 * d.session_count + d.api_calls_count AS BIGINT) AS engagement_score,
  COALESCE(@day_diff(ll.last_login_date, d.activity_date) < @churned_days, FALSE) AS is_active,
  @day_diff(u.created_at, d.activity_date) AS days_since_signup,
  @day_diff(ll.last_login_date, d.activity_date) AS days_since_last_login
FROM all_days AS d
LEFT JOIN last_login AS ll ON ll.activity_date = d.activity_date AND ll.user_id = d.user_id
LEFT JOIN staging.stg_users AS u ON u.user_key = d.user_id
