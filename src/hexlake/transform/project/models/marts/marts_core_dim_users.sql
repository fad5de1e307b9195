/* One row per user (seed 004): users seen in events, plus the extracted users table when one is
   extracted (its auth methods, two-factor, dates win; its deleted users are excluded). Lifecycle stage as of the run's execution date, in this order:
   churned  - no activity for >= @churned_days days
   new      - signed up (or first seen) less than @new_days days ago
   at_risk  - no activity for >= @at_risk_days days
   active   - otherwise. */
MODEL (
  name marts.marts_core_dim_users,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain user_id,
  audits (
    not_null(columns := (user_id, lifecycle_stage, created_at)),
    unique_values(columns := (user_id)),
    accepted_values(column := lifecycle_stage, is_in := ('new', 'active', 'at_risk', 'churned'))
  )
);

WITH activity AS (
  SELECT user_id, MIN(activity_date) AS first_active_date, MAX(activity_date) AS last_active_date
  FROM marts.marts_core_user_activity_daily
  WHERE activity_date <= CAST(@execution_ds AS DATE)
  GROUP BY user_id
), first_seen AS (
  SELECT user_key, MIN(ts) AS first_seen_at
  FROM staging.stg_events
  WHERE user_key IS NOT NULL
  GROUP BY user_key
), logins AS (
  SELECT
    user_key,
    MIN(CASE WHEN event_type = 'login' THEN ts END) AS first_login_at,
    MAX(CASE WHEN event_type = 'login' THEN ts END) AS last_login_at
  FROM staging.stg_auth_events
  WHERE user_key IS NOT NULL
  GROUP BY user_key
), methods AS (
  SELECT user_key, @sorted_set(auth_method) AS auth_methods
  FROM staging.stg_auth_events
  WHERE user_key IS NOT NULL AND event_type IN ('signup', 'login') AND auth_method IS NOT NULL
  GROUP BY user_key
), preferred AS (
  SELECT user_key, auth_method AS preferred_auth_method
  FROM (
    SELECT
      user_key,
      auth_method,
      ROW_NUMBER() OVER (PARTITION BY user_key ORDER BY COUNT(*) DESC, auth_method) AS pick
    FROM staging.stg_auth_events
    WHERE user_key IS NOT NULL AND event_type = 'login' AND auth_method IS NOT NULL
    GROUP BY user_key, auth_method
  ) AS ranked
  WHERE pick = 1
), extracted AS (
  SELECT * FROM staging.stg_extracted_users
), extracted_logins AS (
  SELECT user_key, MIN(login_at) AS first_login_at FROM staging.stg_extracted_logins GROUP BY user_key
), people AS (
  /* users seen in events, plus users of the extracted users table (none when it is not extracted) */
  SELECT COALESCE(fs.user_key, x.user_key) AS user_key, fs.first_seen_at
  FROM first_seen AS fs
  FULL OUTER JOIN extracted AS x ON x.user_key = fs.user_key
), base AS (
  /* the extracted users table wins over what events say; deleted users are left out */
  SELECT
    fs.user_key AS user_id,
    COALESCE(x.email_domain, u.email_domain) AS email_domain,
    COALESCE(x.created_at, u.created_at, fs.first_seen_at) AS created_at,
    COALESCE(x.auth_methods, m.auth_methods) AS auth_methods,
    COALESCE(x.preferred_auth_method, p.preferred_auth_method) AS preferred_auth_method,
    COALESCE(x.two_factor_enabled, u.two_factor_enabled, FALSE) AS two_factor_enabled,
    LEAST(l.first_login_at, xl.first_login_at) AS first_login_at,
    GREATEST(l.last_login_at, x.last_login_at) AS last_login_at,
    a.last_active_date,
    @day_diff(a.last_active_date, CAST(@execution_ds AS DATE)) AS days_since_last_active,
    @day_diff(COALESCE(x.created_at, u.created_at, fs.first_seen_at), CAST(@execution_ds AS DATE))
      AS days_since_signup
  FROM people AS fs
  LEFT JOIN extracted AS x ON x.user_key = fs.user_key
  LEFT JOIN extracted_logins AS xl ON xl.user_key = fs.user_key
  LEFT JOIN staging.stg_users AS u ON u.user_key = fs.user_key
  LEFT JOIN activity AS a ON a.user_id = fs.user_key
  LEFT JOIN logins AS l ON l.user_key = fs.user_key
  LEFT JOIN methods AS m ON m.user_key = fs.user_key
  LEFT JOIN preferred AS p ON p.user_key = fs.user_key
  WHERE NOT COALESCE(x._is_deleted, FALSE)
)
SELECT
  user_id,
  email_domain,
  @signup_cohort(created_at) AS signup_cohort,
  auth_methods,
  preferred_auth_method,
  two_factor_enabled,
  CASE
    WHEN days_since_last_active IS NULL OR days_since_last_active >= @churned_days THEN 'churned'
    WHEN days_since_signup < @new_days THEN 'new'
    WHEN days_since_last_active >= @at_risk_days THEN 'at_risk'
    ELSE 'active'
  END AS lifecycle_stage,
  first_login_at,
  last_login_at,
  last_active_date,
  days_since_last_active,
  created_at
FROM base
