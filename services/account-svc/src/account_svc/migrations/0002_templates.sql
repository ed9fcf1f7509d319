-- Approved message templates per enterprise (Template Lookup app). Announced on TEMPLATES
-- through the outbox; a deleted template's row is removed and a tombstone published.
CREATE TABLE templates (
    id                     text PRIMARY KEY,
    enterprise_id          text NOT NULL REFERENCES organizations (id),
    channel                text NOT NULL CHECK (channel IN ('rcs', 'sms', 'truecaller', 'whatsapp')),
    name                   text NOT NULL,
    text                   text NOT NULL,
    regulatory_template_id text,
    status                 text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    version                integer NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX templates_name ON templates (enterprise_id, channel, lower(name));
CREATE INDEX templates_enterprise ON templates (enterprise_id, id);
