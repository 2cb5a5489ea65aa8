//! Token-bucket rate limiting in Redis (ElastiCache): one atomic script per check, so every
//! container of every function shares the same buckets. When Redis cannot be reached the check
//! falls back to a bucket in this container's memory and logs a warning: a degraded limit, never
//! a failed request.

use crate::RedisHandle;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Requests allowed in a burst (the bucket's capacity).
    pub burst: u32,
    /// Requests allowed per minute, sustained.
    pub per_minute: u32,
}

impl Limit {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { burst, per_minute }
    }

    fn refill_per_ms(&self) -> f64 {
        self.per_minute as f64 / 60_000.0
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until the next request would be allowed (when refused).
    pub retry_after_secs: u64,
}

// KEYS[1] bucket; ARGV: burst, refill per ms. The server's clock, so containers need not agree.
// Returns {allowed, remaining tokens (floored), ms until full, ms until one token}.
const SCRIPT: &str = r#"
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local to_full = math.ceil((burst - tokens) / rate)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.max(to_full, 1000))
local to_one = 0
if tokens < 1 then to_one = math.ceil((1 - tokens) / rate) end
return {allowed, math.floor(tokens), to_full, to_one}
"#;

/// After Redis fails, how long checks go straight to memory before trying Redis again (so an
/// outage does not add a connection attempt to every request).
const REDIS_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
pub struct RateLimiter {
    redis: RedisHandle,
    prefix: String,
    script: Arc<redis::Script>,
    fallback: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
    redis_down_until: Arc<Mutex<Option<Instant>>>,
}

impl RateLimiter {
    /// `prefix` namespaces the keys (the stack's name: stacks may share a Redis).
    pub fn new(redis: RedisHandle, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            script: Arc::new(redis::Script::new(SCRIPT)),
            fallback: Default::default(),
            redis_down_until: Default::default(),
        }
    }

    /// Takes one token from the bucket `key` (e.g. `ip:203.0.113.7`).
    pub async fn check(&self, key: &str, limit: Limit) -> Decision {
        let key = format!("{}:rl:{key}", self.prefix);
        let cooling_down =
            self.redis_down_until.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| Instant::now() < t);
        if cooling_down {
            return self.check_in_memory(&key, limit);
        }
        match self.check_in_redis(&key, limit).await {
            Ok(decision) => decision,
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter: Redis unreachable, limiting in memory");
                *self.redis_down_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + REDIS_COOLDOWN);
                self.check_in_memory(&key, limit)
            }
        }
    }

    async fn check_in_redis(&self, key: &str, limit: Limit) -> Result<Decision, redis::RedisError> {
        let mut conn = self.redis.connection().await?;
        let (allowed, remaining, to_full, to_one): (i64, i64, i64, i64) =
            self.script.key(key).arg(limit.burst).arg(limit.refill_per_ms()).invoke_async(&mut conn).await?;
        Ok(decision(limit, allowed == 1, remaining as f64, to_full as f64, to_one as f64))
    }

    fn check_in_memory(&self, key: &str, limit: Limit) -> Decision {
        let mut buckets = self.fallback.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, at) = buckets.get(key).copied().unwrap_or((limit.burst as f64, now));
        let rate = limit.refill_per_ms();
        let mut tokens = (tokens + now.duration_since(at).as_secs_f64() * 1000.0 * rate).min(limit.burst as f64);
        let allowed = tokens >= 1.0;
        if allowed {
            tokens -= 1.0;
        }
        buckets.insert(key.to_string(), (tokens, now));
        let to_full = (limit.burst as f64 - tokens) / rate;
        let to_one = if tokens < 1.0 { (1.0 - tokens) / rate } else { 0.0 };
        decision(limit, allowed, tokens.floor(), to_full, to_one)
    }
}

fn decision(limit: Limit, allowed: bool, remaining: f64, to_full_ms: f64, to_one_ms: f64) -> Decision {
    Decision {
        allowed,
        limit: limit.burst,
        remaining: remaining.max(0.0) as u32,
        reset_secs: (to_full_ms / 1000.0).ceil() as u64,
        retry_after_secs: (to_one_ms / 1000.0).ceil().max(if allowed { 0.0 } else { 1.0 }) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_memory_bucket_allows_a_burst_then_refuses() {
        // Nothing listens on port 1: every check falls back to memory.
        let limiter = RateLimiter::new(RedisHandle::new("redis://127.0.0.1:1").unwrap(), "test");
        let limit = Limit::new(60, 3);
        let decisions: Vec<Decision> = (0..4).map(|_| limiter.check_in_memory("k", limit)).collect();
        assert!(decisions[..3].iter().all(|d| d.allowed));
        assert_eq!(decisions[2].remaining, 0);
        assert!(!decisions[3].allowed);
        assert_eq!(decisions[3].retry_after_secs, 1, "one token a second at 60 a minute");
        assert!(limiter.check_in_memory("other", limit).allowed, "buckets are per key");
    }
}
