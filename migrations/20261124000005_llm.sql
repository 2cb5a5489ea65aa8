-- External LLMs: each organisation's settings (whether they may be used at all, its own
-- provider and key, its monthly budget, its drafting preferences) and the ledger of every call.

CREATE TABLE IF NOT EXISTS ai_settings (
    organization_id         uuid PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    -- false: nothing leaves; drafting, classification, summaries run on the local engine only.
    external_llm_allowed    boolean NOT NULL DEFAULT true,
    -- The organisation's own provider; NULL: the platform's default, if one is configured.
    provider                text CHECK (provider IN ('openai', 'anthropic', 'openai_compatible', 'azure_openai')),
    model                   text,
    base_url                text,
    api_version             text,
    -- The organisation's API key, envelope-encrypted (KMS data key + AES-256-GCM); never
    -- returned. The hint (its last four characters) lets an admin tell which key is set.
    api_key_ciphertext      bytea,
    api_key_encrypted_key   bytea,
    api_key_nonce           bytea,
    api_key_hint            text,
    -- Below this confidence of the local model, an allowed LLM is asked too.
    hybrid_threshold        real NOT NULL DEFAULT 0.5 CHECK (hybrid_threshold >= 0 AND hybrid_threshold <= 1),
    -- Millionths of a USD per calendar month (UTC); NULL: no cap.
    monthly_budget_micro_usd bigint CHECK (monthly_budget_micro_usd >= 0),
    budget_alert_percent    smallint NOT NULL DEFAULT 80 CHECK (budget_alert_percent BETWEEN 1 AND 100),
    tone                    text NOT NULL DEFAULT '',
    blocked_phrases         text[] NOT NULL DEFAULT '{}',
    updated_at              timestamptz NOT NULL DEFAULT now(),
    updated_by              uuid,
    CHECK ((api_key_ciphertext IS NULL) = (api_key_encrypted_key IS NULL)
           AND (api_key_ciphertext IS NULL) = (api_key_nonce IS NULL))
);

-- One row per provider tried for one use: what it cost and how it went.
CREATE TABLE IF NOT EXISTS ai_llm_calls (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    feature           text NOT NULL CHECK (feature IN ('draft', 'classification', 'summary', 'translation')),
    provider          text NOT NULL,
    model             text NOT NULL,
    input_tokens      integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens     integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_micro_usd    bigint NOT NULL DEFAULT 0 CHECK (cost_micro_usd >= 0),
    -- false: the model is not in the price table (its cost is counted as 0).
    priced            boolean NOT NULL DEFAULT true,
    latency_ms        integer NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    attempts          smallint NOT NULL DEFAULT 1,
    -- ok; retried (ok after retries); fell_back (this provider failed: the next one, or the
    -- local engine, answered instead); refused (the model declined; fell back too);
    -- refused_by_budget (over the monthly cap: no call made, the local engine answered).
    outcome           text NOT NULL CHECK (outcome IN ('ok', 'retried', 'fell_back', 'refused', 'refused_by_budget')),
    error             text,
    request_id        text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ai_llm_calls_org_created ON ai_llm_calls (organization_id, created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON ai_settings TO helpdesk_app;
GRANT SELECT, INSERT ON ai_llm_calls TO helpdesk_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ai_settings', 'ai_llm_calls']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO helpdesk_app '
                       'USING (organization_id = app_current_organization()) '
                       'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;
