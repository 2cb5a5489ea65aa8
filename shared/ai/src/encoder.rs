//! The sentence encoder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run on the CPU with
//! `candle`, mean-pooled over its tokens and L2-normalised, as sentence-transformers does. The
//! files (`model.safetensors`, `tokenizer.json`, `config.json`) are loaded once per process from
//! a directory: `.local/models/all-MiniLM-L6-v2` locally (`local/models.py fetch`), S3 or a
//! Lambda layer in AWS.

mod int8;

use crate::{AiError, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use int8::QuantizedBert;
use std::collections::HashMap;
use std::path::Path;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The encoder's name, recorded in the models trained with it.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

fn model_error(e: impl std::fmt::Display) -> AiError {
    AiError::Model(e.to_string())
}

/// How the encoder's linear layers are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// The published f32 weights through `candle_transformers`' BERT: exact, and the choice on
    /// CPUs without 8-bit dot-product instructions, where candle's 8-bit path is slower.
    F32,
    /// 8-bit weights through candle's VNNI kernels (see `int8.rs`): about twice as fast on one
    /// core; embeddings at a cosine of 0.999 from the exact ones on average.
    Int8,
}

impl Precision {
    /// `ENCODER_PRECISION` (`f32` or `int8`) when set, else int8 where the CPU multiplies 8-bit
    /// integers natively (AVX-512 VNNI or AVX-VNNI), else f32.
    pub fn from_env() -> Result<Self> {
        let value = std::env::var("ENCODER_PRECISION").ok();
        Self::parse(value.as_deref()).map_err(|e| AiError::Data(format!("ENCODER_PRECISION: {e}")))
    }

    /// `f32` or `int8`; unset or empty: [`Precision::fastest_here`].
    pub fn parse(value: Option<&str>) -> std::result::Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::fastest_here()),
            Some("f32") => Ok(Self::F32),
            Some("int8") => Ok(Self::Int8),
            Some(other) => Err(format!("expected f32 or int8, found {other:?}")),
        }
    }

    pub fn fastest_here() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let vnni512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni");
            let vnni256 = std::arch::is_x86_feature_detected!("avxvnni") && std::arch::is_x86_feature_detected!("avx2");
            if vnni512 || vnni256 {
                return Self::Int8;
            }
        }
        Self::F32
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        }
    }
}

enum Network {
    F32(BertModel),
    Int8(QuantizedBert),
}

pub struct SentenceEncoder {
    network: Network,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("dims", &self.dims)
            .field("precision", &self.precision())
            .finish_non_exhaustive()
    }
}

/// How much of a text the encoder tokenises, in characters: far more than 128 tokens' worth.
const ENCODER_CHARS: usize = 4_000;

impl SentenceEncoder {
    /// Tokens per text: enough for a support message's gist, and what keeps encoding fast.
    pub const MAX_TOKENS: usize = 128;

    /// Loads with [`Precision::from_env`].
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, Precision::from_env()?)
    }

    pub fn load_with(dir: &Path, precision: Precision) -> Result<Self> {
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
        let weights = dir.join("model.safetensors");
        if !weights.exists() {
            return Err(AiError::Data(format!(
                "{}: missing (fetch the model with `python local/models.py fetch`)",
                weights.display()
            )));
        }
        // Mapped rather than read: each tensor is copied once, straight from the page cache
        // (reading the 90 MB file first cost a third of the load time).
        // SAFETY: the file is this process's verified copy (local cache, layer or /tmp), which
        // nothing writes while it is mapped; the mapping is dropped at the end of this function.
        let mapped = unsafe { candle_core::safetensors::MmapedSafetensors::new(&weights) }.map_err(model_error)?;
        let tensors = mapped
            .tensors()
            .into_iter()
            .map(|(name, _)| Ok((name.clone(), mapped.load(&name, &device)?)))
            .collect::<candle_core::Result<HashMap<_, _>>>()
            .map_err(model_error)?;
        let network = match precision {
            Precision::Int8 => Network::Int8(QuantizedBert::load(&tensors, &config).map_err(model_error)?),
            Precision::F32 => {
                let vb = VarBuilder::from_tensors(
                    with_linear_weights_transposed(tensors).map_err(model_error)?,
                    DTYPE,
                    &device,
                );
                Network::F32(BertModel::load(vb, &config).map_err(model_error)?)
            }
        };
        let encoder = Self { network, tokenizer, device, dims: config.hidden_size };
        // candle lays the 8-bit weights out for its kernels on their first use: do it now, so
        // that loading costs what it costs and the first message does not pay for it.
        encoder.encode(&["warm up"])?;
        Ok(encoder)
    }

    pub fn precision(&self) -> Precision {
        match self.network {
            Network::F32(_) => Precision::F32,
            Network::Int8(_) => Precision::Int8,
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// One unit vector per text.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // candle-nn's softmax and layer norm split their rows over rayon's pool. Called from
        // outside the pool, each of those ~20 calls per text waits for a pool thread to wake
        // (`perf`: a tenth of the time on one core); run from inside it, they run in place.
        // The model reads 128 tokens; tokenising a whole article first would be wasted work.
        // 4,000 characters hold 128 tokens of any real text (a token averages under five
        // characters; a word over 100 is one `[UNK]`, WordPiece's `max_input_chars_per_word`).
        let texts: Vec<&str> = texts.iter().map(|t| crate::text::prefix(t.as_ref(), ENCODER_CHARS)).collect();
        rayon::scope(|_| self.encode_here(&texts))
    }

    fn encode_here(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // One text is tokenised on this thread: `encode_batch` hands work to rayon's pool,
        // a thread wake-up per call that costs more than the tokenising.
        let encodings = match texts {
            [text] => vec![self.tokenizer.encode(*text, true).map_err(model_error)?],
            _ => self.tokenizer.encode_batch(texts.to_vec(), true).map_err(model_error)?,
        };
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
            let hidden = match &self.network {
                Network::F32(model) => model.forward(&input_ids, &input_ids.zeros_like()?, Some(&attention_mask))?,
                // One text has no padding: no mask to add.
                Network::Int8(model) => model.forward(&input_ids, (texts.len() > 1).then_some(&attention_mask))?,
            };
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

/// Stores each linear layer's (out, in) weight as the transpose of a contiguous (in, out) one.
/// `candle_nn::Linear` multiplies by the weight's transpose, which is then contiguous: gemm reads
/// it row by row instead of packing a strided copy element by element, the single largest cost
/// of the f32 forward pass before this (`perf`: 37%).
fn with_linear_weights_transposed(tensors: HashMap<String, Tensor>) -> candle_core::Result<HashMap<String, Tensor>> {
    tensors
        .into_iter()
        .map(|(name, t)| {
            let linear = name.starts_with("encoder.") && name.ends_with(".weight") && t.rank() == 2;
            Ok((name, if linear { t.t()?.contiguous()?.t()? } else { t }))
        })
        .collect()
}
