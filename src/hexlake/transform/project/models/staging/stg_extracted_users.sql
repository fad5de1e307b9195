/* The extracted users table (hexlake extract, seed 004's stg_supabase_users) in the shape the core
   marts join: one row per user_key. No rows when no users table is extracted. */
MODEL (
  name staging.stg_extracted_users,
  kind FULL,
  cron @asof_cron,
  interval_unit 'day',
  allow_partials TRUE,
  grain user_key
);

@extracted_users()
