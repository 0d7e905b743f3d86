//! The functions' log subscriber: Lambda's log level and format, with the dependencies'
//! verbose output capped. At DEBUG or TRACE the Lambda runtime would log each raw invocation
//! (the query string with the token, the whole body) and the AWS SDK its request bodies
//! (prospect data); whatever `AWS_LAMBDA_LOG_LEVEL` says, those crates log at INFO at most.

use std::str::FromStr;

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// This project's crates: they log at the level asked for. Their log lines never carry a
/// token or prospect data, at any level.
const OWN_CRATES: [&str; 7] = [
    "webhook_lambda",
    "webhook_core",
    "webhook_aws",
    "reply_payload",
    "email_webhook",
    "linkedin_webhook",
    "account_webhook",
];

/// The most any other crate may log (the runtime, the SDK, hyper, rustls, ...).
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::INFO;

/// The filter for `level`: our crates at `level`, everything else at most [`DEPENDENCY_CAP`].
pub fn filter(level: LevelFilter) -> Targets {
    OWN_CRATES.iter().fold(
        Targets::new().with_default(level.min(DEPENDENCY_CAP)),
        |targets, name| targets.with_target(*name, level),
    )
}

/// The level Lambda's advanced logging controls ask for (`AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG` when it is a plain level), INFO by default.
pub fn level_from_env() -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok())
        .and_then(|value| LevelFilter::from_str(value.trim()).ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the subscriber: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (as the
/// template sets it), text otherwise; no timestamps (Lambda adds them).
///
/// Events only, no spans: the runtime opens a span per invocation (its request id and X-Ray
/// trace id), and recording it and copying its fields into each line (twice, as `span` and
/// `spans`) cost more per invocation than the summary line itself, which names the request id
/// (as do the warnings and errors, see `telemetry`). This project opens no spans of its own.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    let events_only = filter_fn(|metadata| metadata.is_event());
    let registry = tracing_subscriber::registry().with(filter(level_from_env()));
    let _ = if json {
        let fmt = fmt.json().with_current_span(false).with_span_list(false);
        registry.with(fmt.with_filter(events_only)).try_init()
    } else {
        registry.with(fmt.with_filter(events_only)).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn dependencies_never_log_below_info_whatever_the_level() {
        let trace = filter(LevelFilter::TRACE);
        for dependency in [
            "lambda_runtime::runtime",
            "lambda_runtime_api_client",
            "lambda_http",
            "aws_smithy_runtime::client::orchestrator",
            "aws_sdk_dynamodb",
            "aws_config",
            "hyper_util::client",
            "rustls::client",
            "h2",
        ] {
            assert!(
                !trace.would_enable(dependency, &Level::DEBUG),
                "{dependency}"
            );
            assert!(trace.would_enable(dependency, &Level::INFO), "{dependency}");
        }
        assert!(trace.would_enable("webhook_lambda::telemetry", &Level::TRACE));
        let warn = filter(LevelFilter::WARN);
        assert!(!warn.would_enable("webhook_lambda", &Level::INFO));
        assert!(!warn.would_enable("lambda_runtime", &Level::INFO));
    }
}
