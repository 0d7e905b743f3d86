//! What each invocation leaves in the logs: one summary line, a warning or an error when
//! something needs an operator's eye, and one EMF metrics line. No token and no prospect data
//! ever reach these lines: they are built from the pipeline's [`webhook_core::Report`], which
//! holds neither.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::{Handled, Outcome};

use crate::metrics::{emf_line, function_dimension};

/// Logs the invocation and writes its metrics.
pub fn record(request_id: &str, handled: &Handled, elapsed: Duration) {
    log_summary(request_id, handled, elapsed);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // Written as is, not through tracing: EMF must be the whole log line.
    let mut line = emf_line(handled, function_dimension(handled), elapsed, now_ms);
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// Logs the invocation's summary line (info), and a warning or error where one is due.
pub fn log_summary(request_id: &str, handled: &Handled, elapsed: Duration) {
    let report = &handled.report;
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(
        request_id,
        event_id = report.event_id.as_deref(),
        event_type = report.event_type.as_deref(),
        category = report.category.map(|c| c.as_str()),
        route = report.function.route(),
        outcome = report.outcome.code(),
        status = handled.response.status,
        aws_requests = report.aws_requests,
        duration_ms,
        "delivery handled"
    );
    if report.wrong_route {
        tracing::warn!(
            event_id = report.event_id.as_deref(),
            event_type = report.event_type.as_deref(),
            received_on = report.function.route(),
            belongs_on = report.category.map(|c| c.route()),
            "event delivered to the wrong route; processed under its own category: point its Reply subscription at the right route"
        );
    }
    if report.event_type.is_some() && !report.known_type {
        tracing::warn!(
            event_id = report.event_id.as_deref(),
            event_type = report.event_type.as_deref(),
            "unknown event type; recorded and forwarded as actionable"
        );
    }
    match &report.outcome {
        Outcome::PayloadMismatch => tracing::warn!(
            event_id = report.event_id.as_deref(),
            "event id already recorded with a different body; not processed"
        ),
        Outcome::Unavailable(err) => tracing::error!(
            event_id = report.event_id.as_deref(),
            dependency = err.dependency.as_str(),
            error_code = err.code.as_deref(),
            error = %err.detail,
            "dependency failed; answered 503 and released the claim"
        ),
        _ => {}
    }
    if let Some(err) = &report.secondary_failure {
        tracing::error!(
            event_id = report.event_id.as_deref(),
            dependency = err.dependency.as_str(),
            error_code = err.code.as_deref(),
            error = %err.detail,
            "dependency failed after the answer was decided"
        );
    }
}
