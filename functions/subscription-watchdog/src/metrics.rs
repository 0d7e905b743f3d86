//! The watchdog's metrics: one CloudWatch EMF line per run (namespace `ReplyWebhooks`,
//! dimension `Function`), which CloudWatch turns into metrics with no API call.

use std::sync::OnceLock;

use reply_api::plan::{Action, State};
use reply_api::sync::Outcome;
use serde::Serialize;
use serde_json::json;

/// The CloudWatch namespace, shared with the webhook functions' metrics.
pub const NAMESPACE: &str = "ReplyWebhooks";

/// Planned subscriptions enabled after the run: the plan's size when all is well.
pub const SUBSCRIPTIONS_ENABLED: &str = "SubscriptionsEnabled";
/// Subscriptions Reply had disabled that the run re-enabled.
pub const SUBSCRIPTIONS_RE_ENABLED: &str = "SubscriptionsReEnabled";
/// Planned subscriptions that did not exist (recreated when the create succeeded).
pub const SUBSCRIPTIONS_MISSING: &str = "SubscriptionsMissing";

/// Every metric with its dimensions, for the template's alarms to be checked against.
pub const METRICS: [(&str, &[&[&str]]); 3] = [
    (SUBSCRIPTIONS_ENABLED, &[&["Function"]]),
    (SUBSCRIPTIONS_RE_ENABLED, &[&["Function"]]),
    (SUBSCRIPTIONS_MISSING, &[&["Function"]]),
];

/// What one run found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Event types in the plan.
    pub planned: usize,
    pub enabled: usize,
    pub re_enabled: usize,
    pub missing: usize,
    /// Of ours that differ from the plan (left alone).
    pub differing: usize,
    pub reply_calls: u32,
}

impl Report {
    pub fn of(outcome: &Outcome, reply_calls: u32) -> Report {
        let planned: Vec<_> = outcome
            .entries
            .iter()
            .filter(|e| !matches!(e.entry.state, State::Stale { .. }))
            .collect();
        Report {
            planned: planned.len(),
            enabled: planned.iter().filter(|e| e.enabled_after()).count(),
            re_enabled: planned
                .iter()
                .filter(|e| e.did(|a| matches!(a, Action::Enable(_))))
                .count(),
            missing: planned
                .iter()
                .filter(|e| matches!(e.entry.state, State::Missing { .. }))
                .count(),
            differing: planned
                .iter()
                .filter(|e| matches!(&e.entry.state, State::Present { differences, .. } if !differences.is_empty()))
                .count(),
            reply_calls,
        }
    }
}

/// The `Function` dimension: the deployed function's name, or the binary's outside Lambda.
pub fn function_name() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| env!("CARGO_PKG_NAME").to_owned())
    })
    .clone()
}

/// The EMF line for one run, timestamped `now_ms` (epoch milliseconds).
pub fn emf_line(report: &Report, function: &str, now_ms: u64) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": METRICS
                    .iter()
                    .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }],
        },
        "Function": function,
        SUBSCRIPTIONS_ENABLED: report.enabled,
        SUBSCRIPTIONS_RE_ENABLED: report.re_enabled,
        SUBSCRIPTIONS_MISSING: report.missing,
    })
    .to_string()
}
