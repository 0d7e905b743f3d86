//! What each invocation leaves in the logs: one summary line, a warning or an error when
//! something needs an operator's eye, and one EMF metrics line. No token and no prospect data
//! ever reach these lines: they are built from the pipeline's [`webhook_core::Report`], which
//! holds neither.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::{Handled, Outcome, Routing, Unfinished};

use crate::metrics::{emf_line, function_dimension};

/// Logs the invocation and writes its metrics. `path` is the request's path as it arrived
/// (stage prefixes and custom domain base paths included; never the query string).
pub fn record(request_id: &str, path: &str, handled: &Handled, elapsed: Duration) {
    log_summary(request_id, path, handled, elapsed);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // Written as is, not through tracing: EMF must be the whole log line.
    let mut line = emf_line(handled, function_dimension(handled), elapsed, now_ms);
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// Logs the invocation's summary line (info), and a warning or error where one is due.
pub fn log_summary(request_id: &str, path: &str, handled: &Handled, elapsed: Duration) {
    let report = &handled.report;
    let event = report.event.as_ref();
    let event_id = report.event_id.as_deref();
    let event_type = event.map(|facts| facts.event_type.as_str());
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(
        request_id,
        event_id,
        event_type,
        category = event.map(|facts| facts.category.as_str()),
        function = report.function.as_str(),
        path,
        outcome = report.outcome.code(),
        status = handled.response.status,
        aws_requests = report.requests.total(),
        duration_ms,
        "delivery handled"
    );
    if let Some(facts) = event.filter(|facts| facts.wrong_route) {
        tracing::warn!(
            request_id,
            event_id,
            event_type,
            received_by = report.function.as_str(),
            belongs_on = facts.category.route(),
            "event delivered to another category's function; processed under its own category: point its Reply subscription at the right route"
        );
    }
    if event.is_some_and(|facts| !facts.known_type) {
        tracing::warn!(
            request_id,
            event_id,
            event_type,
            "unknown event type; recorded and forwarded as actionable"
        );
    }
    for warning in &report.warnings {
        tracing::warn!(
            request_id,
            event_id,
            warning = warning.as_str(),
            "envelope tolerated"
        );
    }
    match &report.outcome {
        Outcome::Quarantined { reason, problem } => tracing::warn!(
            request_id,
            event_id,
            reason = reason.as_str(),
            problem = problem.as_str(),
            "delivery quarantined; replay it once the cause is fixed"
        ),
        Outcome::PayloadMismatch => tracing::warn!(
            request_id,
            event_id,
            "event id already recorded with a different body; not processed"
        ),
        Outcome::Unavailable(err) => tracing::error!(
            request_id,
            event_id,
            dependency = err.dependency.as_str(),
            error_code = err.code.as_deref(),
            error = %err.detail,
            "dependency failed; answered 503, nothing was sent"
        ),
        _ => {}
    }
    match &report.unfinished {
        Some(Unfinished::NotCompleted(err)) => tracing::error!(
            request_id,
            event_id,
            dependency = err.dependency.as_str(),
            error_code = err.code.as_deref(),
            error = %err.detail,
            "message sent (answered 200), but its record could not be marked COMPLETED; it stays INPROGRESS until the deadline"
        ),
        Some(Unfinished::ClaimLost) => tracing::warn!(
            request_id,
            event_id,
            "message sent (answered 200), but the claim had been taken over by another invocation"
        ),
        Some(Unfinished::NotReleased(err)) => tracing::warn!(
            request_id,
            event_id,
            dependency = err.dependency.as_str(),
            error_code = err.code.as_deref(),
            error = %err.detail,
            "claim not released after a failure; it expires at the invocation's deadline"
        ),
        None => {}
    }
}
