//! What the AI routes do, free of HTTP: drafts grounded in the knowledge base and past replies,
//! summaries, translation and search. Each asks an external LLM through the gateway when the
//! organisation allows one, and otherwise (or when every provider fails) answers with the local
//! engine — except translation, which has no local model and says so.

use helpdesk_ai::reply::{
    self, central_sentences, check_draft, find_order_number, first_name, intent_template, language_name, DraftContext,
    Entities,
};
use helpdesk_ai::Engine;
use helpdesk_domain::{ConversationId, MessageId, OrgId, UserId};
use helpdesk_llm::OutputSchema;
use helpdesk_platform::llm::{Feature, LlmAnswer, LlmGateway, LocalReason, Prompt};
use helpdesk_store::{AiSettings, DraftRecord, MessageRecord, NewDraft, PgStore, RetrievedPassage};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// Passages a draft is grounded in.
const SOURCES: i64 = 5;
/// A past reply this close to the customer's message is reused (cosine of the embeddings).
pub const REPLY_MATCH: f64 = 0.80;
/// An article passage this close is quoted in a template draft. A question and the passage
/// that answers it are less alike than two questions (a relevant pair measured 0.53 where
/// unrelated ones stay under 0.3).
pub const ARTICLE_MATCH: f64 = 0.45;
/// Messages of a thread an LLM reads (the latest ones).
const THREAD_MESSAGES: usize = 12;
/// Characters of a message the query and the prompt take.
const MESSAGE_CHARS: usize = 2000;
/// Sentences of a local summary.
const SUMMARY_SENTENCES: usize = 3;
/// The most customer sentences an extractive summary chooses from.
const SUMMARY_CANDIDATES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum AssistError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// No provider could do it and the local engine cannot (translation).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<helpdesk_store::StoreError> for AssistError {
    fn from(e: helpdesk_store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// A passage a draft cites.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Source {
    /// `article` or `reply` (a past agent reply).
    pub kind: String,
    pub article_id: Option<uuid::Uuid>,
    pub message_id: Option<uuid::Uuid>,
    pub passage_id: uuid::Uuid,
    /// The article's title and section, or the past conversation's subject.
    pub title: String,
    pub similarity: f64,
}

impl Source {
    fn of(p: &RetrievedPassage) -> Self {
        Self {
            kind: p.source.clone(),
            article_id: p.article_id,
            message_id: p.message_id,
            passage_id: p.passage_id,
            title: p.heading.clone(),
            similarity: (p.similarity * 1000.0).round() / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub summary: String,
    /// `local` when the engine picked the thread's most central sentences.
    pub provider: String,
    pub model: String,
    pub messages: usize,
    pub latency_ms: u32,
    /// Why the local engine wrote it.
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Translation {
    pub text: String,
    /// ISO 639-3.
    pub source_language: String,
    pub target_language: String,
    /// `none` when the text is already in the target language.
    pub provider: String,
    pub model: Option<String>,
    pub latency_ms: u32,
}

pub struct Assistant {
    pub store: PgStore,
    /// Must have the sentence encoder: queries are embedded like the passages.
    pub engine: Arc<Engine>,
    pub llm: Option<Arc<LlmGateway>>,
}

/// What a draft is written from.
struct Thread {
    messages: Vec<MessageRecord>,
    customer: MessageRecord,
    contact_name: Option<String>,
    contact_email: String,
    category: Option<String>,
    category_confidence: f32,
    language: String,
}

impl Thread {
    /// The customer's messages among the last [`THREAD_MESSAGES`], each as far as a prompt
    /// carries it ([`MESSAGE_CHARS`]), oldest first.
    fn recent_customer_text(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.messages[self.messages.len().saturating_sub(THREAD_MESSAGES)..]
            .iter()
            .filter(|m| m.direction == "inbound")
            .map(|m| helpdesk_ai::text::prefix(&m.body, MESSAGE_CHARS))
    }
}

impl Assistant {
    /// Embeds one text off the async threads.
    async fn embed(&self, text: String) -> anyhow::Result<Vec<f32>> {
        let encoder = self.engine.encoder().cloned().ok_or_else(|| anyhow::anyhow!("no sentence encoder loaded"))?;
        let mut vectors = tokio::task::spawn_blocking(move || encoder.encode(&[text])).await??;
        vectors.pop().ok_or_else(|| anyhow::anyhow!("the encoder returned nothing"))
    }

    async fn embed_all(&self, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>> {
        let encoder = self.engine.encoder().cloned().ok_or_else(|| anyhow::anyhow!("no sentence encoder loaded"))?;
        Ok(tokio::task::spawn_blocking(move || {
            let mut all = Vec::with_capacity(texts.len());
            for batch in texts.chunks(32) {
                all.extend(encoder.encode(batch)?);
            }
            Ok::<_, helpdesk_ai::AiError>(all)
        })
        .await??)
    }

    fn detect_language(&self, text: &str) -> String {
        self.engine.languages().detect(text).0
    }

    /// Hybrid retrieval over the organisation's published passages (articles and past replies).
    pub async fn search(
        &self,
        org: OrgId,
        query: &str,
        language: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RetrievedPassage>, AssistError> {
        let language = match language {
            Some(l) => l.to_string(),
            None => match self.detect_language(query).as_str() {
                "und" => "eng".to_string(),
                found => found.to_string(),
            },
        };
        let embedding = self.embed(query.to_string()).await?;
        Ok(self.store.search_passages(org, query, &language, &embedding, limit).await?)
    }

    async fn thread(&self, org: OrgId, conversation: ConversationId) -> Result<Thread, AssistError> {
        let (record, messages) = self
            .store
            .get_conversation(org, conversation)
            .await?
            .ok_or(AssistError::NotFound("no such conversation"))?;
        let customer = messages
            .iter()
            .rev()
            .find(|m| m.direction == "inbound")
            .cloned()
            .ok_or_else(|| AssistError::Conflict("the conversation has no customer message to answer".into()))?;
        let classification = customer.classification.as_ref();
        let category = classification
            .map(|c| {
                c.reviewed_category
                    .clone()
                    .or_else(|| c.llm.as_ref().and_then(|l| l["category"].as_str()).map(str::to_string))
                    .unwrap_or_else(|| c.category.clone())
            })
            .or(record.category.clone());
        let language = match classification.map(|c| c.language.clone()) {
            Some(l) if l != "und" => l,
            _ => self.detect_language(&customer.body),
        };
        Ok(Thread {
            category,
            category_confidence: classification.map_or(0.3, |c| c.confidence),
            language,
            contact_name: record.contact_name,
            contact_email: record.contact_email,
            customer,
            messages,
        })
    }

    /// A reply draft for the conversation's latest customer message, checked by every gate and
    /// stored (`blocked` when a gate failed).
    pub async fn draft(
        &self,
        org: OrgId,
        conversation: ConversationId,
        author: Option<UserId>,
        request_id: Option<&str>,
    ) -> Result<DraftRecord, AssistError> {
        let started = Instant::now();
        let thread = self.thread(org, conversation).await?;
        let query = truncate(
            &format!("{}\n{}", thread.customer.subject.as_deref().unwrap_or(""), thread.customer.body),
            MESSAGE_CHARS,
        );
        let embedding = self.embed(query.clone()).await?;
        let passages = self.store.search_passages(org, &query, &thread.language, &embedding, SOURCES).await?;
        let settings = self.store.ai_settings(org).await?;
        let entities = Entities {
            customer_name: thread.contact_name.as_deref().and_then(first_name),
            order_number: thread.recent_customer_text().rev().find_map(find_order_number),
            email: Some(thread.contact_email.clone()),
        };

        let llm = match &self.llm {
            Some(llm) => self.llm_draft(llm, org, &settings, &thread, &entities, &passages, request_id).await?,
            None => Err(LocalReason::NoProvider),
        };
        let (body, cited, provider, model, confidence, fallback_reason) = match llm {
            Ok((body, cited, provider, model, confidence)) => (body, cited, provider, Some(model), confidence, None),
            Err(reason) => {
                let (body, cited, confidence) = local_draft(&thread, &entities, &passages);
                (body, cited, "local".to_string(), Some("retrieval+templates".to_string()), confidence, Some(reason))
            }
        };

        // What the customer gave, as far as the draft was written from it: a draft's cost does not
        // grow with the conversation.
        let mut allowed: Vec<&str> = thread.recent_customer_text().collect();
        allowed.push(&thread.contact_email);
        allowed.extend(cited.iter().map(|p| p.content.as_str()));
        let context = DraftContext {
            language: &thread.language,
            allowed_text: &allowed,
            blocked_phrases: &settings.record.blocked_phrases,
        };
        let gates = check_draft(&body, &context, self.engine.languages());
        let sources: Vec<Source> = cited.iter().map(|p| Source::of(p)).collect();
        let draft = NewDraft {
            conversation_id: conversation.0,
            message_id: Some(thread.customer.id),
            body,
            language: thread.language.clone(),
            sources: json!(sources),
            provider,
            model,
            confidence: (confidence.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
            gates: json!(gates),
            latency_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
            fallback_reason: fallback_reason.map(|r| reason_name(&r).to_string()),
            created_by: author,
        };
        let record = self.store.save_draft(org, &draft).await?;
        tracing::info!(
            draft_id = %record.id,
            provider = %draft.provider,
            status = %record.status,
            gates_failed = gates.len(),
            sources = sources.len(),
            latency_ms = draft.latency_ms,
            "draft"
        );
        Ok(record)
    }

    /// The LLM's draft (body, the passages it cites, provider, model, confidence), or why the
    /// local engine writes it instead.
    #[allow(clippy::too_many_arguments)]
    async fn llm_draft<'p>(
        &self,
        llm: &LlmGateway,
        org: OrgId,
        settings: &AiSettings,
        thread: &Thread,
        entities: &Entities,
        passages: &'p [RetrievedPassage],
        request_id: Option<&str>,
    ) -> anyhow::Result<Result<(String, Vec<&'p RetrievedPassage>, String, String, f32), LocalReason>> {
        let tone = match settings.record.tone.trim() {
            "" => "friendly, concise and professional",
            tone => tone,
        };
        let system = format!(
            "You write reply drafts for a customer-support team; an agent reviews each before it is sent. \
             Write in {language}. Tone: {tone}. Use only facts from the numbered sources and the conversation; \
             when they do not answer the customer, say you are checking and will follow up. Never invent order \
             details, prices, dates or policies, never leave placeholders, and do not sign with a name. \
             Answer with JSON: body (the reply), sources (the numbers of the sources you used) and confidence \
             (0 to 1: how fully the sources answer the customer).",
            language = language_name(&thread.language),
        );
        let mut parts = Vec::new();
        if let Some(name) = &entities.customer_name {
            parts.push(format!("The customer's first name: {name}"));
        }
        let said: Vec<&MessageRecord> = thread.messages.iter().filter(|m| m.direction != "note").collect();
        let transcript: Vec<String> = said[said.len().saturating_sub(THREAD_MESSAGES)..]
            .iter()
            .map(|m| {
                let who = if m.direction == "inbound" { "Customer" } else { "Agent" };
                format!("{who}: {}", truncate(&m.body, MESSAGE_CHARS))
            })
            .collect();
        parts.push(format!("Conversation, oldest first:\n{}", transcript.join("\n\n")));
        let numbered: Vec<String> =
            passages.iter().enumerate().map(|(i, p)| format!("[{}] {}\n{}", i + 1, p.heading, p.content)).collect();
        parts.push(if numbered.is_empty() {
            "Sources: none".to_string()
        } else {
            format!("Sources:\n{}", numbered.join("\n\n"))
        });
        let prompt = Prompt {
            system,
            parts,
            max_output_tokens: 600,
            temperature: Some(0.3),
            schema: Some(OutputSchema {
                name: "reply_draft".into(),
                description: "A reply draft and the sources it is grounded in".into(),
                schema: json!({
                    "type": "object",
                    "properties": {
                        "body": {"type": "string"},
                        "sources": {"type": "array", "items": {"type": "integer"}},
                        "confidence": {"type": "number"}
                    },
                    "required": ["body", "sources", "confidence"],
                    "additionalProperties": false
                }),
            }),
        };
        Ok(match llm.ask_with(org, settings, Feature::Draft, request_id, prompt).await? {
            LlmAnswer::Answered { text, structured, provider, model, .. } => {
                let (body, cited, confidence) = match structured {
                    Some(v) if v["body"].is_string() => {
                        let cited: Vec<&RetrievedPassage> = v["sources"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|n| n.as_u64())
                            .filter_map(|n| passages.get((n as usize).checked_sub(1)?))
                            .collect();
                        let confidence = v["confidence"].as_f64().unwrap_or(0.5) as f32;
                        (v["body"].as_str().unwrap_or_default().to_string(), cited, confidence)
                    }
                    _ => (text, Vec::new(), 0.5),
                };
                let mut unique = Vec::new();
                for p in cited {
                    if !unique.iter().any(|u: &&RetrievedPassage| u.passage_id == p.passage_id) {
                        unique.push(p);
                    }
                }
                Ok((body.trim().to_string(), unique, provider.as_str().to_string(), model, confidence))
            }
            LlmAnswer::Local(reason) => Err(reason),
        })
    }

    /// A summary of the conversation for an agent picking it up.
    pub async fn summarize(
        &self,
        org: OrgId,
        conversation: ConversationId,
        request_id: Option<&str>,
    ) -> Result<Summary, AssistError> {
        let started = Instant::now();
        let (_, messages) = self
            .store
            .get_conversation(org, conversation)
            .await?
            .ok_or(AssistError::NotFound("no such conversation"))?;
        let thread: Vec<&MessageRecord> = messages.iter().filter(|m| m.direction != "note").collect();
        if thread.is_empty() {
            return Err(AssistError::Conflict("the conversation has no messages".into()));
        }
        let mut reason = LocalReason::NoProvider;
        if let Some(llm) = &self.llm {
            let transcript: Vec<String> = thread
                .iter()
                .map(|m| {
                    let who = if m.direction == "inbound" { "Customer" } else { "Agent" };
                    format!("{who} ({}): {}", m.created_at.format("%Y-%m-%d %H:%M"), truncate(&m.body, MESSAGE_CHARS))
                })
                .collect();
            let prompt = Prompt {
                system: "Summarise this customer-support conversation for the agent who picks it up, in English, \
                         in at most five short sentences: what the customer wants, what has been done, what is \
                         still open. Keep order numbers and dates exact."
                    .into(),
                parts: vec![transcript.join("\n\n")],
                max_output_tokens: 300,
                temperature: Some(0.2),
                schema: None,
            };
            match llm.ask(org, Feature::Summary, request_id, prompt).await? {
                LlmAnswer::Answered { text, provider, model, .. } => {
                    return Ok(Summary {
                        summary: text.trim().to_string(),
                        provider: provider.as_str().to_string(),
                        model,
                        messages: thread.len(),
                        latency_ms: elapsed_ms(started),
                        fallback_reason: None,
                    })
                }
                LlmAnswer::Local(why) => reason = why,
            }
        }
        // The customer's sentences most like the rest of the thread, in order, then where the
        // conversation stands (its last message).
        // Each message as far as a draft reads it, and a bounded number of sentences to embed:
        // a message of 28,000 three-word sentences is not 900 encoder batches.
        let sentences: Vec<String> = thread
            .iter()
            .filter(|m| m.direction == "inbound")
            .flat_map(|m| reply::sentences(helpdesk_ai::text::prefix(&m.body, MESSAGE_CHARS)))
            .filter(|s| s.split_whitespace().count() >= 3)
            .take(SUMMARY_CANDIDATES)
            .collect();
        let mut lines: Vec<String> = Vec::new();
        if !sentences.is_empty() {
            let embeddings = self.embed_all(sentences.clone()).await?;
            lines.extend(
                central_sentences(&embeddings, SUMMARY_SENTENCES)
                    .into_iter()
                    .map(|i| format!("- Customer: {}", sentences[i])),
            );
        }
        let last = thread.last().expect("not empty");
        let who = if last.direction == "inbound" { "the customer" } else { "an agent" };
        let opening = first_sentence(helpdesk_ai::text::prefix(&last.body, MESSAGE_CHARS));
        lines.push(format!("- Last message from {who}: {}", truncate(&opening, 300)));
        Ok(Summary {
            summary: lines.join("\n"),
            provider: "local".into(),
            model: "extractive".into(),
            messages: thread.len(),
            latency_ms: elapsed_ms(started),
            fallback_reason: Some(reason_name(&reason).to_string()),
        })
    }

    /// A message in another language (for an agent), or an agent's text in the message's
    /// language (a reply back to the customer).
    pub async fn translate(
        &self,
        org: OrgId,
        message: MessageId,
        text: Option<&str>,
        target: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<Translation, AssistError> {
        let started = Instant::now();
        let record = self.store.get_message(org, message).await?.ok_or(AssistError::NotFound("no such message"))?;
        let message_language = record
            .classification
            .as_ref()
            .map(|c| c.language.clone())
            .filter(|l| l != "und")
            .unwrap_or_else(|| self.detect_language(&record.body));
        let (text, target) = match text {
            // An agent's reply, into the customer's language by default.
            Some(text) => (text.to_string(), target.map(str::to_string).unwrap_or(message_language)),
            None => (record.body.clone(), target.unwrap_or("eng").to_string()),
        };
        let source_language = match self.detect_language(&text).as_str() {
            "und" => "und".to_string(),
            found => found.to_string(),
        };
        if source_language == target {
            return Ok(Translation {
                text,
                source_language,
                target_language: target,
                provider: "none".into(),
                model: None,
                latency_ms: elapsed_ms(started),
            });
        }
        let Some(llm) = &self.llm else {
            return Err(AssistError::Conflict("translation needs an external LLM, and none is configured".into()));
        };
        let prompt = Prompt {
            system: format!(
                "Translate the customer-support text into {}. Keep names, numbers and bracketed placeholders such \
                 as [EMAIL_1] exactly as they are, keep the tone and line breaks, and answer with the translation only.",
                language_name(&target)
            ),
            parts: vec![text],
            max_output_tokens: 1200,
            temperature: Some(0.0),
            schema: None,
        };
        match llm.ask(org, Feature::Translation, request_id, prompt).await? {
            LlmAnswer::Answered { text, provider, model, .. } => Ok(Translation {
                text: text.trim().to_string(),
                source_language,
                target_language: target,
                provider: provider.as_str().to_string(),
                model: Some(model),
                latency_ms: elapsed_ms(started),
            }),
            // A policy or setting (forbidden, no provider, budget spent) is the organisation's to
            // change: 409. Providers that all failed may recover: 503.
            LlmAnswer::Local(reason) => {
                let why = "translation needs an external LLM and the local engine has no translation model";
                Err(match reason {
                    LocalReason::NotAllowed => {
                        AssistError::Conflict(format!("{why}: this organisation does not allow external LLMs"))
                    }
                    LocalReason::NoProvider => AssistError::Conflict(format!("{why}: no provider is configured")),
                    LocalReason::OverBudget => AssistError::Conflict(format!("{why}: this month's AI budget is spent")),
                    LocalReason::Failed(e) => {
                        AssistError::Unavailable(format!("{why}: every provider failed ({})", e.kind()))
                    }
                })
            }
        }
    }
}

/// The local engine's draft: the closest past reply when it is close enough (its slots filled
/// from this conversation), else the category's template with the closest article passage.
fn local_draft<'p>(
    thread: &Thread,
    entities: &Entities,
    passages: &'p [RetrievedPassage],
) -> (String, Vec<&'p RetrievedPassage>, f32) {
    let best_reply = passages
        .iter()
        .filter(|p| p.source == "reply" && p.similarity >= REPLY_MATCH)
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
    if let Some(reply) = best_reply {
        return (reply::fill(&reply.content, entities), vec![reply], reply.similarity as f32);
    }
    let article = passages
        .iter()
        .filter(|p| p.source == "article" && p.similarity >= ARTICLE_MATCH)
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
    let template = thread
        .category
        .as_deref()
        .and_then(|c| intent_template(c, entities.order_number.is_some()))
        .or_else(|| intent_template("other", entities.order_number.is_some()))
        .expect("the 'other' template exists");
    let mut body = reply::fill(&template, entities);
    let mut confidence = thread.category_confidence.min(0.6);
    let mut cited = Vec::new();
    if let Some(article) = article {
        // The article's passage goes before the sign-off.
        let (main, sign_off) =
            body.rsplit_once("\n\n").map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or_default();
        body = format!("{main}\n\n{}\n\n{sign_off}", article.content.trim());
        confidence = ((confidence + article.similarity as f32) / 2.0).min(0.75);
        cited.push(article);
    }
    (body, cited, confidence)
}

pub fn reason_name(reason: &LocalReason) -> &'static str {
    match reason {
        LocalReason::NotAllowed => "not_allowed",
        LocalReason::NoProvider => "no_provider",
        LocalReason::OverBudget => "over_budget",
        LocalReason::Failed(_) => "failed",
    }
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn first_sentence(text: &str) -> String {
    reply::sentences(text).into_iter().next().unwrap_or_else(|| text.trim().to_string())
}

fn elapsed_ms(started: Instant) -> u32 {
    started.elapsed().as_millis().min(u32::MAX as u128) as u32
}
