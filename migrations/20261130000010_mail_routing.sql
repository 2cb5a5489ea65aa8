-- Routing mail for the inbound domain (SES receiving) to its organisation and mailbox (issue 13).
-- Mail for the inbound domain (SES receiving) names its mailbox by address before anyone knows
-- the organisation, which row-level security needs first. These two lookups see across
-- organisations for that one purpose and return ids only: the mailbox of an inbound token (128
-- random bits), and the mailbox a conversation's mail came through (for our reply addresses,
-- whose conversation id the caller has checked the signature of).
CREATE OR REPLACE FUNCTION mailbox_for_inbound_token(token text)
    RETURNS TABLE (organization_id uuid, mailbox_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT b.organization_id, b.id FROM mailboxes b WHERE b.inbound_token = lower(token) AND b.deleted_at IS NULL
$$;
CREATE OR REPLACE FUNCTION mailbox_for_conversation(conversation uuid)
    RETURNS TABLE (organization_id uuid, mailbox_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT m.organization_id, m.mailbox_id FROM messages m
    JOIN mailboxes b ON b.organization_id = m.organization_id AND b.id = m.mailbox_id AND b.deleted_at IS NULL
    WHERE m.conversation_id = conversation
    ORDER BY m.created_at DESC LIMIT 1
$$;
REVOKE ALL ON FUNCTION mailbox_for_inbound_token(text), mailbox_for_conversation(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailbox_for_inbound_token(text), mailbox_for_conversation(uuid) TO helpdesk_app;

