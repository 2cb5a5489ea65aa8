//! Cold start measured the way Lambda counts its init phase: from starting the function's
//! process to its first `GET /runtime/invocation/next`, against a stand-in for the Lambda
//! Runtime API on loopback (the routes of the Runtime API's 2018-06-01 version that init uses).
//! The process gets the environment the runner would give the function, plus the variables the
//! Lambda service sets; it is stopped once it asks for its first event.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One function's init times, in milliseconds, fastest first.
#[derive(Debug, Clone)]
pub struct ColdStarts {
    pub function: String,
    pub millis: Vec<f64>,
}

impl ColdStarts {
    pub fn median(&self) -> f64 {
        self.millis[self.millis.len() / 2]
    }
}

/// Starts `binary` `runs` times with `env` and times each init. An init that fails (the process
/// exits, or reports `/runtime/init/error`) is an error carrying what the process printed.
pub async fn measure(function: &str, binary: &Path, env: &BTreeMap<String, String>, runs: usize) -> Result<ColdStarts> {
    if !binary.exists() {
        bail!("{} does not exist: build it first (cargo build --release -p {function})", binary.display());
    }
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<(Instant, &'static str)>();
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get({
                let ready = ready_tx.clone();
                move || async move {
                    let _ = ready.send((Instant::now(), "next"));
                    // Never answered: the process is stopped once it asks.
                    std::future::pending::<()>().await
                }
            }),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            axum::routing::post(move || async move {
                let _ = ready_tx.send((Instant::now(), "init error"));
                axum::http::StatusCode::ACCEPTED
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut millis = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(env)
            .envs(lambda_service_variables(function, &api.to_string()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let outcome = tokio::select! {
            ready = ready_rx.recv() => ready.ok_or_else(|| anyhow!("the stand-in Runtime API stopped")),
            status = child.wait() => Err(anyhow!("{function} exited during init ({})", status?)),
            _ = tokio::time::sleep(Duration::from_secs(60)) => Err(anyhow!("{function} did not finish its init in 60 s")),
        };
        let _ = child.start_kill();
        let output = child.wait_with_output().await?;
        let printed = || String::from_utf8_lossy(&[output.stdout.as_slice(), &output.stderr].concat()).into_owned();
        match outcome {
            Ok((at, "next")) => millis.push((at - started).as_secs_f64() * 1000.0),
            Ok((_, what)) => bail!("{function} reported an {what}:\n{}", printed()),
            Err(e) => bail!("{e}:\n{}", printed()),
        }
    }
    server.abort();
    millis.sort_by(f64::total_cmp);
    Ok(ColdStarts { function: function.to_string(), millis })
}

/// What the Lambda service sets in every function's environment (lambda_runtime reads these).
fn lambda_service_variables(function: &str, runtime_api: &str) -> [(&'static str, String); 7] {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
    ]
}

/// What one invocation of a function's binary came to: its answer and the process's peak
/// resident memory (`VmHWM`, kB), read just before it is stopped.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub response: serde_json::Value,
    pub peak_rss_kb: u64,
}

/// Starts `binary` once with `env`, hands it `event` as its first invocation through the
/// stand-in Runtime API, waits for its answer and reads its peak memory — what Lambda's
/// "Max Memory Used" reports for that invocation.
pub async fn invoke_once(
    function: &str,
    binary: &Path,
    env: &BTreeMap<String, String>,
    event: serde_json::Value,
) -> Result<Invocation> {
    if !binary.exists() {
        bail!("{} does not exist: build it first (cargo build --release -p {function})", binary.display());
    }
    let (answer_tx, mut answer_rx) = mpsc::unbounded_channel::<serde_json::Value>();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(move || {
                let event = event.clone();
                let served = served.clone();
                async move {
                    if served.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        // One invocation only: the process is stopped after it.
                        std::future::pending::<()>().await;
                    }
                    let deadline = (std::time::SystemTime::now() + Duration::from_secs(600))
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or_default();
                    (
                        [
                            ("lambda-runtime-aws-request-id", "invoke-once".to_string()),
                            ("lambda-runtime-deadline-ms", deadline.to_string()),
                            (
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:123456789012:function:bench".to_string(),
                            ),
                        ],
                        axum::Json(event),
                    )
                }
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            axum::routing::post({
                let answer = answer_tx.clone();
                move |body: axum::body::Bytes| async move {
                    let _ = answer.send(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                let text = String::from_utf8_lossy(&body).into_owned();
                let _ = answer_tx.send(serde_json::json!({ "invocation_error": text }));
                axum::http::StatusCode::ACCEPTED
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env)
        .envs(lambda_service_variables(function, &api.to_string()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().ok_or_else(|| anyhow!("{function} has no process id"))?;
    let outcome = tokio::select! {
        answer = answer_rx.recv() => answer.ok_or_else(|| anyhow!("the stand-in Runtime API stopped")),
        status = child.wait() => Err(anyhow!("{function} exited ({})", status?)),
        _ = tokio::time::sleep(Duration::from_secs(600)) => Err(anyhow!("{function} did not answer in 600 s")),
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    Ok(Invocation { response: outcome?, peak_rss_kb })
}
