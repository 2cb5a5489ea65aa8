-- The fetcher's schedule takes mailboxes in the order their last run ended (every run records
-- the mailbox's health, and with it `updated_at`), not their last complete sync: a mailbox
-- that keeps failing or is still backfilling must not come first every minute and starve the
-- healthy ones once there are more mailboxes than one schedule queues.
CREATE OR REPLACE FUNCTION mailboxes_due_for_sync(max_mailboxes integer)
    RETURNS TABLE (organization_id uuid, mailbox_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT b.organization_id, b.id FROM mailboxes b
    WHERE b.kind IN ('imap', 'gmail', 'microsoft') AND b.status IN ('ok', 'unreachable') AND b.deleted_at IS NULL
    ORDER BY b.updated_at, b.id
    LIMIT max_mailboxes
$$;
