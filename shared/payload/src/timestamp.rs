//! Event dates: ISO-8601 UTC as documented, and the .NET style real deliveries used
//! (`2021-05-13T11:52:09.8212953`, no zone, up to 7 fractional digits).

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A date as delivered, with its UTC reading when it has one.
///
/// The original text is kept (and serialised back) so nothing is rewritten; a text we cannot
/// read is kept too, with [`EventDate::utc`] `None`: an odd date is no reason to bounce an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDate {
    raw: String,
    utc: Option<DateTime<Utc>>,
}

impl EventDate {
    /// Reads `raw`; a date without a zone is taken as UTC (Reply's documented zone).
    pub fn parse(raw: &str) -> EventDate {
        EventDate {
            raw: raw.to_owned(),
            utc: parse_utc(raw),
        }
    }

    /// The text as delivered.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The instant, when the text is a date we can read.
    pub fn utc(&self) -> Option<DateTime<Utc>> {
        self.utc
    }
}

fn parse_utc(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(with_zone) = DateTime::parse_from_rfc3339(raw) {
        return Some(with_zone.with_timezone(&Utc));
    }
    // No zone: `%.f` takes any number of fractional digits, including none.
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|naive| naive.and_utc())
}

impl fmt::Display for EventDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for EventDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for EventDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(EventDate::parse(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(raw: &str) -> Option<String> {
        EventDate::parse(raw)
            .utc()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    }

    #[test]
    fn reads_documented_and_dotnet_dates() {
        assert_eq!(
            utc("2026-04-21T09:30:00.000Z").as_deref(),
            Some("2026-04-21T09:30:00.000000000Z")
        );
        assert_eq!(
            utc("2021-05-13T11:52:09.8212953").as_deref(),
            Some("2021-05-13T11:52:09.821295300Z")
        );
        assert_eq!(
            utc("2021-05-13T11:52:09").as_deref(),
            Some("2021-05-13T11:52:09.000000000Z")
        );
        assert_eq!(
            utc("2026-04-21T11:30:00+02:00").as_deref(),
            Some("2026-04-21T09:30:00.000000000Z")
        );
    }

    #[test]
    fn keeps_what_it_cannot_read() {
        let date = EventDate::parse("yesterday");
        assert_eq!(date.utc(), None);
        assert_eq!(date.as_str(), "yesterday");
    }
}
