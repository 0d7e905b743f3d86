//! The v3 subscription resource, as Reply sends it and as we send it.
//!
//! Reading is liberal (Reply labels v3 "beta: response shapes may change"): an id may be a
//! number or a string, `scope` may come in any case, unknown fields are ignored, a v2-style
//! `event` / `isDisabled` / `payload` is understood. Writing is strict: PascalCase scope, the
//! v3 `payloadConfig` key (v3 silently ignores a v2 `payload` and defaults every flag to false).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::redact::redact_url;

/// A subscription's id: a number in v3, a string in v2; kept as its decimal text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(String);

impl SubscriptionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u64> for SubscriptionId {
    fn from(id: u64) -> Self {
        SubscriptionId(id.to_string())
    }
}

impl From<&str> for SubscriptionId {
    fn from(id: &str) -> Self {
        SubscriptionId(id.to_owned())
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SubscriptionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Unsigned(u64),
            Signed(i64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Unsigned(n) => n.to_string(),
            Raw::Signed(n) => n.to_string(),
            Raw::Text(s) => s.trim().to_owned(),
        };
        if text.is_empty() {
            return Err(serde::de::Error::custom("empty subscription id"));
        }
        Ok(SubscriptionId(text))
    }
}

impl Serialize for SubscriptionId {
    /// A number when it is one (as v3 sends it), else the text.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u64>() {
            Ok(n) => serializer.serialize_u64(n),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

/// Whose activity a subscription reports: the API key owner's (`Personal`, Reply's default)
/// or every member of the owner's team (`Team`). Anything else Reply may answer is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Personal,
    Team,
    Other(String),
}

impl Scope {
    /// The spelling Reply's docs use, which we send.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Personal => "Personal",
            Scope::Team => "Team",
            Scope::Other(raw) => raw,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any case: Reply's live answers have said `personal` where its docs say `Personal`.
impl FromStr for Scope {
    type Err = std::convert::Infallible;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let trimmed = raw.trim();
        Ok(if trimmed.eq_ignore_ascii_case("personal") {
            Scope::Personal
        } else if trimmed.eq_ignore_ascii_case("team") {
            Scope::Team
        } else {
            Scope::Other(trimmed.to_owned())
        })
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let Ok(scope) = raw.parse();
        Ok(scope)
    }
}

/// What Reply adds to each delivery. An absent flag is false, as v3 treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PayloadConfig {
    /// A link to the email (`reply_blob_url` and similar).
    pub include_email_url: bool,
    /// The email's text: prospect content that then sits in the queue.
    pub include_email_text: bool,
    /// `contact_custom_fields`.
    pub include_prospect_custom_fields: bool,
}

/// What a subscription should be: the body of a create (with `enabled`) or of a replace (PUT).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSpec {
    pub event_type: String,
    /// Carries the webhook token: never printed whole (see [`redact_url`]).
    pub url: String,
    pub scope: Scope,
    pub payload_config: PayloadConfig,
}

impl fmt::Debug for SubscriptionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionSpec")
            .field("event_type", &self.event_type)
            .field("url", &redact_url(&self.url))
            .field("scope", &self.scope)
            .field("payload_config", &self.payload_config)
            .finish()
    }
}

/// A subscription as Reply reports it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawSubscription")]
pub struct Subscription {
    pub id: SubscriptionId,
    /// As Reply spells it (`email_replied`; older subscriptions may say `EmailReplied`).
    pub event_type: String,
    /// Carries the webhook token: never printed whole (see [`redact_url`]).
    pub url: String,
    /// `None` when Reply did not say.
    pub scope: Option<Scope>,
    /// Reply's default for a new subscription (true) when it did not say.
    pub enabled: bool,
    pub payload_config: PayloadConfig,
    pub created_at: Option<String>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("event_type", &self.event_type)
            .field("url", &redact_url(&self.url))
            .field("scope", &self.scope)
            .field("enabled", &self.enabled)
            .field("payload_config", &self.payload_config)
            .finish_non_exhaustive()
    }
}

/// The wire shape, v3 names first, v2 names as aliases.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSubscription {
    id: SubscriptionId,
    #[serde(alias = "event")]
    event_type: String,
    url: String,
    #[serde(default)]
    scope: Option<Scope>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    is_disabled: Option<bool>,
    #[serde(default, alias = "payload")]
    payload_config: Option<PayloadConfig>,
    #[serde(default, alias = "createdDate")]
    created_at: Option<String>,
}

impl From<RawSubscription> for Subscription {
    fn from(raw: RawSubscription) -> Self {
        let enabled = raw
            .enabled
            .or(raw.is_disabled.map(|disabled| !disabled))
            .unwrap_or(true);
        Subscription {
            id: raw.id,
            event_type: raw.event_type,
            url: raw.url,
            scope: raw.scope,
            enabled,
            payload_config: raw.payload_config.unwrap_or_default(),
            created_at: raw.created_at,
        }
    }
}

/// One page of `GET /v3/webhooks`. A bare array (v2's shape) is one last page.
#[derive(Debug)]
pub(crate) struct Page {
    pub items: Vec<Subscription>,
    pub has_more: bool,
}

impl<'de> Deserialize<'de> for Page {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Paged {
                items: Vec<Subscription>,
                #[serde(default, rename = "hasMore")]
                has_more: bool,
            },
            Bare(Vec<Subscription>),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Paged { items, has_more } => Page { items, has_more },
            Raw::Bare(items) => Page {
                items,
                has_more: false,
            },
        })
    }
}

/// `GET /v3/webhooks/events`: its shape is not documented, so any list of names is read: an
/// array of strings, of objects naming the type (`eventType`, `name` or `type`), or either
/// under `items`.
pub(crate) fn event_type_names(answer: &serde_json::Value) -> Option<Vec<String>> {
    let list = match answer {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(map) => map.get("items")?.as_array()?,
        _ => return None,
    };
    list.iter()
        .map(|item| match item {
            serde_json::Value::String(name) => Some(name.clone()),
            serde_json::Value::Object(map) => ["eventType", "name", "type"]
                .iter()
                .find_map(|key| map.get(*key)?.as_str())
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_v3_subscriptions_liberally() {
        let numeric: Subscription = serde_json::from_value(json!({
            "id": 1823, "eventType": "email_replied",
            "url": "https://example.com/webhooks/email?token=abc",
            "scope": "personal", "enabled": false, "createdAt": "2026-04-17T12:00:00+00:00",
            "payloadConfig": {"includeEmailUrl": true, "includeProspectCustomFields": true},
            "somethingNew": {"nested": [1, 2]}
        }))
        .unwrap();
        assert_eq!(numeric.id, SubscriptionId::from(1823));
        assert_eq!(numeric.scope, Some(Scope::Personal));
        assert!(!numeric.enabled);
        assert_eq!(
            numeric.payload_config,
            PayloadConfig {
                include_email_url: true,
                include_email_text: false,
                include_prospect_custom_fields: true
            }
        );

        let textual: Subscription = serde_json::from_value(json!({
            "id": " 77 ", "eventType": "EmailReplied", "url": "https://x/y", "scope": "TEAM"
        }))
        .unwrap();
        assert_eq!(textual.id.as_str(), "77");
        assert_eq!(textual.scope, Some(Scope::Team));
        assert!(textual.enabled, "absent means Reply's default: enabled");
        assert_eq!(textual.payload_config, PayloadConfig::default());
    }

    #[test]
    fn reads_v2_names() {
        let v2: Subscription = serde_json::from_value(json!({
            "id": "abc-1", "event": "email_sent", "url": "https://x/y", "isDisabled": true,
            "createdDate": "2021-05-13T11:52:09.8212953",
            "payload": {"includeEmailUrl": true}
        }))
        .unwrap();
        assert_eq!(v2.event_type, "email_sent");
        assert!(!v2.enabled);
        assert!(v2.payload_config.include_email_url);
        assert_eq!(
            v2.created_at.as_deref(),
            Some("2021-05-13T11:52:09.8212953")
        );
    }

    #[test]
    fn refuses_what_it_cannot_work_with() {
        for broken in [
            json!({"eventType": "email_sent", "url": "https://x"}),
            json!({"id": "", "eventType": "email_sent", "url": "https://x"}),
            json!({"id": 1, "url": "https://x"}),
            json!({"id": 1.5, "eventType": "email_sent", "url": "https://x"}),
        ] {
            assert!(
                serde_json::from_value::<Subscription>(broken.clone()).is_err(),
                "{broken}"
            );
        }
    }

    #[test]
    fn writes_pascal_case_scope_and_payload_config() {
        let spec = SubscriptionSpec {
            event_type: "email_replied".into(),
            url: "https://example.com/webhooks/email?token=secret-token-0000001".into(),
            scope: Scope::Team,
            payload_config: PayloadConfig {
                include_email_url: true,
                include_email_text: false,
                include_prospect_custom_fields: true,
            },
        };
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"eventType": "email_replied",
                   "url": "https://example.com/webhooks/email?token=secret-token-0000001",
                   "scope": "Team",
                   "payloadConfig": {"includeEmailUrl": true, "includeEmailText": false,
                                     "includeProspectCustomFields": true}})
        );
        assert!(!format!("{spec:?}").contains("secret-token"));
    }

    #[test]
    fn pages_come_with_has_more_or_as_a_bare_list() {
        let item = json!({"id": 1, "eventType": "email_sent", "url": "https://x"});
        let paged: Page =
            serde_json::from_value(json!({"items": [item.clone()], "hasMore": true})).unwrap();
        assert!(paged.has_more);
        assert_eq!(paged.items.len(), 1);
        let last: Page = serde_json::from_value(json!({"items": []})).unwrap();
        assert!(!last.has_more);
        let bare: Page = serde_json::from_value(json!([item])).unwrap();
        assert!(!bare.has_more);
        assert_eq!(bare.items.len(), 1);
    }

    #[test]
    fn event_type_lists_in_any_documented_looking_shape() {
        let expected = Some(vec!["email_replied".to_owned(), "email_sent".to_owned()]);
        assert_eq!(
            event_type_names(&json!(["email_replied", "email_sent"])),
            expected
        );
        assert_eq!(
            event_type_names(
                &json!({"items": [{"eventType": "email_replied"}, {"name": "email_sent"}]})
            ),
            expected
        );
        assert_eq!(event_type_names(&json!({"items": [42]})), None);
        assert_eq!(event_type_names(&json!("email_replied")), None);
    }
}
