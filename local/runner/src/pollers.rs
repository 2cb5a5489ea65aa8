//! The SQS event source mapping and EventBridge schedules, played locally.

use crate::functions::LocalFunction;
use crate::template::{ScheduleSpec, SqsMapping};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Polls one queue and delivers its messages to the function in batches of `BatchSize`, the way
/// Lambda's event source mapping does: records the function reports as failed (or the whole
/// batch, if the invocation fails) go back to the queue, the rest are deleted. Locally a failed
/// record is visible again at once instead of after the visibility timeout, so SQS's redrive to
/// the DLQ after `maxReceiveCount` happens in seconds.
pub async fn poll_queue(
    sqs: aws_sdk_sqs::Client,
    function: Arc<LocalFunction>,
    mapping: SqsMapping,
    url: String,
    arn: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let receive = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(mapping.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send();
        let received = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            r = receive => r,
        };
        let messages = match received {
            Ok(out) => {
                backoff = Duration::from_millis(200);
                out.messages.unwrap_or_default()
            }
            Err(e) => {
                // The emulator is down or restarting: keep trying, as Lambda's poller does.
                tracing::debug!(queue = %mapping.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receive failed");
                tokio::select! {
                    _ = stopped(&mut shutdown) => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        deliver(&sqs, &function, &mapping, &url, &arn, messages).await;
    }
}

async fn deliver(
    sqs: &aws_sdk_sqs::Client,
    function: &LocalFunction,
    mapping: &SqsMapping,
    url: &str,
    arn: &str,
    messages: Vec<Message>,
) {
    let event = json!({ "Records": messages.iter().map(|m| record(m, arn)).collect::<Vec<_>>() });
    let failed: HashSet<String> = match function.invoke("sqs", event).await {
        Ok(answer) if mapping.report_batch_item_failures => answer
            .get("batchItemFailures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str).map(str::to_string))
            .collect(),
        Ok(_) => HashSet::new(),
        Err(_) => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
    };

    let (retry, done): (Vec<&Message>, Vec<&Message>) =
        messages.iter().partition(|m| m.message_id.as_ref().is_some_and(|id| failed.contains(id)));
    if !done.is_empty() {
        let entries = done
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        if let Err(e) = sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not delete processed messages");
        }
    }
    if !retry.is_empty() {
        let entries = retry
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        let _ = sqs.change_message_visibility_batch().queue_url(url).set_entries(Some(entries)).send().await;
    }
}

/// One record of the SQS event Lambda delivers.
fn record(m: &Message, arn: &str) -> Value {
    let attributes: serde_json::Map<String, Value> = m
        .attributes
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone()))).collect())
        .unwrap_or_default();
    let region = arn.split(':').nth(3).unwrap_or("us-east-1");
    json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    })
}

/// The event EventBridge Scheduler sends for a SAM `Schedule` event.
pub fn scheduled_event(function: &str, rule: &str) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{function}{rule}")],
        "detail": {}
    })
}

/// Fires a schedule at its rate until shutdown.
pub async fn run_schedule(function: Arc<LocalFunction>, schedule: ScheduleSpec, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(schedule.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; EventBridge waits one period
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            _ = ticker.tick() => {
                let _ = function.invoke("schedule", scheduled_event(&function.spec.logical_id, &schedule.event_name)).await;
            }
        }
    }
}

/// Resolves when the runner is shutting down.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
