use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use helpdesk_domain::queue::PublishFuture;
use helpdesk_domain::{Publisher, Queue, QueueRecord};
use std::collections::HashMap;
use uuid::Uuid;

/// SQS allows at most ten entries in one SendMessageBatch call.
const SQS_BATCH_LIMIT: usize = 10;

/// Where each logical queue lives.
#[derive(Debug, Clone, Default)]
pub struct QueueUrls(HashMap<Queue, String>);

impl QueueUrls {
    /// Each queue's URL by its variable (`INBOUND_MESSAGES_QUEUE_URL`, `EVENTS_QUEUE_URL`, …: what
    /// template.yaml sets); a queue a function does not publish to is simply absent.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self(
            Queue::ALL
                .into_iter()
                .filter_map(|q| lookup(q.url_env_var()).filter(|u| !u.is_empty()).map(|u| (q, u)))
                .collect(),
        )
    }

    pub fn get(&self, queue: Queue) -> Option<&str> {
        self.0.get(&queue).map(String::as_str)
    }
}

/// Publishes queue records with SendMessageBatch.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    urls: QueueUrls,
}

impl SqsPublisher {
    pub fn new(client: aws_sdk_sqs::Client, urls: QueueUrls) -> Self {
        Self { client, urls }
    }

    /// Whether SQS answers for every configured queue (readiness check).
    pub async fn ping(&self) -> Result<(), String> {
        for queue in Queue::ALL {
            if let Some(url) = self.urls.get(queue) {
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .send()
                    .await
                    .map_err(|e| format!("{}: {}", queue.name(), aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            }
        }
        Ok(())
    }

    async fn send_chunk(&self, url: &str, chunk: &[&QueueRecord]) -> Vec<(Uuid, String)> {
        let entries: Result<Vec<_>, _> = chunk
            .iter()
            .map(|r| {
                SendMessageBatchRequestEntry::builder().id(r.id.simple().to_string()).message_body(&r.body).build()
            })
            .collect();
        let entries = match entries {
            Ok(entries) => entries,
            Err(e) => return chunk.iter().map(|r| (r.id, e.to_string())).collect(),
        };
        match self.client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await {
            Ok(out) => out
                .failed()
                .iter()
                .filter_map(|f| {
                    let record = chunk.iter().find(|r| r.id.simple().to_string() == f.id())?;
                    Some((record.id, format!("{}: {}", f.code(), f.message().unwrap_or_default())))
                })
                .collect(),
            Err(e) => {
                let reason = aws_sdk_sqs::error::DisplayErrorContext(e).to_string();
                chunk.iter().map(|r| (r.id, reason.clone())).collect()
            }
        }
    }
}

impl Publisher for SqsPublisher {
    fn publish<'a>(&'a self, records: &'a [QueueRecord]) -> PublishFuture<'a> {
        Box::pin(self.publish_all(records))
    }
}

impl SqsPublisher {
    async fn publish_all(&self, records: &[QueueRecord]) -> Vec<(Uuid, String)> {
        let mut failed = Vec::new();
        for queue in Queue::ALL {
            let of_queue: Vec<&QueueRecord> = records.iter().filter(|r| r.queue == queue).collect();
            if of_queue.is_empty() {
                continue;
            }
            let Some(url) = self.urls.get(queue) else {
                failed.extend(of_queue.iter().map(|r| (r.id, format!("no URL configured for queue {}", queue.name()))));
                continue;
            };
            for chunk in of_queue.chunks(SQS_BATCH_LIMIT) {
                failed.extend(self.send_chunk(url, chunk).await);
            }
        }
        failed
    }
}
