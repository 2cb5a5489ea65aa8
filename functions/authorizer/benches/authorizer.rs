//! What the authorizer costs per call, warm (the container's clients already connected), and
//! what the gateway guard adds in each function:
//!
//!     cargo bench -p authorizer --bench authorizer
//!
//! Needs Redis (REDIS_URL, default redis://127.0.0.1:6379); the API-key figures also need the
//! project's Postgres (DATABASE_URL, as `local/dev` sets it) and are skipped without it.
//! Prints p50 / p99 / mean per operation.

use authorizer::Authorizer;
use helpdesk_domain::{ApiKeyId, OrgId, Role, SessionId, UserId};
use helpdesk_http::{AuthContext, JwtKeys};
use helpdesk_platform::credentials::{Credential, Kind};
use helpdesk_platform::{Limit, RateLimiter, RedisHandle, Sessions};
use helpdesk_store::{NewApiKey, PgStore};
use std::time::{Duration, Instant};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!("{name:<44} n={:<6} p50={:>9.1?} p99={:>9.1?} mean={:>9.1?}", samples.len(), pct(0.50), pct(0.99), mean);
}

async fn time<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..n / 10 {
        f(i).await;
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        f(i).await;
        samples.push(started.elapsed());
    }
    samples
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let keys = JwtKeys::hs256(b"a-benchmark-secret-of-at-least-32-bytes!");
        let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = RedisHandle::new(&redis_url).unwrap();
        if redis.ping().await.is_err() {
            println!("no Redis at {redis_url}: nothing to measure");
            return;
        }
        let prefix = format!("bench-{}", std::process::id());
        let sessions = Sessions::new(redis.clone(), prefix.clone());
        let database_url = std::env::var("DATABASE_URL").ok();
        let store = PgStore::connect_lazy(database_url.as_deref().unwrap_or("postgres://127.0.0.1:1/none"), 4).unwrap();
        let authorizer = Authorizer { jwt: keys.clone(), sessions: sessions.clone(), store: store.clone() };

        let (org, user, sid) = (OrgId::new(), UserId::new(), SessionId::new());
        sessions.create(org, user, sid, 1, b"hash").await.unwrap();
        let caller = AuthContext::user(org, user, Role::Agent, sid, 1);
        let header = format!("Bearer {}", keys.issue(&caller, 900).unwrap());

        let samples = time(20_000, |_| async {
            std::hint::black_box(keys.verify(&header[7..]).unwrap());
        })
        .await;
        report("JWT verify (HS256) alone", samples);
        let samples = time(5_000, |_| async {
            assert!(authorizer.decide(&header).await.unwrap().is_ok());
        })
        .await;
        report("authorizer: JWT + session check (Redis)", samples);

        let limiter = RateLimiter::new(redis.clone(), prefix.clone());
        let limit = Limit::new(1_000_000, 1_000_000);
        let samples = time(5_000, |i| {
            let limiter = limiter.clone();
            async move {
                std::hint::black_box(limiter.check(&format!("ip:{}", i % 50), limit).await);
            }
        })
        .await;
        report("rate-limit check (Redis token bucket)", samples);
        let samples = time(5_000, |_| async {
            assert!(sessions.is_live(&caller).await.unwrap());
        })
        .await;
        report("guard: session re-check per call (Redis)", samples);

        match database_url {
            None => println!("API key: no DATABASE_URL, skipped"),
            Some(_) => {
                store.migrate().await.expect("migrations apply");
                let org = store.create_organization("Authorizer bench").await.unwrap();
                let id = ApiKeyId::new();
                let key = Credential::generate(Kind::ApiKey, &[org.0, id.0]);
                let (hash, permissions) = (key.secret_hash(), ["messages:read"]);
                let new_key = NewApiKey {
                    id,
                    name: "bench",
                    secret_hash: &hash,
                    permissions: &permissions,
                    created_by: None,
                    expires_at: None,
                };
                store.create_api_key(org, new_key).await.unwrap();
                let header = format!("Bearer {}", key.encode());
                let samples = time(5_000, |_| async {
                    assert!(authorizer.decide(&header).await.unwrap().is_ok());
                })
                .await;
                report("authorizer: API key (Postgres)", samples);
            }
        }
    });
}
