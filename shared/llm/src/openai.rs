//! OpenAI's Chat Completions wire format, spoken to OpenAI, to any compatible server (Ollama,
//! vLLM: the same body at another base URL, a key optional) and to Azure OpenAI (a deployment in
//! the path, `api-version` in the query, the key in an `api-key` header).
//!
//! Structured answers use `response_format: {"type": "json_schema", …, "strict": true}`; a
//! refusal comes back as `message.refusal` (or `finish_reason: "content_filter"`).

use crate::http::post_json;
use crate::{ApiKey, ChatRequest, Completion, LlmError, LlmFuture, LlmProvider, ProviderKind, Role, StopReason, Usage};
use serde_json::{json, Value};

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

#[derive(Debug, Clone)]
enum Auth {
    Bearer(ApiKey),
    AzureKey(ApiKey),
    None,
}

#[derive(Debug, Clone)]
pub struct OpenAiChat {
    http: reqwest::Client,
    kind: ProviderKind,
    /// The full URL posted to, query included.
    url: String,
    auth: Auth,
    model: String,
}

impl OpenAiChat {
    /// OpenAI itself; `base_url` `None` is [`OPENAI_BASE_URL`].
    pub fn openai(http: reqwest::Client, base_url: Option<&str>, key: ApiKey, model: impl Into<String>) -> Self {
        let base = base_url.unwrap_or(OPENAI_BASE_URL).trim_end_matches('/');
        Self {
            http,
            kind: ProviderKind::OpenAi,
            url: format!("{base}/chat/completions"),
            auth: Auth::Bearer(key),
            model: model.into(),
        }
    }

    /// A server speaking OpenAI's format at `base_url` (e.g. `http://localhost:11434/v1` for
    /// Ollama); a key only if the server wants one.
    pub fn compatible(http: reqwest::Client, base_url: &str, key: Option<ApiKey>, model: impl Into<String>) -> Self {
        Self {
            http,
            kind: ProviderKind::OpenAiCompatible,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            auth: key.map_or(Auth::None, Auth::Bearer),
            model: model.into(),
        }
    }

    /// Azure OpenAI: `endpoint` is the resource's (`https://NAME.openai.azure.com`); the model
    /// is addressed by its deployment's name.
    pub fn azure(http: reqwest::Client, endpoint: &str, deployment: &str, api_version: &str, key: ApiKey) -> Self {
        Self {
            http,
            kind: ProviderKind::AzureOpenAi,
            url: format!(
                "{}/openai/deployments/{deployment}/chat/completions?api-version={api_version}",
                endpoint.trim_end_matches('/')
            ),
            auth: Auth::AzureKey(key),
            model: deployment.to_string(),
        }
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let mut messages = vec![json!({"role": "system", "content": request.system})];
        messages.extend(request.turns.iter().map(|t| {
            let role = match t.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": t.content})
        }));
        let mut body = json!({"model": self.model, "messages": messages});
        // OpenAI's newer models take only `max_completion_tokens`; compatible servers and Azure's
        // older API versions know `max_tokens`.
        let limit_field = if self.kind == ProviderKind::OpenAi { "max_completion_tokens" } else { "max_tokens" };
        body[limit_field] = json!(request.max_output_tokens);
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(schema) = &request.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {
                    "name": schema.name,
                    "description": schema.description,
                    "schema": schema.schema,
                    "strict": true,
                }
            });
        }
        body
    }
}

impl LlmProvider for OpenAiChat {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        self.url.split('?').next().unwrap_or(&self.url)
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> LlmFuture<'a> {
        Box::pin(async move {
            let mut post = self.http.post(&self.url);
            post = match &self.auth {
                Auth::Bearer(key) => post.bearer_auth(key.expose()),
                Auth::AzureKey(key) => post.header("api-key", key.expose()),
                Auth::None => post,
            };
            let answer = post_json(post, &self.body(request)).await?;
            parse(&answer, request.schema.is_some())
        })
    }
}

/// Reads `choices[0]` of a Chat Completions answer.
fn parse(answer: &Value, structured: bool) -> Result<Completion, LlmError> {
    let choice = answer.pointer("/choices/0").ok_or_else(|| LlmError::Malformed("no choices".into()))?;
    let message = choice.get("message").ok_or_else(|| LlmError::Malformed("no message".into()))?;
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        return Err(LlmError::Refused(refusal.to_string()));
    }
    let finish = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("stop");
    if finish == "content_filter" {
        return Err(LlmError::Refused("the provider's content filter stopped the answer".into()));
    }
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| LlmError::Malformed("the message has no text".into()))?
        .to_string();
    let stop = match finish {
        "stop" => StopReason::Complete,
        "length" => StopReason::MaxTokens,
        other => StopReason::Other(other.to_string()),
    };
    let structured = if structured {
        if stop == StopReason::MaxTokens {
            return Err(LlmError::Malformed("the structured answer was cut at the token limit".into()));
        }
        Some(
            serde_json::from_str(&text)
                .map_err(|e| LlmError::Malformed(format!("the structured answer is not JSON: {e}")))?,
        )
    } else {
        None
    };
    let tokens = |name: &str| answer.pointer(&format!("/usage/{name}")).and_then(Value::as_u64).unwrap_or(0) as u32;
    Ok(Completion {
        text,
        structured,
        usage: Usage { input_tokens: tokens("prompt_tokens"), output_tokens: tokens("completion_tokens") },
        model: answer.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        stop,
        attempts: 1,
    })
}
