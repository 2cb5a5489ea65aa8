//! Surviving providers: retries with exponential backoff and full jitter (honouring
//! `Retry-After`), a time limit per attempt and per call kept below the Lambda's own, a circuit
//! breaker per provider endpoint, and a fallback chain over several providers. The last link of
//! every chain is the local engine, which the callers run when [`Fallback`] comes back empty.

use crate::{ChatRequest, Completion, LlmError, LlmFuture, LlmProvider, ProviderKind};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests at most, the first included.
    pub max_attempts: u32,
    /// The backoff before retry n (from 1) is drawn from [0, min(max_delay, base_delay · 2ⁿ⁻¹)].
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub attempt_timeout: Duration,
    /// The whole call, waits included: a retry that cannot finish in time is not started. Keep
    /// it below the function's timeout so the caller still has time to fall back.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// For a Lambda with a 30 s timeout: three tries of at most 8 s, 20 s in all.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            attempt_timeout: Duration::from_secs(8),
            deadline: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `retry` (1 for the first) after `error`: what the provider asked
    /// for (`Retry-After`) if it did, else full jitter (`unit` in [0, 1) is the random draw).
    pub fn backoff(&self, retry: u32, error: &LlmError, unit: f64) -> Duration {
        if let Some(asked) = error.retry_after() {
            return asked;
        }
        let exponential = self.base_delay.saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        exponential.min(self.max_delay).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Waiting between attempts; tests record the waits instead of sleeping through them.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

#[derive(Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A uniform draw in [0, 1) for jitter; a fixed middle if the OS has no randomness to give.
fn jitter_unit() -> f64 {
    getrandom::u64().map(|r| (r >> 11) as f64 / (1u64 << 53) as f64).unwrap_or(0.5)
}

/// Closed → open after `failure_threshold` provider failures in a row; open → one trial call
/// after `cooldown`; the trial's success closes it, its failure opens it again. Refusals and
/// rejected requests do not count: they say nothing about the provider's health.
///
/// State lives in the process (one Lambda container): each container learns on its own, which
/// costs at most `failure_threshold` failed calls per container.
#[derive(Debug)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    cooldown: Duration,
    state: Mutex<Breaker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen,
}

impl CircuitBreaker {
    pub fn new(failure_threshold: u32, cooldown: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            cooldown,
            state: Mutex::new(Breaker::Closed { failures: 0 }),
        }
    }

    /// Whether a call may go out now (an open breaker past its cooldown lets one trial through).
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().expect("not poisoned");
        match *state {
            Breaker::Closed { .. } => true,
            Breaker::Open { since } if since.elapsed() >= self.cooldown => {
                *state = Breaker::HalfOpen;
                true
            }
            Breaker::Open { .. } | Breaker::HalfOpen => false,
        }
    }

    pub fn record(&self, result: &Result<Completion, LlmError>) {
        let mut state = self.state.lock().expect("not poisoned");
        match result {
            Err(e) if e.is_provider_failure() => {
                let failures = match *state {
                    Breaker::Closed { failures } => failures + 1,
                    _ => self.failure_threshold,
                };
                *state = if failures >= self.failure_threshold {
                    tracing::warn!(failures, "LLM provider paused (circuit open)");
                    Breaker::Open { since: Instant::now() }
                } else {
                    Breaker::Closed { failures }
                };
            }
            // An answer, a refusal or a rejected request: the provider is up.
            _ => *state = Breaker::Closed { failures: 0 },
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(*self.state.lock().expect("not poisoned"), Breaker::Closed { .. })
    }
}

/// One breaker per provider endpoint and model, shared by every organisation that uses it in
/// this container.
#[derive(Debug)]
pub struct Breakers {
    failure_threshold: u32,
    cooldown: Duration,
    by_endpoint: Mutex<HashMap<(ProviderKind, String, String), Arc<CircuitBreaker>>>,
}

impl Default for Breakers {
    /// Five failures in a row pause a provider for 30 s.
    fn default() -> Self {
        Self::new(5, Duration::from_secs(30))
    }
}

impl Breakers {
    pub fn new(failure_threshold: u32, cooldown: Duration) -> Self {
        Self { failure_threshold, cooldown, by_endpoint: Mutex::default() }
    }

    pub fn for_provider(&self, provider: &dyn LlmProvider) -> Arc<CircuitBreaker> {
        let key = (provider.kind(), provider.endpoint().to_string(), provider.model().to_string());
        let mut map = self.by_endpoint.lock().expect("not poisoned");
        map.entry(key).or_insert_with(|| Arc::new(CircuitBreaker::new(self.failure_threshold, self.cooldown))).clone()
    }
}

/// A provider with retries, time limits and its circuit breaker.
pub struct Resilient {
    inner: Arc<dyn LlmProvider>,
    policy: RetryPolicy,
    breaker: Arc<CircuitBreaker>,
    sleeper: Arc<dyn Sleeper>,
}

impl Resilient {
    pub fn new(inner: Arc<dyn LlmProvider>, policy: RetryPolicy, breaker: Arc<CircuitBreaker>) -> Self {
        Self { inner, policy, breaker, sleeper: Arc::new(TokioSleeper) }
    }

    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    async fn run(&self, request: &ChatRequest) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            if !self.breaker.allow() {
                return Err(LlmError::CircuitOpen);
            }
            attempt += 1;
            let result = match tokio::time::timeout(self.policy.attempt_timeout, self.inner.complete(request)).await {
                Ok(result) => result,
                Err(_) => Err(LlmError::Timeout),
            };
            self.breaker.record(&result);
            let error = match result {
                Ok(mut completion) => {
                    completion.attempts = attempt;
                    return Ok(completion);
                }
                Err(e) => e,
            };
            if !error.is_retryable() || attempt >= self.policy.max_attempts {
                return Err(error);
            }
            let wait = self.policy.backoff(attempt, &error, jitter_unit());
            let spent = started.elapsed();
            if spent + wait + self.policy.attempt_timeout.min(Duration::from_secs(1)) > self.policy.deadline {
                tracing::info!(kind = error.kind(), wait_ms = wait.as_millis() as u64, "no time left to retry");
                return Err(error);
            }
            tracing::info!(kind = error.kind(), attempt, wait_ms = wait.as_millis() as u64, "retrying LLM call");
            self.sleeper.sleep(wait).await;
        }
    }
}

impl LlmProvider for Resilient {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> LlmFuture<'a> {
        Box::pin(self.run(request))
    }
}

/// One provider's part in a call: what the ledger records.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: ProviderKind,
    pub model: String,
    pub latency: Duration,
    pub result: Result<Completion, LlmError>,
}

/// Providers in order of preference: each is tried until one answers.
#[derive(Clone, Default)]
pub struct Fallback {
    providers: Vec<Arc<dyn LlmProvider>>,
}

impl Fallback {
    pub fn new(providers: Vec<Arc<dyn LlmProvider>>) -> Self {
        Self { providers }
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Every provider tried, in order; the last one answered if any did. Empty when there is no
    /// provider. When none answers, the caller falls back to the local engine.
    pub async fn complete(&self, request: &ChatRequest) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        for provider in &self.providers {
            let started = Instant::now();
            let result = provider.complete(request).await;
            let answered = result.is_ok();
            if let Err(e) = &result {
                tracing::warn!(
                    provider = provider.kind().as_str(),
                    model = provider.model(),
                    error = e.kind(),
                    "LLM call failed"
                );
            }
            attempts.push(Attempt {
                kind: provider.kind(),
                model: provider.model().to_string(),
                latency: started.elapsed(),
                result,
            });
            if answered {
                break;
            }
        }
        attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_below_it() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        let e = LlmError::Timeout;
        assert_eq!(p.backoff(1, &e, 0.999_999), Duration::from_millis(100).mul_f64(0.999_999));
        assert_eq!(p.backoff(3, &e, 0.5), Duration::from_millis(200));
        assert_eq!(p.backoff(10, &e, 0.5), Duration::from_millis(500));
        assert_eq!(p.backoff(2, &e, 0.0), Duration::ZERO);
        // What the provider asks for wins, jitter or not.
        let limited = LlmError::RateLimited { retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(p.backoff(1, &limited, 0.1), Duration::from_secs(3));
        let u = jitter_unit();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn the_breaker_opens_after_consecutive_provider_failures_only() {
        let b = CircuitBreaker::new(2, Duration::from_secs(60));
        let fail = Err(LlmError::Unavailable { status: 503, retry_after: None });
        b.record(&fail);
        b.record(&Err(LlmError::Refused("no".into())));
        b.record(&fail);
        assert!(b.allow(), "a refusal in between resets the count");
        b.record(&fail);
        assert!(b.is_open() && !b.allow());
    }

    #[test]
    fn after_its_cooldown_the_breaker_lets_one_trial_through() {
        let b = CircuitBreaker::new(1, Duration::ZERO);
        b.record(&Err(LlmError::Timeout));
        assert!(b.allow(), "the trial");
        assert!(!b.allow(), "only one trial at a time");
        b.record(&Err(LlmError::Timeout));
        assert!(b.is_open());
        assert!(b.allow());
        b.record(&Err(LlmError::Refused("fine".into())));
        assert!(!b.is_open() && b.allow());
    }
}
