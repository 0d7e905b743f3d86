//! The HTTP contract (SPEC §4) without a web framework: what a request must carry, and the
//! response each outcome gets. The Lambda layer converts to and from the HTTP API event.

use std::borrow::Cow;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde_json::json;

use crate::outcome::Outcome;

/// The parts of a request the pipeline looks at.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    pub method: &'a str,
    pub token: TokenParam<'a>,
    pub body: RequestBody<'a>,
}

/// The body as API Gateway hands it over: as is, or base64-encoded (which the pipeline
/// decodes after authentication, so an unauthenticated caller costs no decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody<'a> {
    Plain(&'a [u8]),
    Base64(&'a str),
}

impl<'a> RequestBody<'a> {
    /// The decoded body, or why it cannot be decoded; refuses before decoding anything
    /// whose decoded size must exceed `limit`.
    pub(crate) fn decode(self, limit: usize) -> Result<Cow<'a, [u8]>, BodyProblem> {
        match self {
            RequestBody::Plain(bytes) if bytes.len() > limit => {
                Err(BodyProblem::TooLarge(bytes.len()))
            }
            RequestBody::Plain(bytes) => Ok(Cow::Borrowed(bytes)),
            RequestBody::Base64(text) => {
                let at_least = text.trim_end_matches('=').len() * 3 / 4;
                if at_least > limit {
                    return Err(BodyProblem::TooLarge(at_least));
                }
                let bytes = BASE64_STANDARD
                    .decode(text)
                    .map_err(|_| BodyProblem::NotBase64)?;
                if bytes.len() > limit {
                    return Err(BodyProblem::TooLarge(bytes.len()));
                }
                Ok(Cow::Owned(bytes))
            }
        }
    }
}

/// Why a body was refused before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyProblem {
    TooLarge(usize),
    NotBase64,
}

/// The `token` query parameter. Exactly one is required: with several, which one would be
/// "the" token is ambiguous, so the request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenParam<'a> {
    Absent,
    One(&'a str),
    Several,
}

impl<'a> TokenParam<'a> {
    /// From every value of `token` in the query string.
    pub fn from_values(values: impl IntoIterator<Item = &'a str>) -> TokenParam<'a> {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => TokenParam::Absent,
            (Some(one), None) => TokenParam::One(one),
            (Some(_), Some(_)) => TokenParam::Several,
        }
    }
}

/// A response: status and JSON body (always `application/json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// 405 responses name the one allowed method in an `Allow` header.
    pub allow_post: bool,
}

impl Response {
    /// The response for `outcome`: `{"status", "event_id", ...}` on success,
    /// `{"error": {"code", "message"}}` on failure.
    pub fn for_outcome(
        outcome: &Outcome,
        event_id: Option<&str>,
        wrong_route: Option<&str>,
    ) -> Response {
        let body = match outcome {
            Outcome::Accepted { enqueued, .. } => {
                let mut body = json!({
                    "status": outcome.code(),
                    "event_id": event_id,
                    "enqueued": enqueued,
                });
                if let Some(route) = wrong_route {
                    body["warning"] = json!("wrong_route");
                    body["route"] = json!(route);
                }
                body
            }
            Outcome::Duplicate => json!({ "status": outcome.code(), "event_id": event_id }),
            failure => json!({
                "error": { "code": failure.code(), "message": failure.message(event_id) }
            }),
        };
        Response {
            status: outcome.status(),
            body: body.to_string(),
            allow_post: matches!(outcome, Outcome::MethodNotAllowed),
        }
    }
}
