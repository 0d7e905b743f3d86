//! The reply-webhooks pipeline as plain code over ports.
//!
//! ```text
//! InboundRequest ─▶ admission::admit (sync: token, method, size, parse, route)
//!                     ├─ Refused ─────────────────────────────────────────────▶ answer
//!                     ├─ Unprocessable ─▶ commit: quarantine queue ───────────▶ answer
//!                     └─ Event ─▶ commit: claim ─▶ publish ─▶ complete ───────▶ answer
//! ```
//! [`Pipeline::handle`] runs both halves and returns the response with a report. The ports
//! ([`ports::IdempotencyStore`], [`ports::Publisher`], [`ports::Clock`]) are traits;
//! `webhook-aws` implements them on DynamoDB and SQS, [`memory`] in memory for tests.

pub mod admission;
pub mod auth;
pub mod commit;
pub mod config;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod message;
pub mod outcome;
pub mod pipeline;
pub mod ports;
pub mod quarantine;
pub mod record;
pub mod request;
pub mod response;
pub mod routes;
pub mod sqs_rules;
pub mod validation;

pub use commit::{Deadline, Requests, Unfinished};
pub use config::Config;
pub use outcome::Outcome;
pub use pipeline::{EventFacts, Handled, Pipeline, Report};
pub use quarantine::QuarantineReason;
pub use request::{InboundRequest, RequestBody, TokenParam};
pub use response::Response;
pub use routes::Routing;
