//! Reply's event types and the category each belongs to.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The three categories, one Lambda function and one route each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Email,
    Linkedin,
    Account,
}

impl Category {
    /// Every category: email, LinkedIn, account.
    pub const ALL: [Category; 3] = [Category::Email, Category::Linkedin, Category::Account];

    /// The lowercase name used in records, messages and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Email => "email",
            Category::Linkedin => "linkedin",
            Category::Account => "account",
        }
    }

    /// The known event types of this category.
    pub fn event_types(self) -> impl Iterator<Item = EventType> {
        EventType::KNOWN
            .into_iter()
            .filter(move |t| t.category() == Some(self))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Category {
    /// The category named by `name` (`email`, `linkedin`, `account`).
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

macro_rules! event_types {
    ($( $variant:ident => $name:literal, $category:ident, $actionable:literal; )+) => {
        /// A Reply event type. Known types are typed; anything else is kept verbatim in
        /// [`EventType::Unknown`], so a type Reply adds tomorrow is still received.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum EventType {
            $( #[doc = concat!("`", $name, "`")] $variant, )+
            /// A type no category knows, exactly as delivered.
            Unknown(String),
        }

        impl EventType {
            /// The 19 known types, grouped by category.
            pub const KNOWN: [EventType; 19] = [$( EventType::$variant, )+];

            /// The canonical snake_case name (the raw text for an unknown type).
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventType::$variant => $name, )+
                    EventType::Unknown(raw) => raw,
                }
            }

            /// The category this type belongs to; `None` for an unknown type.
            pub const fn category(&self) -> Option<Category> {
                match self {
                    $( EventType::$variant => Some(Category::$category), )+
                    EventType::Unknown(_) => None,
                }
            }

            /// Whether this type is actionable by default (someone must act on it). Unknown types are
            /// actionable, so a new Reply event is never silently parked.
            pub const fn actionable_by_default(&self) -> bool {
                match self {
                    $( EventType::$variant => $actionable, )+
                    EventType::Unknown(_) => true,
                }
            }

            /// Recognises snake_case and PascalCase spellings (`email_replied`,
            /// `EmailReplied`, `LinkedinMessageReplied`): case and underscores are ignored.
            pub fn parse(raw: &str) -> EventType {
                EventType::KNOWN
                    .into_iter()
                    .find(|known| crate::same_name(raw, known.as_str()))
                    .unwrap_or_else(|| EventType::Unknown(raw.to_owned()))
            }
        }
    };
}

event_types! {
    EmailReplied => "email_replied", Email, true;
    ReplyCategorized => "reply_categorized", Email, true;
    EmailSent => "email_sent", Email, false;
    EmailOpened => "email_opened", Email, false;
    EmailLinkClicked => "email_link_clicked", Email, false;
    EmailBounced => "email_bounced", Email, true;
    EmailAutoReply => "email_auto_reply", Email, true;
    ContactFinished => "contact_finished", Email, true;
    ContactOptedOut => "contact_opted_out", Email, true;
    ContactCalled => "contact_called", Email, true;
    LinkedinConnectionRequestSent => "linkedin_connection_request_sent", Linkedin, false;
    LinkedinConnectionRequestAccepted => "linkedin_connection_request_accepted", Linkedin, true;
    LinkedinMessageSent => "linkedin_message_sent", Linkedin, false;
    LinkedinMessageReplied => "linkedin_message_replied", Linkedin, true;
    LinkedinReplyCategorized => "linkedin_reply_categorized", Linkedin, true;
    EmailAccountConnectionLost => "email_account_connection_lost", Account, true;
    EmailAccountError => "email_account_error", Account, true;
    LinkedinAccountAlerts => "linkedin_account_alerts", Account, true;
    AutopilotStopped => "autopilot_stopped", Account, true;
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = std::convert::Infallible;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(EventType::parse(raw))
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(EventType::parse(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_pascal_spellings_name_the_same_type() {
        for raw in [
            "linkedin_connection_request_sent",
            "LinkedInConnectionRequestSent",
            "LINKEDIN_CONNECTION_REQUEST_SENT",
        ] {
            assert_eq!(
                EventType::parse(raw),
                EventType::LinkedinConnectionRequestSent
            );
        }
        assert_eq!(
            EventType::parse("LinkedinMessageReplied"),
            EventType::LinkedinMessageReplied
        );
        assert_eq!(EventType::parse("EmailReplied"), EventType::EmailReplied);
    }

    #[test]
    fn unknown_types_keep_their_raw_text() {
        let t = EventType::parse("MeetingBooked");
        assert_eq!(t, EventType::Unknown("MeetingBooked".into()));
        assert_eq!(t.as_str(), "MeetingBooked");
        assert_eq!(t.category(), None);
        assert!(t.actionable_by_default());
        assert_eq!(
            EventType::parse("email replied"),
            EventType::Unknown("email replied".into())
        );
        assert_eq!(EventType::parse(""), EventType::Unknown(String::new()));
    }

    #[test]
    fn categories_and_defaults_follow_the_spec() {
        let count = |c: Category| c.event_types().count();
        assert_eq!(
            (
                count(Category::Email),
                count(Category::Linkedin),
                count(Category::Account)
            ),
            (10, 5, 4)
        );
        let passive: Vec<_> = EventType::KNOWN
            .iter()
            .filter(|t| !t.actionable_by_default())
            .map(EventType::as_str)
            .collect();
        assert_eq!(
            passive,
            [
                "email_sent",
                "email_opened",
                "email_link_clicked",
                "linkedin_connection_request_sent",
                "linkedin_message_sent"
            ]
        );
        for t in EventType::KNOWN {
            assert_eq!(EventType::parse(t.as_str()), t);
        }
    }
}
