//! The command-line tool end to end on small CSV files: train, predict (one row per input row,
//! in order), eval (its last line is JSON).

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_helpdesk-ai")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn write_csv(path: &Path, header: &str, rows: &[(&str, &str)]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header.split(',')).unwrap();
    for (a, b) in rows {
        w.write_record([a, b]).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn trains_predicts_and_evaluates_from_csv() {
    let dir = std::env::temp_dir().join(format!("helpdesk-ai-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let phrases = [
        ("refund", "I want my money back for order 1042"),
        ("refund", "please refund the damaged blender"),
        ("refund", "refund my payment, the item is broken"),
        ("delivery", "where is my parcel, it has not arrived"),
        ("delivery", "the package is late, tracking shows nothing"),
        ("delivery", "my shipment still has not been delivered"),
        ("account", "I cannot log in to my account"),
        ("account", "reset my password please"),
        ("account", "my account is locked after the update"),
        ("chitchat", "what is the weather like today"),
        ("chitchat", "tell me a joke"),
        ("chitchat", "who won the football match"),
    ];
    let mut train = Vec::new();
    for _ in 0..6 {
        for (label, text) in phrases {
            train.push((text, label));
        }
    }
    write_csv(&dir.join("train.csv"), "message,intent", &train);
    let test =
        [("refund this broken item", "refund"), ("parcel not arrived", "delivery"), ("password reset", "account")];
    write_csv(&dir.join("test.csv"), "message,intent", &test);
    let model = dir.join("model");
    let (ok, _, err) = run(&[
        "train",
        "--data",
        dir.join("train.csv").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--text-col",
        "message",
        "--label-col",
        "intent",
        "--oos-label",
        "chitchat",
    ]);
    assert!(ok, "{err}");
    assert!(model.join("model.json").exists() && model.join("weights.bin").exists());

    let (ok, out, err) = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        dir.join("test.csv").to_str().unwrap(),
        "--text-col",
        "message",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "label,confidence");
    let labels: Vec<&str> = lines[1..].iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(labels, ["refund", "delivery", "account"], "one row per input row, in order");

    let (ok, out, err) = run(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        dir.join("test.csv").to_str().unwrap(),
        "--text-col",
        "message",
        "--label-col",
        "intent",
        "--oos-label",
        "chitchat",
    ]);
    assert!(ok, "{err}");
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["accuracy"], 1.0);
    assert_eq!(last["examples"], 3);
    assert!(last["per_class"].as_array().unwrap().len() == 3);
    assert!(out.contains("macro-F1"));

    let (ok, _, err) =
        run(&["train", "--data", dir.join("train.csv").to_str().unwrap(), "--out", "x", "--text-col", "nope"]);
    assert!(!ok && err.contains("no column 'nope'"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every command explains itself, a misspelt flag is an error, and a failure is one clear line,
/// never a backtrace (even with `RUST_BACKTRACE` set in the user's shell).
#[test]
fn help_everywhere_typos_refused_and_failures_in_one_line() {
    let code = |args: &[&str]| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_helpdesk-ai")).args(args).env("RUST_BACKTRACE", "1").output().unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    for command in [
        "train",
        "predict",
        "eval",
        "language",
        "language-eval",
        "sentiment",
        "sentiment-eval",
        "sentiment-train",
        "zero-shot-eval",
        "pii-eval",
    ] {
        assert_eq!(code(&[command, "--help"]).0, Some(0), "{command} --help");
    }
    assert_eq!(code(&["--help"]).0, Some(0));
    let (status, stderr) = code(&["eval", "--modle", "x", "--data", "y"]);
    assert_eq!(status, Some(2), "a misspelt flag is a usage error");
    assert!(stderr.contains("--model"), "clap suggests the right one: {stderr}");
    assert_eq!(code(&[]).0, Some(2), "no command: usage");
    let (status, stderr) = code(&["predict", "--model", "/nonexistent/model", "--data", "/nonexistent.csv"]);
    assert_eq!(status, Some(1));
    assert!(stderr.starts_with("helpdesk-ai: ") && !stderr.contains("stack backtrace"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
