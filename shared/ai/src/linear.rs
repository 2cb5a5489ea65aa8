//! Multinomial logistic regression over sparse features, trained with AdaGrad and L2
//! regularisation. Weights are stored feature-major (`w[feature * classes + class]`) so that a
//! sparse input touches contiguous memory.

use crate::features::SparseVec;
use crate::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { epochs: 40, learning_rate: 0.05, l2: 1e-6, seed: 7 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxRegression {
    pub classes: usize,
    pub dims: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl SoftmaxRegression {
    pub fn train(xs: &[SparseVec], ys: &[usize], classes: usize, dims: usize, options: TrainOptions) -> Self {
        let mut model = Self { classes, dims, weights: vec![0.0; dims * classes], bias: vec![0.0; classes] };
        let mut g2 = vec![1e-6f32; dims * classes];
        let mut g2_bias = vec![1e-6f32; classes];
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = Rng::new(options.seed);
        let mut p = vec![0.0f32; classes];
        for _ in 0..options.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                model.logits_into(&xs[i], &mut p);
                softmax_in_place(&mut p);
                p[ys[i]] -= 1.0; // the gradient of the loss with respect to the logits
                for c in 0..classes {
                    let d = p[c];
                    // Classes the example says almost nothing about are skipped: most of them,
                    // once training is under way.
                    if d.abs() < 1e-4 {
                        continue;
                    }
                    g2_bias[c] += d * d;
                    model.bias[c] -= options.learning_rate * d / g2_bias[c].sqrt();
                    for &(j, x) in &xs[i] {
                        let k = j as usize * classes + c;
                        let g = d * x + options.l2 * model.weights[k];
                        g2[k] += g * g;
                        model.weights[k] -= options.learning_rate * g / g2[k].sqrt();
                    }
                }
            }
        }
        model
    }

    /// The raw scores of each class.
    pub fn logits(&self, x: &SparseVec) -> Vec<f32> {
        let mut out = vec![0.0; self.classes];
        self.logits_into(x, &mut out);
        out
    }

    fn logits_into(&self, x: &SparseVec, out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        for &(j, v) in x {
            let row = &self.weights[j as usize * self.classes..(j as usize + 1) * self.classes];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * v;
            }
        }
    }

    /// Weights and biases as little-endian f32 (the model's `weights.bin`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.weights.iter().chain(&self.bias).flat_map(|w| w.to_le_bytes()).collect()
    }

    pub fn from_bytes(classes: usize, dims: usize, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != (dims * classes + classes) * 4 {
            return None;
        }
        let mut all: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let bias = all.split_off(dims * classes);
        Some(Self { classes, dims, weights: all, bias })
    }
}

/// Softmax, numerically stable.
pub fn softmax_in_place(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem_and_round_trips() {
        // Feature 0 means class 0, feature 1 class 1, feature 2 class 2.
        let xs: Vec<SparseVec> = (0..60).map(|i| vec![((i % 3) as u32, 1.0)]).collect();
        let ys: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let model = SoftmaxRegression::train(&xs, &ys, 3, 3, TrainOptions::default());
        for c in 0..3 {
            let mut p = model.logits(&vec![(c as u32, 1.0)]);
            softmax_in_place(&mut p);
            assert!(p[c] > 0.9, "class {c}: {p:?}");
        }
        let back = SoftmaxRegression::from_bytes(3, 3, &model.to_bytes()).unwrap();
        assert_eq!(back, model);
        assert!(SoftmaxRegression::from_bytes(3, 4, &model.to_bytes()).is_none());
    }
}
