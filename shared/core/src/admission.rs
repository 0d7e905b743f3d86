//! Admission: the synchronous half of a delivery. It checks everything that needs no I/O
//! (token, method, size, body, route) and decides what happens next: an answer at once, a
//! quarantine, or an event to commit.

use reply_payload::{Category, Delivery, PayloadError, same_name};

use crate::config::Config;
use crate::outcome::Outcome;
use crate::ports::Destination;
use crate::request::{InboundRequest, RequestBody, TokenParam};
use crate::validation::validation_hash;

/// What admission decided.
#[derive(Debug)]
pub enum Admission<'a> {
    /// Refused before anything else (token, method, size): answered, and no trace left.
    Refused(Outcome),
    /// Authentic, but the body cannot be processed: it goes to the quarantine queue.
    Unprocessable(Unprocessable<'a>),
    /// An event to claim, and maybe to send (boxed: it is much the largest variant).
    Event(Box<Admitted<'a>>),
}

/// An authentic body that cannot be processed, and why.
#[derive(Debug)]
pub struct Unprocessable<'a> {
    /// What is wrong, naming the field (`event.id is missing`).
    pub problem: String,
    /// The event id, if one can be read despite the problem.
    pub event_id: Option<String>,
    pub body: &'a [u8],
}

/// A delivery ready to commit.
#[derive(Debug)]
pub struct Admitted<'a> {
    pub delivery: Delivery<'a>,
    /// The event's own category (the receiving function's for an unknown type).
    pub category: Category,
    /// A known type of another category than the receiving function's.
    pub wrong_route: bool,
    /// Where its message goes; `None`: recorded only.
    pub destination: Option<Destination>,
    /// The hash of the body's canonical form, for the record's `validation`.
    pub validation: String,
}

/// Admits a request to the function of `function`. Checks, in order: token (so an
/// unauthenticated caller learns nothing else), method, size, then the body.
pub fn admit<'a>(
    config: &Config,
    function: Category,
    request: &InboundRequest<'a>,
) -> Admission<'a> {
    let authentic = match request.token {
        TokenParam::One(token) => config.tokens.accepts(token),
        TokenParam::Absent | TokenParam::Several => false,
    };
    if !authentic {
        return Admission::Refused(Outcome::Unauthorized);
    }
    if !request.method.eq_ignore_ascii_case("POST") {
        return Admission::Refused(Outcome::MethodNotAllowed);
    }
    let size = request.body.bytes().len();
    if size > config.max_body_bytes {
        return Admission::Refused(Outcome::PayloadTooLarge {
            size,
            limit: config.max_body_bytes,
        });
    }
    match request.body {
        RequestBody::Bytes(body) => admit_body(config, function, body),
        RequestBody::NotBase64(body) => unprocessable(PayloadError::NotBase64, body),
    }
}

/// Admits a body that is already known to be authentic (a replayed quarantine message).
pub fn admit_body<'a>(config: &Config, function: Category, body: &'a [u8]) -> Admission<'a> {
    let delivery = match Delivery::parse(body) {
        Ok(delivery) => delivery,
        Err(err) => return unprocessable(err, body),
    };
    let event_type = &delivery.envelope.event_type;
    let category = event_type.category().unwrap_or(function);
    let destination = if config.is_actionable(event_type) {
        Some(Destination::Actionable)
    } else if config.activity_queue_url.is_some() {
        Some(Destination::Activity)
    } else {
        None
    };
    Admission::Event(Box::new(Admitted {
        wrong_route: category != function,
        category,
        destination,
        validation: validation_hash(body),
        delivery,
    }))
}

fn unprocessable(problem: PayloadError, body: &[u8]) -> Admission<'_> {
    Admission::Unprocessable(Unprocessable {
        problem: problem.to_string(),
        event_id: readable_event_id(body),
        body,
    })
}

/// The `event.id` of a body the parser refused, when it can still be read unambiguously (for
/// the operator, in the quarantine message and the logs). Only on the refusal path, so its
/// cost is no concern.
fn readable_event_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let only = |object: &serde_json::Value, name: &str| {
        let mut values = object
            .as_object()?
            .iter()
            .filter(|(key, _)| same_name(key, name))
            .map(|(_, value)| value);
        let first = values.next()?;
        values.all(|other| other == first).then(|| first.clone())
    };
    let event = only(&value, "event")?;
    only(&event, "id")?.as_str().map(str::to_owned)
}
