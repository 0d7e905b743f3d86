//! The queue message (SPEC §6): what downstream pipelines consume.

use reply_payload::{Category, Delivery, EventType, Id};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `schema` value of every message body; bumped only on a breaking change.
pub const MESSAGE_SCHEMA: &str = "reply-webhooks/event@1";

/// A message ready to send: its JSON body, its String attributes, and the ids a FIFO queue
/// needs (used only when the queue is FIFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
    /// Contact id, else team id, else event type: events about one prospect stay in order.
    pub group_id: String,
    /// The event id (hashed when SQS would not accept it as is).
    pub deduplication_id: String,
}

/// Everything in the body except `payload`, in SPEC §6 order.
#[derive(Serialize)]
struct Header<'a> {
    schema: &'static str,
    event_id: &'a str,
    event_type: &'a str,
    category: &'a str,
    known_type: bool,
    occurred_at: Option<String>,
    received_at: &'a str,
    team_id: Option<String>,
    user_id: Option<String>,
    subscription_id: Option<String>,
    contact_id: Option<String>,
    sequence_id: Option<String>,
}

impl OutboundMessage {
    /// Builds the message for `delivery`, received at `received_at` (RFC 3339) by the function
    /// of `category` (the event's own category for a known type).
    pub fn new(delivery: &Delivery<'_>, category: Category, received_at: &str) -> OutboundMessage {
        let envelope = &delivery.envelope;
        let text = |id: &Option<Id>| id.as_ref().map(Id::to_string);
        let header = Header {
            schema: MESSAGE_SCHEMA,
            event_id: &envelope.id,
            event_type: envelope.event_type.as_str(),
            category: category.as_str(),
            known_type: !matches!(envelope.event_type, EventType::Unknown(_)),
            occurred_at: envelope
                .date
                .as_ref()
                .and_then(|date| date.utc())
                .map(|utc| utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            received_at,
            team_id: text(&envelope.team_id),
            user_id: text(&envelope.user_id),
            subscription_id: text(&envelope.subscription_id),
            contact_id: text(&delivery.contact_id),
            sequence_id: text(&delivery.sequence_id),
        };
        let body = body_with_payload(&header, delivery.body);

        let mut attributes = vec![
            ("event_type", header.event_type.to_owned()),
            ("category", header.category.to_owned()),
        ];
        if let Some(contact_id) = &header.contact_id {
            attributes.push(("contact_id", contact_id.clone()));
        }
        if let Some(team_id) = &header.team_id {
            attributes.push(("team_id", team_id.clone()));
        }
        let group_id = header
            .contact_id
            .as_deref()
            .or(header.team_id.as_deref())
            .unwrap_or(header.event_type);
        OutboundMessage {
            group_id: fifo_id(group_id),
            deduplication_id: fifo_id(&envelope.id),
            body,
            attributes,
        }
    }
}

/// Serialises `header` and appends `"payload": <body>` verbatim. The body was validated as one
/// JSON object by the payload crate, so splicing it in keeps the message valid JSON and the
/// payload byte-for-byte what Reply sent, without parsing it again.
fn body_with_payload(header: &Header<'_>, payload: &[u8]) -> String {
    let payload = String::from_utf8_lossy(payload);
    let mut body = serde_json::to_string(header).unwrap_or_else(|_| String::from("{}"));
    body.pop(); // the closing brace
    body.reserve(payload.len() + 13);
    body.push_str(",\"payload\":");
    body.push_str(payload.trim());
    body.push('}');
    body
}

/// SQS takes group and deduplication ids of at most 128 characters from a restricted ASCII
/// set; anything else is replaced by its SHA-256 (64 hex characters), which is stable.
fn fifo_id(id: &str) -> String {
    let acceptable = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
    if acceptable {
        id.to_owned()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_the_payload_verbatim_and_the_header_fields() {
        let raw = br#"  {"event":{"id":"e-1","type":"EmailReplied","TeamId":100,"date":"2021-05-13T11:52:09.8212953"},"contact_fields":{"id":12345},"x":[1, 2]}
"#;
        let delivery = Delivery::parse(raw).unwrap();
        let msg = OutboundMessage::new(&delivery, Category::Email, "2026-11-26T01:00:00.000Z");
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["schema"], MESSAGE_SCHEMA);
        assert_eq!(body["event_type"], "email_replied");
        assert_eq!(body["known_type"], true);
        assert_eq!(body["occurred_at"], "2021-05-13T11:52:09.821Z");
        assert_eq!(body["team_id"], "100");
        assert_eq!(body["contact_id"], "12345");
        assert_eq!(body["user_id"], serde_json::Value::Null);
        assert!(msg.body.ends_with(r#","payload":{"event":{"id":"e-1","type":"EmailReplied","TeamId":100,"date":"2021-05-13T11:52:09.8212953"},"contact_fields":{"id":12345},"x":[1, 2]}}"#));
        assert_eq!(msg.group_id, "12345");
        assert_eq!(msg.deduplication_id, "e-1");
        assert_eq!(
            msg.attributes,
            [
                ("event_type", "email_replied".to_owned()),
                ("category", "email".to_owned()),
                ("contact_id", "12345".to_owned()),
                ("team_id", "100".to_owned())
            ]
        );
    }

    #[test]
    fn fifo_ids_sqs_would_refuse_are_hashed() {
        assert_eq!(
            fifo_id("4c1b9e74-5ac3-4b0f-9a60-2a37a9b4a2d1"),
            "4c1b9e74-5ac3-4b0f-9a60-2a37a9b4a2d1"
        );
        assert_eq!(fifo_id(&"a".repeat(129)).len(), 64);
        assert_eq!(fifo_id("id with spaces").len(), 64);
        assert_eq!(fifo_id("é").len(), 64);
    }
}
