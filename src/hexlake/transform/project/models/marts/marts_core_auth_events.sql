/* One row per authentication event, for security monitoring (seed 004): attempts, failures,
   token refreshes, plus the user's failed attempts earlier the same day. */
MODEL (
  name marts.marts_core_auth_events,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ts, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain event_id,
  audits (
    not_null(columns := (event_id, ts, event_type)),
    unique_values(columns := (event_id)),
    accepted_values(column := event_type, is_in := (
      'signup', 'login', 'logout', 'login_failed', 'password_reset', 'password_changed',
      'token_refresh', 'mfa_enabled', 'mfa_challenge'
    )),
    freshness(column := ts, upstream := staging.stg_auth_events, upstream_column := ts, max_lag_hours := 1)
  )
);

SELECT
  event_id,
  ts,
  event_date,
  user_key AS user_id,
  anonymous_key,
  session_id,
  source,
  event_type,
  auth_method,
  failure_reason,
  event_type IN ('login', 'login_failed') AS is_attempt,
  event_type = 'login_failed' AS is_failure,
  event_type = 'token_refresh' AS is_token_refresh,
  CAST(SUM(CASE WHEN event_type = 'login_failed' THEN 1 ELSE 0 END) OVER (
    PARTITION BY COALESCE(user_key, anonymous_key), event_date
    ORDER BY ts, event_id
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS BIGINT) AS failures_same_day,
  h3_r6
FROM staging.stg_auth_events
WHERE ts BETWEEN @start_dt AND @end_dt
