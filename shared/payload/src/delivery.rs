//! The request path's view of a delivery: one pass over the body, typing only what routing,
//! idempotency and the queue message need. The body itself is forwarded untouched.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::scalar::Skip;

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
/// `sequence_fields.id`, skipping everything else in place with [`Skip`], which refuses what
/// building a value would refuse (nesting past 128 levels, numbers beyond f64), so this
/// pass, [`crate::ReplyEvent`] and any serde_json consumer of the forwarded body agree.
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
    deserializer
        .deserialize_map(TopLevelVisitor { seed })
        .and_then(|top| deserializer.end().map(|()| top))
        .map_err(|err| PayloadError::NotJson(err.to_string()))?
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
                        map.next_value::<Skip>()?;
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
                map.next_value::<Skip>()?;
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
        while seq.next_element::<Skip>()?.is_some() {}
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
                        map.next_value::<Skip>()?;
                    }
                }
                Ok(IdOf(id))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<IdOf, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
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
