-- Core helpdesk schema. Every tenant table carries organization_id and a foreign key to
-- organizations; composite foreign keys (organization_id, id) make cross-tenant references
-- impossible at the database level, not only in queries.
-- Forward-only: a later change is a new migration, never an edit of this one.

CREATE TABLE IF NOT EXISTS organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan        text NOT NULL DEFAULT 'free',
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email            text NOT NULL,
    name             text,
    role             text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    password_hash    text,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, email)
);

-- Customers who write to the organisation.
CREATE TABLE IF NOT EXISTS contacts (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email            text NOT NULL,
    name             text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, email)
);

CREATE TABLE IF NOT EXISTS conversations (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    contact_id        uuid NOT NULL,
    channel           text NOT NULL,
    subject           text,
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
    priority          text NOT NULL DEFAULT 'normal'
                      CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id       uuid,
    tags              text[] NOT NULL DEFAULT '{}',
    -- Category of the latest classified inbound message, denormalised for the list filter.
    category          text,
    snoozed_until     timestamptz,
    last_message_at   timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, contact_id) REFERENCES contacts (organization_id, id),
    FOREIGN KEY (organization_id, assignee_id) REFERENCES users (organization_id, id)
);
-- List queries: newest first, optionally filtered by status / category / assignee.
CREATE INDEX IF NOT EXISTS conversations_org_recent
    ON conversations (organization_id, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_org_status_recent
    ON conversations (organization_id, status, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_org_category_recent
    ON conversations (organization_id, category, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_org_assignee_recent
    ON conversations (organization_id, assignee_id, last_message_at DESC, id DESC);
-- Finding the open thread of a contact on a channel.
CREATE INDEX IF NOT EXISTS conversations_org_contact_channel
    ON conversations (organization_id, contact_id, channel, last_message_at DESC);
CREATE INDEX IF NOT EXISTS conversations_tags ON conversations USING gin (tags);

CREATE TABLE IF NOT EXISTS messages (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id   uuid NOT NULL,
    direction         text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'note')),
    channel           text NOT NULL,
    contact_id        uuid,
    author_user_id    uuid,
    subject           text,
    body              text NOT NULL,
    external_id       text,
    idempotency_key   text,
    -- The request fingerprint behind idempotency_key: a reused key with another body is refused.
    request_hash      text,
    headers           jsonb NOT NULL DEFAULT '{}'::jsonb,
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status            text NOT NULL DEFAULT 'received'
                      CHECK (status IN ('received', 'classified', 'queued', 'sent', 'failed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, conversation_id) REFERENCES conversations (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, contact_id) REFERENCES contacts (organization_id, id),
    FOREIGN KEY (organization_id, author_user_id) REFERENCES users (organization_id, id)
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (organization_id, conversation_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency
    ON messages (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_external_id
    ON messages (organization_id, channel, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS classifications (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    message_id          uuid NOT NULL,
    category            text NOT NULL,
    confidence          real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    sentiment_label     text NOT NULL CHECK (sentiment_label IN ('negative', 'neutral', 'positive')),
    sentiment_score     real NOT NULL CHECK (sentiment_score BETWEEN -1 AND 1),
    language            text NOT NULL,
    urgency             text NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'urgent')),
    model_id            text NOT NULL,
    latency_ms          real NOT NULL,
    details             jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Set when an agent confirms or corrects the category (training signal).
    corrected_category  text,
    corrected_by        uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, message_id) REFERENCES messages (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, corrected_by) REFERENCES users (organization_id, id)
);
-- One automatic classification per message and model: redelivery of a queue record is a no-op.
CREATE UNIQUE INDEX IF NOT EXISTS classifications_message_model
    ON classifications (organization_id, message_id, model_id);

-- Reply drafts (AI or agent) before they are sent.
CREATE TABLE IF NOT EXISTS responses (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id   uuid NOT NULL,
    message_id        uuid,
    body              text NOT NULL,
    language          text,
    provider          text,
    model             text,
    confidence        real,
    sources           jsonb NOT NULL DEFAULT '[]'::jsonb,
    status            text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'accepted', 'edited', 'rejected', 'sent', 'blocked')),
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, conversation_id) REFERENCES conversations (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, message_id) REFERENCES messages (organization_id, id) ON DELETE SET NULL (message_id),
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id)
);
CREATE INDEX IF NOT EXISTS responses_conversation ON responses (organization_id, conversation_id, created_at DESC);

CREATE TABLE IF NOT EXISTS training_data (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    message_id        uuid,
    text              text NOT NULL,
    label             text NOT NULL,
    source            text NOT NULL CHECK (source IN ('confirmation', 'correction', 'import', 'draft_feedback')),
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, message_id) REFERENCES messages (organization_id, id) ON DELETE SET NULL (message_id),
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id)
);
CREATE INDEX IF NOT EXISTS training_data_org_label ON training_data (organization_id, label);

-- Connected channels (mailboxes, webhooks). Secrets are stored KMS-envelope-encrypted.
CREATE TABLE IF NOT EXISTS integrations (
    id                   uuid PRIMARY KEY,
    organization_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind                 text NOT NULL,
    name                 text NOT NULL,
    config               jsonb NOT NULL DEFAULT '{}'::jsonb,
    encrypted_secret     bytea,
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'error')),
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);
CREATE INDEX IF NOT EXISTS integrations_org_kind ON integrations (organization_id, kind);

CREATE TABLE IF NOT EXISTS workflows (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name              text NOT NULL,
    trigger           text NOT NULL,
    conditions        jsonb NOT NULL DEFAULT '[]'::jsonb,
    actions           jsonb NOT NULL DEFAULT '[]'::jsonb,
    enabled           boolean NOT NULL DEFAULT true,
    position          integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);
CREATE INDEX IF NOT EXISTS workflows_org_trigger ON workflows (organization_id, trigger, position) WHERE enabled;

-- Append-only domain events (what happened to a conversation), the source for analytics.
CREATE TABLE IF NOT EXISTS events (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    event_type        text NOT NULL,
    conversation_id   uuid,
    message_id        uuid,
    payload           jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    -- Erasing a conversation or message erases its history with it (cascades are the only
    -- deletes; the trigger below forbids updates).
    FOREIGN KEY (organization_id, conversation_id) REFERENCES conversations (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, message_id) REFERENCES messages (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS events_org_time ON events (organization_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS events_org_type_time ON events (organization_id, event_type, occurred_at DESC);
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only';
END $$;
DROP TRIGGER IF EXISTS events_no_update ON events;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Rolled-up figures per organisation, metric and period.
CREATE TABLE IF NOT EXISTS metrics (
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    metric            text NOT NULL,
    period            text NOT NULL CHECK (period IN ('hour', 'day', 'week', 'month')),
    period_start      timestamptz NOT NULL,
    dimensions        jsonb NOT NULL DEFAULT '{}'::jsonb,
    value             double precision NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, metric, period, period_start, dimensions)
);

CREATE TABLE IF NOT EXISTS reports (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name              text NOT NULL,
    definition        jsonb NOT NULL DEFAULT '{}'::jsonb,
    schedule          text,
    recipients        text[] NOT NULL DEFAULT '{}',
    last_run_at       timestamptz,
    last_object_key   text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);

-- Transactional outbox: written in the same transaction as the change it announces, relayed
-- to SQS after commit and by the scheduled sweeper for anything left behind.
CREATE TABLE IF NOT EXISTS outbox (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    queue             text NOT NULL,
    payload           jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    relayed_at        timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    last_error        text
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created_at) WHERE relayed_at IS NULL;

-- Security and administrative actions: who did what, from where.
CREATE TABLE IF NOT EXISTS audit_log (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    actor_user_id     uuid,
    action            text NOT NULL,
    target_type       text,
    target_id         text,
    ip                text,
    user_agent        text,
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_org_time ON audit_log (organization_id, occurred_at DESC);
