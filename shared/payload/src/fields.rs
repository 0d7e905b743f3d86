//! Typed views of the non-envelope parts of a delivery: the prospect, the sequence, and the
//! event-specific fields whose meaning is known. Every field is optional and read leniently (a value
//! of an unexpected type reads as `None`), every enum is open, and the delivery itself keeps
//! every byte, so a view can never lose data.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{EventDate, Id, same_name};

/// Reads a field leniently: a value that does not fit `T` becomes `None` instead of failing
/// the whole view.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).ok())
}

/// `contact_fields`: the prospect an event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactFields {
    /// The stable prospect reference.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub linkedin_profile_url: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub time_zone_id: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub company_size: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub linkedin_sales_navigator: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub linkedin_recruiter: Option<String>,
    /// Keys not listed above, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `sequence_fields`: the sequence an event happened in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequenceFields {
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub step_number: Option<i64>,
    /// Keys not listed above, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The event-specific top-level fields Reply documents or real deliveries have shown. Which ones a delivery
/// carries depends on its type and the subscription's `payloadConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventDetails {
    // email_replied
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reply_reason: Option<ReplyReason>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reply_blob_url: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reply_message_url: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reply_content: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reply_message_id: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reply_date: Option<EventDate>,
    // email_sent, email_opened
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub sent_email_id: Option<Id>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub sent_email_date: Option<EventDate>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub sent_email_message_id: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub sent_email_variant: Option<Value>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub sent_message_url: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub email_account_id: Option<Id>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub email_from: Option<String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub email_open_date: Option<EventDate>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub opens_count: Option<u64>,
    // email_bounced
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub bounce_type: Option<BounceType>,
    // contact_finished
    #[serde(
        deserialize_with = "lenient_finish_reason",
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_reason: Option<FinishReason>,
    // contact_called
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub status: Option<CallStatus>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub resolution: Option<CallResolution>,
}

/// Defines a PascalCase string enum that keeps values outside the documented list.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $variant, )+
            /// A value outside the documented list, verbatim.
            Other(String),
        }

        impl $name {
            /// Reads a delivered value, ignoring case and underscores.
            pub fn parse(raw: &str) -> Self {
                $( if same_name(raw, stringify!($variant)) { return $name::$variant; } )+
                $name::Other(raw.to_owned())
            }

            /// The documented PascalCase spelling (the raw text for `Other`).
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => stringify!($variant), )+
                    $name::Other(raw) => raw,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok($name::parse(&raw))
            }
        }
    };
}

open_enum! {
    /// `email_bounced.bounce_type`.
    BounceType { Hard, Soft, Block, Unknown }
}

open_enum! {
    /// `email_replied.reply_reason`.
    ReplyReason { EmailDetected, StatusSetManually }
}

open_enum! {
    /// `contact_called.status`.
    CallStatus { Completed, Busy, NoAnswer, Failed, Canceled, InProgress }
}

open_enum! {
    /// `contact_called.resolution` (an open set in Reply).
    CallResolution { Positive, Negative, FollowUp, Voicemail, WrongNumber, NotInterested }
}

open_enum! {
    /// `contact_finished.finish_reason`, documented as strings; one integration saw integer
    /// codes 0–6, read by [`FinishReason::from_code`].
    FinishReason {
        Replied,
        OptedOut,
        Bounced,
        Failed,
        FinishedNaturally,
        FailedToFinish,
        RemovedFromCampaign,
        Manual,
        Called,
        MeetingBooked,
    }
}

impl FinishReason {
    /// The integer codes seen in one integration: 0 Replied, 1 Bounced, 2 Manual, 3 Finished
    /// after N days, 4 Called, 5 Opt-out, 6 Meeting booked. Others are kept as `Other`.
    pub fn from_code(code: i64) -> FinishReason {
        match code {
            0 => FinishReason::Replied,
            1 => FinishReason::Bounced,
            2 => FinishReason::Manual,
            3 => FinishReason::FinishedNaturally,
            4 => FinishReason::Called,
            5 => FinishReason::OptedOut,
            6 => FinishReason::MeetingBooked,
            other => FinishReason::Other(other.to_string()),
        }
    }
}

/// Reads `finish_reason` leniently in either form, a string or an integer code.
fn lenient_finish_reason<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<FinishReason>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(FinishReason::parse(&text)),
        Value::Number(code) => code.as_i64().map(FinishReason::from_code),
        _ => None,
    })
}
