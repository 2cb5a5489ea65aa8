//! `helpdesk-local`: runs the platform locally (see README). `helpdesk-local --help` lists the
//! commands, `helpdesk-local <command> --help` each one's options.
//!
//! Configuration comes from the environment `local/dev` prepares: DATABASE_URL, REDIS_URL,
//! JWT_SECRET, AWS_ENDPOINT_URL and the AWS credentials.

use anyhow::{anyhow, bail, Result};
use clap::{Parser, Subcommand};
use local_runner::template::Template;
use local_runner::{RunnerConfig, StackResources};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "helpdesk-local",
    version,
    about = "Runs the platform on this machine: every function of template.yaml behind a local API Gateway, with its queues and schedules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the platform over HTTP until Ctrl-C.
    Serve {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:3000")]
        bind: std::net::SocketAddr,
        /// The stack's resources in the emulator (default: .local/stack-$HELPDESK_STACK.json).
        #[arg(long)]
        resources: Option<PathBuf>,
        /// Sign up a demo organisation with sample messages and print how to try it.
        #[arg(long)]
        demo: bool,
    },
    /// Measure a function's cold start as Lambda counts init: from starting its process to its
    /// first request for an event, against a stand-in Runtime API on loopback. Needs `local/dev
    /// deps` (the function gets the environment the runner would give it).
    Coldstart {
        /// The function's binary (template.yaml's `Binary`), e.g. `api`.
        function: String,
        /// The built binary (default: `<target>/release/<function>`; build it with
        /// `cargo build --release -p <function>`).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// How many starts to time.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        runs: u16,
        /// The stack's resources in the emulator (default: .local/stack-$HELPDESK_STACK.json).
        #[arg(long)]
        resources: Option<PathBuf>,
    },
    /// Sign up an organisation on a running platform and print its owner's access token.
    CreateOrg {
        /// The organisation's display name.
        #[arg(long)]
        name: String,
        /// Its owner's email address.
        #[arg(long, default_value = "admin@example.com")]
        email: String,
        /// The running platform.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        base: String,
    },
}

const DEMO_ORG: &str = "Demo Co";
const DEMO_SLUG: &str = "demo";
const DEMO_EMAIL: &str = "admin@demo.example";
/// Local only: the demo runs on loopback with data nobody cares about.
const DEMO_PASSWORD: &str = "demo-password-1";

/// Signs up an organisation on a running platform; returns the tokens.
async fn signup(base: &str, name: &str, slug: Option<&str>, email: &str, password: &str) -> Result<serde_json::Value> {
    let mut body = serde_json::json!({"organization_name": name, "email": email, "password": password});
    if let Some(slug) = slug {
        body["organization_slug"] = slug.into();
    }
    let response = helpdesk_outbound::client(helpdesk_outbound::Destinations::Any)
        .post(format!("{base}/v1/auth/signup"))
        .json(&body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("sign-up at {base} failed: {} {}", response.status(), response.text().await?);
    }
    Ok(response.json().await?)
}

/// Usage errors are clap's (exit 2); a failure is one line on stderr and exit 1, never a
/// backtrace, whatever `RUST_BACKTRACE` says.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs to stderr: stdout carries what a command prints (the token of create-org).
    helpdesk_platform::telemetry::init_with_writer("info", std::io::stderr);
    let result = match cli.command {
        Command::Serve { bind, resources, demo } => serve(bind, resources, demo).await,
        Command::CreateOrg { name, email, base } => create_org(&name, &email, &base).await,
        Command::Coldstart { function, binary, runs, resources } => coldstart(&function, binary, runs, resources).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helpdesk-local: {}", helpdesk_domain::error::describe(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn coldstart(function: &str, binary: Option<PathBuf>, runs: u16, resources: Option<PathBuf>) -> Result<()> {
    let root = repo_root();
    let template = Template::load(&root.join("template.yaml"))?;
    let spec =
        template.function_by_binary(function).ok_or_else(|| anyhow!("template.yaml has no function {function}"))?;
    let resources = StackResources::load(&resources.unwrap_or_else(|| default_resources(&root)))?;
    let secrets = local_runner::functions::LocalSecrets {
        database_url: env("DATABASE_URL")?,
        redis_url: env("REDIS_URL")?,
        jwt_secret: env("JWT_SECRET")?,
        // As plain values: the timed start then reads no secret (a lower bound of AWS's).
        jwt_secret_arn: None,
        role_secret_arns: vec![],
    };
    let overrides = local_runner::functions::overrides_from(|name| std::env::var(name).ok());
    let mut vars = local_runner::functions::environment(spec, &resources, &template.parameters, &overrides, &secrets)?;
    // What the Lambda service gives every function: the region and the role's credentials
    // (locally the emulator's endpoint and dummy keys).
    for (name, value) in std::env::vars().filter(|(name, _)| name.starts_with("AWS_") || name == "RUST_LOG") {
        vars.entry(name).or_insert(value);
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let binary = match binary {
        Some(path) if !path.exists() => bail!("{} does not exist", path.display()),
        Some(path) => path,
        None => target.join("release").join(function),
    };
    let starts = local_runner::coldstart::measure(function, &binary, &vars, runs.into()).await?;
    let (first, last) = (starts.millis[0], starts.millis[starts.millis.len() - 1]);
    println!(
        "{function}: init {:.1} ms median (fastest {first:.1}, slowest {last:.1}) over {} start{}",
        starts.median(),
        starts.millis.len(),
        if starts.millis.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

fn default_resources(root: &std::path::Path) -> PathBuf {
    let stack = std::env::var("HELPDESK_STACK").unwrap_or_else(|_| "helpdesk-local".to_string());
    root.join(".local").join(format!("stack-{stack}.json"))
}

async fn create_org(name: &str, email: &str, base: &str) -> Result<()> {
    // A sign-up like any other, with a password nobody needs to know.
    let password = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let tokens = signup(base, name, None, email, &password).await?;
    println!("{}", tokens["access_token"].as_str().unwrap_or_default());
    Ok(())
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| anyhow!("{name} is not set (run through local/dev, or export it)"))
}

fn repo_root() -> PathBuf {
    std::env::var("HELPDESK_ROOT").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("."))
}

async fn serve(bind: std::net::SocketAddr, resources: Option<PathBuf>, demo: bool) -> Result<()> {
    let root = repo_root();
    let resources = resources.unwrap_or_else(|| default_resources(&root));
    let template = Template::load(&root.join("template.yaml"))?;
    let env_overrides = local_runner::functions::overrides_from(|name| std::env::var(name).ok());
    let config = RunnerConfig {
        template,
        resources: StackResources::load(&resources)?,
        database_url: env("DATABASE_URL")?,
        redis_url: env("REDIS_URL")?,
        jwt_secret: env("JWT_SECRET")?.into_bytes(),
        bind,
        sdk: helpdesk_aws::sdk_config().await,
        env_overrides,
        run_schedules: true,
        schedule_period: None,
    };
    let running = local_runner::start(config).await?;
    let base = format!("http://{}", running.addr);
    if demo {
        seed_demo(&base).await?;
    } else {
        eprintln!("\nThe platform runs at {base}  (Ctrl-C stops it)\n");
    }
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}

/// A demo organisation with a few messages of its own, and what to try next.
async fn seed_demo(base: &str) -> Result<()> {
    let tokens = match signup(base, DEMO_ORG, Some(DEMO_SLUG), DEMO_EMAIL, DEMO_PASSWORD).await {
        Ok(tokens) => tokens,
        // It exists from an earlier run: sign in.
        Err(_) => {
            let response = helpdesk_outbound::client(helpdesk_outbound::Destinations::Any)
                .post(format!("{base}/v1/auth/login"))
                .json(&serde_json::json!({"organization": DEMO_SLUG, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("signing in to the demo organisation failed: {} {}", response.status(), response.text().await?);
            }
            response.json().await?
        }
    };
    let token = tokens["access_token"].as_str().unwrap_or_default().to_string();

    let samples = [
        (
            "demo-1",
            "ana@customer.example",
            "Ana",
            "Refund for order #1042",
            "Hi, the blender arrived broken. I want my money back please.",
        ),
        (
            "demo-2",
            "ben@customer.example",
            "Ben",
            "Can't log in",
            "I reset my password twice and still cannot log in to my account. This is urgent, I have a deadline today!",
        ),
        (
            "demo-3",
            "chloe@customer.example",
            "Chloé",
            "¿Dónde está mi pedido?",
            "Hola, mi pedido no ha llegado y el número de seguimiento no funciona.",
        ),
    ];
    let http = helpdesk_outbound::client(helpdesk_outbound::Destinations::Any);
    for (key, email, name, subject, body) in samples {
        let response = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"channel": "email", "from": {"email": email, "name": name}, "subject": subject, "body": body}))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            // A RATE_LIMIT_IP set lower than the demo needs: the platform runs all the same.
            eprintln!(
                "helpdesk-local: demo message {key} was rate-limited (RATE_LIMIT_IP); the demo has fewer messages"
            );
            continue;
        }
        if !response.status().is_success() {
            bail!("demo message {key} was refused: {} {}", response.status(), response.text().await?);
        }
    }

    println!(
        r#"
  The platform runs at {base}   (Ctrl-C stops it)

  Demo organisation "{DEMO_ORG}" with three sample messages. Its owner signs in with
  organisation "{DEMO_SLUG}", email {DEMO_EMAIL}, password {DEMO_PASSWORD}. An access token (15 min;
  POST /v1/auth/refresh or /v1/auth/login for another):

    export TOKEN={token}

  Try:
    curl -s {base}/v1/conversations -H "Authorization: Bearer $TOKEN"
    curl -s -X POST {base}/v1/messages -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
         -d '{{"channel":"api","from":{{"email":"you@example.com"}},"subject":"Hello","body":"My invoice is wrong, please help"}}'
    curl -s {base}/v1/messages/<id from the answer> -H "Authorization: Bearer $TOKEN"
    curl -s {base}/v1/me -H "Authorization: Bearer $TOKEN"
    curl -s {base}/health/ready
"#
    );
    Ok(())
}
