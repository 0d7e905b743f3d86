//! How a delivery ended: one variant per row of SPEC §4.

use reply_payload::PayloadError;

use crate::ports::{DependencyError, Destination};

/// The outcome of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New event, recorded COMPLETED; `destination` is where its message went, if anywhere.
    Accepted {
        enqueued: bool,
        destination: Option<Destination>,
    },
    /// Already completed: nothing done.
    Duplicate,
    /// Another invocation holds the claim and has not finished.
    InProgress,
    /// The id was recorded with a different body.
    PayloadMismatch,
    Unauthorized,
    MethodNotAllowed,
    PayloadTooLarge {
        size: usize,
        limit: usize,
    },
    InvalidPayload(PayloadError),
    /// A dependency failed; whatever was claimed has been released.
    Unavailable(DependencyError),
}

impl Outcome {
    /// Every [`Outcome::code`], for dashboards and alarms to be checked against.
    pub const CODES: [&'static str; 9] = [
        "accepted",
        "duplicate",
        "in_progress",
        "payload_mismatch",
        "unauthorized",
        "method_not_allowed",
        "payload_too_large",
        "invalid_payload",
        "unavailable",
    ];

    pub const fn status(&self) -> u16 {
        match self {
            Outcome::Accepted { .. } | Outcome::Duplicate => 200,
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
            Outcome::PayloadMismatch => "payload_mismatch",
            Outcome::Unauthorized => "unauthorized",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::PayloadTooLarge { .. } => "payload_too_large",
            Outcome::InvalidPayload(_) => "invalid_payload",
            Outcome::Unavailable(_) => "unavailable",
        }
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
            Outcome::PayloadMismatch => format!(
                "event {id} was already received with a different body; event ids must be unique"
            ),
            Outcome::Unauthorized => "missing or invalid token".into(),
            Outcome::MethodNotAllowed => "only POST is accepted".into(),
            Outcome::PayloadTooLarge { size, limit } => {
                format!("body is {size} bytes; the limit is {limit} (MAX_BODY_BYTES)")
            }
            Outcome::InvalidPayload(err) => err.to_string(),
            Outcome::Unavailable(err) => format!(
                "{} is unavailable; nothing was recorded, retry later",
                err.dependency
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Dependency, DependencyError};

    #[test]
    fn codes_lists_every_outcome() {
        let failure = DependencyError {
            dependency: Dependency::Sqs,
            code: None,
            detail: String::new(),
        };
        let all = [
            Outcome::Accepted {
                enqueued: true,
                destination: None,
            },
            Outcome::Duplicate,
            Outcome::InProgress,
            Outcome::PayloadMismatch,
            Outcome::Unauthorized,
            Outcome::MethodNotAllowed,
            Outcome::PayloadTooLarge { size: 2, limit: 1 },
            Outcome::InvalidPayload(PayloadError::Empty),
            Outcome::Unavailable(failure),
        ];
        let codes: Vec<_> = all.iter().map(Outcome::code).collect();
        assert_eq!(codes, Outcome::CODES);
    }
}
