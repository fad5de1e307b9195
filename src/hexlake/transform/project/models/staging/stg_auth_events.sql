/* Authentication events (signup, login, failures, token refreshes...) with their method. */
MODEL (
  name staging.stg_auth_events,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ts, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain event_id,
  audits (
    not_null(columns := (event_id, event_type, ts)),
    unique_values(columns := (event_id)),
    accepted_values(column := event_type, is_in := (
      'signup', 'login', 'logout', 'login_failed', 'password_reset', 'password_changed',
      'token_refresh', 'mfa_enabled', 'mfa_challenge'
    ))
  )
);

SELECT
  event_id,
  ts,
  event_date,
  event_type,
  source,
  user_key,
  anonymous_key,
  session_id,
  LOWER(COALESCE(@json_str(properties, 'method'), @json_str(properties, 'auth_method'))) AS auth_method,
  @json_str(properties, 'reason') AS failure_reason,
  h3_r6
FROM staging.stg_events
WHERE ts BETWEEN @start_dt AND @end_dt
  AND event_type IN (
    'signup', 'login', 'logout', 'login_failed', 'password_reset', 'password_changed',
    'token_refresh', 'mfa_enabled', 'mfa_challenge'
  )
