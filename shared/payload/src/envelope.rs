//! The `event` object every delivery carries: id, type, date and the owning ids.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::scalar::{Scalar, Skip};
use crate::{EventDate, EventType, Id, PayloadError, same_name};

/// Longest `event.id` accepted (SPEC §3); it becomes part of a DynamoDB key.
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
    /// Keys of `event` this crate does not know, verbatim.
    pub extra: Map<String, Value>,
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

/// The `event` object as read, before its fields are checked. Reading never fails on content,
/// only on JSON syntax, so the check can name the field at fault.
#[derive(Debug, Default)]
pub(crate) struct EnvelopeFields<'a> {
    values: [Option<Scalar<'a>>; 6],
    key_spellings: Vec<(Field, String)>,
    repeated: Option<Field>,
    extra: Map<String, Value>,
}

impl<'a> EnvelopeFields<'a> {
    fn take(&mut self, field: Field) -> Option<Scalar<'a>> {
        self.values[field as usize].take()
    }

    /// Checks every field and builds the [`Envelope`].
    pub(crate) fn into_envelope(mut self) -> Result<Envelope, PayloadError> {
        if let Some(field) = self.repeated {
            return Err(PayloadError::Invalid {
                field: field.path(),
                problem: "is given more than once",
            });
        }
        let id = Scalar::required_text(self.take(Field::Id), Field::Id.path())?;
        if id.len() > MAX_EVENT_ID_BYTES {
            return Err(PayloadError::Invalid {
                field: Field::Id.path(),
                problem: "is longer than 256 bytes",
            });
        }
        let raw_type = Scalar::required_text(self.take(Field::Type), Field::Type.path())?;
        let nulls = [
            Field::Date,
            Field::UserId,
            Field::TeamId,
            Field::SubscriptionId,
        ]
        .into_iter()
        .filter(|field| self.values[*field as usize] == Some(Scalar::Null))
        .collect();
        let event_type = EventType::parse(&raw_type);
        let type_spelling = (raw_type != event_type.as_str()).then(|| raw_type.into_owned());
        let date = Scalar::optional_text(self.take(Field::Date), Field::Date.path())?
            .map(|raw| EventDate::parse(&raw));
        let user_id = Scalar::optional_id(self.take(Field::UserId), Field::UserId.path())?;
        let team_id = Scalar::optional_id(self.take(Field::TeamId), Field::TeamId.path())?;
        let subscription_id = Scalar::optional_id(
            self.take(Field::SubscriptionId),
            Field::SubscriptionId.path(),
        )?;
        Ok(Envelope {
            id: id.into_owned(),
            event_type,
            date,
            user_id,
            team_id,
            subscription_id,
            extra: self.extra,
            spellings: Spellings {
                keys: self.key_spellings,
                event_type: type_spelling,
                nulls,
            },
        })
    }
}

/// Reads an `event` object; `keep_extra` decides whether unknown keys are kept (the full
/// model) or skipped (the request path, which forwards the raw body anyway).
pub(crate) struct EnvelopeSeed {
    pub(crate) keep_extra: bool,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = EnvelopeFields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = EnvelopeFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = EnvelopeFields::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match Field::recognise(&key) {
                Some(field) => {
                    let slot = &mut fields.values[field as usize];
                    let value = map.next_value::<Scalar<'de>>()?;
                    if slot.is_some() {
                        fields.repeated.get_or_insert(field);
                    }
                    *slot = Some(value);
                    if key != field.key() {
                        fields.key_spellings.push((field, key.into_owned()));
                    }
                }
                None if self.keep_extra => {
                    let value = map.next_value::<Value>()?;
                    fields.extra.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(fields)
    }
}
