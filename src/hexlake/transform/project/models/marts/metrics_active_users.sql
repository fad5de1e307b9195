/* DAU/WAU/MAU per day with activity: distinct identified users active that day, in the 7 and
   30 days ending that day; stickiness = DAU / MAU. */
MODEL (
  name marts.metrics_active_users,
  kind INCREMENTAL_BY_TIME_RANGE (time_column activity_date, lookback @lookback_days),
  cron '@daily',
  allow_partials TRUE,
  grain activity_date,
  audits (
    not_null(columns := (activity_date, dau, wau, mau)),
    unique_values(columns := (activity_date)),
    accepted_range(column := stickiness, min_v := 0, max_v := 1)
  )
);

WITH days AS (
  SELECT DISTINCT activity_date
  FROM marts.marts_core_user_activity_daily
  WHERE activity_date BETWEEN @start_ds AND @end_ds
), activity AS (
  SELECT activity_date, user_id
  FROM marts.marts_core_user_activity_daily
  WHERE activity_date BETWEEN @add_days(CAST(@start_ds AS DATE), -29) AND @end_ds
), windows AS (
  SELECT
    d.activity_date,
    COUNT(DISTINCT CASE WHEN a.activity_date = d.activity_date THEN a.user_id END) AS dau,
    COUNT(DISTINCT CASE WHEN a.activity_date > @add_days(d.activity_date, -7) THEN a.user_id END) AS wau,
    COUNT(DISTINCT a.user_id) AS mau
  FROM days AS d
  JOIN activity AS a
    ON a.activity_date <= d.activity_date AND a.activity_date > @add_days(d.activity_date, -30)
  GROUP BY d.activity_date
)
SELECT
  activity_date,
  CAST(dau AS BIGINT) AS dau,
  CAST(wau AS BIGINT) AS wau,
  CAST(mau AS BIGINT) AS mau,
  @as_double(dau) / @as_double(mau) AS stickiness
FROM windows
