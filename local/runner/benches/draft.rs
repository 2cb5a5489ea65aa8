//! Reply drafts without an LLM, end to end as `POST /v1/conversations/{id}/draft` runs them
//! (the HTTP layer aside): read the thread, embed the customer's message, hybrid retrieval,
//! the organisation's settings, the past reply or intent template filled, every quality gate,
//! the draft stored.
//!
//!     local/dev deps && source .local/env          # Postgres 18 with pgvector, the encoder
//!     cargo bench -p local-runner --bench draft [-- --articles 2000] [--replies 300] [--drafts 300]
//!
//! A throwaway database with one organisation: `--articles` passages of Bitext's agent
//! responses as articles, `--replies` resolved conversations (a Bitext request answered by its
//! response, indexed as the indexer does), then `--drafts` new conversations from other Bitext
//! requests, each drafted once. Prints p50 / p95 / p99 and how the drafts were written.

use ai_api::Assistant;
use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use helpdesk_domain::{ConversationResolved, InboundMessage, OrgId};
use helpdesk_store::{AcceptOutcome, ArticleInput, NewReply, PassageInput, PgStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> anyhow::Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    Ok(args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(default))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn customer_writes(store: &PgStore, org: OrgId, n: usize, text: &str) -> anyhow::Result<uuid::Uuid> {
    let raw = serde_json::from_value(serde_json::json!({
        "channel": "api",
        "from": {"email": format!("customer{n}@bench.example"), "name": "Sam Taylor"},
        "subject": "Help",
        "body": text,
    }))?;
    let message = InboundMessage::parse(raw).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    match store.accept_inbound(org, &message, None, None).await? {
        AcceptOutcome::Created(accepted) => Ok(accepted.conversation_id.0),
        other => anyhow::bail!("not stored: {other:?}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (articles, replies, drafts) = (arg("--articles", 2000)?, arg("--replies", 300)?, arg("--drafts", 300)?);
    let admin_url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set: run `local/dev deps` and `source .local/env`"))?;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/bitext/customer_support.csv");
    let Ok(mut reader) = csv::Reader::from_path(&data) else {
        println!("skipped: no Bitext file at {} (see ../shared/data/README.md)", data.display());
        return Ok(());
    };
    let pairs: Vec<(String, String)> =
        reader.records().filter_map(|r| r.ok()).map(|r| (r[2].to_string(), r[10].to_string())).collect();
    let models = std::env::var("HELPDESK_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/models"));
    let encoder = Arc::new(SentenceEncoder::load(&models.join(MODEL_NAME))?);
    let language = helpdesk_ai::language::Detector::all_supported();
    let engine = helpdesk_platform::ai::engine(Some(encoder.clone()), language).await?;
    println!("encoder: {MODEL_NAME} ({})", encoder.precision().as_str());

    let admin = PgStore::connect_lazy(&admin_url, 1)?;
    let name = format!("helpdesk_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin.pool()).await?;
    let mut url = reqwest::Url::parse(&admin_url)?;
    url.set_path(&name);
    let store = PgStore::connect_lazy(url.as_str(), 4)?;
    store.migrate().await?;
    let org = OrgId::new();
    sqlx::query("INSERT INTO organizations (id, name, slug) VALUES ($1, 'Bench', $2)")
        .bind(org.0)
        .bind(format!("bench-{}", &name[15..]))
        .execute(store.pool())
        .await?;

    // Articles: Bitext responses, 50 passages an article.
    let mut next = 0;
    while next < articles {
        let batch: Vec<String> = (next..(next + 50).min(articles)).map(|i| pairs[i % pairs.len()].1.clone()).collect();
        let input = ArticleInput {
            title: format!("Article {next}"),
            body: batch.join("\n\n"),
            tags: vec![],
            language: "eng".into(),
            published: true,
        };
        let (article, _) = store.create_article(org, None, &input, None).await?;
        let mut vectors = Vec::new();
        for chunk in batch.chunks(32) {
            vectors.extend(encoder.encode(chunk)?);
        }
        let passages: Vec<PassageInput> = batch
            .into_iter()
            .zip(vectors)
            .map(|(content, embedding)| PassageInput { heading: input.title.clone(), content, embedding })
            .collect();
        store.index_article(org, article.id, article.version, &passages).await?;
        next += passages.len();
    }
    // Resolved conversations, their replies indexed by the indexer's own code.
    let indexer = ai_indexer::Indexer { store: store.clone(), encoder: encoder.clone() };
    let offset = pairs.len() / 2;
    for i in 0..replies {
        let (question, answer) = &pairs[(offset + i * 7) % pairs.len()];
        let conversation = customer_writes(&store, org, i, question).await?;
        let reply = NewReply {
            conversation_id: conversation,
            body: answer.clone(),
            author: None,
            draft_id: None,
            resolve: true,
            request_id: None,
        };
        store.record_reply(org, &reply).await?;
        indexer
            .index_replies(&ConversationResolved {
                organization_id: org,
                conversation_id: conversation,
                request_id: None,
            })
            .await?;
    }
    sqlx::query("ANALYZE").execute(store.pool()).await?;
    println!("{articles} article passages, {replies} resolved conversations' replies indexed");

    // New customers: drafted with no LLM.
    let assistant = Assistant { store: store.clone(), engine, llm: None };
    let mut conversations = Vec::new();
    for i in 0..drafts + 20 {
        let (question, _) = &pairs[(offset + i * 7 + 3) % pairs.len()];
        conversations.push(customer_writes(&store, org, replies + i, question).await?);
    }
    for c in &conversations[..20] {
        assistant.draft(org, helpdesk_domain::ConversationId(*c), None, None).await?;
        // warm up
    }
    let mut times = Vec::with_capacity(drafts);
    let (mut from_reply, mut blocked) = (0, 0);
    for c in &conversations[20..] {
        let started = Instant::now();
        let draft = assistant.draft(org, helpdesk_domain::ConversationId(*c), None, None).await?;
        times.push(started.elapsed());
        from_reply += usize::from(draft.sources.0.get(0).is_some_and(|s| s["kind"] == "reply"));
        blocked += usize::from(draft.status == "blocked");
    }
    times.sort();
    println!(
        "draft without LLM: n={} p50={:.2?} p95={:.2?} p99={:.2?} ({from_reply} from a past reply, {blocked} blocked by a gate)",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
    );
    drop(assistant);
    drop(store);
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(admin.pool()).await?;
    Ok(())
}
