-- Reply drafts (the `responses` table of the core schema): the quality gates each failed, how
-- long it took, why the local engine wrote it, and what the agent did with it — the draft
-- metrics and the training signal come from these.
ALTER TABLE responses ADD COLUMN IF NOT EXISTS gates jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE responses ADD COLUMN IF NOT EXISTS latency_ms integer;
ALTER TABLE responses ADD COLUMN IF NOT EXISTS fallback_reason text;
ALTER TABLE responses ADD COLUMN IF NOT EXISTS final_body text;
ALTER TABLE responses ADD COLUMN IF NOT EXISTS feedback_by uuid;
ALTER TABLE responses ADD COLUMN IF NOT EXISTS feedback_at timestamptz;
CREATE INDEX IF NOT EXISTS responses_org_created ON responses (organization_id, created_at);

-- An accepted or edited draft confirms the category it was written for: one label per message,
-- whoever gave it. An agent's own verdict replaces a draft's; a draft's never replaces a verdict.
DROP INDEX IF EXISTS training_data_message_verdict;
CREATE UNIQUE INDEX IF NOT EXISTS training_data_message_label
    ON training_data (organization_id, message_id) WHERE source IN ('confirmation', 'correction', 'draft_feedback');

-- Agents' replies: when their conversation is resolved they become retrieval passages.
CREATE INDEX IF NOT EXISTS kb_chunks_org_message ON kb_chunks (organization_id, message_id) WHERE source = 'reply';
