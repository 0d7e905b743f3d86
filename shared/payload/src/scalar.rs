//! One JSON value read without building a tree: enough to type-check an envelope field and
//! borrow its text, while nested values are skipped in place.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::PayloadError;
use crate::id::Id;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool,
    Number(serde_json::Number),
    Text(Cow<'a, str>),
    Array,
    Object,
}

impl<'a> Scalar<'a> {
    /// A required, non-empty string.
    pub(crate) fn required_text(
        value: Option<Self>,
        field: &'static str,
    ) -> Result<Cow<'a, str>, PayloadError> {
        match value {
            None | Some(Scalar::Null) => Err(PayloadError::Missing(field)),
            Some(Scalar::Text(text)) if text.is_empty() => Err(PayloadError::Invalid {
                field,
                problem: "must not be empty",
            }),
            Some(Scalar::Text(text)) => Ok(text),
            Some(_) => Err(PayloadError::WrongType {
                field,
                expected: "a string",
            }),
        }
    }

    /// An optional string: `Some(None)` for null, `None` for a value of another type.
    pub(crate) fn optional_text(self) -> Option<Option<Cow<'a, str>>> {
        match self {
            Scalar::Null => Some(None),
            Scalar::Text(text) => Some(Some(text)),
            _ => None,
        }
    }

    /// An optional id, a number or a string: `Some(None)` for null, `None` for a value of
    /// another type.
    pub(crate) fn optional_id(self) -> Option<Option<Id>> {
        match self {
            Scalar::Null => Some(None),
            other => other.into_id().map(Some),
        }
    }

    /// The scalar reading of a value the full model has already built.
    pub(crate) fn of(value: &serde_json::Value) -> Scalar<'static> {
        use serde_json::Value;
        match value {
            Value::Null => Scalar::Null,
            Value::Bool(_) => Scalar::Bool,
            Value::Number(n) => Scalar::Number(n.clone()),
            Value::String(s) => Scalar::Text(Cow::Owned(s.clone())),
            Value::Array(_) => Scalar::Array,
            Value::Object(_) => Scalar::Object,
        }
    }

    /// The id, when the value is one; anything else (tolerated outside the envelope) is `None`.
    pub(crate) fn into_id(self) -> Option<Id> {
        match self {
            Scalar::Number(n) => Some(Id::Number(n)),
            Scalar::Text(text) => Some(Id::Text(text.into_owned())),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // JSON cannot carry NaN or infinity, so this is always `Some`; map the impossible
        // case to a non-id rather than panic.
        Ok(serde_json::Number::from_f64(v).map_or(Scalar::Bool, Scalar::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// Skips one JSON value of any shape. Unlike serde's `IgnoredAny`, it goes through
/// `deserialize_any`, so serde_json applies its recursion limit (128 levels) and evaluates
/// numbers (refusing `1e400`): a value skipped here would also be accepted by serde_json when
/// it builds a tree. Strings are borrowed or decoded into serde_json's scratch buffer: no
/// allocation.
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}
