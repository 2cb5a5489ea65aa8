//! The sentence encoder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run on the CPU with
//! `candle`, mean-pooled over its tokens and L2-normalised, as sentence-transformers does. The
//! files (`model.safetensors`, `tokenizer.json`, `config.json`) are loaded once per process from
//! a directory: `.local/models/all-MiniLM-L6-v2` locally (`local/models.py fetch`), S3 or a
//! Lambda layer in AWS.

use crate::{AiError, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use std::path::Path;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The encoder's name, recorded in the models trained with it.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

fn model_error(e: impl std::fmt::Display) -> AiError {
    AiError::Model(e.to_string())
}

pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder").field("dims", &self.dims).finish_non_exhaustive()
    }
}

impl SentenceEncoder {
    /// Tokens per text: enough for a support message's gist, and what keeps encoding fast.
    pub const MAX_TOKENS: usize = 128;

    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                AiError::Data(format!(
                    "{}: {e} (fetch the model with `python local/models.py fetch`)",
                    dir.join(name).display()
                ))
            })
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(model_error)?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: Self::MAX_TOKENS, ..Default::default() }))
            .map_err(model_error)?;
        let device = Device::Cpu;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DTYPE, &device).map_err(model_error)?;
        let model = BertModel::load(vb, &config).map_err(model_error)?;
        Ok(Self { model, tokenizer, device, dims: config.hidden_size })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// One unit vector per text.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = self.tokenizer.encode_batch(inputs, true).map_err(model_error)?;
        let ids: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_ids(), &self.device))
            .collect::<Result<_, _>>()
            .map_err(model_error)?;
        let masks: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), &self.device))
            .collect::<Result<_, _>>()
            .map_err(model_error)?;
        let pooled = (|| {
            let input_ids = Tensor::stack(&ids, 0)?;
            let attention_mask = Tensor::stack(&masks, 0)?;
            let token_type_ids = input_ids.zeros_like()?;
            let hidden = self.model.forward(&input_ids, &token_type_ids, Some(&attention_mask))?;
            // Mean over the real tokens (padding masked out), then unit length.
            let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        })();
        pooled.map_err(model_error)
    }
}
