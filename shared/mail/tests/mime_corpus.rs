//! Every message of a MIME corpus nobody here wrote — the test messages published inside the
//! `mail-parser` crate's package (RFC examples, malformed and third-party mail, a maildir) —
//! parsed without a panic; what has headers becomes a message with text, and the reply,
//! loop-guard and report steps run on it. Skipped, saying so, when cargo's registry holds no
//! copy of the package (it does after any build of this workspace).

use helpdesk_mail::ParsedEmail;
use std::path::{Path, PathBuf};

/// `mail-parser`'s unpacked package in cargo's registry (`$CARGO_HOME`, else `~/.cargo`).
fn package_resources() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let registries = std::fs::read_dir(home.join("registry/src")).ok()?;
    registries
        .flatten()
        .filter_map(|r| std::fs::read_dir(r.path()).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("mail-parser-0.11.")))
        .map(|p| p.join("resources"))
        .find(|p| p.is_dir())
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_none_or(|e| e != "json") && !path.ends_with("COPYING") {
            out.push(path);
        }
    }
}

#[test]
fn every_message_of_mail_parsers_corpus_is_read_without_a_panic() {
    let Some(resources) = package_resources() else {
        eprintln!("skipped: no mail-parser 0.11 package in cargo's registry (cargo fetch)");
        return;
    };
    let mut paths = Vec::new();
    files(&resources, &mut paths);
    assert!(paths.len() >= 100, "{} messages in {}", paths.len(), resources.display());
    let (mut parsed, mut refused, mut with_problems) = (0, 0, 0);
    for path in &paths {
        let raw = std::fs::read(path).unwrap();
        match std::panic::catch_unwind(|| ParsedEmail::parse(&raw)) {
            Ok(Ok(m)) => {
                parsed += 1;
                with_problems += usize::from(!m.problems.is_empty());
                assert!(!m.reply.text.contains(helpdesk_mail::html::QUOTE_MARK), "{}", path.display());
            }
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("parsing {} panicked", path.display()),
        }
    }
    println!("mail-parser corpus: {} files, {parsed} parsed ({with_problems} with problems noted), {refused} refused (no headers)", paths.len());
    assert!(parsed >= paths.len() * 9 / 10, "{parsed} of {}", paths.len());
}

/// Malformed mail of every kind the corpus can be bent into — truncated anywhere, bytes
/// flipped, boundaries repeated, headers folded without end, parts nested deep — parsed
/// without a panic and in bounded time. Seeded, so a failure repeats; `MIME_MUTATIONS=N` runs
/// more (the cargo-fuzz target this stands in for needs a nightly toolchain this project does
/// not have).
#[test]
fn mutated_mail_never_panics() {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let Some(resources) = package_resources() else {
        eprintln!("skipped: no mail-parser 0.11 package in cargo's registry (cargo fetch)");
        return;
    };
    let mut paths = Vec::new();
    files(&resources, &mut paths);
    paths.sort();
    let per_file: usize = std::env::var("MIME_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut rng = SmallRng::seed_from_u64(13);
    let started = std::time::Instant::now();
    let mut runs = 0;
    for path in &paths {
        let original = std::fs::read(path).unwrap();
        for round in 0..per_file {
            let mut raw = original.clone();
            match round % 5 {
                0 => raw.truncate(rng.random_range(0..=raw.len())),
                1 => {
                    for _ in 0..8 {
                        if !raw.is_empty() {
                            let at = rng.random_range(0..raw.len());
                            raw[at] = rng.random();
                        }
                    }
                }
                2 => {
                    let boundary = b"\r\n--b\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n";
                    let at = if raw.is_empty() { 0 } else { rng.random_range(0..raw.len()) };
                    for _ in 0..200 {
                        raw.splice(at..at, boundary.iter().copied());
                    }
                }
                3 => {
                    raw.splice(0..0, b"Subject: x\r\n".iter().copied().chain(b" folded\r\n".repeat(5_000)));
                }
                4 => {
                    let nested = "Content-Type: message/rfc822\r\n\r\n".repeat(500);
                    raw.splice(0..0, nested.bytes());
                }
                _ => {}
            };
            let result = std::panic::catch_unwind(|| ParsedEmail::parse(&raw).map(|m| m.reply.text.len()));
            assert!(result.is_ok(), "mutation {round} of {} panicked", path.display());
            runs += 1;
        }
    }
    println!("{runs} mutated messages parsed without a panic in {:.1} s", started.elapsed().as_secs_f64());
}
