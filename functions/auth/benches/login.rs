//! What a sign-in costs with the chosen argon2id parameters (19 MiB, 2 passes, 1 lane), and
//! how the cost moves with them:
//!
//!     cargo bench -p auth --bench login
//!
//! The hash is what dominates a sign-in; the rest (two Redis round trips, two queries, the
//! JWT) is well under a millisecond locally.

use auth::passwords::{Passwords, Verdict, LANES, MEMORY_KIB, PASSES};
use helpdesk_domain::Password;
use std::time::{Duration, Instant};

fn measure(name: &str, passwords: &Passwords, n: usize) {
    let password = Password::parse("correct horse battery staple").unwrap();
    let hash = passwords.hash(&password);
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            assert!(matches!(passwords.verify(Some(&hash), password.expose()), Verdict::Valid { .. }));
            started.elapsed()
        })
        .collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!("{name:<44} n={n:<4} p50={:>8.1?} p99={:>8.1?}", pct(0.5), pct(0.99));
}

fn main() {
    measure(&format!("argon2id m={MEMORY_KIB} KiB t={PASSES} p={LANES} (chosen)"), &Passwords::default(), 60);
    measure("argon2id m=47104 KiB t=1 p=1 (OWASP alt.)", &Passwords::with_params(46 * 1024, 1, 1), 40);
    measure("argon2id m=65536 KiB t=3 p=1", &Passwords::with_params(64 * 1024, 3, 1), 20);
    let passwords = Passwords::default();
    let mut samples: Vec<Duration> = (0..60)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(passwords.verify(None, "whatever password"), Verdict::Invalid);
            started.elapsed()
        })
        .collect();
    samples.sort();
    println!("{:<44} n=60   p50={:>8.1?} p99={:>8.1?}", "unknown account (decoy hash)", samples[30], samples[59]);
}
