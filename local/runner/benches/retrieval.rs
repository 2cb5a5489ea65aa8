//! Knowledge-base retrieval on real Postgres + pgvector, and how fast passages are indexed:
//!
//!     local/dev deps && source .local/env          # Postgres 18 with pgvector, the encoder
//!     cargo bench -p local-runner --bench retrieval [-- --passages 10000] [--keep] [--database NAME]
//!
//! Builds a throwaway database with two organisations of `--passages` passages each (real
//! support texts from ../shared/data: Bitext's agent responses, then Banking77's requests,
//! cycled), indexes them as the indexer does (chunk, embed in batches, store), then times the
//! hybrid search of one organisation with Banking77 test requests as queries (embedding not
//! counted: drafts embed the message once for several uses). Prints indexing throughput and
//! search p50 / p95 / p99. Needs `DATABASE_URL` (an owner) and the encoder's files.

use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use helpdesk_domain::OrgId;
use helpdesk_store::{ArticleInput, PassageInput, PgStore};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASSAGES_PER_ARTICLE: usize = 50;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn texts(path: &PathBuf, column: &str) -> Vec<String> {
    let Ok(mut reader) = csv::Reader::from_path(path) else { return Vec::new() };
    let headers = reader.headers().unwrap().clone();
    let Some(i) = headers.iter().position(|h| h == column) else { return Vec::new() };
    reader.records().filter_map(|r| r.ok()).map(|r| r[i].to_string()).filter(|t| !t.trim().is_empty()).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let wanted: usize = arg("--passages").map(|v| v.parse()).transpose()?.unwrap_or(10_000);
    let admin_url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set: run `local/dev deps` and `source .local/env`"))?;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let mut corpus = texts(&data.join("bitext/customer_support.csv"), "response");
    corpus.extend(texts(&data.join("banking77/train.csv"), "text"));
    let queries = texts(&data.join("banking77/test.csv"), "text");
    if corpus.is_empty() || queries.is_empty() {
        println!("skipped: no Bitext / Banking77 files in {} (see its README)", data.display());
        return Ok(());
    }
    let models = std::env::var("HELPDESK_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/models"));
    let encoder = SentenceEncoder::load(&models.join(MODEL_NAME))?;
    println!(
        "encoder: {} ({}), threads: RAYON_NUM_THREADS={}",
        MODEL_NAME,
        encoder.precision().as_str(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );

    // A throwaway database, migrated as a deployment would be (or one kept by `--keep`).
    let admin = PgStore::connect_lazy(&admin_url, 1)?;
    let reuse = arg("--database");
    let name =
        reuse.clone().unwrap_or_else(|| format!("helpdesk_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    if reuse.is_none() {
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin.pool()).await?;
    }
    let mut url = reqwest::Url::parse(&admin_url)?;
    url.set_path(&name);
    let store = PgStore::connect_lazy(url.as_str(), 4)?;
    store.migrate().await?;
    let mut orgs = Vec::new();
    let mut indexed = 0usize;
    if reuse.is_some() {
        let ids: Vec<uuid::Uuid> =
            sqlx::query_scalar("SELECT id FROM organizations ORDER BY name").fetch_all(store.pool()).await?;
        orgs.extend(ids.into_iter().map(OrgId));
        indexed =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM kb_chunks").fetch_one(store.pool()).await? as usize;
    } else {
        for i in 0..2 {
            let org = OrgId::new();
            sqlx::query("INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)")
                .bind(org.0)
                .bind(format!("Bench {i}"))
                .bind(format!("bench-{i}-{}", &name[15..]))
                .execute(store.pool())
                .await?;
            orgs.push(org);
        }

        // Indexing: what ai-indexer does per article, timed in its two parts.
        let (mut embedding, mut storing) = (Duration::ZERO, Duration::ZERO);
        for (o, org) in orgs.iter().enumerate() {
            let mut next = o * wanted;
            while indexed < (o + 1) * wanted {
                let n = PASSAGES_PER_ARTICLE.min((o + 1) * wanted - indexed);
                let batch: Vec<String> = (0..n).map(|k| corpus[(next + k) % corpus.len()].clone()).collect();
                next += n;
                let input = ArticleInput {
                    title: format!("Article {indexed}"),
                    body: batch.join("\n\n"),
                    tags: vec![],
                    language: "eng".into(),
                    published: true,
                };
                let (article, _) = store.create_article(*org, None, &input, None).await?;
                let started = Instant::now();
                let mut vectors = Vec::with_capacity(n);
                for chunk in batch.chunks(32) {
                    vectors.extend(encoder.encode(chunk)?);
                }
                embedding += started.elapsed();
                let passages: Vec<PassageInput> = batch
                    .into_iter()
                    .zip(vectors)
                    .map(|(content, embedding)| PassageInput { heading: input.title.clone(), content, embedding })
                    .collect();
                let started = Instant::now();
                store.index_article(*org, article.id, article.version, &passages).await?;
                storing += started.elapsed();
                indexed += n;
            }
        }
        println!(
            "indexed {indexed} passages in 2 organisations: embedding {:.0} passages/s, storing {:.0} passages/s",
            indexed as f64 / embedding.as_secs_f64(),
            indexed as f64 / storing.as_secs_f64()
        );
        sqlx::query("ANALYZE kb_chunks").execute(store.pool()).await?;
    }
    // Search one organisation (the other's passages share the index).
    let queries: Vec<&String> = queries.iter().step_by((queries.len() / 300).max(1)).take(300).collect();
    let embedded: Vec<Vec<f32>> =
        queries.iter().map(|q| encoder.encode(&[q.as_str()]).map(|mut v| v.remove(0))).collect::<Result<_, _>>()?;
    for (q, e) in queries.iter().zip(&embedded).take(20) {
        store.search_passages(orgs[0], q, "eng", e, 5).await?; // warm up
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut found = 0;
    for (q, e) in queries.iter().zip(&embedded) {
        let started = Instant::now();
        let hits = store.search_passages(orgs[0], q, "eng", e, 5).await?;
        times.push(started.elapsed());
        found += hits.len();
    }
    times.sort();
    println!(
        "hybrid search over {wanted} passages (of {indexed}), top 5: n={} p50={:.2?} p95={:.2?} p99={:.2?} ({:.1} hits/query)",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
        found as f64 / times.len() as f64
    );

    drop(store);
    if std::env::args().any(|a| a == "--keep") || reuse.is_some() {
        println!("kept database {name} (organisation searched: {})", orgs[0]);
    } else {
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(admin.pool()).await?;
    }
    Ok(())
}
