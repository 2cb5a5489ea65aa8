//! The one loop every SQS consumer runs: each record's body parsed as its queue's tagged type,
//! processed inside a span that names the record (SQS message id, organisation, the request that
//! caused it, what it is about), and the records that failed reported back as a partial batch
//! response, so SQS redelivers only those and, after `maxReceiveCount`, moves them to the DLQ.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_domain::QueueBody;
use std::future::Future;
use tracing::Instrument;

/// What a batch came to: the response for Lambda and what each successful record produced.
pub struct BatchOutcome<O> {
    pub response: SqsBatchResponse,
    pub outputs: Vec<O>,
}

/// Processes a batch one record at a time (in order: a FIFO queue's order holds). A body that
/// is not a `B` fails its record (it reaches the DLQ, where it can be read); so does a record
/// whose `process` returns an error, logged once inside the record's span.
pub async fn each_record<B, O, E, F, Fut>(function: &'static str, event: SqsEvent, process: F) -> BatchOutcome<O>
where
    B: QueueBody,
    E: std::fmt::Display,
    F: Fn(B) -> Fut,
    Fut: Future<Output = Result<O, E>>,
{
    let mut outcome = BatchOutcome { response: SqsBatchResponse::default(), outputs: Vec::new() };
    for record in event.records {
        let sqs_message_id = record.message_id.unwrap_or_default();
        let text = record.body.as_deref().unwrap_or_default();
        let body = match serde_json::from_str::<B>(text).or_else(|e| untagged(text).ok_or(e)) {
            Ok(body) => body,
            Err(e) => {
                let expected = std::any::type_name::<B>().rsplit("::").next().unwrap_or("body");
                tracing::warn!(function, sqs_message_id, error = %e, "record is not a {expected}; SQS will redeliver it");
                outcome.response.add_failure(sqs_message_id);
                continue;
            }
        };
        let span = tracing::info_span!(
            "record",
            function,
            sqs_message_id = %sqs_message_id,
            request_id = body.request_id().unwrap_or(""),
            org = %body.organization_id(),
            subject = %body.subject(),
        );
        let result = process(body).instrument(span.clone()).await;
        match result {
            Ok(output) => outcome.outputs.push(output),
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "record failed; SQS will redeliver it"));
                outcome.response.add_failure(sqs_message_id);
            }
        }
    }
    outcome
}

/// A body written before bodies were tagged, read as what it is (logged, so the last of them can
/// be seen to pass).
fn untagged<B: QueueBody>(text: &str) -> Option<B> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let body = value.get("type").is_none().then(|| B::from_untagged(&value)).flatten()?;
    tracing::info!(legacy = true, org = %body.organization_id(), subject = %body.subject(), "untagged queue body read");
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;
    use helpdesk_domain::{KbIndexingBody, OrgId};

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    #[tokio::test]
    async fn failed_and_malformed_records_are_reported_and_the_rest_produce() {
        let org = OrgId(uuid::Uuid::nil());
        let ok = |v: i32| {
            serde_json::json!({"type": "kb_article.changed", "organization_id": org, "article_id": uuid::Uuid::nil(), "version": v})
                .to_string()
        };
        let mut event = SqsEvent::default();
        let untagged = serde_json::json!({"organization_id": org, "article_id": uuid::Uuid::nil(), "version": 4});
        event.records = vec![
            record("a", &ok(1)),
            record("b", "{not json"),
            record("c", &ok(2)),
            record("d", &ok(3)),
            record("e", &untagged.to_string()),
            record("f", r#"{"type": "message.received", "organization_id": "x"}"#),
        ];
        let outcome = each_record("test", event, |body: KbIndexingBody| async move {
            match body {
                KbIndexingBody::ArticleChanged(c) if c.version == 2 => Err("database unreachable"),
                KbIndexingBody::ArticleChanged(c) => Ok(c.version),
                KbIndexingBody::ConversationResolved(_) => Ok(0),
            }
        })
        .await;
        let failed: Vec<_> = outcome.response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["b", "c", "f"]);
        assert_eq!(outcome.outputs, [1, 3, 4]);
    }
}
