-- Tenant isolation, second wall: row-level security on every tenant table, keyed on the
-- per-transaction setting `app.organization_id` that the store sets from the caller's token.
-- The functions connect as roles that own nothing and cannot bypass RLS; migrations run as the
-- owner (the database's master user), which these policies do not restrict.
--
--   helpdesk_app    the api and the ai-worker: sees only the organisation set in its transaction
--   helpdesk_relay  the outbox sweeper: reads and marks outbox rows of every organisation, nothing else
--
-- Passwords are not set here: the migrate function sets them from their secrets (or, locally,
-- from the owner's connection).

DO $$
BEGIN
    CREATE ROLE helpdesk_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another database of the cluster made it
END $$;
DO $$
BEGIN
    CREATE ROLE helpdesk_relay LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

GRANT USAGE ON SCHEMA public TO helpdesk_app, helpdesk_relay;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    organizations, users, contacts, conversations, messages, classifications, responses,
    training_data, integrations, workflows, metrics, reports, outbox
    TO helpdesk_app;
-- History is append-only for the application.
GRANT SELECT, INSERT ON events, audit_log TO helpdesk_app;
GRANT SELECT, UPDATE ON outbox TO helpdesk_relay;

-- The caller's organisation, or NULL when none is set (then every policy below matches nothing).
CREATE OR REPLACE FUNCTION app_current_organization() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('app.organization_id', true), '')::uuid $$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON organizations;
CREATE POLICY tenant_isolation ON organizations TO helpdesk_app
    USING (id = app_current_organization()) WITH CHECK (id = app_current_organization());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'contacts', 'conversations', 'messages', 'classifications',
        'responses', 'training_data', 'integrations', 'workflows', 'events', 'metrics', 'reports',
        'outbox', 'audit_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO helpdesk_app '
                       'USING (organization_id = app_current_organization()) '
                       'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;

DROP POLICY IF EXISTS relay_everything ON outbox;
CREATE POLICY relay_everything ON outbox TO helpdesk_relay USING (true) WITH CHECK (true);
