-- Fetching mailboxes (issue 13): the fetcher's schedule needs every organisation's mailboxes that
-- fetch (IMAP, Gmail, Microsoft 365) before it knows any organisation, which row-level security
-- needs first. This lookup sees across organisations for that one purpose and returns ids only,
-- the least recently synced first. A mailbox whose server refused its credentials waits for new
-- ones (a PATCH with a secret, or a passing check, makes it `ok` again): signing in with a wrong
-- password every minute gets accounts locked at Google and Microsoft.
CREATE OR REPLACE FUNCTION mailboxes_due_for_sync(max_mailboxes integer)
    RETURNS TABLE (organization_id uuid, mailbox_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT b.organization_id, b.id FROM mailboxes b
    WHERE b.kind IN ('imap', 'gmail', 'microsoft') AND b.status IN ('ok', 'unreachable') AND b.deleted_at IS NULL
    ORDER BY b.last_sync_at NULLS FIRST, b.id
    LIMIT max_mailboxes
$$;
REVOKE ALL ON FUNCTION mailboxes_due_for_sync(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailboxes_due_for_sync(integer) TO helpdesk_app;
