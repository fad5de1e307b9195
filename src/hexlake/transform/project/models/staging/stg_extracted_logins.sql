/* Logins seen in the extracted users table: each distinct last_login_at value in the raw history
   (the extraction sees the values at extraction time; logins in between are the auth events'). */
MODEL (
  name staging.stg_extracted_logins,
  kind FULL,
  cron '@daily',
  allow_partials TRUE,
  grain (user_key, login_at)
);

@extracted_logins()
