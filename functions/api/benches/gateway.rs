//! What every API request pays before its handler runs: verifying the bearer token (the core of
//! the authorizer to come) and one rate-limit check in Redis.
//!
//!     cargo bench -p api --bench gateway            (REDIS_URL, default redis://127.0.0.1:6379)
//!
//! Prints p50 / p99 / mean per operation. Without Redis the rate-limit figures are skipped.

use helpdesk_domain::{OrgId, Role, UserId};
use helpdesk_http::JwtKeys;
use helpdesk_platform::{Limit, RateLimiter, RedisHandle};
use std::time::{Duration, Instant};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!("{name:<40} n={:<6} p50={:>9.1?} p99={:>9.1?} mean={:>9.1?}", samples.len(), pct(0.50), pct(0.99), mean);
}

fn main() {
    let keys = JwtKeys::hs256(b"a-benchmark-secret-of-at-least-32-bytes!");
    let token = keys.issue(OrgId::new(), UserId::new(), Role::Agent, 900).unwrap();
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    for _ in 0..1_000 {
        keys.authenticate(&headers).unwrap();
    }
    let samples = (0..20_000)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(keys.authenticate(&headers).unwrap());
            started.elapsed()
        })
        .collect();
    report("verify bearer JWT (HS256)", samples);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = RedisHandle::new(&url).unwrap();
        if redis.ping().await.is_err() {
            println!("rate limiter: no Redis at {url}, skipped");
            return;
        }
        let limiter = RateLimiter::new(redis, format!("bench-{}", std::process::id()));
        let limit = Limit::new(1_000_000, 1_000_000);
        for i in 0..500 {
            limiter.check(&format!("ip:{}", i % 50), limit).await;
        }
        let mut samples = Vec::with_capacity(5_000);
        for i in 0..5_000 {
            let started = Instant::now();
            std::hint::black_box(limiter.check(&format!("ip:{}", i % 50), limit).await);
            samples.push(started.elapsed());
        }
        report("rate-limit check (Redis token bucket)", samples);
    });
}
