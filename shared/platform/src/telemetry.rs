//! JSON logs, one object per line, as CloudWatch Logs Insights likes them.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber on stdout once; later calls (the local runner hosts several
/// functions in one process) are no-ops. `RUST_LOG` sets the filter; `default_filter` otherwise.
pub fn init(default_filter: &str) {
    init_with_writer(default_filter, std::io::stdout);
}

/// The same subscriber writing elsewhere (tests read the lines back).
pub fn init_with_writer<W>(default_filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true)
        // Lambda adds its own timestamp and request id to every line.
        .without_time()
        .try_init();
}
