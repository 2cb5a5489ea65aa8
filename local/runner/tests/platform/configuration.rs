//! Each function's configuration: what it reads is what the README documents and template.yaml
//! sets, and a malformed value stops its cold start naming the variable.

use local_runner::functions::CATALOGUE;
use local_runner::template::Template;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// README's "Configuration" table: variable → the functions its row names (`all`: every one).
fn readme_table() -> BTreeMap<String, BTreeSet<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("## Configuration\n").nth(1).expect("README has a Configuration section");
    let section = section.split("\n## ").next().unwrap();
    let every: BTreeSet<String> = CATALOGUE.iter().map(|r| r.binary.to_string()).collect();
    let mut table = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let ticked =
            |cell: &str| -> Vec<String> { cell.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>() };
        let functions: BTreeSet<String> = if cells[1].trim() == "all" {
            every.clone()
        } else if cells[1].trim().starts_with('(') {
            BTreeSet::new() // not a function's setting (the SDK's, the tools')
        } else {
            ticked(cells[1]).into_iter().collect()
        };
        for name in &functions {
            assert!(every.contains(name), "README names {name}, which is not a function");
        }
        for variable in ticked(cells[0].trim_start_matches("| ")) {
            table.insert(variable, functions.clone());
        }
    }
    table
}

#[test]
fn the_readme_lists_what_each_function_reads() {
    let table = readme_table();
    for registration in CATALOGUE {
        let read: BTreeSet<String> = (registration.variables)().into_iter().collect();
        let documented: BTreeSet<String> = table
            .iter()
            .filter(|(_, functions)| functions.contains(registration.binary))
            .map(|(variable, _)| variable.clone())
            .collect();
        assert_eq!(documented, read, "{}: README's Configuration table vs. its Config", registration.binary);
    }
}

#[test]
fn template_yaml_sets_only_what_a_function_reads() {
    let template = Template::load(&root().join("template.yaml")).unwrap();
    for spec in &template.functions {
        let registration = CATALOGUE.iter().find(|r| r.binary == spec.binary).expect("registered");
        let read: BTreeSet<String> = (registration.variables)().into_iter().collect();
        for name in spec.env.keys().filter(|n| *n != "RUST_LOG") {
            assert!(read.contains(name), "{} sets {name}, which its configuration does not read", spec.logical_id);
        }
    }
    let binaries: BTreeSet<&str> = template.functions.iter().map(|f| f.binary.as_str()).collect();
    let registered: BTreeSet<&str> = CATALOGUE.iter().map(|r| r.binary).collect();
    assert_eq!(binaries, registered, "template.yaml's functions vs. the runner's catalogue");
}

/// The cold start of a function with a malformed setting fails with the variable's name, before
/// any client is made.
#[tokio::test]
async fn a_malformed_setting_fails_the_cold_start_naming_it() {
    let deps = helpdesk_platform::Deps::new(
        aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build(),
        std::sync::Arc::new(helpdesk_platform::mail::CapturingMailer::logging_only()),
    );
    let base = [("DATABASE_URL", "postgres://localhost/x"), ("DATA_KEY_ID", "key")];
    let cases = [
        ("DB_MAX_CONNECTIONS", "x", "api: DB_MAX_CONNECTIONS: expected a whole number, found 'x'"),
        ("RATE_LIMIT_IP", "abc", "api: RATE_LIMIT_IP: expected per_minute/burst such as 1200/300, found \"abc\""),
        ("RATE_LIMIT_PLANS", "free=10", "api: RATE_LIMIT_PLANS: expected per_minute/burst such as 1200/300"),
        ("LLM_ALLOW_PRIVATE_BASE_URLS", "yes", "api: LLM_ALLOW_PRIVATE_BASE_URLS: expected true or false, found 'yes'"),
    ];
    for (name, value, expected) in cases {
        let env = helpdesk_platform::Environment::from_vars(base.into_iter().chain([(name, value)]));
        let error = match helpdesk_platform::function::build::<api::AppState>(&env, &deps).await {
            Ok(_) => panic!("{name}={value} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(error.starts_with(expected), "{name}={value}: {error}");
    }
    let env = helpdesk_platform::Environment::from_vars([("DATABASE_URL", "postgres://localhost/x")]);
    let error = helpdesk_platform::function::build::<api::AppState>(&env, &deps).await.err().unwrap().to_string();
    assert_eq!(error, "api: DATA_KEY_ID: is not set");
    let env = helpdesk_platform::Environment::from_vars([
        ("DATABASE_URL", "postgres://x"),
        ("DATA_BUCKET", "b"),
        ("SUPPORT_LANGUAGES", "eng,xx"),
    ]);
    let error = helpdesk_platform::function::build::<ai_trainer::Trainer>(&env, &deps).await.err().unwrap().to_string();
    assert!(error.starts_with("ai-trainer: SUPPORT_LANGUAGES:"), "{error}");
    let env =
        helpdesk_platform::Environment::from_vars([("DATABASE_URL", "postgres://x"), ("TRAINING_MIN_VERDICTS", "0")]);
    let error = helpdesk_platform::function::build::<ai_trainer::Trainer>(&env, &deps).await.err().unwrap().to_string();
    assert_eq!(error, "ai-trainer: TRAINING_MIN_VERDICTS: expected at least 1, found 0");
    // migrate reports a bad setting to CloudFormation instead of failing its start.
    let env = helpdesk_platform::Environment::from_vars([("DB_MAX_CONNECTIONS", "x")]);
    let migrator = helpdesk_platform::function::build::<migrate::Migrator>(&env, &deps).await.unwrap();
    let error = migrator.schema.store.err().unwrap();
    assert!(error.starts_with("DB_MAX_CONNECTIONS: expected a whole number"), "{error}");
}
