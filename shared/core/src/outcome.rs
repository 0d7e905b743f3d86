//! How a delivery ended: one variant per row of the HTTP contract.

use crate::ports::{DependencyError, Destination};
use crate::quarantine::QuarantineReason;

/// The outcome of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new event, recorded COMPLETED; `sent_to` is the queue its message went to, if any.
    Accepted {
        sent_to: Option<Destination>,
    },
    /// Already completed: nothing done.
    Duplicate,
    /// Another invocation holds the claim and has not finished.
    InProgress,
    /// Authentic but not processable: kept whole in the quarantine queue.
    Quarantined {
        reason: QuarantineReason,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// Not processable, and no quarantine queue to keep it in (400).
    InvalidPayload(String),
    /// The id was recorded with a different body, and no quarantine queue (409).
    PayloadMismatch,
    Unauthorized,
    MethodNotAllowed,
    PayloadTooLarge {
        size: usize,
        limit: usize,
    },
    /// A dependency failed; nothing was sent and whatever was claimed has been released (or
    /// expires at the deadline).
    Unavailable(DependencyError),
}

impl Outcome {
    /// Every [`Outcome::code`], for dashboards and alarms to be checked against.
    pub const CODES: [&'static str; 10] = [
        "accepted",
        "duplicate",
        "in_progress",
        "quarantined",
        "invalid_payload",
        "payload_mismatch",
        "unauthorized",
        "method_not_allowed",
        "payload_too_large",
        "unavailable",
    ];

    pub const fn status(&self) -> u16 {
        match self {
            Outcome::Accepted { .. } | Outcome::Duplicate => 200,
            Outcome::Quarantined { .. } => 202,
            Outcome::InvalidPayload(_) => 400,
            Outcome::Unauthorized => 401,
            Outcome::MethodNotAllowed => 405,
            Outcome::InProgress | Outcome::PayloadMismatch => 409,
            Outcome::PayloadTooLarge { .. } => 413,
            Outcome::Unavailable(_) => 503,
        }
    }

    /// The body's `status` (success) or `error.code` (failure); also the metric and log name.
    pub const fn code(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::InProgress => "in_progress",
            Outcome::Quarantined { .. } => "quarantined",
            Outcome::InvalidPayload(_) => "invalid_payload",
            Outcome::PayloadMismatch => "payload_mismatch",
            Outcome::Unauthorized => "unauthorized",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::PayloadTooLarge { .. } => "payload_too_large",
            Outcome::Unavailable(_) => "unavailable",
        }
    }

    /// Whether the delivery is settled: Reply need not (and should not) send it again.
    pub const fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Accepted { .. } | Outcome::Duplicate | Outcome::Quarantined { .. }
        )
    }

    /// A message the sender can act on. Never includes the token or request data beyond the
    /// event id.
    pub fn message(&self, event_id: Option<&str>) -> String {
        let id = event_id.unwrap_or("?");
        match self {
            Outcome::Accepted { .. } => "accepted".into(),
            Outcome::Duplicate => format!("event {id} was already processed"),
            Outcome::InProgress => {
                format!("event {id} is being processed by another delivery; retry later")
            }
            Outcome::Quarantined { problem, .. } => problem.clone(),
            Outcome::InvalidPayload(problem) => problem.clone(),
            Outcome::PayloadMismatch => mismatch(id),
            Outcome::Unauthorized => "missing or invalid token".into(),
            Outcome::MethodNotAllowed => "only POST is accepted".into(),
            Outcome::PayloadTooLarge { size, limit } => {
                format!("body is {size} bytes; the limit is {limit} (MAX_BODY_BYTES)")
            }
            Outcome::Unavailable(err) => format!(
                "{} is unavailable; nothing was sent, retry later",
                err.dependency
            ),
        }
    }
}

/// The problem of a payload mismatch, for answers and quarantine messages.
pub fn mismatch(event_id: &str) -> String {
    format!("event {event_id} was already received with a different body; event ids must be unique")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Dependency;

    #[test]
    fn codes_lists_every_outcome() {
        let failure = DependencyError {
            dependency: Dependency::Sqs,
            code: None,
            detail: String::new(),
        };
        let all = [
            Outcome::Accepted { sent_to: None },
            Outcome::Duplicate,
            Outcome::InProgress,
            Outcome::Quarantined {
                reason: QuarantineReason::InvalidPayload,
                problem: String::new(),
            },
            Outcome::InvalidPayload(String::new()),
            Outcome::PayloadMismatch,
            Outcome::Unauthorized,
            Outcome::MethodNotAllowed,
            Outcome::PayloadTooLarge { size: 2, limit: 1 },
            Outcome::Unavailable(failure),
        ];
        let codes: Vec<_> = all.iter().map(Outcome::code).collect();
        assert_eq!(codes, Outcome::CODES);
    }
}
