//! Reply extraction on the corpus in `replies.txt`: each case's cut compared with the expected
//! new words, line by line. Precision: of the lines kept, the share that are the customer's;
//! recall: of the customer's lines, the share kept. `cargo test -p helpdesk-mail --test replies
//! -- --nocapture` prints the figures (README, "Email in").

use helpdesk_mail::{html, reply};

struct Case {
    name: String,
    html: bool,
    input: String,
    expected: String,
}

fn corpus() -> Vec<Case> {
    let text = include_str!("replies.txt");
    let mut cases = Vec::new();
    for block in text.split("\n=== ").skip(1) {
        let (header, rest) = block.split_once('\n').expect("a case header");
        let (name, kind) = header.rsplit_once(' ').expect("name and kind");
        let (input, expected) = rest.split_once("\n--- expected\n").expect("an expected part");
        cases.push(Case {
            name: name.to_string(),
            html: kind == "html",
            input: input.to_string(),
            expected: expected.trim_end().to_string(),
        });
    }
    cases
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn the_cut_keeps_the_customers_words_and_only_them() {
    let cases = corpus();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let (mut kept_total, mut right_total, mut expected_total, mut exact) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for case in &cases {
        let got = if case.html {
            reply::extract(&html::to_text_marking_quotes(&case.input)).text
        } else {
            reply::extract(&case.input).text
        };
        let (kept, expected) = (lines(&got), lines(&case.expected));
        let right = kept.iter().filter(|l| expected.contains(l)).count();
        kept_total += kept.len();
        right_total += right;
        expected_total += expected.len();
        if kept == expected {
            exact += 1;
        } else {
            wrong.push(format!("{}:\n  got      {kept:?}\n  expected {expected:?}", case.name));
        }
    }
    let precision = right_total as f64 / kept_total as f64;
    let recall = right_total as f64 / expected_total as f64;
    println!(
        "reply extraction: {} cases, {exact} exact, line precision {:.1}%, recall {:.1}%",
        cases.len(),
        100.0 * precision,
        100.0 * recall
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
