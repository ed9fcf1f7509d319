-- account-svc owns every table in schema account_svc; no other service reads them.
CREATE TABLE organizations (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('aggregator', 'enterprise')),
    aggregator_id text REFERENCES organizations (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'enterprise' OR aggregator_id IS NULL)
);
CREATE INDEX organizations_aggregator ON organizations (aggregator_id);

CREATE TABLE users (
    id              text PRIMARY KEY,
    username        text NOT NULL,
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('super_admin', 'admin')),
    organization_id text REFERENCES organizations (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username ON users (lower(username));

-- Failed logins counted per username (existing or not, so lockout reveals nothing).
CREATE TABLE login_failures (
    username     text PRIMARY KEY,
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz
);

-- Opaque bearer tokens, stored as SHA-256 hashes.
CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE business_groups (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    enterprise_id text NOT NULL REFERENCES organizations (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX business_groups_name ON business_groups (enterprise_id, lower(name));

-- config: the normalized account config without secrets; secrets: hashed/sealed values
-- (parley_shared.events.AccountSecrets plus internal bookkeeping).
CREATE TABLE accounts (
    id                text PRIMARY KEY,
    enterprise_id     text NOT NULL REFERENCES organizations (id),
    business_group_id text NOT NULL REFERENCES business_groups (id),
    version           integer NOT NULL,
    status            text NOT NULL CHECK (status IN ('active', 'deleted')),
    config            jsonb NOT NULL,
    secrets           jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_enterprise ON accounts (enterprise_id, id) WHERE status = 'active';

-- Transactional outbox: written in the same transaction as the change it announces.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
