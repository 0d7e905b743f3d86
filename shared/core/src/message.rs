//! The event message: what downstream pipelines consume from the actionable (or activity)
//! queue. Every message built here is one SQS accepts: characters it refuses are escaped in
//! the body and removed from attributes, copied values are capped, FIFO ids are valid.

use reply_payload::{Category, Delivery, EventType, Id};
use serde::Serialize;

use crate::sqs_rules::{attribute_value, escape_json, fifo_id};

/// The `schema` value of every event message body; bumped only on a breaking change.
pub const MESSAGE_SCHEMA: &str = "reply-webhooks/event@1";

/// The longest value copied from a delivery into a message header, an attribute or the record
/// (bytes). Reply's ids and type names are short; a longer value stays in the payload, which
/// always carries the delivery whole.
pub const MAX_COPIED_BYTES: usize = 256;

/// A message ready to send: its JSON body, its String attributes, and the ids a FIFO queue
/// needs (used only when the queue is FIFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
    /// For a FIFO queue: messages of one group stay in order.
    pub group_id: String,
    /// For a FIFO queue: a second message with this id within five minutes is dropped.
    pub deduplication_id: String,
}

impl OutboundMessage {
    /// The size SQS counts against its limit: the body, and each attribute's name, data type
    /// (`String`) and value.
    pub fn size(&self) -> usize {
        let attributes: usize = self
            .attributes
            .iter()
            .map(|(name, value)| name.len() + "String".len() + value.len())
            .sum();
        self.body.len() + attributes
    }
}

/// Everything in the body except `payload`, in the documented order.
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

/// `text` cut to at most [`MAX_COPIED_BYTES`], at a character boundary.
pub fn capped(text: &str) -> &str {
    if text.len() <= MAX_COPIED_BYTES {
        return text;
    }
    let mut end = MAX_COPIED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An id as header text; an id longer than [`MAX_COPIED_BYTES`] is not copied (a cut id would
/// name something else).
fn id_text(id: &Option<Id>) -> Option<String> {
    id.as_ref()
        .map(Id::to_string)
        .filter(|text| text.len() <= MAX_COPIED_BYTES)
}

/// The event type as copied: the canonical name, or an unknown type's raw name, capped.
pub fn event_type_text(event_type: &EventType) -> &str {
    capped(event_type.as_str())
}

impl OutboundMessage {
    /// The message for `delivery`, received at `received_at` (RFC 3339), under `category`
    /// (the event's own category, or the receiving function's for an unknown type).
    pub fn event(
        delivery: &Delivery<'_>,
        category: Category,
        received_at: &str,
    ) -> OutboundMessage {
        let envelope = &delivery.envelope;
        let header = Header {
            schema: MESSAGE_SCHEMA,
            event_id: &envelope.id,
            event_type: event_type_text(&envelope.event_type),
            category: category.as_str(),
            known_type: !matches!(envelope.event_type, EventType::Unknown(_)),
            occurred_at: envelope
                .date
                .as_ref()
                .and_then(|date| date.utc())
                .map(|utc| utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            received_at,
            team_id: id_text(&envelope.team_id),
            user_id: id_text(&envelope.user_id),
            subscription_id: id_text(&envelope.subscription_id),
            contact_id: id_text(&delivery.contact_id),
            sequence_id: id_text(&delivery.sequence_id),
        };
        let body = body_with_payload(&header, delivery.body);

        let mut attributes = Vec::with_capacity(4);
        for (name, value) in [
            ("event_type", Some(header.event_type)),
            ("category", Some(header.category)),
            ("contact_id", header.contact_id.as_deref()),
            ("team_id", header.team_id.as_deref()),
        ] {
            if let Some(value) = value.and_then(attribute_value) {
                attributes.push((name, value));
            }
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
/// payload byte-for-byte what Reply sent, without parsing it again; only characters SQS
/// refuses (U+FFFE, U+FFFF, which valid JSON can hold only inside strings) are written as
/// `\u` escapes, which is the same JSON value.
fn body_with_payload(header: &Header<'_>, payload: &[u8]) -> String {
    let payload = String::from_utf8_lossy(payload);
    let mut body = serde_json::to_string(header).unwrap_or_else(|_| String::from("{}"));
    body.pop(); // the closing brace
    body.reserve(payload.len() + 13);
    body.push_str(",\"payload\":");
    body.push_str(payload.trim());
    body.push('}');
    escape_json(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(raw: &[u8]) -> (OutboundMessage, serde_json::Value) {
        let delivery = Delivery::parse(raw).unwrap();
        let msg = OutboundMessage::event(&delivery, Category::Email, "2026-11-26T01:00:00.000Z");
        let body = serde_json::from_str(&msg.body).unwrap();
        (msg, body)
    }

    #[test]
    fn body_carries_the_payload_verbatim_and_the_header_fields() {
        let raw = br#"  {"event":{"id":"e-1","type":"EmailReplied","TeamId":100,"date":"2021-05-13T11:52:09.8212953"},"contact_fields":{"id":12345},"x":[1, 2]}
"#;
        let (msg, body) = message(raw);
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
        assert_eq!(
            msg.size(),
            msg.body.len() + (10 + 6 + 13) + (8 + 6 + 5) + (10 + 6 + 5) + (7 + 6 + 3)
        );
    }

    #[test]
    fn values_sqs_refuses_never_reach_an_attribute_and_the_body_keeps_them_escaped() {
        let raw = "{\"event\":{\"id\":\"e\\u0001\",\"type\":\"new\\u0001type\",\"team_id\":\"\"},\
                   \"contact_fields\":{\"id\":\"\\u0002\"},\"text\":\"a\u{FFFE}b\u{FFFF}\"}";
        let (msg, body) = message(raw.as_bytes());
        assert_eq!(
            msg.attributes,
            [
                ("event_type", "newtype".to_owned()),
                ("category", "email".to_owned()),
            ]
        );
        assert!(msg.body.chars().all(crate::sqs_rules::is_allowed));
        assert_eq!(body["payload"]["text"], "a\u{FFFE}b\u{FFFF}");
        assert_eq!(body["event_type"], "new\u{1}type");
        assert_eq!(msg.deduplication_id.len(), 64, "e\\u0001 is no FIFO id");
    }

    #[test]
    fn long_values_are_capped_and_the_payload_keeps_them() {
        let long_type = "t".repeat(10_000);
        let long_id = "9".repeat(300);
        let raw = format!(
            r#"{{"event":{{"id":"e","type":"{long_type}","team_id":"{long_id}"}},"contact_fields":{{"id":"{long_id}"}}}}"#
        );
        let (msg, body) = message(raw.as_bytes());
        assert_eq!(
            body["event_type"].as_str().map(str::len),
            Some(MAX_COPIED_BYTES)
        );
        assert_eq!(body["team_id"], serde_json::Value::Null);
        assert_eq!(body["contact_id"], serde_json::Value::Null);
        assert_eq!(body["payload"]["event"]["type"], long_type.as_str());
        assert!(msg.attributes.iter().all(|(_, v)| v.chars().count() <= 256));
        assert_eq!(capped(&"é".repeat(200)).len(), 256);
        assert_eq!(capped(&format!("a{}", "é".repeat(200))).len(), 255);
    }
}
