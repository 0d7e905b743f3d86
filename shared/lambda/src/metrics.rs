//! Metrics as CloudWatch embedded metric format (EMF): one JSON line per invocation on
//! stdout, which CloudWatch turns into metrics with no API call and no added latency.
//!
//! Namespace `ReplyWebhooks`. Three directives keep the dimension count (and so the cost)
//! small while answering the operator's questions:
//! - `[Function]` (the Lambda function's name): Received, Accepted, Duplicate, Enqueued, Rejected, WrongRoute,
//!   UnknownType, DependencyFailure, Latency: one alarm-able series per function;
//! - `[Function, Outcome]`: Deliveries, split by outcome (`unauthorized`, `invalid_payload`…);
//! - `[Category, EventType]`: Events, accepted events by type (`unknown` for types Reply added
//!   after this version, so a sender cannot mint dimensions).

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use webhook_core::{Handled, Outcome};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ReplyWebhooks";

/// The metrics with the `[Function]` dimension, and their units.
pub const FUNCTION_METRICS: [(&str, &str); 9] = [
    ("Received", "Count"),
    ("Accepted", "Count"),
    ("Duplicate", "Count"),
    ("Enqueued", "Count"),
    ("Rejected", "Count"),
    ("WrongRoute", "Count"),
    ("UnknownType", "Count"),
    ("DependencyFailure", "Count"),
    ("Latency", "Milliseconds"),
];

/// Every metric name with its dimension set, for alarms and dashboards to be checked against.
pub const METRICS: [(&str, &[&str]); 11] = [
    ("Received", &["Function"]),
    ("Accepted", &["Function"]),
    ("Duplicate", &["Function"]),
    ("Enqueued", &["Function"]),
    ("Rejected", &["Function"]),
    ("WrongRoute", &["Function"]),
    ("UnknownType", &["Function"]),
    ("DependencyFailure", &["Function"]),
    ("Latency", &["Function"]),
    ("Deliveries", &["Function", "Outcome"]),
    ("Events", &["Category", "EventType"]),
];

/// The `Function` dimension: the deployed function's name (unique per stack, so two stacks in
/// one account keep separate series), or the binary's name outside Lambda.
pub fn function_dimension(handled: &Handled) -> &'static str {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty())
    })
    .as_deref()
    .unwrap_or(handled.report.function.binary())
}

/// The EMF line for one invocation, timestamped `now_ms` (epoch milliseconds), for the
/// function named `function`.
pub fn emf_line(handled: &Handled, function: &str, elapsed: Duration, now_ms: u64) -> String {
    let report = &handled.report;
    let outcome = &report.outcome;
    let count = |yes: bool| u8::from(yes);
    let accepted = matches!(outcome, Outcome::Accepted { .. });
    let enqueued = matches!(outcome, Outcome::Accepted { enqueued: true, .. });
    let rejected = !accepted && !matches!(outcome, Outcome::Duplicate);
    let dependency_failure =
        matches!(outcome, Outcome::Unavailable(_)) || report.secondary_failure.is_some();
    let event_type = match (&report.event_type, report.known_type) {
        (Some(name), true) => name.as_str(),
        (Some(_), false) => "unknown",
        (None, _) => "none",
    };
    let metric = |name: &str, unit: &str| json!({ "Name": name, "Unit": unit });
    let mut directives = vec![
        json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["Function"]],
            "Metrics": FUNCTION_METRICS
                .iter()
                .map(|(name, unit)| metric(name, unit))
                .collect::<Vec<_>>(),
        }),
        json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["Function", "Outcome"]],
            "Metrics": [metric("Deliveries", "Count")],
        }),
    ];
    if accepted {
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["Category", "EventType"]],
            "Metrics": [metric("Events", "Count")],
        }));
    }
    let line: Value = json!({
        "_aws": { "Timestamp": now_ms, "CloudWatchMetrics": directives },
        "Function": function,
        "Outcome": outcome.code(),
        "Category": report.category.unwrap_or(report.function).as_str(),
        "EventType": event_type,
        "Received": 1,
        "Accepted": count(accepted),
        "Duplicate": count(matches!(outcome, Outcome::Duplicate)),
        "Enqueued": count(enqueued),
        "Rejected": count(rejected),
        "WrongRoute": count(report.wrong_route),
        "UnknownType": count(report.event_type.is_some() && !report.known_type),
        "DependencyFailure": count(dependency_failure),
        "Latency": (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        "Deliveries": 1,
        "Events": 1,
        "event_id": report.event_id,
        "status": handled.response.status,
    });
    line.to_string()
}
