//! The quarantine message: an authentic delivery that could not be processed, kept whole so it
//! can be replayed once the cause is fixed. It never holds the token.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use reply_payload::{Category, MAX_EVENT_ID_BYTES};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::message::OutboundMessage;
use crate::routes::Routing;
use crate::sqs_rules::{MAX_MESSAGE_BYTES, attribute_value, escape_json, fifo_id, is_allowed};

/// The `schema` value of every quarantine message body.
pub const QUARANTINE_SCHEMA: &str = "reply-webhooks/quarantined@1";

/// Room kept in a quarantine message for everything but the body (the fields below are capped
/// so they never need more, even fully escaped).
const HEADER_ROOM: usize = 8_192;

/// The largest body that fits a quarantine message in any form (base64 is 4/3 of it). The
/// body limit may not be set higher, so every refused delivery can be quarantined.
pub const MAX_QUARANTINABLE_BODY_BYTES: usize = (MAX_MESSAGE_BYTES - HEADER_ROOM) / 4 * 3;

/// Longest `message` and `content_type` kept (characters).
const MAX_NOTE_CHARS: usize = 512;

/// Why a delivery was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuarantineReason {
    /// Not UTF-8, not JSON, not an object, no usable `event.id` or `event.type`.
    InvalidPayload,
    /// The event id was recorded with a different JSON value.
    PayloadMismatch,
    /// The queue refused the event message for its content.
    RejectedByQueue,
}

impl QuarantineReason {
    pub const ALL: [QuarantineReason; 3] = [
        QuarantineReason::InvalidPayload,
        QuarantineReason::PayloadMismatch,
        QuarantineReason::RejectedByQueue,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::InvalidPayload => "invalid_payload",
            QuarantineReason::PayloadMismatch => "payload_mismatch",
            QuarantineReason::RejectedByQueue => "rejected_by_queue",
        }
    }
}

/// What a quarantine message says about a delivery.
#[derive(Debug, Clone, Copy)]
pub struct QuarantineNotice<'a> {
    pub reason: QuarantineReason,
    /// What is wrong, naming the field (`event.id is missing`).
    pub message: &'a str,
    /// The function that received the delivery.
    pub function: Category,
    pub received_at: &'a str,
    /// The event id, when one could be read.
    pub event_id: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// The body exactly as received (after base64 decoding, if it was encoded).
    pub body: &'a [u8],
}

/// A quarantine message read back, for a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub reason: String,
    /// The function that received the delivery: the replay goes through its pipeline.
    pub function: Category,
    pub event_id: Option<String>,
    pub received_at: String,
    /// The body exactly as received.
    pub body: Vec<u8>,
}

/// Why a message of the quarantine queue cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableQuarantine {
    #[error("not a {QUARANTINE_SCHEMA} message: {0}")]
    NotQuarantine(String),
    #[error("function `{0}` is not email, linkedin or account")]
    UnknownFunction(String),
    #[error("body_base64 is not valid base64")]
    BadBase64,
}

impl Quarantined {
    /// Reads a quarantine message's body.
    pub fn parse(message: &str) -> Result<Quarantined, UnreadableQuarantine> {
        #[derive(serde::Deserialize)]
        struct Read {
            schema: String,
            reason: String,
            function: String,
            received_at: String,
            event_id: Option<String>,
            body: Option<String>,
            body_base64: Option<String>,
        }
        let read: Read = serde_json::from_str(message)
            .map_err(|err| UnreadableQuarantine::NotQuarantine(err.to_string()))?;
        if read.schema != QUARANTINE_SCHEMA {
            return Err(UnreadableQuarantine::NotQuarantine(format!(
                "schema is {:?}",
                read.schema
            )));
        }
        let function = Category::parse(&read.function)
            .ok_or_else(|| UnreadableQuarantine::UnknownFunction(read.function.clone()))?;
        let body = match (read.body, read.body_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => BASE64_STANDARD
                .decode(encoded)
                .map_err(|_| UnreadableQuarantine::BadBase64)?,
            _ => {
                return Err(UnreadableQuarantine::NotQuarantine(
                    "exactly one of body and body_base64 is required".into(),
                ));
            }
        };
        Ok(Quarantined {
            reason: read.reason,
            function,
            event_id: read.event_id,
            received_at: read.received_at,
            body,
        })
    }
}

#[derive(Serialize)]
struct Body<'a> {
    schema: &'static str,
    reason: &'static str,
    message: String,
    function: &'static str,
    route: &'static str,
    received_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

fn note(text: &str) -> String {
    text.chars().take(MAX_NOTE_CHARS).collect()
}

impl QuarantineNotice<'_> {
    /// The message for the quarantine queue. The body goes as text when it is UTF-8 that SQS
    /// accepts and fits; otherwise as base64, which always fits (see
    /// [`MAX_QUARANTINABLE_BODY_BYTES`]).
    pub fn message(&self) -> OutboundMessage {
        let mut body = Body {
            schema: QUARANTINE_SCHEMA,
            reason: self.reason.as_str(),
            message: note(self.message),
            function: self.function.as_str(),
            route: self.function.route(),
            received_at: self.received_at,
            event_id: self.event_id.filter(|id| id.len() <= MAX_EVENT_ID_BYTES),
            content_type: self.content_type.map(note),
            body: None,
            body_base64: None,
        };
        let text = std::str::from_utf8(self.body)
            .ok()
            .filter(|text| text.chars().all(is_allowed));
        let mut json = String::new();
        if let Some(text) = text {
            body.body = Some(text);
            json = serialize(&body);
        }
        if json.is_empty() || json.len() > MAX_MESSAGE_BYTES - 1_024 {
            body.body = None;
            body.body_base64 = Some(BASE64_STANDARD.encode(self.body));
            json = serialize(&body);
        }
        let attributes = [
            ("reason", self.reason.as_str()),
            ("function", body.function),
        ]
        .into_iter()
        .filter_map(|(name, value)| attribute_value(value).map(|v| (name, v)))
        .collect();
        let mut digest = Sha256::new();
        digest.update(self.reason.as_str());
        digest.update(self.body);
        OutboundMessage {
            body: json,
            attributes,
            group_id: fifo_id(self.function.as_str()),
            deduplication_id: hex::encode(digest.finalize()),
        }
    }
}

/// The body as JSON SQS accepts (the header's own text may hold refused characters too).
fn serialize(body: &Body<'_>) -> String {
    let json = serde_json::to_string(body).unwrap_or_default();
    escape_json(&json).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(body: &[u8]) -> QuarantineNotice<'_> {
        QuarantineNotice {
            reason: QuarantineReason::InvalidPayload,
            message: "event.id is missing",
            function: Category::Email,
            received_at: "2026-11-30T12:00:00.000Z",
            event_id: None,
            content_type: Some("application/json"),
            body,
        }
    }

    fn decoded(message: &OutboundMessage) -> serde_json::Value {
        assert!(message.body.chars().all(is_allowed));
        assert!(message.size() <= MAX_MESSAGE_BYTES);
        serde_json::from_str(&message.body).unwrap()
    }

    /// The body a replay would read back (and a check that the raw JSON says the same).
    fn recovered(json: &serde_json::Value) -> Vec<u8> {
        let direct = match (json["body"].as_str(), json["body_base64"].as_str()) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(b64)) => BASE64_STANDARD.decode(b64).unwrap(),
            other => panic!("exactly one of body and body_base64: {other:?}"),
        };
        let read = Quarantined::parse(&json.to_string()).unwrap();
        assert_eq!(read.body, direct);
        assert_eq!(read.function, Category::Email);
        read.body
    }

    #[test]
    fn a_text_body_is_kept_as_text_with_every_field() {
        let raw = br#"{"event":{"type":"email_replied"}}"#;
        let message = notice(raw).message();
        let json = decoded(&message);
        assert_eq!(json["schema"], QUARANTINE_SCHEMA);
        assert_eq!(json["reason"], "invalid_payload");
        assert_eq!(json["message"], "event.id is missing");
        assert_eq!(json["function"], "email");
        assert_eq!(json["route"], "/webhooks/email");
        assert_eq!(json["content_type"], "application/json");
        assert!(json.get("event_id").is_none());
        assert_eq!(recovered(&json), raw);
        assert_eq!(
            message.attributes,
            [
                ("reason", "invalid_payload".to_owned()),
                ("function", "email".to_owned())
            ]
        );
    }

    #[test]
    fn bodies_sqs_cannot_carry_as_text_go_as_base64_and_come_back_whole() {
        let cases: [&[u8]; 4] = [
            b"\xff\xfe not utf-8",
            "a\u{FFFE}b".as_bytes(),
            b"raw \x01 control",
            b"",
        ];
        for raw in cases {
            let json = decoded(&notice(raw).message());
            assert_eq!(recovered(&json), raw, "{raw:?}");
        }
        assert!(decoded(&notice(b"\xff").message())["body_base64"].is_string());
    }

    #[test]
    fn what_is_not_a_quarantine_message_is_refused_with_a_reason() {
        for (message, error) in [
            (
                "{}",
                "not a reply-webhooks/quarantined@1 message: missing field `schema` at line 1 column 2",
            ),
            (
                r#"{"schema":"reply-webhooks/event@1","reason":"","function":"email","received_at":"","body":""}"#,
                r#"not a reply-webhooks/quarantined@1 message: schema is "reply-webhooks/event@1""#,
            ),
            (
                r#"{"schema":"reply-webhooks/quarantined@1","reason":"","function":"sms","received_at":"","body":""}"#,
                "function `sms` is not email, linkedin or account",
            ),
            (
                r#"{"schema":"reply-webhooks/quarantined@1","reason":"","function":"email","received_at":"","body_base64":"*"}"#,
                "body_base64 is not valid base64",
            ),
        ] {
            assert_eq!(Quarantined::parse(message).unwrap_err().to_string(), error);
        }
    }

    #[test]
    fn the_largest_body_fits_even_when_escaping_would_multiply_it() {
        // Control characters escape to six bytes each as JSON text: base64 instead.
        let worst = vec![0x01u8; MAX_QUARANTINABLE_BODY_BYTES];
        let json = decoded(&notice(&worst).message());
        assert_eq!(recovered(&json), worst);
        let quotes = vec![b'"'; MAX_QUARANTINABLE_BODY_BYTES];
        let json = decoded(&notice(&quotes).message());
        assert_eq!(recovered(&json), quotes);
        assert_eq!(MAX_QUARANTINABLE_BODY_BYTES, 780_288);
    }
}
