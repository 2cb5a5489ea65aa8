//! `helpdesk-local` as a user meets it: help on every command, typos refused, failures in one line.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_helpdesk-local")).args(args).env("RUST_BACKTRACE", "1").output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn help_everywhere_typos_refused_and_failures_in_one_line() {
    for args in [&["--help"][..], &["serve", "--help"], &["create-org", "--help"]] {
        assert_eq!(run(args).0, Some(0), "{args:?}");
    }
    let (status, stderr) = run(&["serve", "--bnd", "127.0.0.1:1"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("--bind"), "clap suggests the right flag: {stderr}");
    // Nothing listens on port 9 of loopback: the sign-up fails, in one line.
    let (status, stderr) = run(&["create-org", "--name", "X", "--base", "http://127.0.0.1:9"]);
    assert_eq!(status, Some(1));
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("helpdesk-local: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("stack backtrace") && !stderr.contains("Stack backtrace"), "{stderr}");
}
