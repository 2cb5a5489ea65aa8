//! The categories a new organisation starts with, and how they work before any training:
//! zero-shot, by comparing a message's sentence embedding with those of each category's
//! description and example phrases (written for this project). Agents' confirmations and
//! corrections then train the organisation's own model.

use crate::encoder::{SentenceEncoder, MODEL_NAME};
use crate::linear::softmax_in_place;
use crate::Result;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct DefaultCategory {
    pub name: &'static str,
    pub description: &'static str,
    pub examples: &'static [&'static str],
}

pub const DEFAULT_CATEGORIES: &[DefaultCategory] = &[
    DefaultCategory {
        name: "account",
        description: "Signing up, logging in, passwords, profile details, switching or deleting an account",
        examples: &[
            "I can't log in to my account",
            "How do I reset my password?",
            "I want to create an account",
            "Please delete my account and my data",
            "How can I change the email on my profile?",
            "I forgot my password and the reset link does not work",
            "I'd like to switch to another account",
            "There is a problem with my registration",
        ],
    },
    DefaultCategory {
        name: "billing",
        description: "Payments, payment methods, charges, invoices and receipts",
        examples: &[
            "My payment was declined",
            "Which payment methods do you accept?",
            "I was charged twice",
            "Can you send me the invoice for my purchase?",
            "Where can I download my receipt?",
            "There is a charge on my card I don't recognise",
            "I need a copy of my bill",
            "Can I pay with PayPal?",
        ],
    },
    DefaultCategory {
        name: "refund",
        description: "Getting money back, refund status and the refund policy",
        examples: &[
            "I want a refund",
            "When will I get my money back?",
            "What is your refund policy?",
            "My refund has not arrived yet",
            "Can I get reimbursed for the broken item?",
            "How do I track my refund?",
            "Please return my money",
            "I returned the product, where is my refund?",
        ],
    },
    DefaultCategory {
        name: "order",
        description: "Placing, changing or checking an order and its status",
        examples: &[
            "I want to place an order",
            "Can I change the items in my order?",
            "What is the status of my order?",
            "I need to add something to my purchase",
            "How do I buy this product?",
            "Where can I see my orders?",
            "Please update the quantity in my order",
            "I want to track my order",
        ],
    },
    DefaultCategory {
        name: "delivery",
        description: "Shipping options, delivery times, tracking parcels and delivery addresses",
        examples: &[
            "When will my package arrive?",
            "My parcel has not been delivered",
            "What shipping options do you have?",
            "How long does delivery take?",
            "I need to change my shipping address",
            "The courier lost my package",
            "Do you deliver to my country?",
            "How do I set up a delivery address?",
        ],
    },
    DefaultCategory {
        name: "cancellation",
        description: "Cancelling an order or a subscription and cancellation fees",
        examples: &[
            "I want to cancel my order",
            "How do I cancel my subscription?",
            "Is there a fee for cancelling?",
            "Please cancel my purchase",
            "What does it cost to cancel early?",
            "Stop my subscription from renewing",
            "Can I still cancel the order I placed yesterday?",
            "Check the cancellation charges",
        ],
    },
    DefaultCategory {
        name: "technical",
        description: "Something does not work: errors, bugs, crashes, the app or website failing",
        examples: &[
            "The app crashes when I open it",
            "I get an error when I try to check out",
            "The website is not loading",
            "The device stopped working",
            "The feature is broken since the update",
            "Sync is failing with error 500",
            "The page shows a blank screen",
            "It keeps freezing",
        ],
    },
    DefaultCategory {
        name: "complaint",
        description: "Dissatisfaction with the service, the product or the staff",
        examples: &[
            "I want to make a complaint",
            "Your service is terrible",
            "I am very unhappy with how I was treated",
            "This is unacceptable",
            "I want to file a complaint about the agent",
            "The quality of the product is awful",
            "I'm disappointed with your company",
            "How do I lodge a formal complaint?",
        ],
    },
    DefaultCategory {
        name: "feedback",
        description: "Reviews, suggestions, compliments and opinions about the product or service",
        examples: &[
            "I'd like to leave a review",
            "Here is some feedback on your service",
            "Great job, I love the product",
            "I have a suggestion for your app",
            "Where can I rate my experience?",
            "Thanks for the quick help",
            "I want to share my opinion",
            "How do I write a review?",
        ],
    },
    DefaultCategory {
        name: "contact",
        description: "Reaching a person: customer service hours, phone numbers, talking to a human agent",
        examples: &[
            "I want to talk to a human",
            "How can I contact customer service?",
            "What are your opening hours?",
            "Can I speak to a real person?",
            "Give me your phone number",
            "Connect me with an agent",
            "How do I reach support?",
            "Is there a live chat?",
        ],
    },
    DefaultCategory {
        name: "other",
        description: "Newsletters, subscriptions to emails, marketing, spam and anything else",
        examples: &[
            "Unsubscribe me from the newsletter",
            "I want to subscribe to your newsletter",
            "Stop sending me promotional emails",
            "How do I sign up for your mailing list?",
            "Buy cheap followers now",
            "Are you hiring?",
            "I have a business proposal",
            "Just saying hello",
        ],
    },
];

/// Cosine similarities of MiniLM sit in a narrow band: a gap of 0.1 between two categories is
/// a clear answer, so the scores are divided by this before the softmax.
pub const ZERO_SHOT_TEMPERATURE: f32 = 0.05;

/// The default categories' prototypes (each description and example phrase) embedded by the
/// exact (f32) encoder, shipped in the binary so that a cold start embeds nothing: embedding
/// them was most of an AI function's init. `tests/encoder.rs` fails when this file is not what
/// the encoder makes of today's phrases, and rewrites it with `UPDATE_PROTOTYPES=1`.
///
/// Format: safetensors; tensor `prototypes`, f32, shape [phrases, dims]; metadata `model` (the
/// encoder's [`MODEL_NAME`]) and `texts` (the phrases in order, a JSON array).
const SHIPPED_PROTOTYPES: &[u8] = include_bytes!("../data/zero_shot_prototypes.safetensors");

/// Every prototype phrase with the index of its category in [`DEFAULT_CATEGORIES`]: each
/// category's description, then its examples, in order.
pub fn prototype_phrases() -> Vec<(usize, &'static str)> {
    DEFAULT_CATEGORIES
        .iter()
        .enumerate()
        .flat_map(|(i, c)| std::iter::once(c.description).chain(c.examples.iter().copied()).map(move |t| (i, t)))
        .collect()
}

/// Where a [`ZeroShot`]'s prototypes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrototypeSource {
    /// The shipped file (the encoder and the phrases match it).
    Shipped,
    /// Embedded at start-up: the shipped file was made by another encoder or for other phrases.
    Embedded,
}

/// Zero-shot classification over the default categories.
pub struct ZeroShot {
    encoder: Arc<SentenceEncoder>,
    /// (category index, embedding) for each description and example.
    prototypes: Vec<(usize, Vec<f32>)>,
    source: PrototypeSource,
}

impl ZeroShot {
    /// With the shipped prototypes when they were made by this encoder for today's phrases, else
    /// embedding the phrases now (the same answers, at a slower start).
    pub fn new(encoder: Arc<SentenceEncoder>) -> Result<Self> {
        let phrases = prototype_phrases();
        let (embeddings, source) = match shipped_prototypes(&phrases, encoder.dims()) {
            Some(embeddings) => (embeddings, PrototypeSource::Shipped),
            None => (Self::embed_prototypes(&encoder)?, PrototypeSource::Embedded),
        };
        let prototypes = phrases.iter().map(|(i, _)| *i).zip(embeddings).collect();
        Ok(Self { encoder, prototypes, source })
    }

    pub fn prototype_source(&self) -> PrototypeSource {
        self.source
    }

    /// The shipped embeddings, when they were made by an encoder of this name and width for
    /// today's phrases.
    pub fn shipped_prototypes(dims: usize) -> Option<Vec<Vec<f32>>> {
        shipped_prototypes(&prototype_phrases(), dims)
    }

    /// The prototype phrases' embeddings by `encoder`, in [`prototype_phrases`]' order.
    pub fn embed_prototypes(encoder: &SentenceEncoder) -> Result<Vec<Vec<f32>>> {
        let texts: Vec<&str> = prototype_phrases().into_iter().map(|(_, t)| t).collect();
        encoder.encode(&texts)
    }

    /// The shipped file's bytes for these embeddings (in [`prototype_phrases`]' order).
    pub fn prototypes_file(embeddings: &[Vec<f32>]) -> Result<Vec<u8>> {
        let texts: Vec<&str> = prototype_phrases().into_iter().map(|(_, t)| t).collect();
        let dims = embeddings.first().map_or(0, Vec::len);
        let data: Vec<u8> = embeddings.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![embeddings.len(), dims], &data)
            .map_err(|e| crate::AiError::Data(format!("prototypes: {e}")))?;
        let metadata = std::collections::HashMap::from([
            ("model".to_string(), MODEL_NAME.to_string()),
            ("texts".to_string(), serde_json::to_string(&texts)?),
        ]);
        safetensors::serialize([("prototypes", view)], Some(metadata))
            .map_err(|e| crate::AiError::Data(format!("prototypes: {e}")))
    }

    /// For each text, the best category and its probability. A category's score is the mean
    /// cosine of its two most similar prototypes (one near phrase is luck; two is a pattern);
    /// a softmax over the scores, sharpened by [`ZERO_SHOT_TEMPERATURE`], makes them a
    /// distribution.
    pub fn classify<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<(&'static str, f32)>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            for e in self.encoder.encode(chunk)? {
                let mut best: Vec<[f32; 2]> = vec![[-1.0, -1.0]; DEFAULT_CATEGORIES.len()];
                for (i, p) in &self.prototypes {
                    let s: f32 = e.iter().zip(p).map(|(a, b)| a * b).sum();
                    let top = &mut best[*i];
                    if s > top[0] {
                        top[1] = top[0];
                        top[0] = s;
                    } else if s > top[1] {
                        top[1] = s;
                    }
                }
                let mut scores: Vec<f32> = best.iter().map(|t| (t[0] + t[1]) / 2.0 / ZERO_SHOT_TEMPERATURE).collect();
                softmax_in_place(&mut scores);
                let (i, p) = scores
                    .iter()
                    .enumerate()
                    .fold((0, f32::MIN), |(bi, bp), (i, &p)| if p > bp { (i, p) } else { (bi, bp) });
                out.push((DEFAULT_CATEGORIES[i].name, p));
            }
        }
        Ok(out)
    }
}

/// The shipped embeddings, when the file was made by this encoder (name and width) for exactly
/// these phrases.
fn shipped_prototypes(phrases: &[(usize, &str)], dims: usize) -> Option<Vec<Vec<f32>>> {
    let (_, header) = safetensors::SafeTensors::read_metadata(SHIPPED_PROTOTYPES).ok()?;
    let metadata = header.metadata().as_ref()?;
    let texts: Vec<String> = serde_json::from_str(metadata.get("texts")?).ok()?;
    let same_phrases = texts.len() == phrases.len() && texts.iter().zip(phrases).all(|(a, (_, b))| a == b);
    if metadata.get("model")? != MODEL_NAME || !same_phrases {
        return None;
    }
    let file = safetensors::SafeTensors::deserialize(SHIPPED_PROTOTYPES).ok()?;
    let view = file.tensor("prototypes").ok()?;
    if view.dtype() != safetensors::Dtype::F32 || view.shape() != [phrases.len(), dims] {
        return None;
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Some(values.chunks_exact(dims).map(<[f32]>::to_vec).collect())
}

/// Bitext's eleven categories on ours (a Bitext category may land on either of two of ours when
/// ours splits it: its FEEDBACK holds complaints, its ORDER holds cancellations).
pub fn bitext_mapping(category: &str) -> &'static [&'static str] {
    match category {
        "ACCOUNT" => &["account"],
        "ORDER" => &["order", "cancellation"],
        "REFUND" => &["refund"],
        "DELIVERY" => &["delivery"],
        "SHIPPING_ADDRESS" => &["delivery"],
        "INVOICE" | "PAYMENT" => &["billing"],
        "FEEDBACK" => &["feedback", "complaint"],
        "CONTACT" => &["contact"],
        "CANCELLATION_FEE" => &["cancellation"],
        "NEWSLETTER" => &["other"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoder-free half of the check in `tests/encoder.rs`: runs everywhere, so editing a
    /// phrase without regenerating the file fails here, naming the command.
    #[test]
    fn the_shipped_prototypes_are_for_todays_phrases() {
        let (_, header) = safetensors::SafeTensors::read_metadata(SHIPPED_PROTOTYPES).unwrap();
        let metadata = header.metadata().as_ref().unwrap();
        let texts: Vec<String> = serde_json::from_str(&metadata["texts"]).unwrap();
        let today: Vec<&str> = prototype_phrases().into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            texts, today,
            "the default categories' phrases changed: UPDATE_PROTOTYPES=1 cargo test -p helpdesk-ai --test encoder"
        );
        assert_eq!(metadata["model"], MODEL_NAME);
        assert!(shipped_prototypes(&prototype_phrases(), 384).is_some());
    }
}
