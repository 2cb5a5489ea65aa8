-- An Idempotency-Key belongs to the caller who sent it, not to the whole organisation: two API
-- clients of one organisation that happen to pick the same key (a counter, a date) must not
-- answer each other's requests. The caller is `user:<id>` or `key:<id>`; keys stored before this
-- migration (or by a container still running the code before it) have the empty one.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS idempotency_principal text NOT NULL DEFAULT '';
DROP INDEX IF EXISTS messages_idempotency;
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency
    ON messages (organization_id, idempotency_principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
