//! Mailbox sync cursors and leases in DynamoDB (the `MailSyncTable` of template.yaml): one
//! partition per mailbox (`pk` = `mailbox#{org}#{mailbox}`), an item per folder
//! (`sk` = `folder#{name}`) and one for the lease (`sk` = `lease`), so a mailbox's state is
//! read and removed together and never mixed with another organisation's.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use helpdesk_domain::sync::{CursorFuture, FolderCursor, MailboxCursors, ProviderCursor};
use helpdesk_domain::{MailboxId, OrgId};
use std::collections::HashMap;

/// Cursors and leases in one table.
#[derive(Debug, Clone)]
pub struct DynamoCursors {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCursors {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn partition(org: OrgId, mailbox: MailboxId) -> AttributeValue {
    AttributeValue::S(format!("mailbox#{org}#{mailbox}"))
}

fn error(e: impl std::error::Error + Send + Sync + 'static) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u32> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn cursor_from(item: &HashMap<String, AttributeValue>) -> Result<FolderCursor, String> {
    let synced_at = item
        .get("synced_at")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or("a cursor without synced_at")?;
    Ok(FolderCursor {
        uid_validity: number(item, "uid_validity").ok_or("a cursor without uid_validity")?,
        last_uid: number(item, "last_uid").ok_or("a cursor without last_uid")?,
        attempt_uid: number(item, "attempt_uid"),
        attempts: number(item, "attempts").unwrap_or(0),
        careful_until: number(item, "careful_until"),
        synced_at,
    })
}

impl MailboxCursors for DynamoCursors {
    fn cursor<'a>(&'a self, org: OrgId, mailbox: MailboxId, folder: &'a str) -> CursorFuture<'a, Option<FolderCursor>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", partition(org, mailbox))
                .key("sk", AttributeValue::S(format!("folder#{folder}")))
                // A cursor written a moment ago by the previous run must be seen.
                .consistent_read(true)
                .send()
                .await
                .map_err(error)?;
            out.item().map(cursor_from).transpose()
        })
    }

    fn save<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
        cursor: &'a FolderCursor,
    ) -> CursorFuture<'a, ()> {
        Box::pin(async move {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", partition(org, mailbox))
                .item("sk", AttributeValue::S(format!("folder#{folder}")))
                .item("uid_validity", AttributeValue::N(cursor.uid_validity.to_string()))
                .item("last_uid", AttributeValue::N(cursor.last_uid.to_string()))
                .item("attempts", AttributeValue::N(cursor.attempts.to_string()))
                .item("synced_at", AttributeValue::S(cursor.synced_at.to_rfc3339()));
            if let Some(uid) = cursor.attempt_uid {
                put = put.item("attempt_uid", AttributeValue::N(uid.to_string()));
            }
            if let Some(uid) = cursor.careful_until {
                put = put.item("careful_until", AttributeValue::N(uid.to_string()));
            }
            put.send().await.map_err(error)?;
            Ok(())
        })
    }

    fn lease<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        holder: &'a str,
        until: DateTime<Utc>,
    ) -> CursorFuture<'a, bool> {
        Box::pin(async move {
            let taken = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", partition(org, mailbox))
                .item("sk", AttributeValue::S("lease".into()))
                .item("holder", AttributeValue::S(holder.into()))
                .item("until", AttributeValue::N(until.timestamp().to_string()))
                // The table's TTL removes a lease nobody released, a while after it lapsed.
                .item("expires_at", AttributeValue::N((until.timestamp() + 86_400).to_string()))
                .condition_expression("attribute_not_exists(pk) OR #until <= :now")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":now", AttributeValue::N(Utc::now().timestamp().to_string()))
                .send()
                .await;
            match taken {
                Ok(_) => Ok(true),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
                Err(e) => Err(error(e)),
            }
        })
    }

    fn provider_cursor<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
    ) -> CursorFuture<'a, Option<ProviderCursor>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", partition(org, mailbox))
                .key("sk", AttributeValue::S(format!("provider#{folder}")))
                .consistent_read(true)
                .send()
                .await
                .map_err(error)?;
            let Some(item) = out.item() else { return Ok(None) };
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let synced_at = text("synced_at")
                .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or("a provider cursor without synced_at")?;
            Ok(Some(ProviderCursor {
                position: text("position").ok_or("a provider cursor without a position")?,
                synced_at,
                failing_id: text("failing_id"),
                attempts: number(item, "attempts").unwrap_or(0),
                taken: item.get("taken").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default(),
            }))
        })
    }

    fn save_provider_cursor<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
        cursor: &'a ProviderCursor,
    ) -> CursorFuture<'a, ()> {
        Box::pin(async move {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", partition(org, mailbox))
                .item("sk", AttributeValue::S(format!("provider#{folder}")))
                .item("position", AttributeValue::S(cursor.position.clone()))
                .item("attempts", AttributeValue::N(cursor.attempts.to_string()))
                .item("synced_at", AttributeValue::S(cursor.synced_at.to_rfc3339()));
            if let Some(id) = &cursor.failing_id {
                put = put.item("failing_id", AttributeValue::S(id.clone()));
            }
            // A string set may not be empty.
            if !cursor.taken.is_empty() {
                put = put.item("taken", AttributeValue::Ss(cursor.taken.clone()));
            }
            put.send().await.map_err(error)?;
            Ok(())
        })
    }

    fn release<'a>(&'a self, org: OrgId, mailbox: MailboxId, holder: &'a str) -> CursorFuture<'a, ()> {
        Box::pin(async move {
            let released = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", partition(org, mailbox))
                .key("sk", AttributeValue::S("lease".into()))
                .condition_expression("holder = :holder")
                .expression_attribute_values(":holder", AttributeValue::S(holder.into()))
                .send()
                .await;
            match released {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
                Err(e) => Err(error(e)),
            }
        })
    }
}
