//! Reply.io webhook payloads as Rust types.
//!
//! Two ways in, one set of rules:
//! - [`Delivery::parse`] is the request path: one pass over the body, typing the envelope and
//!   the two ids a queue message needs, while the body itself is forwarded byte for byte.
//! - [`ReplyEvent::parse`] is the whole delivery: the typed envelope, every other field
//!   verbatim, and typed views ([`ContactFields`], [`SequenceFields`], [`EventDetails`]).
//!
//! Reply's fields have changed over time, so parsing is tolerant: keys match ignoring case and
//! underscores (`TeamId` is `team_id`), ids may be numbers or strings, dates may lack a zone,
//! enums are open, and unknown fields are kept. Only what the pipeline cannot work without is
//! required: a JSON object whose `event` has a non-empty string `id` and `type`.
//!
//! No I/O, no async, no AWS.

mod delivery;
mod envelope;
mod error;
mod event;
mod event_type;
mod fields;
mod id;
mod scalar;
mod timestamp;

pub use delivery::Delivery;
pub use envelope::{Envelope, EnvelopeWarning, MAX_EVENT_ID_BYTES};
pub use error::PayloadError;
pub use event::ReplyEvent;
pub use event_type::{Category, EventType};
pub use fields::{
    BounceType, CallResolution, CallStatus, ContactFields, EventDetails, FinishReason, ReplyReason,
    SequenceFields,
};
pub use id::Id;
pub use timestamp::EventDate;

/// Compares a delivered name with a canonical snake_case one, ignoring ASCII case and
/// underscores (`TeamId`, `teamId` and `team_id` are one key), without allocating.
pub fn same_name(delivered: &str, canonical: &str) -> bool {
    let delivered = delivered
        .bytes()
        .filter(|b| *b != b'_')
        .map(|b| b.to_ascii_lowercase());
    delivered.eq(canonical
        .bytes()
        .filter(|b| *b != b'_')
        .map(|b| b.to_ascii_lowercase()))
}
