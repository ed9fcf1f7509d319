-- Registered senders: what each enterprise owns (SMS sender ids with their regulatory header
-- registration, RCS agents, WABA and Truecaller numbers). Announced on SENDERS through the
-- outbox; routing-svc checks sends against them. A deleted sender's row is removed and a
-- tombstone published.
CREATE TABLE senders (
    id                  text PRIMARY KEY,
    enterprise_id       text NOT NULL REFERENCES organizations (id),
    channel             text NOT NULL CHECK (channel IN ('rcs', 'sms', 'truecaller', 'whatsapp')),
    value               text NOT NULL,
    label               text,
    header_registration text,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (channel = 'sms' OR header_registration IS NULL)
);
CREATE UNIQUE INDEX senders_value ON senders (enterprise_id, channel, value);
CREATE INDEX senders_enterprise ON senders (enterprise_id, id);

-- Every sender an active account already names in an allowlist becomes a registered sender
-- of its enterprise, so that no account stops sending when routing-svc starts checking sends
-- against the registry; each is announced like any new sender.
WITH listed AS (
    SELECT DISTINCT a.enterprise_id, ch.key AS channel, entry.value #>> '{}' AS value
    FROM accounts a
    CROSS JOIN LATERAL jsonb_each(a.config -> 'channel_settings') AS ch
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE ch.key
            WHEN 'sms' THEN ch.value -> 'sender_ids'
            WHEN 'rcs' THEN ch.value -> 'agents'
            WHEN 'whatsapp' THEN ch.value -> 'wabas'
            WHEN 'truecaller' THEN ch.value -> 'numbers'
        END -> 'allowlist'
    ) AS entry
    WHERE a.status = 'active'
      AND ch.key IN ('rcs', 'sms', 'truecaller', 'whatsapp')
      AND jsonb_typeof(ch.value) = 'object'
), made AS (
    INSERT INTO senders (id, enterprise_id, channel, value)
    SELECT 'snd_' || substr(md5(enterprise_id || '|' || channel || '|' || value), 1, 26),
           enterprise_id, channel, value
    FROM listed
    ON CONFLICT DO NOTHING
    RETURNING *
)
INSERT INTO outbox (event_id, subject, payload)
SELECT 'evt_' || substr(md5('sender backfill|' || id), 1, 26),
       'parley.sender.v1.config.' || id,
       convert_to(jsonb_build_object(
           'specversion', '1.0',
           'id', 'evt_' || substr(md5('sender backfill|' || id), 1, 26),
           'type', 'parley.sender.config.updated',
           'source', 'parley/enterprises/' || enterprise_id,
           'subject', id,
           'time', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'datacontenttype', 'application/json',
           'data', jsonb_build_object(
               'id', id, 'enterprise_id', enterprise_id, 'channel', channel, 'value', value,
               'label', NULL, 'header_registration', NULL, 'status', 'active', 'version', 1,
               'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
           )
       )::text, 'UTF8')
FROM made;
