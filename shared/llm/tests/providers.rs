//! The providers against local HTTP servers speaking OpenAI's and Anthropic's wire formats
//! (wiremock): the requests they send, the answers they read, and how they fail — 429 with
//! Retry-After, 5xx, timeouts, malformed JSON, refusals — with retries, the circuit breaker and
//! the fallback chain on top.

use helpdesk_llm::anthropic::{AnthropicMessages, ANTHROPIC_VERSION};
use helpdesk_llm::openai::OpenAiChat;
use helpdesk_llm::resilience::{Breakers, CircuitBreaker, Fallback, Resilient, RetryPolicy, Sleeper};
use helpdesk_llm::{ApiKey, ChatRequest, LlmError, LlmProvider, OutputSchema, ProviderKind, StopReason, Turn, Usage};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn request(schema: bool) -> ChatRequest {
    ChatRequest {
        system: "You triage support messages.".into(),
        turns: vec![Turn::user("My parcel [ORDER_1] never arrived.")],
        max_output_tokens: 200,
        temperature: Some(0.2),
        schema: schema.then(|| OutputSchema {
            name: "category".into(),
            description: "The message's category".into(),
            schema: json!({
                "type": "object",
                "properties": {"category": {"type": "string", "enum": ["delivery", "refund"]}},
                "required": ["category"],
                "additionalProperties": false
            }),
        }),
    }
}

fn openai_answer(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_000_000u64,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 41, "completion_tokens": 7, "total_tokens": 48}
    })
}

fn anthropic_tool_answer() -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "category", "input": {"category": "delivery"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 380, "output_tokens": 22}
    })
}

/// Records the waits between retries instead of sleeping through them.
#[derive(Default)]
struct RecordedWaits(Mutex<Vec<Duration>>);

impl Sleeper for RecordedWaits {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

/// Answers each request with the next response of a list (the last one repeats).
struct Sequence(Mutex<Vec<ResponseTemplate>>);

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut list = self.0.lock().unwrap();
        if list.len() > 1 {
            list.remove(0)
        } else {
            list[0].clone()
        }
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(20),
    }
}

fn resilient(provider: impl LlmProvider + 'static, waits: &Arc<RecordedWaits>) -> Resilient {
    Resilient::new(Arc::new(provider), policy(), Arc::new(CircuitBreaker::new(5, Duration::from_secs(60))))
        .with_sleeper(waits.clone())
}

#[tokio::test]
async fn openai_gets_a_strict_json_schema_and_its_structured_answer_is_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test"))
        .and(body_partial_json(json!({
            "model": "gpt-4o-mini",
            "max_completion_tokens": 200,
            "messages": [
                {"role": "system", "content": "You triage support messages."},
                {"role": "user", "content": "My parcel [ORDER_1] never arrived."}
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "category", "strict": true}}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer(r#"{"category":"delivery"}"#)))
        .expect(1)
        .mount(&server)
        .await;
    let base = format!("{}/v1", server.uri());
    let openai = OpenAiChat::openai(http(), Some(&base), ApiKey::new("sk-test"), "gpt-4o-mini");
    let answer = openai.complete(&request(true)).await.unwrap();
    assert_eq!(answer.structured, Some(json!({"category": "delivery"})));
    assert_eq!(answer.usage, Usage { input_tokens: 41, output_tokens: 7 });
    assert_eq!(
        (answer.model.as_str(), answer.stop, answer.attempts),
        ("gpt-4o-mini-2024-07-18", StopReason::Complete, 1)
    );
}

#[tokio::test]
async fn anthropic_is_asked_for_a_forced_tool_call_and_its_input_is_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "sk-ant-test"))
        .and(header("anthropic-version", ANTHROPIC_VERSION))
        .and(body_partial_json(json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 200,
            "system": "You triage support messages.",
            "messages": [{"role": "user", "content": "My parcel [ORDER_1] never arrived."}],
            "tool_choice": {"type": "tool", "name": "category"},
            "tools": [{"name": "category", "input_schema": {"type": "object"}}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_tool_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let claude = AnthropicMessages::new(http(), Some(&server.uri()), ApiKey::new("sk-ant-test"), "claude-haiku-4-5");
    let answer = claude.complete(&request(true)).await.unwrap();
    assert_eq!(answer.structured, Some(json!({"category": "delivery"})));
    assert_eq!(answer.usage, Usage { input_tokens: 380, output_tokens: 22 });
    assert_eq!(claude.kind(), ProviderKind::Anthropic);
}

#[tokio::test]
async fn azure_addresses_a_deployment_with_its_api_version_and_key_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/openai/deployments/triage-4o/chat/completions"))
        .and(query_param("api-version", "2024-10-21"))
        .and(header("api-key", "azure-key"))
        .and(body_partial_json(json!({"max_tokens": 200})))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("Sorry to hear that.")))
        .expect(1)
        .mount(&server)
        .await;
    let azure = OpenAiChat::azure(http(), &server.uri(), "triage-4o", "2024-10-21", ApiKey::new("azure-key"));
    let answer = azure.complete(&request(false)).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.structured), ("Sorry to hear that.", None));
    assert!(!azure.endpoint().contains("api-version"), "{}", azure.endpoint());
}

#[tokio::test]
async fn a_compatible_server_needs_no_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(|req: &Request| {
            assert!(!req.headers.contains_key("authorization"), "no key, no header");
            ResponseTemplate::new(200).set_body_json(openai_answer("Bonjour"))
        })
        .expect(1)
        .mount(&server)
        .await;
    let ollama = OpenAiChat::compatible(http(), &format!("{}/v1/", server.uri()), None, "llama3.1:8b");
    assert_eq!(ollama.complete(&request(false)).await.unwrap().text, "Bonjour");
}

#[tokio::test]
async fn a_429_is_retried_after_the_wait_the_provider_asked_for() {
    let server = MockServer::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "2")
        .set_body_json(json!({"error": {"message": "Rate limit reached", "type": "requests"}}));
    Mock::given(method("POST"))
        .respond_with(Sequence(Mutex::new(vec![
            limited,
            ResponseTemplate::new(200).set_body_json(openai_answer("ok")),
        ])))
        .expect(2)
        .mount(&server)
        .await;
    let waits = Arc::new(RecordedWaits::default());
    let provider = resilient(OpenAiChat::openai(http(), Some(&server.uri()), ApiKey::new("k"), "gpt-4o-mini"), &waits);
    let answer = provider.complete(&request(false)).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.attempts), ("ok", 2));
    assert_eq!(*waits.0.lock().unwrap(), vec![Duration::from_secs(2)]);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_given_up() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(529).set_body_json(
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
        )
        .expect(3)
        .mount(&server)
        .await;
    let waits = Arc::new(RecordedWaits::default());
    let provider =
        resilient(AnthropicMessages::new(http(), Some(&server.uri()), ApiKey::new("k"), "claude-haiku-4-5"), &waits);
    let error = provider.complete(&request(false)).await.unwrap_err();
    assert_eq!(error, LlmError::Unavailable { status: 529, retry_after: None });
    let waits = waits.0.lock().unwrap().clone();
    assert_eq!(waits.len(), 2, "two retries after the first try");
    assert!(waits[0] <= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200), "{waits:?}");
}

#[tokio::test]
async fn a_500_then_an_answer_is_one_call_that_took_two_attempts() {
    let server = MockServer::start().await;
    let failing = ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "The server had an error"}}));
    Mock::given(method("POST"))
        .respond_with(Sequence(Mutex::new(vec![
            failing,
            ResponseTemplate::new(200).set_body_json(openai_answer("fine")),
        ])))
        .expect(2)
        .mount(&server)
        .await;
    let waits = Arc::new(RecordedWaits::default());
    let provider = resilient(OpenAiChat::openai(http(), Some(&server.uri()), ApiKey::new("k"), "gpt-4o-mini"), &waits);
    assert_eq!(provider.complete(&request(false)).await.unwrap().attempts, 2);
}

#[tokio::test]
async fn a_provider_slower_than_the_attempt_limit_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(openai_answer("late")).set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let policy = RetryPolicy { max_attempts: 2, attempt_timeout: Duration::from_millis(100), ..policy() };
    let waits = Arc::new(RecordedWaits::default());
    let provider = Resilient::new(
        Arc::new(OpenAiChat::openai(http(), Some(&server.uri()), ApiKey::new("k"), "gpt-4o-mini")),
        policy,
        Arc::new(CircuitBreaker::new(5, Duration::from_secs(60))),
    )
    .with_sleeper(waits.clone());
    assert_eq!(provider.complete(&request(false)).await.unwrap_err(), LlmError::Timeout);
    assert_eq!(waits.0.lock().unwrap().len(), 1, "timed out twice, one wait between");
}

#[tokio::test]
async fn malformed_answers_are_errors_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/broken/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"choices\": [{\"message\": "))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/notjson/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_answer("category: delivery")))
        .expect(1)
        .mount(&server)
        .await;
    let waits = Arc::new(RecordedWaits::default());
    for (base, schema) in [("broken", false), ("notjson", true)] {
        let url = format!("{}/{base}", server.uri());
        let provider = resilient(OpenAiChat::openai(http(), Some(&url), ApiKey::new("k"), "gpt-4o-mini"), &waits);
        let error = provider.complete(&request(schema)).await.unwrap_err();
        assert!(matches!(error, LlmError::Malformed(_)), "{base}: {error:?}");
    }
    assert!(waits.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn refusals_from_either_provider_are_reported_as_such() {
    let server = MockServer::start().await;
    let mut refused = openai_answer("");
    refused["choices"][0]["message"] =
        json!({"role": "assistant", "content": null, "refusal": "I can't help with that."});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(refused))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [], "stop_reason": "refusal", "usage": {"input_tokens": 10, "output_tokens": 0}
        })))
        .mount(&server)
        .await;
    let base = format!("{}/v1", server.uri());
    let openai = OpenAiChat::openai(http(), Some(&base), ApiKey::new("k"), "gpt-4o-mini");
    assert_eq!(openai.complete(&request(true)).await.unwrap_err(), LlmError::Refused("I can't help with that.".into()));
    let claude = AnthropicMessages::new(http(), Some(&server.uri()), ApiKey::new("k"), "claude-haiku-4-5");
    assert!(matches!(claude.complete(&request(false)).await.unwrap_err(), LlmError::Refused(_)));
}

#[tokio::test]
async fn a_rejected_key_is_not_retried_and_its_message_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let waits = Arc::new(RecordedWaits::default());
    let provider =
        resilient(AnthropicMessages::new(http(), Some(&server.uri()), ApiKey::new("bad"), "claude-haiku-4-5"), &waits);
    let error = provider.complete(&request(false)).await.unwrap_err();
    assert_eq!(error, LlmError::Rejected { status: 401, message: "invalid x-api-key".into() });
}

#[tokio::test]
async fn an_open_circuit_stops_calls_before_they_reach_the_provider() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).expect(2).mount(&server).await;
    let breakers = Breakers::new(2, Duration::from_secs(60));
    let openai = OpenAiChat::openai(http(), Some(&server.uri()), ApiKey::new("k"), "gpt-4o-mini");
    let breaker = breakers.for_provider(&openai);
    let one_try = RetryPolicy { max_attempts: 1, ..policy() };
    let provider = Resilient::new(Arc::new(openai.clone()), one_try, breaker.clone());
    for _ in 0..2 {
        assert!(matches!(provider.complete(&request(false)).await, Err(LlmError::Unavailable { status: 503, .. })));
    }
    // Another organisation's client of the same endpoint and model shares the breaker.
    let same = breakers.for_provider(&openai);
    assert!(Arc::ptr_eq(&breaker, &same) && same.is_open());
    assert_eq!(provider.complete(&request(false)).await.unwrap_err(), LlmError::CircuitOpen);
    // The server saw two requests (`expect(2)`, checked when it drops), not three.
}

#[tokio::test]
async fn the_fallback_chain_moves_on_until_a_provider_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_tool_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let base = format!("{}/v1", server.uri());
    let one_try = RetryPolicy { max_attempts: 1, ..policy() };
    let breaker = || Arc::new(CircuitBreaker::new(5, Duration::from_secs(60)));
    let chain = Fallback::new(vec![
        Arc::new(Resilient::new(
            Arc::new(OpenAiChat::openai(http(), Some(&base), ApiKey::new("k"), "gpt-4o-mini")),
            one_try.clone(),
            breaker(),
        )),
        Arc::new(Resilient::new(
            Arc::new(AnthropicMessages::new(http(), Some(&server.uri()), ApiKey::new("k"), "claude-haiku-4-5")),
            one_try,
            breaker(),
        )),
    ]);
    let attempts = chain.complete(&request(true)).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (attempts[0].kind, attempts[0].result.clone().unwrap_err().kind()),
        (ProviderKind::OpenAi, "unavailable")
    );
    assert_eq!(attempts[1].kind, ProviderKind::Anthropic);
    assert_eq!(attempts[1].result.as_ref().unwrap().structured, Some(json!({"category": "delivery"})));
    assert!(Fallback::default().complete(&request(false)).await.is_empty(), "no provider: the caller goes local");
}
