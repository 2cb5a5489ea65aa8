-- Email in (issue 13): mailboxes, email columns on messages, attachments, conversation numbers
-- for subject tokens, participants, and the addresses mail must no longer go to.

-- Where email comes in. Settings hold no secrets; credentials (a password, OAuth tokens) are
-- sealed with the KMS envelope and never returned. A deleted mailbox is kept (its messages
-- point at it) and frees its address.
CREATE TABLE IF NOT EXISTS mailboxes (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name              text NOT NULL,
    -- The support address customers write to (canonical form).
    address           text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('imap', 'gmail', 'microsoft', 'forwarding')),
    settings          jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The sealed secret (KMS envelope, as ai_settings' LLM key): the data key encrypted by the
    -- master key, the nonce, the ciphertext with its tag.
    secret_encrypted_key bytea,
    secret_nonce      bytea,
    secret_ciphertext bytea,
    -- The local part of the mailbox's inbound address (`<token>@<inbound domain>`), unique
    -- across organisations: SES receiving finds the mailbox by it.
    inbound_token     text NOT NULL UNIQUE,
    status            text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'auth_failed', 'unreachable', 'paused')),
    last_sync_at      timestamptz,
    last_error        text,
    -- When the current failure began (NULL while healthy), and when it was announced as
    -- `mailbox.failed` (once it had lasted; NULL until then).
    failing_since     timestamptz,
    failure_announced_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    UNIQUE (organization_id, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS mailboxes_org_address ON mailboxes (organization_id, address) WHERE deleted_at IS NULL;

-- Conversation numbers per organisation, for the `[#1234]` subject token.
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS conversation_counter bigint NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS number bigint;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
WITH numbered AS (
    SELECT id, row_number() OVER (PARTITION BY organization_id ORDER BY created_at, id) AS n
    FROM conversations WHERE number IS NULL
)
UPDATE conversations c SET number = numbered.n FROM numbered WHERE c.id = numbered.id;
UPDATE organizations o SET conversation_counter = (SELECT coalesce(max(number), 0) FROM conversations c WHERE c.organization_id = o.id);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_org_number ON conversations (organization_id, number);
UPDATE conversations SET resolved_at = updated_at WHERE status = 'resolved' AND resolved_at IS NULL;

-- A new conversation takes the organisation's next number, whichever code path creates it.
CREATE OR REPLACE FUNCTION conversations_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.number IS NULL THEN
        UPDATE organizations SET conversation_counter = conversation_counter + 1
            WHERE id = NEW.organization_id RETURNING conversation_counter INTO NEW.number;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS conversations_number ON conversations;
CREATE TRIGGER conversations_number BEFORE INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_number();

-- When a conversation was resolved (a reply after N days starts a new one), kept by the
-- database so every path that changes the status keeps it right.
CREATE OR REPLACE FUNCTION conversations_resolved_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'resolved' AND OLD.status IS DISTINCT FROM 'resolved' THEN
        NEW.resolved_at := now();
    ELSIF NEW.status <> 'resolved' THEN
        NEW.resolved_at := NULL;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS conversations_resolved_at ON conversations;
CREATE TRIGGER conversations_resolved_at BEFORE UPDATE OF status ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_resolved_at();

-- Email on messages: the mailbox, the Message-ID (threading), the raw message's hash
-- (de-duplication with the mailbox and Message-ID), where the raw MIME is kept, the customer's
-- new words, and sanitised HTML for display.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS mailbox_id uuid;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS email_message_id text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS content_hash text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS raw_key text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS stripped_text text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS html text;
DO $$
BEGIN
    ALTER TABLE messages ADD CONSTRAINT messages_mailbox
        FOREIGN KEY (organization_id, mailbox_id) REFERENCES mailboxes (organization_id, id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS messages_email_dedupe
    ON messages (organization_id, mailbox_id, coalesce(email_message_id, ''), content_hash)
    WHERE mailbox_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_email_message_id
    ON messages (organization_id, email_message_id) WHERE email_message_id IS NOT NULL;
-- The loop guard's caps count a sender's automatic mail in a window.
CREATE INDEX IF NOT EXISTS messages_contact_recent ON messages (organization_id, contact_id, created_at);

CREATE TABLE IF NOT EXISTS message_attachments (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    message_id        uuid NOT NULL,
    filename          text,
    content_type      text NOT NULL,
    size_bytes        bigint NOT NULL,
    content_id        text,
    inline            boolean NOT NULL DEFAULT false,
    -- Outlook's winmail.dat (TNEF): the files are inside it.
    tnef              boolean NOT NULL DEFAULT false,
    sha256            text NOT NULL,
    -- The object key in the data bucket (content-addressed per organisation); NULL when the
    -- file was over the mailbox's size limit and not kept.
    storage_key       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, message_id) REFERENCES messages (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS message_attachments_message ON message_attachments (organization_id, message_id);

-- Who takes part in a conversation besides its contact: people in Cc.
CREATE TABLE IF NOT EXISTS conversation_participants (
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id   uuid NOT NULL,
    contact_id        uuid NOT NULL,
    role              text NOT NULL CHECK (role IN ('from', 'cc')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, conversation_id, contact_id),
    FOREIGN KEY (organization_id, conversation_id) REFERENCES conversations (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, contact_id) REFERENCES contacts (organization_id, id)
);

-- Addresses mail must not go to any more: a permanent delivery failure (RFC 3464) or a
-- complaint. Sending (the outbound issue) respects it.
CREATE TABLE IF NOT EXISTS email_suppressions (
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    address           text NOT NULL,
    reason            text NOT NULL CHECK (reason IN ('bounce', 'complaint')),
    -- The enhanced status code and diagnostic of the failure.
    detail            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, address)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON mailboxes, message_attachments, conversation_participants, email_suppressions
    TO helpdesk_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['mailboxes', 'message_attachments', 'conversation_participants', 'email_suppressions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO helpdesk_app '
                       'USING (organization_id = app_current_organization()) '
                       'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;
