//! The same BERT forward pass as `candle_transformers::models::bert::BertModel`, with the
//! encoder's linear layers held as 8-bit weights (`Q8_0`) and run through candle's quantized
//! matmul, which on CPUs with VNNI multiplies 8-bit integers four to a lane.
//!
//! Why: MiniLM's 42 MB of f32 weights do not stay in cache between messages, so a short message
//! spends most of its time streaming weights; at 8 bits they are 11 MB and the multiply is faster
//! too. The embeddings keep a cosine of 0.999 with the f32 model's on average (0.996 at worst over
//! Banking77's test texts; a test holds every text above 0.98), Banking77's accuracy does not
//! move, and `Precision::F32` keeps the exact model for CPUs without VNNI.
//!
//! candle's VNNI kernels take inner dimensions in multiples of 256, so the 384-wide layers are
//! stored with zero columns up to 512 and their inputs padded to match: the zeros add nothing
//! to the result, and the padded multiply is still faster than the f32 one.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, DType, Layout, Module, Shape, Tensor, D};
use candle_nn::{Embedding, LayerNorm};
use candle_transformers::models::bert::Config;
use candle_transformers::quantized_nn::Linear;
use std::collections::HashMap;
use std::sync::Arc;

type Result<T> = candle_core::Result<T>;

/// The inner-dimension multiple of candle's VNNI kernels (`QK_K`).
const KERNEL_BLOCK: usize = 256;

/// A linear layer with 8-bit weights whose input is zero-padded to the width they were stored at.
struct PaddedLinear {
    inner: Linear,
    padding: usize,
}

impl PaddedLinear {
    /// `weight` is (out, in) as stored by PyTorch; `bias` is (out).
    fn new(weight: &Tensor, bias: Tensor) -> Result<Self> {
        let (_, width) = weight.dims2()?;
        let padding = width.next_multiple_of(KERNEL_BLOCK) - width;
        let weight = if padding > 0 { weight.pad_with_zeros(1, 0, padding)? } else { weight.clone() };
        let quantized = QTensor::quantize(&weight, GgmlDType::Q8_0)?;
        Ok(Self { inner: Linear::from_arc(Arc::new(quantized), Some(bias))?, padding })
    }
}

impl Module for PaddedLinear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if self.padding > 0 {
            self.inner.forward(&xs.pad_with_zeros(D::Minus1, 0, self.padding)?)
        } else {
            self.inner.forward(xs)
        }
    }
}

struct Layer {
    /// Query, key and value in one multiply: (hidden) -> (3 * hidden).
    qkv: PaddedLinear,
    attention_output: PaddedLinear,
    attention_norm: LayerNorm,
    intermediate: PaddedLinear,
    output: PaddedLinear,
    output_norm: LayerNorm,
}

pub struct QuantizedBert {
    word_embeddings: Embedding,
    position_embeddings: Tensor,
    /// Token type 0 (every token: sentence encoders take one segment).
    token_type_embedding: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dims: usize,
}

impl QuantizedBert {
    pub fn load(tensors: &HashMap<String, Tensor>, config: &Config) -> Result<Self> {
        let get = |name: &str| {
            tensors.get(name).cloned().ok_or_else(|| candle_core::Error::Msg(format!("model file has no {name}")))
        };
        let norm = |prefix: &str| -> Result<LayerNorm> {
            Ok(LayerNorm::new(
                get(&format!("{prefix}.LayerNorm.weight"))?,
                get(&format!("{prefix}.LayerNorm.bias"))?,
                config.layer_norm_eps,
            ))
        };
        let linear =
            |prefix: &str| PaddedLinear::new(&get(&format!("{prefix}.weight"))?, get(&format!("{prefix}.bias"))?);
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let part = |name: &str, what: &str| get(&format!("{p}.attention.self.{name}.{what}"));
                let qkv_weight =
                    Tensor::cat(&[part("query", "weight")?, part("key", "weight")?, part("value", "weight")?], 0)?;
                let qkv_bias = Tensor::cat(&[part("query", "bias")?, part("key", "bias")?, part("value", "bias")?], 0)?;
                Ok(Layer {
                    qkv: PaddedLinear::new(&qkv_weight, qkv_bias)?,
                    attention_output: linear(&format!("{p}.attention.output.dense"))?,
                    attention_norm: norm(&format!("{p}.attention.output"))?,
                    intermediate: linear(&format!("{p}.intermediate.dense"))?,
                    output: linear(&format!("{p}.output.dense"))?,
                    output_norm: norm(&format!("{p}.output"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: Embedding::new(get("embeddings.word_embeddings.weight")?, config.hidden_size),
            position_embeddings: get("embeddings.position_embeddings.weight")?,
            token_type_embedding: get("embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?,
            embedding_norm: norm("embeddings")?,
            layers,
            heads: config.num_attention_heads,
            head_dims: config.hidden_size / config.num_attention_heads,
        })
    }

    /// Hidden states (batch, tokens, hidden) for token ids (batch, tokens); `attention_mask`
    /// (1 for a token, 0 for padding) is only needed when the batch has padding.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let (batch, tokens) = input_ids.dims2()?;
        let positions = self.position_embeddings.narrow(0, 0, tokens)?;
        let embedded = self
            .word_embeddings
            .forward(input_ids)?
            .broadcast_add(&positions.broadcast_add(&self.token_type_embedding)?)?;
        let mut hidden = self.embedding_norm.forward(&embedded)?;
        // Padding gets a large negative score before the softmax: (batch, 1, 1, tokens).
        let mask_bias = match attention_mask {
            Some(mask) => {
                let missing = (1.0 - mask.to_dtype(DType::F32)?)?;
                Some((missing * -1e9)?.reshape((batch, 1, 1, tokens))?)
            }
            None => None,
        };
        let scale = 1.0 / (self.head_dims as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&hidden)?.reshape((batch, tokens, 3, self.heads, self.head_dims))?;
            let part = |i: usize| qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous();
            let (query, key, value) = (part(0)?, part(1)?, part(2)?);
            let mut scores = (query.matmul(&key.t()?)? * scale)?;
            if let Some(bias) = &mask_bias {
                scores = scores.broadcast_add(bias)?;
            }
            let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probabilities.matmul(&value)?.transpose(1, 2)?.reshape((batch, tokens, ()))?;
            let attended = layer.attention_norm.forward(&(layer.attention_output.forward(&context)? + &hidden)?)?;
            let intermediate = layer.intermediate.forward(&attended)?.apply_op1_no_bwd(&Gelu)?;
            hidden = layer.output_norm.forward(&(layer.output.forward(&intermediate)? + &attended)?)?;
        }
        Ok(hidden)
    }
}

/// BERT's GELU, `x * (1 + erf(x / √2)) / 2`, with an erf that vectorises (see [`erf`]).
struct Gelu;

impl candle_core::CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf-rational"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("gelu: contiguous f32 input expected");
        };
        let out =
            values[start..end].iter().map(|&x| 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// erf as a ratio of polynomials on [-4, 4] (beyond which erf is ±1 in f32): the approximation
/// Eigen and XLA use, accurate to a few f32 ulps, with no branch or libm call to stop the
/// compiler vectorising the loop over a layer's activations (plain `*` and `+`: `mul_add` is a
/// libm call where the build does not assume FMA).
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p - 2.101_024e-6;
    p = x2 * p - 5.692_506_4e-5;
    p = x2 * p - 7.349_906_3e-4;
    p = x2 * p - 2.954_6e-3;
    p = x2 * p - 1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    q = x2 * q - 1.682_827e-3;
    q = x2 * q - 7.373_329_2e-3;
    q = x2 * q - 1.426_474e-2;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_the_definition_to_float_precision() {
        // Reference: erf by its Taylor series in f64 (converges well over this range).
        let reference = |x: f64| {
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        };
        let worst = (-3000..=3000)
            .map(|i| i as f64 / 1000.0)
            .map(|x| (erf(x as f32) as f64 - reference(x)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-6, "largest error {worst}");
        // Past the clamp it is ±1 to float precision, and odd.
        assert!((erf(7.0) - 1.0).abs() < 1e-6 && erf(-7.0) == -erf(7.0));
    }
}
