//! The request path's view of a delivery: one pass over the body, typing only what routing,
//! idempotency and the queue message need. The body itself is forwarded untouched.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::scalar::Skip;

use crate::envelope::{EnvelopeFields, EnvelopeSeed, EnvelopeWarning};
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
    /// Required: a JSON object whose `event` object holds a non-empty string `id` (at most
    /// 256 bytes) and a non-empty string `type`. Everything else is accepted as it is: an
    /// optional envelope field of an unusable type reads as absent, a repeated key is
    /// resolved; both are reported in [`crate::Envelope::warnings`].
    pub fn parse(body: &'a [u8]) -> Result<Delivery<'a>, PayloadError> {
        let mut top = read_top_level(body, false)?;
        Ok(Delivery {
            body,
            envelope: top.envelope()?,
            contact_id: top.contact_id,
            sequence_id: top.sequence_id,
        })
    }
}

/// What the top-level pass found.
pub(crate) struct TopLevel<'a> {
    /// The fields of every `event` object (a repeated `event` adds to the same fields).
    event: Option<EnvelopeFields<'a>>,
    /// `event` was given as something other than an object or null.
    event_wrong_type: bool,
    pub(crate) contact_id: Option<Id>,
    pub(crate) sequence_id: Option<Id>,
}

impl TopLevel<'_> {
    /// The checked envelope (taken out: call once).
    pub(crate) fn envelope(&mut self) -> Result<Envelope, PayloadError> {
        match self.event.take() {
            Some(fields) => fields.into_envelope(),
            None if self.event_wrong_type => Err(PayloadError::WrongType {
                field: "event",
                expected: "a JSON object",
            }),
            None => Err(PayloadError::Missing("event")),
        }
    }
}

/// Checks that `body` is one JSON object and reads its `event`, `contact_fields.id` and
/// `sequence_fields.id`, skipping everything else in place with [`Skip`], which refuses what
/// building a value would refuse (nesting past 128 levels, numbers beyond f64), so this
/// pass, [`crate::ReplyEvent`] and any serde_json consumer of the forwarded body agree.
/// `keep_extra`: keep the envelope's values (the full model), or only type them.
pub(crate) fn read_top_level(body: &[u8], keep_extra: bool) -> Result<TopLevel<'_>, PayloadError> {
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
        .deserialize_map(TopLevelVisitor { keep_extra })
        .and_then(|top| deserializer.end().map(|()| top))
        .map_err(|err| PayloadError::NotJson(err.to_string()))
}

struct TopLevelVisitor {
    keep_extra: bool,
}

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = TopLevel {
            event: None,
            event_wrong_type: false,
            contact_id: None,
            sequence_id: None,
        };
        let mut events_seen = 0;
        // For the two sections, the canonical spelling wins over another one, else the later.
        let mut contact_canonical = false;
        let mut sequence_canonical = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if same_name(&key, "event") {
                events_seen += 1;
                let shape = map.next_value_seed(EventSeed {
                    fields: &mut top.event,
                    keep_extra: self.keep_extra,
                })?;
                top.event_wrong_type |= shape == Shape::Other;
            } else if same_name(&key, "contact_fields") {
                let id = map.next_value::<IdOf>()?.0;
                if key == "contact_fields" || !contact_canonical {
                    top.contact_id = id;
                    contact_canonical = key == "contact_fields";
                }
            } else if same_name(&key, "sequence_fields") {
                let id = map.next_value::<IdOf>()?.0.filter(|id| !is_zero(id));
                if key == "sequence_fields" || !sequence_canonical {
                    top.sequence_id = id;
                    sequence_canonical = key == "sequence_fields";
                }
            } else {
                map.next_value::<Skip>()?;
            }
        }
        // Two `event` objects repeat every key they share: one warning says it all.
        if let Some(fields) = top.event.as_mut().filter(|_| events_seen > 1) {
            fields
                .warnings
                .retain(|w| !matches!(w, EnvelopeWarning::Repeated(_)));
            fields.warn(EnvelopeWarning::Repeated("event"));
        }
        Ok(top)
    }
}

/// What an `event` value was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Object,
    Null,
    Other,
}

/// Reads one `event` value: an object adds its keys to `fields`; anything else is skipped.
struct EventSeed<'f, 'a> {
    fields: &'f mut Option<EnvelopeFields<'a>>,
    keep_extra: bool,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_, 'de> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_, 'de> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
        let seed = EnvelopeSeed {
            fields: self.fields.get_or_insert_with(EnvelopeFields::default),
            keep_extra: self.keep_extra,
        };
        seed.visit_map(map).map(|()| Shape::Object)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Shape::Other)
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

/// A sequence id of 0 means "outside a sequence".
fn is_zero(id: &Id) -> bool {
    match id {
        Id::Number(n) => n.as_u64() == Some(0),
        Id::Text(s) => s == "0",
    }
}
