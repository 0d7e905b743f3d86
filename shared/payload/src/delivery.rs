//! The request path's view of a delivery: one pass over the body, typing only what routing,
//! idempotency and the queue message need. The body itself is forwarded untouched.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::envelope::{EnvelopeFields, EnvelopeSeed};
use crate::scalar::Scalar;
use crate::{Envelope, Id, PayloadError, same_name};

/// A delivery that passed validation: its exact bytes, the typed envelope, and the ids that
/// key a queue message.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<'a> {
    /// The body as received; forward this, never a re-serialisation.
    pub body: &'a [u8],
    pub envelope: Envelope,
    /// `contact_fields.id`, the stable prospect reference.
    pub contact_id: Option<Id>,
    /// `sequence_fields.id`; `None` when absent, empty, or 0 (no sequence).
    pub sequence_id: Option<Id>,
}

impl<'a> Delivery<'a> {
    /// Parses and validates `body` in a single pass.
    ///
    /// Required: a JSON object with `event` an object holding a non-empty string `id` (at most
    /// 256 bytes) and a non-empty string `type`. Optional envelope fields must have a usable
    /// JSON type when present; everything else is accepted as it is.
    pub fn parse(body: &'a [u8]) -> Result<Delivery<'a>, PayloadError> {
        let top = read_top_level(body, EnvelopeSeed { keep_extra: false })?;
        let envelope = top
            .event
            .ok_or(PayloadError::Missing("event"))??
            .into_envelope()?;
        Ok(Delivery {
            body,
            envelope,
            contact_id: top.contact_id,
            sequence_id: top.sequence_id,
        })
    }
}

/// What the top-level pass found. `event` is `Some(Err)` when it was there but not an object.
pub(crate) struct TopLevel<'a> {
    pub(crate) event: Option<Result<EnvelopeFields<'a>, PayloadError>>,
    pub(crate) contact_id: Option<Id>,
    pub(crate) sequence_id: Option<Id>,
}

/// Checks that `body` is one JSON object and reads its `event`, `contact_fields.id` and
/// `sequence_fields.id`, skipping everything else in place.
pub(crate) fn read_top_level(
    body: &[u8],
    seed: EnvelopeSeed,
) -> Result<TopLevel<'_>, PayloadError> {
    // serde_json does not check the UTF-8 of strings it skips; the body is forwarded as
    // text, so check it all up front (fast: SIMD-friendly, no allocation).
    if let Err(err) = std::str::from_utf8(body) {
        return Err(PayloadError::NotUtf8(err.valid_up_to()));
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(PayloadError::Empty),
        Some(b'{') => {}
        Some(_) => {
            // Valid JSON of another kind is "not an object"; anything else is "not JSON".
            return match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => Err(PayloadError::NotObject),
                Err(err) => Err(PayloadError::NotJson(err.to_string())),
            };
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let top = deserializer
        .deserialize_map(TopLevelVisitor { seed })
        .and_then(|top| deserializer.end().map(|()| top))
        .map_err(|err| PayloadError::NotJson(err.to_string()))?;
    check_depth(body)?;
    top
}

/// Containers nested this deep are refused, as serde_json refuses them when it builds values.
const MAX_DEPTH: usize = 128;

/// Skipping a value in place ([`IgnoredAny`]) has no depth limit in serde_json, but building
/// one (`Value`, and so [`crate::ReplyEvent`] and any serde_json consumer of the forwarded body)
/// stops at 128 levels. Apply that limit here too, with serde_json's own message, so both
/// parsers accept and refuse the same bodies. Likewise numbers: skipping does not evaluate
/// them, building a value refuses one beyond the range of f64 (`1e400`), so refuse those too.
/// `body` is known to be valid JSON.
fn check_depth(body: &[u8]) -> Result<(), PayloadError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    // The end of the number being skipped: its bytes were checked at its first one.
    let mut number_end = 0;
    for (offset, &byte) in body.iter().enumerate() {
        if offset < number_end {
            continue;
        }
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth >= MAX_DEPTH {
                    let (line, column) = position(body, offset);
                    return Err(PayloadError::NotJson(format!(
                        "recursion limit exceeded at line {line} column {column}"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                number_end = offset
                    + body[offset..]
                        .iter()
                        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                        .unwrap_or(body.len() - offset);
                let number = &body[offset..number_end];
                // Only an exponent or a very long literal can exceed f64's range; serde_json
                // decides, as it does when building a value.
                let may_overflow =
                    number.len() > 300 || number.iter().any(|b| matches!(b, b'e' | b'E'));
                if may_overflow && serde_json::from_slice::<f64>(number).is_err() {
                    let (line, column) = position(body, number_end - 1);
                    return Err(PayloadError::NotJson(format!(
                        "number out of range at line {line} column {column}"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// serde_json's line and column (1-based) of the byte at `offset`.
fn position(body: &[u8], offset: usize) -> (usize, usize) {
    let before = &body[..offset];
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - line_start + 1)
}

struct TopLevelVisitor {
    seed: EnvelopeSeed,
}

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = Result<TopLevel<'de>, PayloadError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = TopLevel {
            event: None,
            contact_id: None,
            sequence_id: None,
        };
        let mut seed = Some(self.seed);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if same_name(&key, "event") {
                // A second `event` is ambiguous: which one would we forward? Refuse it.
                top.event = Some(match seed.take() {
                    Some(seed) => map.next_value_seed(ObjectOr { seed })?,
                    None => {
                        map.next_value::<IgnoredAny>()?;
                        Err(PayloadError::Invalid {
                            field: "event",
                            problem: "is given more than once",
                        })
                    }
                });
            } else if same_name(&key, "contact_fields") {
                top.contact_id = map.next_value::<IdOf>()?.0;
            } else if same_name(&key, "sequence_fields") {
                top.sequence_id = map.next_value::<IdOf>()?.0.filter(|id| !is_zero(id));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Ok(top))
    }
}

/// Reads `event`: an object goes to the envelope seed; any other JSON value is a typed error.
struct ObjectOr {
    seed: EnvelopeSeed,
}

impl<'de> DeserializeSeed<'de> for ObjectOr {
    type Value = Result<EnvelopeFields<'de>, PayloadError>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectOr {
    type Value = Result<EnvelopeFields<'de>, PayloadError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.seed.visit_map(map).map(Ok)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(PayloadError::Missing("event")))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(not_object()))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(not_object()))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(not_object()))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(not_object()))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(not_object()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(not_object()))
    }
}

fn not_object() -> PayloadError {
    PayloadError::WrongType {
        field: "event",
        expected: "a JSON object",
    }
}

/// The `id` of a nested object (`contact_fields`, `sequence_fields`). Outside the envelope we
/// are tolerant: a section that is not an object, or an id that is not a number or a string,
/// reads as no id.
struct IdOf(Option<Id>);

impl<'de> serde::Deserialize<'de> for IdOf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdOfVisitor;
        impl<'de> Visitor<'de> for IdOfVisitor {
            type Value = IdOf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IdOf, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "id" {
                        id = map.next_value::<Scalar<'de>>()?.into_id();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(IdOf(id))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<IdOf, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IdOf(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<IdOf, E> {
                Ok(IdOf(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<IdOf, E> {
                Ok(IdOf(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<IdOf, E> {
                Ok(IdOf(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<IdOf, E> {
                Ok(IdOf(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<IdOf, E> {
                Ok(IdOf(None))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<IdOf, E> {
                Ok(IdOf(None))
            }
        }
        deserializer.deserialize_any(IdOfVisitor)
    }
}

/// A sequence id of 0 means "outside a sequence" (FACTS.md).
fn is_zero(id: &Id) -> bool {
    match id {
        Id::Number(n) => n.as_u64() == Some(0),
        Id::Text(s) => s == "0",
    }
}
