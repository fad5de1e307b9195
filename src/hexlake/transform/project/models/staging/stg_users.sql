/* One row per user from identify/signup events, SCD type 1: the latest event's traits win.
   email_domain was derived at the gate before the email was hashed; identifiers are HMAC keys. */
MODEL (
  name staging.stg_users,
  kind FULL,
  cron '@daily',
  allow_partials TRUE,
  grain user_key,
  audits (
    not_null(columns := (user_key, created_at, updated_at)),
    unique_values(columns := (user_key))
  )
);

WITH profile_events AS (
  SELECT
    user_key,
    event_type,
    ts,
    event_id,
    properties,
    ROW_NUMBER() OVER (PARTITION BY user_key ORDER BY ts DESC, event_id DESC) AS recency
  FROM staging.stg_events
  WHERE event_type IN ('identify', 'signup') AND user_key IS NOT NULL
), firsts AS (
  SELECT
    user_key,
    MIN(CASE WHEN event_type = 'signup' THEN ts END) AS signed_up_at,
    MIN(ts) AS first_identified_at,
    MAX(ts) AS updated_at,
    COUNT(*) AS profile_events
  FROM profile_events
  GROUP BY user_key
)
SELECT
  f.user_key,
  LOWER(@json_str(p.properties, 'email_domain')) AS email_domain,
  LOWER(COALESCE(@json_str(p.properties, 'auth_method'), @json_str(p.properties, 'method'))) AS signup_method,
  COALESCE(@json_bool(p.properties, 'two_factor_enabled'), FALSE) AS two_factor_enabled,
  p.properties AS traits,
  COALESCE(f.signed_up_at, f.first_identified_at) AS created_at,
  f.signed_up_at,
  f.updated_at,
  f.profile_events
FROM firsts AS f
JOIN profile_events AS p
  ON p.user_key = f.user_key AND p.recency = 1
