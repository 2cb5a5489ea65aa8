//! Parsing throughput and memory of email ingest's CPU part (`ParsedEmail::parse`: MIME,
//! charsets, HTML to text, sanitising, reply extraction, loop guard, hashes) on a realistic
//! mix, and the peak memory a 10 MB message takes.
//!
//!     cargo bench -p helpdesk-mail --bench ingest
//!
//! The mix: each reply-extraction corpus case (`tests/replies.txt`) as a MIME message — text as
//! `text/plain`, HTML as `multipart/alternative` with a text part — plus, one in ten, a
//! message with a 200 KB PDF attachment and a marketing-style HTML newsletter.

use helpdesk_mail::ParsedEmail;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts live and peak heap bytes, to report what parsing one message holds at most.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    encoded.as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\r\n")
}

fn mix() -> Vec<Vec<u8>> {
    let corpus = include_str!("../tests/replies.txt");
    let mut out = Vec::new();
    for (i, block) in corpus.split("\n=== ").skip(1).enumerate() {
        let (header, rest) = block.split_once('\n').unwrap();
        let input = rest.split_once("\n--- expected\n").unwrap().0.replace('\n', "\r\n");
        let head = format!(
            "From: Customer {i} <c{i}@customer.example>\r\nTo: support@shop.example\r\nSubject: Re: order {i}\r\n\
             Message-ID: <{i}@customer.example>\r\nIn-Reply-To: <m.{i}@shop.example>\r\nDate: Mon, 24 Nov 2025 10:02:00 +0000\r\n\
             MIME-Version: 1.0\r\n"
        );
        let message = if header.ends_with("html") {
            format!(
                "{head}Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 (see HTML)\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{input}\r\n--a--\r\n"
            )
        } else {
            format!(
                "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{input}\r\n"
            )
        };
        out.push(message.into_bytes());
        if i % 10 == 0 {
            let pdf = base64(&vec![b'%'; 200 * 1024]);
            out.push(
                format!(
                    "{head}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nInvoice attached.\r\n\
                     --m\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--m--\r\n"
                )
                .into_bytes(),
            );
            let rows = "<tr><td style=\"padding:8px\"><a href=\"https://shop.example/p\">Product</a></td><td>€ 19.99</td></tr>".repeat(150);
            out.push(
                format!(
                    "{head}List-Id: <news.shop.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>{}</style></head>\
                     <body><div style=\"display:none\">preheader</div><table>{rows}</table></body></html>\r\n",
                    ".x{color:red}".repeat(300)
                )
                .into_bytes(),
            );
        }
    }
    out
}

fn main() {
    let messages = mix();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    // Warm up, then time whole passes over the mix.
    for m in &messages {
        ParsedEmail::parse(m).unwrap();
    }
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut parsed = 0;
    while started.elapsed().as_secs_f64() < 5.0 {
        for m in &messages {
            let t = Instant::now();
            std::hint::black_box(ParsedEmail::parse(m).unwrap());
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            parsed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "ingest parse: {} messages in the mix ({:.0} KB), {:.0} messages/s on one core, p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms",
        messages.len(),
        bytes as f64 / 1024.0,
        parsed as f64 / seconds,
        at(0.50),
        at(0.95),
        at(0.99)
    );

    // A 10 MB message: a short text and a 7.5 MB attachment (10 MB once base64-encoded).
    let attachment = base64(&vec![7u8; 7_500_000]);
    let big = format!(
        "From: a@customer.example\r\nSubject: Scans\r\nMessage-ID: <big@customer.example>\r\n\
         Content-Type: multipart/mixed; boundary=\"z\"\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nAll the scans.\r\n\
         --z\r\nContent-Type: application/zip; name=\"scans.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--z--\r\n"
    )
    .into_bytes();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let t = Instant::now();
    let parsed = ParsedEmail::parse(&big).unwrap();
    let took = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(parsed.attachments[0].content.len(), 7_500_000);
    println!(
        "a {:.1} MB message: parsed in {:.0} ms, peak heap during parsing {:.1} MB above the raw message",
        big.len() as f64 / 1e6,
        took.as_secs_f64() * 1000.0,
        peak as f64 / 1e6
    );
}
