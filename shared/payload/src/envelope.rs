//! The `event` object every delivery carries: id, type, date and the owning ids.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::scalar::{Scalar, Skip};
use crate::{EventDate, EventType, Id, PayloadError, same_name};

/// Longest `event.id` accepted; it becomes part of a DynamoDB key.
pub const MAX_EVENT_ID_BYTES: usize = 256;

/// The typed `event` object. Keys are matched ignoring case and underscores (`TeamId`,
/// `team_id`), ids may be numbers or strings, and whatever else the object holds is kept in
/// [`Envelope::extra`].
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Unique per delivery; the idempotency key.
    pub id: String,
    pub event_type: EventType,
    pub date: Option<EventDate>,
    pub user_id: Option<Id>,
    pub team_id: Option<Id>,
    pub subscription_id: Option<Id>,
    /// Keys of `event` this crate does not know, verbatim (and a repeated key's other
    /// spelling, or a value of a type it could not use).
    pub extra: Map<String, Value>,
    /// What was odd but tolerated (a repeated key, an unusable optional field).
    pub warnings: Vec<EnvelopeWarning>,
    /// Delivered spellings that differ from the canonical ones, so serialising gives back
    /// what came in. Empty (no allocation) for a documented delivery.
    spellings: Spellings,
}

/// Keys delivered as e.g. `TeamId`, the type as e.g. `EmailReplied`, and optional fields
/// delivered as an explicit `null` (typed as `None`, but serialised back as `null`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Spellings {
    keys: Vec<(Field, String)>,
    event_type: Option<String>,
    nulls: Vec<Field>,
}

/// The envelope keys this crate types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Type,
    Date,
    UserId,
    TeamId,
    SubscriptionId,
}

impl Field {
    const ALL: [Field; 6] = [
        Field::Id,
        Field::Type,
        Field::Date,
        Field::UserId,
        Field::TeamId,
        Field::SubscriptionId,
    ];

    const fn key(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Type => "type",
            Field::Date => "date",
            Field::UserId => "user_id",
            Field::TeamId => "team_id",
            Field::SubscriptionId => "subscription_id",
        }
    }

    /// The field's name in error messages.
    const fn path(self) -> &'static str {
        match self {
            Field::Id => "event.id",
            Field::Type => "event.type",
            Field::Date => "event.date",
            Field::UserId => "event.user_id",
            Field::TeamId => "event.team_id",
            Field::SubscriptionId => "event.subscription_id",
        }
    }

    fn recognise(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| same_name(key, f.key()))
    }
}

impl Envelope {
    /// The type exactly as delivered (`EmailReplied` stays `EmailReplied`).
    pub fn delivered_type(&self) -> &str {
        self.spellings
            .event_type
            .as_deref()
            .unwrap_or_else(|| self.event_type.as_str())
    }

    /// The key `field` was delivered under.
    fn key_of(&self, field: Field) -> &str {
        self.spellings
            .keys
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(field.key(), |(_, key)| key)
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(self.key_of(Field::Id), &self.id)?;
        map.serialize_entry(self.key_of(Field::Type), self.delivered_type())?;
        if let Some(date) = &self.date {
            map.serialize_entry(self.key_of(Field::Date), date)?;
        }
        for (field, id) in [
            (Field::UserId, &self.user_id),
            (Field::TeamId, &self.team_id),
            (Field::SubscriptionId, &self.subscription_id),
        ] {
            if let Some(id) = id {
                map.serialize_entry(self.key_of(field), id)?;
            }
        }
        for field in &self.spellings.nulls {
            map.serialize_entry(self.key_of(*field), &Value::Null)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Something odd about an envelope that did not stop the delivery: logged as a warning, so
/// the operator sees a sender that is drifting, while the event is still processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeWarning {
    /// The key came more than once (maybe in two spellings, `team_id` and `TeamId`): the
    /// canonical spelling won, else the last one; the body keeps them all.
    Repeated(&'static str),
    /// An optional field of a type that cannot be used; it reads as absent.
    Unusable {
        field: &'static str,
        expected: &'static str,
    },
}

impl fmt::Display for EnvelopeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeWarning::Repeated(field) => {
                write!(
                    f,
                    "{field} is given more than once; the canonical spelling (else the last) is used"
                )
            }
            EnvelopeWarning::Unusable { field, expected } => {
                write!(f, "{field} is not {expected}; read as absent")
            }
        }
    }
}

/// One delivered occurrence of an envelope key.
#[derive(Debug)]
struct Occurrence<'a> {
    /// The key as delivered (`TeamId`).
    key: Cow<'a, str>,
    value: Scalar<'a>,
    /// The value itself, for the full model (which keeps what it cannot type).
    raw: Option<Value>,
}

impl Occurrence<'_> {
    fn canonical(&self, field: Field) -> bool {
        self.key == field.key()
    }
}

/// The `event` object as read, before its fields are checked. Reading never fails on content,
/// only on JSON syntax, so the check can name the field at fault.
#[derive(Debug, Default)]
pub(crate) struct EnvelopeFields<'a> {
    /// The occurrence of each field that counts.
    values: [Option<Occurrence<'a>>; 6],
    /// `event.id` or `event.type` given twice with different values.
    conflicting: Option<Field>,
    pub(crate) warnings: Vec<EnvelopeWarning>,
    extra: Map<String, Value>,
}

impl<'a> EnvelopeFields<'a> {
    pub(crate) fn warn(&mut self, warning: EnvelopeWarning) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// Records one occurrence of `field`: the canonical spelling wins over another one, else
    /// the later occurrence wins; the other is kept in `extra` (full model) under its own key.
    fn add(&mut self, field: Field, occurrence: Occurrence<'a>) {
        let slot = &mut self.values[field as usize];
        let Some(existing) = slot.take() else {
            *slot = Some(occurrence);
            return;
        };
        if matches!(field, Field::Id | Field::Type) && existing.value != occurrence.value {
            self.conflicting.get_or_insert(field);
        }
        let (winner, loser) = if occurrence.canonical(field) || !existing.canonical(field) {
            (occurrence, existing)
        } else {
            (existing, occurrence)
        };
        if let Some(raw) = loser.raw.filter(|_| loser.key != winner.key) {
            self.extra.insert(loser.key.into_owned(), raw);
        }
        self.values[field as usize] = Some(winner);
        self.warn(EnvelopeWarning::Repeated(field.path()));
    }

    /// Takes a required field's value, remembering its delivered spelling.
    fn take(&mut self, field: Field, spellings: &mut Spellings) -> Option<Scalar<'a>> {
        let occurrence = self.values[field as usize].take()?;
        if !occurrence.canonical(field) {
            spellings.keys.push((field, occurrence.key.into_owned()));
        }
        Some(occurrence.value)
    }

    /// Takes an optional field. `read` gives `None` for a value of a type it cannot use: that
    /// reads as absent, with a warning, and the full model keeps the value in `extra`.
    fn take_optional<T>(
        &mut self,
        field: Field,
        spellings: &mut Spellings,
        read: impl FnOnce(Scalar<'a>) -> Option<Option<T>>,
        expected: &'static str,
    ) -> Option<T> {
        let occurrence = self.values[field as usize].take()?;
        let canonical = occurrence.canonical(field);
        let Occurrence { key, value, raw } = occurrence;
        match read(value) {
            Some(typed) => {
                if !canonical {
                    spellings.keys.push((field, key.into_owned()));
                }
                if typed.is_none() {
                    spellings.nulls.push(field);
                }
                typed
            }
            None => {
                self.warn(EnvelopeWarning::Unusable {
                    field: field.path(),
                    expected,
                });
                if let Some(raw) = raw {
                    self.extra.insert(key.into_owned(), raw);
                }
                None
            }
        }
    }

    /// Checks the two required fields and builds the [`Envelope`].
    pub(crate) fn into_envelope(mut self) -> Result<Envelope, PayloadError> {
        if let Some(field) = self.conflicting {
            return Err(PayloadError::Conflicting(field.path()));
        }
        let mut spellings = Spellings::default();
        let id = Scalar::required_text(self.take(Field::Id, &mut spellings), Field::Id.path())?;
        if id.len() > MAX_EVENT_ID_BYTES {
            return Err(PayloadError::Invalid {
                field: Field::Id.path(),
                problem: "is longer than 256 bytes",
            });
        }
        let raw_type =
            Scalar::required_text(self.take(Field::Type, &mut spellings), Field::Type.path())?;
        let event_type = EventType::parse(&raw_type);
        spellings.event_type = (raw_type != event_type.as_str()).then(|| raw_type.into_owned());
        let date = self
            .take_optional(
                Field::Date,
                &mut spellings,
                Scalar::optional_text,
                "a string",
            )
            .map(|raw| EventDate::parse(&raw));
        let mut id_of = |field| {
            self.take_optional(
                field,
                &mut spellings,
                Scalar::optional_id,
                "a number or a string",
            )
        };
        let user_id = id_of(Field::UserId);
        let team_id = id_of(Field::TeamId);
        let subscription_id = id_of(Field::SubscriptionId);
        Ok(Envelope {
            id: id.into_owned(),
            event_type,
            date,
            user_id,
            team_id,
            subscription_id,
            extra: self.extra,
            warnings: self.warnings,
            spellings,
        })
    }
}

/// Reads an `event` object into `fields` (a delivery may carry `event` twice: both count);
/// `keep_extra` decides whether values are kept (the full model) or only typed (the request
/// path, which forwards the raw body anyway).
pub(crate) struct EnvelopeSeed<'f, 'a> {
    pub(crate) fields: &'f mut EnvelopeFields<'a>,
    pub(crate) keep_extra: bool,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match (Field::recognise(&key), self.keep_extra) {
                (Some(field), false) => {
                    let value = map.next_value::<Scalar<'de>>()?;
                    self.fields.add(
                        field,
                        Occurrence {
                            key,
                            value,
                            raw: None,
                        },
                    );
                }
                (Some(field), true) => {
                    let raw = map.next_value::<Value>()?;
                    let value = Scalar::of(&raw);
                    self.fields.add(
                        field,
                        Occurrence {
                            key,
                            value,
                            raw: Some(raw),
                        },
                    );
                }
                (None, true) => {
                    let value = map.next_value::<Value>()?;
                    self.fields.extra.insert(key.into_owned(), value);
                }
                (None, false) => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(())
    }
}
