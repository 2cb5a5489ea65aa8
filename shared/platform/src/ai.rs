//! Loading the local AI engine in a function: the sentence encoder's files from a directory (a
//! Lambda layer, or the local cache) or from S3 into `/tmp`, once per container; and each
//! organisation's own category model, fetched from S3 by version and kept while it is current.

use crate::config::ConfigError;
use helpdesk_ai::encoder::{Precision, SentenceEncoder, MODEL_NAME};
use helpdesk_ai::language::{Detector, SUPPORTED};
use helpdesk_ai::{Categorizer, CategoryModel, Engine, TenantModel};
use helpdesk_domain::{BlobStore, OrgId};
use helpdesk_store::ActiveModelRef;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where the sentence encoder's files are — `ENCODER_DIR` (a directory: a layer's `/opt/...`, or
/// `.local/models/...` locally), else `ENCODER_S3_PREFIX` in `DATA_BUCKET` (copied to `/tmp` on a
/// cold start), else none (the n-gram defaults answer) — and `ENCODER_PRECISION` (`f32` or
/// `int8`; default int8 where the CPU multiplies 8-bit integers natively).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "EncoderVars")]
pub struct EncoderConfig {
    pub source: EncoderSource,
    pub precision: Precision,
}

#[derive(serde::Deserialize)]
struct EncoderVars {
    encoder_dir: Option<PathBuf>,
    encoder_s3_prefix: Option<String>,
    encoder_precision: Option<String>,
}

impl TryFrom<EncoderVars> for EncoderConfig {
    type Error = ConfigError;
    fn try_from(v: EncoderVars) -> Result<Self, ConfigError> {
        let source = match (v.encoder_dir, v.encoder_s3_prefix) {
            (Some(dir), _) => EncoderSource::Dir(dir),
            (None, Some(prefix)) => {
                EncoderSource::S3 { prefix, cache_dir: std::env::temp_dir().join("models").join(MODEL_NAME) }
            }
            (None, None) => EncoderSource::None,
        };
        let precision = Precision::parse(v.encoder_precision.as_deref())
            .map_err(|e| ConfigError::variable("ENCODER_PRECISION", e))?;
        Ok(Self { source, precision })
    }
}

/// The languages the detector chooses among: `SUPPORT_LANGUAGES` (ISO 639-3 codes,
/// comma-separated; default every language compiled in), kept sorted so equal settings compare
/// equal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "LanguageVars")]
pub struct LanguageConfig {
    pub languages: Vec<String>,
}

#[derive(serde::Deserialize)]
struct LanguageVars {
    support_languages: Option<String>,
}

impl TryFrom<LanguageVars> for LanguageConfig {
    type Error = ConfigError;
    fn try_from(v: LanguageVars) -> Result<Self, ConfigError> {
        let mut languages: Vec<String> = match v.support_languages {
            Some(list) => list.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect(),
            None => SUPPORTED.iter().map(|c| c.to_string()).collect(),
        };
        languages.sort();
        languages.dedup();
        Detector::new(&languages).map_err(|e| {
            ConfigError::variable(
                "SUPPORT_LANGUAGES",
                format!("{e}; expected ISO 639-3 codes from {}", SUPPORTED.join(",")),
            )
        })?;
        Ok(Self { languages })
    }
}

/// Where the encoder's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EncoderSource {
    Dir(PathBuf),
    /// A prefix in the data bucket, copied to `cache_dir` (`/tmp/models/<model>`) once per
    /// container.
    S3 {
        prefix: String,
        cache_dir: PathBuf,
    },
    None,
}

/// The encoder and the engine built on it, as one container keeps them.
#[derive(Clone)]
pub struct LoadedEngine {
    pub encoder: Option<Arc<SentenceEncoder>>,
    pub engine: Arc<Engine>,
}

impl EncoderConfig {
    /// The encoder and the engine, loaded once per process for these settings: a Lambda
    /// container loads them at its cold start; the local runner's AI functions share one. A
    /// configured source that fails is an error: a function that should run the encoder must
    /// not quietly run without it.
    pub async fn load(
        &self,
        languages: &LanguageConfig,
        blobs: Option<&helpdesk_aws::S3Blobs>,
    ) -> anyhow::Result<LoadedEngine> {
        let cell = once_per_process(&ENGINES, (self.clone(), languages.clone()));
        cell.get_or_try_init(|| async {
            let encoder = self.encoder(blobs).await?;
            let language = Detector::new(&languages.languages)?;
            let engine = engine(encoder.clone(), language).await?;
            Ok(LoadedEngine { encoder, engine })
        })
        .await
        .cloned()
    }

    /// The encoder alone (the indexer embeds passages and needs no engine), loaded once per
    /// process for its source and precision.
    pub async fn encoder(&self, blobs: Option<&helpdesk_aws::S3Blobs>) -> anyhow::Result<Option<Arc<SentenceEncoder>>> {
        let cell = once_per_process(&ENCODERS, (self.source.clone(), self.precision));
        cell.get_or_try_init(|| self.source.load(self.precision, blobs)).await.cloned()
    }
}

type Once<T> = Arc<tokio::sync::OnceCell<T>>;
type Loaded<K, T> = Mutex<Vec<(K, Once<T>)>>;
static ENGINES: Loaded<(EncoderConfig, LanguageConfig), LoadedEngine> = Mutex::new(Vec::new());
static ENCODERS: Loaded<(EncoderSource, Precision), Option<Arc<SentenceEncoder>>> = Mutex::new(Vec::new());

/// The cell that holds what is loaded for `key` (one per process; few keys, so a list).
fn once_per_process<K: PartialEq, T>(loaded: &Loaded<K, T>, key: K) -> Once<T> {
    let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, cell)) = loaded.iter().find(|(k, _)| *k == key) {
        return cell.clone();
    }
    let cell = Once::default();
    loaded.push((key, cell.clone()));
    cell
}

impl EncoderSource {
    /// The encoder, or `None` when no source is configured.
    pub async fn load(
        &self,
        precision: Precision,
        blobs: Option<&helpdesk_aws::S3Blobs>,
    ) -> anyhow::Result<Option<Arc<SentenceEncoder>>> {
        let started = Instant::now();
        let dir = match self {
            EncoderSource::None => {
                tracing::warn!("no ENCODER_DIR or ENCODER_S3_PREFIX: default categories from n-grams only");
                return Ok(None);
            }
            EncoderSource::Dir(dir) => dir.clone(),
            EncoderSource::S3 { prefix, cache_dir } => {
                let blobs = blobs.ok_or_else(|| anyhow::anyhow!("ENCODER_S3_PREFIX needs DATA_BUCKET"))?;
                let copied = blobs.download_prefix(prefix, cache_dir).await.map_err(anyhow::Error::msg)?;
                tracing::info!(files = copied, bucket = blobs.bucket(), prefix, "encoder files fetched");
                cache_dir.clone()
            }
        };
        let encoder = tokio::task::spawn_blocking(move || SentenceEncoder::load_with(&dir, precision)).await??;
        let (load_ms, precision) = (started.elapsed().as_millis() as u64, encoder.precision().as_str());
        tracing::info!(load_ms, precision, "sentence encoder loaded");
        Ok(Some(Arc::new(encoder)))
    }
}

/// The engine a container keeps (built off the async threads: it embeds the default
/// categories' examples).
pub async fn engine(encoder: Option<Arc<SentenceEncoder>>, language: Detector) -> anyhow::Result<Arc<Engine>> {
    let started = Instant::now();
    let engine = tokio::task::spawn_blocking(move || Engine::new(encoder, language)).await??;
    let build_ms = started.elapsed().as_millis() as u64;
    match engine.defaults() {
        // Embedded prototypes mean the shipped file is stale: correct answers, a slower start.
        Categorizer::ZeroShot(z) => tracing::info!(build_ms, prototypes = ?z.prototype_source(), "engine ready"),
        Categorizer::Model(_) => tracing::info!(build_ms, "engine ready (n-gram defaults)"),
    }
    Ok(Arc::new(engine))
}

/// Organisations' own models, loaded from object storage by version and kept while current: a
/// promotion changes the active version, and the next message of that organisation loads it.
pub struct ModelCache {
    blobs: Arc<dyn BlobStore>,
    encoder: Option<Arc<SentenceEncoder>>,
    models: Mutex<HashMap<OrgId, Arc<TenantModel>>>,
    capacity: usize,
}

impl ModelCache {
    /// Models kept at most (a small model is a few MB; an evicted one is fetched again).
    pub const CAPACITY: usize = 64;

    pub fn new(blobs: Arc<dyn BlobStore>, encoder: Option<Arc<SentenceEncoder>>) -> Self {
        Self { blobs, encoder, models: Mutex::default(), capacity: Self::CAPACITY }
    }

    /// The organisation's model at that version, from the cache or from storage.
    pub async fn get(&self, org: OrgId, active: &ActiveModelRef) -> anyhow::Result<Arc<TenantModel>> {
        if let Some(model) = self.models.lock().expect("not poisoned").get(&org) {
            if model.version == active.version {
                return Ok(model.clone());
            }
        }
        let started = Instant::now();
        let fetch = |name: &'static str| {
            let key = format!("{}{name}", active.artifact_prefix);
            async move {
                self.blobs
                    .get(&key)
                    .await
                    .map_err(anyhow::Error::msg)?
                    .ok_or_else(|| anyhow::anyhow!("model file {key} is missing"))
            }
        };
        let (model_json, weights) = (fetch("model.json").await?, fetch("weights.bin").await?);
        let encoder = self.encoder.clone();
        let model =
            tokio::task::spawn_blocking(move || CategoryModel::from_parts(&model_json, &weights, encoder)).await??;
        let loaded =
            Arc::new(TenantModel { version: active.version, categorizer: Categorizer::Model(Box::new(model)) });
        tracing::info!(version = active.version, load_ms = started.elapsed().as_millis() as u64, "tenant model loaded");
        let mut models = self.models.lock().expect("not poisoned");
        if models.len() >= self.capacity && !models.contains_key(&org) {
            // Any one goes: a model is cheap to fetch again, and most containers see few tenants.
            if let Some(victim) = models.keys().next().copied() {
                models.remove(&victim);
            }
        }
        models.insert(org, loaded.clone());
        Ok(loaded)
    }
}

/// The encoder directory the local runner and tools use: `$HELPDESK_MODELS/all-MiniLM-L6-v2`,
/// when its files are there.
pub fn local_encoder_dir() -> Option<PathBuf> {
    let dir = Path::new(&std::env::var("HELPDESK_MODELS").ok()?).join(MODEL_NAME);
    dir.join("model.safetensors").exists().then_some(dir)
}
