//! Anthropic's Messages API (`POST /v1/messages`, `x-api-key`, `anthropic-version`).
//!
//! Structured answers are a forced tool call: one tool whose `input_schema` is the schema and
//! `tool_choice: {"type": "tool", …}`, so the answer is the tool call's `input`. A refusal is
//! `stop_reason: "refusal"`.

use crate::http::post_json;
use crate::{ApiKey, ChatRequest, Completion, LlmError, LlmFuture, LlmProvider, ProviderKind, Role, StopReason, Usage};
use serde_json::{json, Value};

pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The API version this client speaks (sent as `anthropic-version`).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct AnthropicMessages {
    http: reqwest::Client,
    url: String,
    key: ApiKey,
    model: String,
}

impl AnthropicMessages {
    /// `base_url` `None` is [`ANTHROPIC_BASE_URL`].
    pub fn new(http: reqwest::Client, base_url: Option<&str>, key: ApiKey, model: impl Into<String>) -> Self {
        let base = base_url.unwrap_or(ANTHROPIC_BASE_URL).trim_end_matches('/');
        Self { http, url: format!("{base}/v1/messages"), key, model: model.into() }
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let messages: Vec<Value> = request
            .turns
            .iter()
            .map(|t| {
                let role = match t.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({"role": role, "content": t.content})
            })
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": request.max_output_tokens,
            "system": request.system,
            "messages": messages,
        });
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(schema) = &request.schema {
            body["tools"] = json!([{
                "name": schema.name,
                "description": schema.description,
                "input_schema": schema.schema,
            }]);
            body["tool_choice"] = json!({"type": "tool", "name": schema.name});
        }
        body
    }
}

impl LlmProvider for AnthropicMessages {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.url
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> LlmFuture<'a> {
        Box::pin(async move {
            let post = self
                .http
                .post(&self.url)
                .header("x-api-key", self.key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION);
            let answer = post_json(post, &self.body(request)).await?;
            parse(&answer, request.schema.as_ref().map(|s| s.name.as_str()))
        })
    }
}

fn parse(answer: &Value, tool: Option<&str>) -> Result<Completion, LlmError> {
    let stop = answer.get("stop_reason").and_then(Value::as_str).unwrap_or("end_turn");
    let blocks =
        answer.get("content").and_then(Value::as_array).ok_or_else(|| LlmError::Malformed("no content".into()))?;
    let text_of = |blocks: &[Value]| -> String {
        blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("")
    };
    if stop == "refusal" {
        let said = text_of(blocks);
        return Err(LlmError::Refused(if said.is_empty() { "the model declined".into() } else { said }));
    }
    let (text, structured) = match tool {
        Some(name) => {
            let input = blocks
                .iter()
                .find(|b| {
                    b.get("type").and_then(Value::as_str) == Some("tool_use")
                        && b.get("name").and_then(Value::as_str) == Some(name)
                })
                .and_then(|b| b.get("input"))
                .ok_or_else(|| LlmError::Malformed(format!("no call of the tool {name}")))?;
            if !input.is_object() {
                return Err(LlmError::Malformed("the tool call's input is not an object".into()));
            }
            (input.to_string(), Some(input.clone()))
        }
        None => (text_of(blocks), None),
    };
    let stop = match stop {
        "end_turn" | "tool_use" | "stop_sequence" => StopReason::Complete,
        "max_tokens" => StopReason::MaxTokens,
        other => StopReason::Other(other.to_string()),
    };
    let tokens = |name: &str| answer.pointer(&format!("/usage/{name}")).and_then(Value::as_u64).unwrap_or(0) as u32;
    Ok(Completion {
        text,
        structured,
        usage: Usage { input_tokens: tokens("input_tokens"), output_tokens: tokens("output_tokens") },
        model: answer.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        stop,
        attempts: 1,
    })
}
