//! Reply.io's v3 webhook subscription API, and keeping Reply's subscriptions in line with a
//! deployment of reply-webhooks.
//!
//! - [`Client`]: typed calls to `/v3/webhooks` (list with paging, create, replace, delete,
//!   enable, disable, test, event types), liberal in what it reads, `problem+json` errors
//!   surfaced with their `code`, retries with back-off on 429 and 5xx, and a budget of calls
//!   (Reply allows about 15,000 a month per account).
//! - [`plan`]: which subscriptions one deployment needs (one per event type, each on its
//!   category's route with the token), compared with what Reply has. Pure.
//! - [`sync`]: the calls that make Reply match, shared by `reply-webhooks subscribe` and the
//!   subscription watchdog.
//! - `fake` (cargo feature): a local stand-in for Reply's API, for tests and the demo.
//!
//! The API key and the webhook token never appear in a log line, an error or a `Debug`
//! output: [`redact`] masks them wherever text from Reply or a URL is shown.

mod client;
mod error;
mod model;
pub mod plan;
pub mod redact;
mod retry;
pub mod sync;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::{ApiKey, Client, ClientConfig, DEFAULT_BASE_URL};
pub use error::{Error, Operation};
pub use model::{PayloadConfig, Scope, Subscription, SubscriptionId, SubscriptionSpec};
pub use plan::{Plan, PlanOptions};
pub use retry::RetryPolicy;
