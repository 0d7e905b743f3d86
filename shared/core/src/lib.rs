//! The reply-webhooks pipeline (SPEC §1) as plain code over ports.
//!
//! ```text
//! InboundRequest ─▶ Pipeline::handle ─▶ auth ─▶ size ─▶ reply_payload::Delivery::parse
//!                                   └─▶ IdempotencyStore::claim ─▶ Publisher::publish ─▶ complete
//!                 ◀─ Handled { Response, Report }
//! ```
//! The ports ([`ports::IdempotencyStore`], [`ports::Publisher`], [`ports::Clock`]) are traits;
//! `webhook-aws` implements them on DynamoDB and SQS, [`memory`] in memory for tests.

pub mod auth;
pub mod config;
pub mod http;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod message;
pub mod outcome;
pub mod pipeline;
pub mod ports;
pub mod record;

pub use config::Config;
pub use http::{InboundRequest, RequestBody, Response, TokenParam};
pub use outcome::Outcome;
pub use pipeline::{Handled, Pipeline, Report};
