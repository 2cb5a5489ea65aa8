-- The local AI engine: what the worker stores per message, agents' verdicts as training data,
-- and the organisation's own category models with the runs that trained them.

-- One automatic classification per message, whichever model gave it: a redelivered queue record
-- is a no-op even when a new model version was promoted in between.
DROP INDEX IF EXISTS classifications_message_model;
CREATE UNIQUE INDEX IF NOT EXISTS classifications_message ON classifications (organization_id, message_id);
ALTER TABLE classifications ADD COLUMN IF NOT EXISTS model_version text NOT NULL DEFAULT '';
ALTER TABLE classifications ADD COLUMN IF NOT EXISTS corrected_at timestamptz;
-- Live accuracy reads the reviewed classifications of a period.
CREATE INDEX IF NOT EXISTS classifications_org_reviewed
    ON classifications (organization_id, corrected_at) WHERE corrected_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS classifications_org_created ON classifications (organization_id, created_at);

-- One verdict per message: an agent who changes their mind replaces it.
CREATE UNIQUE INDEX IF NOT EXISTS training_data_message_verdict
    ON training_data (organization_id, message_id) WHERE source IN ('confirmation', 'correction');
ALTER TABLE training_data ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
-- The message as it was when the agent judged it: the trainer prepares it as the worker does.
ALTER TABLE training_data ADD COLUMN IF NOT EXISTS subject text;
ALTER TABLE training_data ADD COLUMN IF NOT EXISTS channel text;
CREATE INDEX IF NOT EXISTS training_data_org_updated ON training_data (organization_id, updated_at);

-- A training run: asked for through the API or started by the schedule; it ends promoted (its
-- model beat the current one on the held-out set), rejected (it did not), skipped (not enough
-- data, or nothing new) or failed.
CREATE TABLE IF NOT EXISTS ai_training_runs (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    trigger           text NOT NULL CHECK (trigger IN ('api', 'schedule')),
    requested_by      uuid,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'promoted', 'rejected', 'skipped', 'failed')),
    detail            text,
    model_version     integer,
    metrics           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, requested_by) REFERENCES users (organization_id, id)
);
CREATE INDEX IF NOT EXISTS ai_training_runs_org ON ai_training_runs (organization_id, id DESC);

-- Every model a run trained, promoted or not; its files are in S3 under artifact_prefix.
CREATE TABLE IF NOT EXISTS ai_models (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind              text NOT NULL DEFAULT 'category' CHECK (kind IN ('category')),
    version           integer NOT NULL CHECK (version > 0),
    status            text NOT NULL CHECK (status IN ('active', 'retired', 'rejected')),
    artifact_prefix   text NOT NULL,
    encoder           text,
    labels            text[] NOT NULL,
    -- Held-out figures of this model and of the model it had to beat.
    metrics           jsonb NOT NULL,
    training_run_id   uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    promoted_at       timestamptz,
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, kind, version),
    FOREIGN KEY (organization_id, training_run_id) REFERENCES ai_training_runs (organization_id, id)
        ON DELETE SET NULL (training_run_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS ai_models_one_active ON ai_models (organization_id, kind) WHERE status = 'active';

GRANT SELECT, INSERT, UPDATE, DELETE ON ai_training_runs, ai_models TO helpdesk_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ai_training_runs', 'ai_models']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO helpdesk_app '
                       'USING (organization_id = app_current_organization()) '
                       'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;

-- The scheduled trainer's only look-up across organisations: those with verdicts newer than
-- their last training run (ids only; the training itself runs inside each organisation).
CREATE OR REPLACE FUNCTION organizations_due_for_training(min_examples integer, max_count integer)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        SELECT t.organization_id
        FROM public.training_data t
        GROUP BY t.organization_id
        HAVING count(*) >= min_examples
           AND max(t.updated_at) > coalesce(
                (SELECT max(r.created_at) FROM public.ai_training_runs r
                 WHERE r.organization_id = t.organization_id AND r.status <> 'failed'),
                '-infinity'::timestamptz)
        ORDER BY max(t.updated_at)
        LIMIT max_count
    $$;
REVOKE ALL ON FUNCTION organizations_due_for_training(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION organizations_due_for_training(integer, integer) TO helpdesk_app;
