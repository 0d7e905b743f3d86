//! The whole delivery as one value: the typed envelope plus every other top-level field,
//! verbatim, with typed views of the parts whose meaning is known. For consumers, tools and tests;
//! the request path uses the cheaper [`crate::Delivery`].

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::delivery::read_top_level;
use crate::{ContactFields, Envelope, EventDetails, PayloadError, SequenceFields, same_name};

/// A parsed delivery that keeps everything it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyEvent {
    pub envelope: Envelope,
    /// Every top-level key except `event`, exactly as delivered.
    pub fields: Map<String, Value>,
}

impl ReplyEvent {
    /// Parses with the same validation (and errors) as [`crate::Delivery::parse`].
    pub fn parse(body: &[u8]) -> Result<ReplyEvent, PayloadError> {
        let envelope = read_top_level(body, true)?.envelope()?;
        // Validation passed, so the body is a JSON object: read the rest as values.
        let mut fields: Map<String, Value> =
            serde_json::from_slice(body).map_err(|err| PayloadError::NotJson(err.to_string()))?;
        fields.retain(|key, _| !same_name(key, "event"));
        Ok(ReplyEvent { envelope, fields })
    }

    /// The value of a top-level field, matching keys as Reply's spellings vary.
    fn section(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(key, _)| same_name(key, name))
            .map(|(_, value)| value)
    }

    /// `contact_fields`, when present as an object.
    pub fn contact(&self) -> Option<ContactFields> {
        self.section("contact_fields")
            .filter(|v| v.is_object())
            .and_then(|v| ContactFields::deserialize(v).ok())
    }

    /// `contact_custom_fields`: values keyed by the titles the user chose.
    pub fn custom_fields(&self) -> Option<&Map<String, Value>> {
        self.section("contact_custom_fields")
            .and_then(Value::as_object)
    }

    /// `sequence_fields`; `None` when absent, empty, or with id 0 (no sequence).
    pub fn sequence(&self) -> Option<SequenceFields> {
        let object = self.section("sequence_fields")?.as_object()?;
        if object.is_empty() {
            return None;
        }
        let sequence = SequenceFields::deserialize(Value::Object(object.clone())).ok()?;
        let no_sequence = sequence.id.as_ref().is_some_and(|id| id.to_string() == "0");
        (!no_sequence).then_some(sequence)
    }

    /// The known event-specific fields.
    pub fn details(&self) -> EventDetails {
        EventDetails::deserialize(&Value::Object(self.fields.clone())).unwrap_or_default()
    }
}

impl Serialize for ReplyEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len() + 1))?;
        map.serialize_entry("event", &self.envelope)?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}
