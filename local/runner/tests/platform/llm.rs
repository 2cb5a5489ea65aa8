//! An organisation's LLM settings and the ledger of calls: the key sealed with KMS and never
//! shown again, settings checked field by field, usage and the budget from the ledger.

use crate::helpers::{sdk_config, spawn_app, test_env, TestApp};
use helpdesk_aws::KmsEnvelope;
use helpdesk_domain::{SealedSecret, SecretSealer};
use helpdesk_store::LlmCall;
use serde_json::{json, Value};

pub(crate) fn settings(extra: Value) -> Value {
    with(
        json!({
            "external_llm_allowed": true, "provider": "openai", "model": "gpt-4o-mini",
            "hybrid_threshold": 0.6, "monthly_budget_usd": 10, "budget_alert_percent": 50,
            "tone": "Warm and brief.", "blocked_phrases": ["guaranteed refund"]
        }),
        extra,
    )
}

/// `PUT /v1/ai/settings` as `token`: the response, whatever its status.
async fn send_settings(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.http.put(format!("{}/v1/ai/settings", app.base)).bearer_auth(token).json(body).send().await.unwrap()
}

/// Saves settings that must be accepted.
pub(crate) async fn put_settings(app: &TestApp, token: &str, body: Value) {
    let response = send_settings(app, token, &body).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// `base` with `extra`'s fields set over it.
fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

#[tokio::test]
async fn an_organisations_key_is_sealed_with_kms_and_never_shown_again() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let put = |body: Value| {
        let (app, token) = (&app, owner.token.clone());
        async move { send_settings(app, &token, &body).await }
    };
    let defaults = app.get_json(&owner.token, "/v1/ai/settings").await;
    assert_eq!(
        (defaults["external_llm_allowed"].clone(), defaults["api_key_set"].clone()),
        (json!(true), json!(false))
    );

    let key = "sk-live-4f1c9e0b7d2a6c3e8f5b1a9d0e7c2b4wxyz";
    let saved = put(settings(json!({"api_key": key}))).await;
    assert_eq!(saved.status(), 200);
    let text = saved.text().await.unwrap();
    assert!(!text.contains("4f1c9e0b"), "the key is not echoed: {text}");
    let saved: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((saved["api_key_set"].clone(), saved["api_key_hint"].clone()), (json!(true), json!("wxyz")));
    assert_eq!(saved["monthly_budget_usd"], 10.0);

    // Stored sealed: the row holds ciphertext and a KMS-encrypted data key, and KMS opens it
    // for this organisation only.
    let (ciphertext, encrypted_key, nonce): (Vec<u8>, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT api_key_ciphertext, api_key_encrypted_key, api_key_nonce FROM ai_settings WHERE organization_id = $1",
    )
    .bind(owner.org.0)
    .fetch_one(app.owner.pool())
    .await
    .unwrap();
    assert!(!ciphertext.windows(8).any(|w| w == b"4f1c9e0b"));
    let kms = KmsEnvelope::new(&sdk_config(&test_env().endpoint).await, app.resources.physical_id("DataKey").unwrap());
    let sealed = SealedSecret { encrypted_key, nonce, ciphertext };
    assert_eq!(kms.open(owner.org, helpdesk_domain::LLM_API_KEY_PURPOSE, &sealed).await.unwrap(), key.as_bytes());
    assert!(kms.open(helpdesk_domain::OrgId::new(), helpdesk_domain::LLM_API_KEY_PURPOSE, &sealed).await.is_err());

    // Absent: kept. null: removed.
    let kept: Value = put(settings(json!({"model": "gpt-4o"}))).await.json().await.unwrap();
    assert_eq!((kept["api_key_set"].clone(), kept["model"].clone()), (json!(true), json!("gpt-4o")));
    let removed: Value = put(settings(json!({"api_key": null}))).await.json().await.unwrap();
    assert_eq!((removed["api_key_set"].clone(), removed["api_key_hint"].clone()), (json!(false), Value::Null));

    // An agent may not change them.
    let agent = app.invite(&owner, "agent").await;
    let refused = send_settings(&app, &agent.token, &settings(json!({}))).await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn bad_settings_are_refused_field_by_field() {
    let app = spawn_app_refusing_private_urls().await;
    let owner = app.signup().await;
    let bad = settings(json!({
        "provider": "azure_openai", "base_url": "https://10.1.2.3/", "hybrid_threshold": 1.5,
        "budget_alert_percent": 0, "blocked_phrases": [" "]
    }));
    let refused = send_settings(&app, &owner.token, &bad).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let mut fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["api_version", "base_url", "blocked_phrases", "budget_alert_percent", "hybrid_threshold"],
        "{problem}"
    );
    let unknown = send_settings(&app, &owner.token, &settings(json!({"provider": "gemini"}))).await;
    assert_eq!(unknown.status(), 422);
    // Nothing was saved.
    assert_eq!(app.get_json(&owner.token, "/v1/ai/settings").await["provider"], Value::Null);
}

async fn spawn_app_refusing_private_urls() -> crate::helpers::TestApp {
    let mut options = crate::helpers::Options::default();
    options.env_overrides.insert("LLM_ALLOW_PRIVATE_BASE_URLS".into(), "false".into());
    crate::helpers::spawn_app_with(options).await
}

fn call(feature: &'static str, model: &str, cost: u64, outcome: &'static str, latency_ms: u32) -> LlmCall {
    LlmCall {
        feature,
        provider: "openai".into(),
        model: model.into(),
        input_tokens: 1_000,
        output_tokens: 200,
        cost_micro_usd: cost,
        priced: true,
        latency_ms,
        attempts: 1,
        outcome,
        error: (outcome == "fell_back").then(|| "unavailable".into()),
        request_id: None,
    }
}

#[tokio::test]
async fn usage_adds_up_the_ledger_by_feature_model_and_day_with_the_budget() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let (other, other_token) = app.org().await;
    for c in [
        call("draft", "gpt-4o-mini", 3_000_000, "ok", 900),
        call("draft", "gpt-4o-mini", 2_000_000, "retried", 2_100),
        call("classification", "gpt-4o", 1_000_000, "fell_back", 8_000),
    ] {
        app.store.record_llm_call(owner.org, &c).await.unwrap();
    }
    app.store.record_llm_call(other, &call("draft", "gpt-4o", 9_000_000, "ok", 500)).await.unwrap();
    put_settings(&app, &owner.token, settings(json!({}))).await;

    let usage = app.get_json(&owner.token, "/v1/ai/usage").await;
    assert_eq!(usage["total"]["calls"], 3);
    assert_eq!(usage["total"]["failed_calls"], 1);
    assert_eq!(usage["total"]["input_tokens"], 3_000);
    assert_eq!(usage["total"]["cost_usd"], 6.0);
    let keys = |list: &str| -> Vec<(String, i64)> {
        usage[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["key"].as_str().unwrap().to_string(), f["calls"].as_i64().unwrap()))
            .collect()
    };
    assert_eq!(keys("by_feature"), [("classification".to_string(), 1), ("draft".to_string(), 2)]);
    assert_eq!(keys("by_model"), [("openai/gpt-4o".to_string(), 1), ("openai/gpt-4o-mini".to_string(), 2)]);
    assert_eq!(keys("by_day"), [(chrono::Utc::now().format("%Y-%m-%d").to_string(), 3)]);
    // $6 of a $10 budget with the alert at 50%: alerting, not capped.
    let budget = &usage["budget"];
    assert_eq!(
        (budget["month_to_date_usd"].clone(), budget["alert"].clone(), budget["capped"].clone()),
        (json!(6.0), json!(true), json!(false))
    );
    // The other organisation sees its own call only.
    let theirs = app.get_json(&other_token, "/v1/ai/usage").await;
    assert_eq!((theirs["total"]["calls"].clone(), theirs["total"]["cost_usd"].clone()), (json!(1), json!(9.0)));

    let bad = app.get(&owner.token, "/v1/ai/usage?from=2026-13-01").await;
    assert_eq!(bad.status(), 400);
    let backwards = app.get(&owner.token, "/v1/ai/usage?from=2026-11-02&to=2026-11-01").await;
    assert_eq!(backwards.status(), 400);
}

pub(crate) mod gateway {
    use super::{put_settings, settings, with};
    use crate::helpers::{sdk_config, spawn_app, test_env, TestApp};
    use helpdesk_aws::KmsEnvelope;
    use helpdesk_llm::resilience::RetryPolicy;
    use helpdesk_platform::llm::{Destinations, Feature, LlmAnswer, LlmGateway, LocalReason, Prompt, ProviderConfig};
    use serde_json::{json, Value};
    use std::sync::Arc;
    use std::time::Duration;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const MESSAGE: &str =
        "Hi, this is ana@example.com (phone +44 20 7946 0958): card 4111 1111 1111 1111 was charged twice.";

    /// An OpenAI chat completion whose message is `content` (JSON text for structured output).
    pub(crate) fn answer(content: &str, model: &str) -> Value {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30}
        })
    }

    async fn gateway(app: &TestApp, platform_default: Option<ProviderConfig>) -> LlmGateway {
        gateway_to(app, platform_default, Destinations::Any).await
    }

    async fn gateway_to(
        app: &TestApp,
        platform_default: Option<ProviderConfig>,
        destinations: Destinations,
    ) -> LlmGateway {
        let kms =
            KmsEnvelope::new(&sdk_config(&test_env().endpoint).await, app.resources.physical_id("DataKey").unwrap());
        let one_try =
            RetryPolicy { max_attempts: 1, attempt_timeout: Duration::from_secs(5), ..RetryPolicy::default() };
        LlmGateway::new(app.store.clone(), Arc::new(kms), platform_default, destinations).with_policy(one_try)
    }

    /// A provider that answers `307` to another address gets no second request there: the
    /// prompt goes to the URL the organisation saved, or nowhere (the fault: reqwest's default
    /// client followed up to ten redirects, to plain HTTP and private addresses too).
    #[tokio::test]
    async fn a_providers_redirect_is_not_followed() {
        let app = spawn_app().await;
        let owner = app.signup().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer("from elsewhere", "x")))
            .expect(0)
            .mount(&elsewhere)
            .await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(
                ResponseTemplate::new(307)
                    .insert_header("location", format!("{}/v1/chat/completions", elsewhere.uri())),
            )
            .expect(1)
            .mount(&server)
            .await;
        put_settings(&app, &owner.token, own_provider(&server, json!({}))).await;

        let answer = gateway(&app, None).await.ask(owner.org, Feature::Draft, None, prompt()).await.unwrap();
        let LlmAnswer::Local(LocalReason::Failed(error)) = answer else { panic!("{answer:?}") };
        assert!(error.to_string().contains("307"), "{error}");
        let usage = app.get_json(&owner.token, "/v1/ai/usage").await;
        assert_eq!(usage["total"]["failed_calls"], 1, "on the ledger as a failure");
    }

    /// A URL saved while private addresses were allowed (or a name that resolves to one later)
    /// is refused when the connection is made: the server is never sent the prompt.
    #[tokio::test]
    async fn a_private_provider_address_is_refused_at_connect_time() {
        let app = spawn_app().await;
        let owner = app.signup().await;
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
        let by_name = server.uri().replace("127.0.0.1", "localhost");
        for base in [server.uri(), by_name] {
            let own = settings(json!({
                "provider": "openai_compatible", "base_url": format!("{base}/v1"), "model": "gpt-4o-mini",
                "monthly_budget_usd": null
            }));
            put_settings(&app, &owner.token, own).await;
            let guarded = gateway_to(&app, None, Destinations::PublicOnly).await;
            let answer = guarded.ask(owner.org, Feature::Draft, None, prompt()).await.unwrap();
            let LlmAnswer::Local(LocalReason::Failed(error)) = answer else { panic!("{base}: {answer:?}") };
            assert_eq!(error.kind(), "transport", "{base}: {error}");
        }
    }

    fn prompt() -> Prompt {
        Prompt {
            system: "Draft a reply for the support agent.".into(),
            parts: vec![MESSAGE.into()],
            max_output_tokens: 300,
            temperature: Some(0.3),
            schema: None,
        }
    }

    /// Settings pointing the organisation at `server` (OpenAI-compatible) with its own key.
    pub(crate) fn own_provider(server: &MockServer, extra: Value) -> Value {
        let own = settings(json!({
            "provider": "openai_compatible", "base_url": format!("{}/v1", server.uri()), "model": "gpt-4o-mini",
            "api_key": "sk-org-key-7f3a", "monthly_budget_usd": null
        }));
        with(own, extra)
    }

    #[tokio::test]
    async fn personal_data_reaches_the_provider_redacted_and_the_answer_comes_back_restored() {
        let app = spawn_app().await;
        let owner = app.signup().await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(|req: &Request| {
                let sent = String::from_utf8_lossy(&req.body).to_string();
                for secret in ["ana@example.com", "7946", "4111"] {
                    assert!(!sent.contains(secret), "{secret} reached the provider: {sent}");
                }
                assert!(
                    sent.contains("[EMAIL_1]") && sent.contains("[PHONE_1]") && sent.contains("[CARD_1]"),
                    "{sent}"
                );
                // The organisation's key, opened with KMS, is what authenticates.
                assert_eq!(req.headers.get("authorization").unwrap(), "Bearer sk-org-key-7f3a");
                ResponseTemplate::new(200).set_body_json(answer(
                    "We will write to [EMAIL_1], call [PHONE_1] and refund card [CARD_1].",
                    "gpt-4o-mini-2024-07-18",
                ))
            })
            .expect(1)
            .mount(&server)
            .await;
        put_settings(&app, &owner.token, own_provider(&server, json!({}))).await;

        let answer = gateway(&app, None).await.ask(owner.org, Feature::Draft, Some("req-1"), prompt()).await.unwrap();
        let LlmAnswer::Answered { text, model, redacted, .. } = answer else { panic!("{answer:?}") };
        assert_eq!(
            text,
            "We will write to ana@example.com, call +44 20 7946 0958 and refund card 4111 1111 1111 1111."
        );
        assert_eq!((model.as_str(), redacted), ("gpt-4o-mini", 3));

        // On the ledger, priced from the model the provider reported: 120 × 0.15 + 30 × 0.60 µUSD.
        let usage = app.get_json(&owner.token, "/v1/ai/usage").await;
        assert_eq!(usage["by_feature"][0]["key"], "draft");
        assert_eq!((usage["total"]["calls"].clone(), usage["total"]["input_tokens"].clone()), (json!(1), json!(120)));
        let cost = usage["total"]["cost_usd"].as_f64().unwrap();
        assert!((cost - 0.000_036).abs() < 1e-12, "{cost}");
    }

    #[tokio::test]
    async fn a_failing_provider_falls_back_to_the_next_then_to_the_local_engine() {
        let app = spawn_app().await;
        let owner = app.signup().await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "boom"}})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/platform/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
                "content": [{"type": "text", "text": "Sorry about the double charge."}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 50, "output_tokens": 9}
            })))
            .expect(1)
            .mount(&server)
            .await;
        put_settings(&app, &owner.token, own_provider(&server, json!({}))).await;
        let platform = ProviderConfig {
            kind: helpdesk_llm::ProviderKind::Anthropic,
            model: "claude-haiku-4-5".into(),
            base_url: Some(format!("{}/platform", server.uri())),
            api_version: None,
            key: Some(helpdesk_llm::ApiKey::new("platform-key")),
        };
        let answer = gateway(&app, Some(platform)).await.ask(owner.org, Feature::Draft, None, prompt()).await.unwrap();
        assert!(
            matches!(&answer, LlmAnswer::Answered { provider: helpdesk_llm::ProviderKind::Anthropic, .. }),
            "{answer:?}"
        );
        let outcomes: Vec<String> =
            sqlx::query_scalar("SELECT outcome FROM ai_llm_calls WHERE organization_id = $1 ORDER BY id")
                .bind(owner.org.0)
                .fetch_all(app.owner.pool())
                .await
                .unwrap();
        assert_eq!(outcomes, ["fell_back", "ok"]);

        // With no platform default, the organisation's failing provider leaves it to the engine.
        let answer = gateway(&app, None).await.ask(owner.org, Feature::Draft, None, prompt()).await.unwrap();
        assert!(matches!(
            answer,
            LlmAnswer::Local(LocalReason::Failed(helpdesk_llm::LlmError::Unavailable { status: 500, .. }))
        ));
    }

    #[tokio::test]
    async fn no_call_leaves_when_the_organisation_forbids_it_or_its_budget_is_spent() {
        let app = spawn_app().await;
        let owner = app.signup().await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer("hi", "gpt-4o-mini")))
            .expect(0)
            .mount(&server)
            .await;
        let gateway = gateway(&app, None).await;

        put_settings(&app, &owner.token, own_provider(&server, json!({"external_llm_allowed": false}))).await;
        let forbidden = gateway.ask(owner.org, Feature::Summary, None, prompt()).await.unwrap();
        assert_eq!(forbidden, LlmAnswer::Local(LocalReason::NotAllowed));

        put_settings(&app, &owner.token, own_provider(&server, json!({"monthly_budget_usd": 0}))).await;
        let capped = gateway.ask(owner.org, Feature::Summary, None, prompt()).await.unwrap();
        assert_eq!(capped, LlmAnswer::Local(LocalReason::OverBudget));
        let usage = app.get_json(&owner.token, "/v1/ai/usage").await;
        assert_eq!((usage["total"]["calls"].clone(), usage["budget"]["capped"].clone()), (json!(1), json!(true)));
        let outcome: String = sqlx::query_scalar("SELECT outcome FROM ai_llm_calls WHERE organization_id = $1")
            .bind(owner.org.0)
            .fetch_one(app.owner.pool())
            .await
            .unwrap();
        assert_eq!(outcome, "refused_by_budget");

        let (other, _) = app.org().await;
        assert_eq!(
            gateway.ask(other, Feature::Summary, None, prompt()).await.unwrap(),
            LlmAnswer::Local(LocalReason::NoProvider)
        );
    }

    #[tokio::test]
    async fn an_unsure_classification_asks_the_llm_and_the_conversation_takes_its_answer() {
        let app = spawn_app().await;
        let owner = app.signup().await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(|req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                // Structured output over the organisation's categories, the message redacted.
                let schema = &body["response_format"]["json_schema"]["schema"];
                let names = schema["properties"]["category"]["enum"].as_array().unwrap();
                assert!(names.contains(&json!("complaint")) && names.contains(&json!("delivery")), "{schema}");
                assert!(!body.to_string().contains("ana@example.com"), "{body}");
                ResponseTemplate::new(200).set_body_json(answer(r#"{"category":"complaint"}"#, "gpt-4o-mini"))
            })
            .expect(1)
            .mount(&server)
            .await;
        // Threshold 1: every classification counts as unsure.
        put_settings(&app, &owner.token, own_provider(&server, json!({"hybrid_threshold": 1.0}))).await;

        let accepted =
            app.accept(&owner.token, "ana@example.com", "My parcel never arrived, write to ana@example.com").await;
        let message = app.wait_classified(&owner.token, accepted["id"].as_str().unwrap()).await;
        let classification = &message["classification"];
        assert_eq!(classification["llm"]["category"], "complaint", "{classification}");
        assert_eq!(classification["llm"]["provider"], "openai_compatible");
        let conversation = app
            .get_json(&owner.token, &format!("/v1/conversations/{}", accepted["conversation_id"].as_str().unwrap()))
            .await;
        assert_eq!(conversation["category"], "complaint");
        let usage = app.get_json(&owner.token, "/v1/ai/usage").await;
        assert_eq!(usage["by_feature"][0]["key"], "classification");

        // An organisation without a provider is classified by the engine alone.
        let (_, other_token) = app.org().await;
        let theirs = app.accept(&other_token, "bo@example.com", "My parcel never arrived").await;
        let theirs = app.wait_classified(&other_token, theirs["id"].as_str().unwrap()).await;
        assert!(theirs["classification"]["llm"].is_null());
    }
}
