-- The knowledge base: articles agents write, cut into chunks that are embedded by the local
-- encoder (384 dimensions, unit length) and indexed twice — HNSW for meaning (pgvector),
-- full text for words — so retrieval can fuse both. Resolved conversations' agent replies are
-- chunks too (source 'reply'), so drafts can learn from what the team actually wrote.

CREATE EXTENSION IF NOT EXISTS vector;

-- A language's text-search configuration (ISO 639-3 in): stemming and stop words where Postgres
-- has them, 'simple' otherwise. Passages are indexed with their language's; a query is parsed
-- with its own, so "refunds" finds "refund" and "when will I" finds nothing by itself.
CREATE OR REPLACE FUNCTION kb_text_config(language text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE language
        WHEN 'eng' THEN 'pg_catalog.english'::regconfig
        WHEN 'spa' THEN 'pg_catalog.spanish'::regconfig
        WHEN 'fra' THEN 'pg_catalog.french'::regconfig
        WHEN 'deu' THEN 'pg_catalog.german'::regconfig
        WHEN 'por' THEN 'pg_catalog.portuguese'::regconfig
        WHEN 'ita' THEN 'pg_catalog.italian'::regconfig
        WHEN 'nld' THEN 'pg_catalog.dutch'::regconfig
        ELSE 'pg_catalog.simple'::regconfig
    END
$$;

CREATE TABLE IF NOT EXISTS kb_articles (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    body             text NOT NULL CHECK (length(body) <= 200000),
    tags             text[] NOT NULL DEFAULT '{}',
    -- ISO 639-3 (the language drafts are matched against).
    language         text NOT NULL DEFAULT 'eng',
    published        boolean NOT NULL DEFAULT false,
    -- Bumped by every edit; the indexer writes chunks for the version it read and skips a stale one.
    version          integer NOT NULL DEFAULT 1,
    indexed_version  integer,
    indexed_at       timestamptz,
    created_by       uuid,
    updated_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);
CREATE INDEX IF NOT EXISTS kb_articles_org_updated ON kb_articles (organization_id, updated_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS kb_chunks (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    source           text NOT NULL CHECK (source IN ('article', 'reply')),
    article_id       uuid,
    message_id       uuid,
    ordinal          integer NOT NULL,
    -- The article's title (or the reply's subject) with the chunk, as embedded.
    heading          text NOT NULL DEFAULT '',
    content          text NOT NULL,
    language         text NOT NULL DEFAULT 'eng',
    -- Only published articles' chunks are retrieved; a draft's sources must be shareable.
    published        boolean NOT NULL DEFAULT true,
    embedding        vector(384) NOT NULL,
    words            tsvector GENERATED ALWAYS AS (to_tsvector(kb_text_config(language), heading || ' ' || content)) STORED,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((source = 'article') = (article_id IS NOT NULL)),
    FOREIGN KEY (organization_id, article_id) REFERENCES kb_articles (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, message_id) REFERENCES messages (organization_id, id) ON DELETE CASCADE
);
-- Cosine distance over unit vectors; one index for every tenant, searched with pgvector's
-- iterative scan so a small tenant's rows are found past the others'.
CREATE INDEX IF NOT EXISTS kb_chunks_embedding ON kb_chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX IF NOT EXISTS kb_chunks_words ON kb_chunks USING gin (words);
CREATE INDEX IF NOT EXISTS kb_chunks_org_article ON kb_chunks (organization_id, article_id);
CREATE UNIQUE INDEX IF NOT EXISTS kb_chunks_reply ON kb_chunks (organization_id, message_id, ordinal) WHERE source = 'reply';

GRANT SELECT, INSERT, UPDATE, DELETE ON kb_articles, kb_chunks TO helpdesk_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['kb_articles', 'kb_chunks']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO helpdesk_app '
                       'USING (organization_id = app_current_organization()) '
                       'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;
