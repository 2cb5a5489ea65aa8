//! What a call cost: a table of prices per million tokens, by model name prefix. The shipped
//! table (`prices.json`) holds list prices; a deployment sets its own (`LLM_PRICES`, same shape),
//! e.g. for negotiated rates or a self-hosted model's running cost.

use crate::Usage;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Price {
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable(BTreeMap<String, Price>);

impl PriceTable {
    pub fn shipped() -> Self {
        Self::from_json(include_str!("../prices.json")).expect("the shipped price table parses")
    }

    /// `{"model-prefix": {"input": 0.15, "output": 0.6}, …}`; keys starting with `_` are notes.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| format!("price table: {e}"))?;
        let mut prices = BTreeMap::new();
        for (model, value) in raw.into_iter().filter(|(k, _)| !k.starts_with('_')) {
            let price: Price = serde_json::from_value(value).map_err(|e| format!("price of {model}: {e}"))?;
            if !(price.input >= 0.0 && price.output >= 0.0 && price.input.is_finite() && price.output.is_finite()) {
                return Err(format!("price of {model}: prices are non-negative numbers"));
            }
            prices.insert(model, price);
        }
        Ok(Self(prices))
    }

    /// This table with `other`'s prices added, replacing any of the same prefix.
    pub fn merged(mut self, other: PriceTable) -> Self {
        self.0.extend(other.0);
        self
    }

    /// The price of the longest listed prefix of `model` (a dated snapshot takes its family's).
    pub fn price(&self, model: &str) -> Option<Price> {
        self.0
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, p)| *p)
    }

    /// Millionths of a USD (a token count times a price per million is exactly that); `None`
    /// for a model the table does not list.
    pub fn cost_micro_usd(&self, model: &str, usage: Usage) -> Option<u64> {
        let p = self.price(model)?;
        Some((usage.input_tokens as f64 * p.input + usage.output_tokens as f64 * p.output).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_takes_its_familys_price_and_cost_is_in_millionths() {
        let t = PriceTable::shipped();
        let usage = Usage { input_tokens: 1_000, output_tokens: 500 };
        // gpt-4o-mini: 1,000 × 0.15 + 500 × 0.60 = 450 µUSD, not gpt-4o's price.
        assert_eq!(t.cost_micro_usd("gpt-4o-mini-2024-07-18", usage), Some(450));
        assert_eq!(t.cost_micro_usd("gpt-4o-2024-08-06", usage), Some(7_500));
        assert_eq!(t.cost_micro_usd("llama3.1:8b", usage), None);
        let own = PriceTable::from_json(r#"{"llama3": {"input": 0, "output": 0.1}}"#).unwrap();
        assert_eq!(own.cost_micro_usd("llama3.1:8b", usage), Some(50));
        assert!(PriceTable::from_json(r#"{"x": {"input": -1, "output": 0}}"#).is_err());
        let negotiated = PriceTable::shipped()
            .merged(PriceTable::from_json(r#"{"gpt-4o-mini": {"input": 0.1, "output": 0.5}}"#).unwrap());
        assert_eq!(negotiated.cost_micro_usd("gpt-4o-mini", usage), Some(350));
        assert_eq!(negotiated.cost_micro_usd("gpt-4o", usage), Some(7_500), "the rest of the shipped table stays");
    }
}
