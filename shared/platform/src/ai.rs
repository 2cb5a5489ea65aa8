//! Loading the local AI engine in a function: the sentence encoder's files from a directory (a
//! Lambda layer, or the local cache) or from S3 into `/tmp`, once per container; and each
//! organisation's own category model, fetched from S3 by version and kept while it is current.

use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use helpdesk_ai::language::{Detector, SUPPORTED};
use helpdesk_ai::{Categorizer, CategoryModel, Engine, TenantModel};
use helpdesk_domain::{BlobStore, OrgId};
use helpdesk_store::ActiveModelRef;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where the encoder comes from, read from the function's environment:
/// `ENCODER_DIR` (a directory with the files: a layer's `/opt/...`, or `.local/models/...`), else
/// `ENCODER_S3_PREFIX` in `DATA_BUCKET` (copied to `/tmp` on a cold start), else none (the n-gram
/// defaults answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderSource {
    Dir(PathBuf),
    S3 { prefix: String, cache_dir: PathBuf },
    None,
}

impl EncoderSource {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(dir) = set("ENCODER_DIR") {
            return Self::Dir(PathBuf::from(dir));
        }
        if let (Some(prefix), Some(_)) = (set("ENCODER_S3_PREFIX"), set("DATA_BUCKET")) {
            return Self::S3 { prefix, cache_dir: std::env::temp_dir().join("models").join(MODEL_NAME) };
        }
        Self::None
    }

    /// The encoder, or `None` when no source is configured. A configured source that fails is
    /// an error: a function that should run the encoder must not quietly run without it.
    pub async fn load(&self, blobs: Option<&helpdesk_aws::S3Blobs>) -> anyhow::Result<Option<Arc<SentenceEncoder>>> {
        let started = Instant::now();
        let dir = match self {
            Self::None => {
                tracing::warn!("no ENCODER_DIR or ENCODER_S3_PREFIX: default categories from n-grams only");
                return Ok(None);
            }
            Self::Dir(dir) => dir.clone(),
            Self::S3 { prefix, cache_dir } => {
                let blobs = blobs.ok_or_else(|| anyhow::anyhow!("ENCODER_S3_PREFIX needs DATA_BUCKET"))?;
                let copied = blobs.download_prefix(prefix, cache_dir).await.map_err(anyhow::Error::msg)?;
                tracing::info!(files = copied, bucket = blobs.bucket(), prefix, "encoder files fetched");
                cache_dir.clone()
            }
        };
        let encoder = tokio::task::spawn_blocking(move || SentenceEncoder::load(&dir)).await??;
        let (load_ms, precision) = (started.elapsed().as_millis() as u64, encoder.precision().as_str());
        tracing::info!(load_ms, precision, "sentence encoder loaded");
        Ok(Some(Arc::new(encoder)))
    }
}

/// The support languages from `SUPPORT_LANGUAGES` (ISO 639-3, comma-separated), else every
/// language compiled in.
pub fn language_detector(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Detector> {
    match lookup("SUPPORT_LANGUAGES").filter(|v| !v.trim().is_empty()) {
        Some(list) => {
            let codes: Vec<&str> = list.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
            Detector::new(&codes).map_err(|e| anyhow::anyhow!("SUPPORT_LANGUAGES: {e} (supported: {SUPPORTED:?})"))
        }
        None => Ok(Detector::all_supported()),
    }
}

/// The engine a container keeps (built off the async threads: it embeds the default
/// categories' examples).
pub async fn engine(encoder: Option<Arc<SentenceEncoder>>, language: Detector) -> anyhow::Result<Arc<Engine>> {
    Ok(Arc::new(tokio::task::spawn_blocking(move || Engine::new(encoder, language)).await??))
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
