//! Metrics as CloudWatch embedded metric format (EMF): one JSON line per invocation on
//! stdout, which CloudWatch turns into metrics with no API call and no added latency.
//!
//! Namespace `ReplyWebhooks`. Few dimension sets keep the cost small while answering the
//! operator's questions:
//! - `[Function]` (the Lambda function's name): Received, Accepted, Duplicate, Enqueued,
//!   Rejected, WrongRoute, UnknownType, DependencyFailure, Unfinished, Latency;
//! - `[Function, Outcome]`: Deliveries, split by outcome (`unauthorized`, `quarantined`…);
//! - `[Function]` and `[Function, Reason]`: Quarantined, when a delivery was;
//! - `[Category, EventType]`: Events, accepted events by type (`unknown` for types Reply added
//!   after this version, so a sender cannot mint dimensions).

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use webhook_core::{Handled, Outcome, Routing};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ReplyWebhooks";

/// The metrics with the `[Function]` dimension, and their units.
pub const FUNCTION_METRICS: [Metric; 10] = [
    Metric::count("Received"),
    Metric::count("Accepted"),
    Metric::count("Duplicate"),
    Metric::count("Enqueued"),
    Metric::count("Rejected"),
    Metric::count("WrongRoute"),
    Metric::count("UnknownType"),
    Metric::count("DependencyFailure"),
    Metric::count("Unfinished"),
    Metric {
        name: "Latency",
        unit: "Milliseconds",
    },
];

/// Every metric name with its dimension sets, for alarms and dashboards to be checked against.
pub const METRICS: [(&str, &[&[&str]]); 13] = [
    ("Received", &[&["Function"]]),
    ("Accepted", &[&["Function"]]),
    ("Duplicate", &[&["Function"]]),
    ("Enqueued", &[&["Function"]]),
    ("Rejected", &[&["Function"]]),
    ("WrongRoute", &[&["Function"]]),
    ("UnknownType", &[&["Function"]]),
    ("DependencyFailure", &[&["Function"]]),
    ("Unfinished", &[&["Function"]]),
    ("Latency", &[&["Function"]]),
    ("Deliveries", &[&["Function", "Outcome"]]),
    ("Quarantined", &[&["Function"], &["Function", "Reason"]]),
    ("Events", &[&["Category", "EventType"]]),
];

/// A metric's name and unit, as an EMF directive lists it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    #[serde(rename = "Name")]
    pub name: &'static str,
    #[serde(rename = "Unit")]
    pub unit: &'static str,
}

impl Metric {
    const fn count(name: &'static str) -> Metric {
        Metric {
            name,
            unit: "Count",
        }
    }
}

#[derive(Serialize)]
struct Directive {
    #[serde(rename = "Namespace")]
    namespace: &'static str,
    #[serde(rename = "Dimensions")]
    dimensions: &'static [&'static [&'static str]],
    #[serde(rename = "Metrics")]
    metrics: &'static [Metric],
}

const BY_FUNCTION: Directive = Directive {
    namespace: NAMESPACE,
    dimensions: &[&["Function"]],
    metrics: &FUNCTION_METRICS,
};
const BY_OUTCOME: Directive = Directive {
    namespace: NAMESPACE,
    dimensions: &[&["Function", "Outcome"]],
    metrics: &[Metric::count("Deliveries")],
};
const QUARANTINED: Directive = Directive {
    namespace: NAMESPACE,
    dimensions: &[&["Function"], &["Function", "Reason"]],
    metrics: &[Metric::count("Quarantined")],
};
const BY_EVENT_TYPE: Directive = Directive {
    namespace: NAMESPACE,
    dimensions: &[&["Category", "EventType"]],
    metrics: &[Metric::count("Events")],
};

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(rename = "Timestamp")]
    timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    directives: &'a RawValue,
}

/// The `CloudWatchMetrics` array of a line, serialised once per process for each of the four
/// combinations (quarantined or not, accepted or not): it is the same ~1 KB on every line.
fn directives(quarantined: bool, accepted: bool) -> &'static RawValue {
    static ARRAYS: OnceLock<[Box<RawValue>; 4]> = OnceLock::new();
    let arrays = ARRAYS.get_or_init(|| {
        [(false, false), (false, true), (true, false), (true, true)].map(|(q, a)| {
            let mut list: Vec<&Directive> = vec![&BY_FUNCTION, &BY_OUTCOME];
            if q {
                list.push(&QUARANTINED);
            }
            if a {
                list.push(&BY_EVENT_TYPE);
            }
            serde_json::to_string(&list)
                .ok()
                .and_then(|json| RawValue::from_string(json).ok())
                .unwrap_or_else(|| RawValue::NULL.to_owned())
        })
    });
    &arrays[usize::from(quarantined) * 2 + usize::from(accepted)]
}

/// One EMF line: the directives, the dimension values, the metric values, and two plain
/// fields (event id, status) that make the line findable in Logs Insights.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Line<'a> {
    #[serde(rename = "_aws")]
    aws: Metadata<'a>,
    function: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    category: &'static str,
    event_type: &'a str,
    received: u8,
    accepted: u8,
    duplicate: u8,
    enqueued: u8,
    rejected: u8,
    wrong_route: u8,
    unknown_type: u8,
    dependency_failure: u8,
    unfinished: u8,
    latency: f64,
    deliveries: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantined: Option<u8>,
    events: u8,
    #[serde(rename = "event_id")]
    event_id: Option<&'a str>,
    #[serde(rename = "status")]
    status: u16,
}

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
    let accepted = matches!(outcome, Outcome::Accepted { .. });
    let reason = match outcome {
        Outcome::Quarantined { reason, .. } => Some(reason.as_str()),
        _ => None,
    };
    let event = report.event.as_ref();
    let event_type = match event {
        Some(facts) if facts.known_type => facts.event_type.as_str(),
        Some(_) => "unknown",
        None => "none",
    };
    let line = Line {
        aws: Metadata {
            timestamp: now_ms,
            directives: directives(reason.is_some(), accepted),
        },
        function,
        outcome: outcome.code(),
        reason,
        category: event
            .map_or(report.function, |facts| facts.category)
            .as_str(),
        event_type,
        received: 1,
        accepted: u8::from(accepted),
        duplicate: u8::from(matches!(outcome, Outcome::Duplicate)),
        enqueued: u8::from(matches!(outcome, Outcome::Accepted { sent_to: Some(_) })),
        rejected: u8::from(!outcome.is_success()),
        wrong_route: u8::from(event.is_some_and(|facts| facts.wrong_route)),
        unknown_type: u8::from(event.is_some_and(|facts| !facts.known_type)),
        dependency_failure: u8::from(matches!(outcome, Outcome::Unavailable(_))),
        unfinished: u8::from(report.unfinished.is_some()),
        latency: (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        deliveries: 1,
        quarantined: reason.map(|_| 1),
        events: 1,
        event_id: report.event_id.as_deref(),
        status: handled.response.status,
    };
    serde_json::to_string(&line).unwrap_or_default()
}
