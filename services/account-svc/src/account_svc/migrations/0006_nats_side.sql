-- The API key hash the account's NATS side (its account JWT in the resolver) was last made
-- for, written by the provisioner once the JWT is pushed (NULL: not made yet, or deleted).
-- The auth callout admits an integrator's key only once this matches the account's current
-- key hash, so a connect racing the provisioner waits briefly instead of being admitted into
-- a NATS account the server does not know yet (which it refuses after ~2 s).
ALTER TABLE accounts ADD COLUMN nats_key_hash text;

-- Accounts stored before the column existed were provisioned by then (their events came first).
UPDATE accounts SET nats_key_hash = secrets ->> 'api_key_hash' WHERE status = 'active';
