/* Freshness: within the processed interval, the model's newest time must not trail the newest
   time of its upstream by more than @max_lag_hours. Catches a model that silently stops
   picking up new data (a filter or join gone wrong) rather than a quiet source. */
AUDIT (
  name freshness,
  defaults (max_lag_hours = 1)
);

SELECT
  up.newest AS upstream_newest,
  m.newest AS model_newest
FROM (
  SELECT MAX(CAST(@upstream_column AS TIMESTAMP)) AS newest
  FROM @upstream
  WHERE @upstream_column BETWEEN @start_dt AND @end_dt
) AS up
CROSS JOIN (
  SELECT MAX(CAST(@column AS TIMESTAMP)) AS newest
  FROM @this_model
) AS m
WHERE up.newest IS NOT NULL
  AND (m.newest IS NULL OR @add_hours(m.newest, @max_lag_hours) < up.newest)
