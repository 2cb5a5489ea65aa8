-- Identity: sign-in names for organisations, credentials and role versions on users, custom
-- roles, invitations and API keys. Sessions and revocations live in Redis, not here.

-- An organisation's sign-in name (like a Zendesk subdomain): login asks for it, so the same
-- email can belong to people in several organisations.
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS slug text;
UPDATE organizations SET slug = replace(id::text, '-', '') WHERE slug IS NULL;
ALTER TABLE organizations ALTER COLUMN slug SET NOT NULL;
DO $$
BEGIN
    ALTER TABLE organizations ADD CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS organizations_slug ON organizations (slug);

-- Roles are the four built-ins or a custom role of the organisation (by name, see `roles`).
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
DO $$
BEGIN
    ALTER TABLE users ADD CONSTRAINT users_role_name CHECK (role ~ '^[a-z][a-z0-9_-]{0,39}$');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
-- Bumped whenever what the user may do changes (role, permissions of the role, deactivation):
-- a token issued under an older version is refused on its next call.
ALTER TABLE users ADD COLUMN IF NOT EXISTS authz_version bigint NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS deactivated_at timestamptz;

CREATE TABLE IF NOT EXISTS roles (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,39}$'
                                          AND name NOT IN ('owner', 'admin', 'agent', 'viewer')),
    description      text,
    permissions      text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, name)
);

CREATE TABLE IF NOT EXISTS invitations (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email            text NOT NULL,
    role             text NOT NULL,
    -- SHA-256 of the token's secret part; the token itself exists only in the email.
    secret_hash      bytea NOT NULL,
    invited_by       uuid,
    expires_at       timestamptz NOT NULL,
    accepted_at      timestamptz,
    revoked_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, invited_by) REFERENCES users (organization_id, id) ON DELETE SET NULL (invited_by)
);
CREATE INDEX IF NOT EXISTS invitations_org_time ON invitations (organization_id, created_at DESC);

CREATE TABLE IF NOT EXISTS api_keys (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- SHA-256 of the key's 256-bit secret (a slow hash adds nothing to a random secret).
    secret_hash      bytea NOT NULL,
    permissions      text[] NOT NULL,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz,
    revoked_at       timestamptz,
    last_used_at     timestamptz,
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX IF NOT EXISTS api_keys_org_time ON api_keys (organization_id, created_at DESC);

-- The only look-up across organisations the application may make: a sign-in name to its
-- organisation id, so login can then work inside that organisation under row-level security.
CREATE OR REPLACE FUNCTION organization_id_by_slug(wanted text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT id FROM public.organizations WHERE slug = wanted $$;
REVOKE ALL ON FUNCTION organization_id_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION organization_id_by_slug(text) TO helpdesk_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON roles, invitations, api_keys TO helpdesk_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['roles', 'invitations', 'api_keys']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO helpdesk_app '
                       'USING (organization_id = app_current_organization()) '
                       'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;

-- The audit log pages by id (UUIDv7, time-ordered), newest first.
CREATE INDEX IF NOT EXISTS audit_log_org_id ON audit_log (organization_id, id DESC);
