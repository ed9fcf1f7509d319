-- Login attempts are reserved before the password is checked (adapters/login_store.py):
-- `failures` now counts attempts since the last success, each counted as a failure from the
-- moment it is allowed to run; `last_attempt_at` lets an idle count expire and be purged.
ALTER TABLE login_failures ADD COLUMN last_attempt_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX login_failures_last_attempt ON login_failures (last_attempt_at);
