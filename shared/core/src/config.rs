//! Configuration: read once at start-up into a typed value. A missing or bad variable stops
//! start-up with a message naming it; a token's value is never echoed.

use std::collections::HashSet;
use std::time::Duration;

use reply_payload::EventType;

use crate::auth::TokenSet;
use crate::quarantine::MAX_QUARANTINABLE_BODY_BYTES;

/// The environment variables the functions read. `template.yaml` sets exactly these.
pub mod vars {
    pub const IDEMPOTENCY_TABLE_NAME: &str = "IDEMPOTENCY_TABLE_NAME";
    pub const ACTIONABLE_QUEUE_URL: &str = "ACTIONABLE_QUEUE_URL";
    pub const WEBHOOK_TOKENS: &str = "WEBHOOK_TOKENS";
    pub const QUARANTINE_QUEUE_URL: &str = "QUARANTINE_QUEUE_URL";
    pub const ACTIVITY_QUEUE_URL: &str = "ACTIVITY_QUEUE_URL";
    pub const ACTIONABLE_EVENTS: &str = "ACTIONABLE_EVENTS";
    pub const IDEMPOTENCY_TTL_SECONDS: &str = "IDEMPOTENCY_TTL_SECONDS";
    pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";

    /// Every variable, required ones first.
    pub const ALL: [&str; 8] = [
        IDEMPOTENCY_TABLE_NAME,
        ACTIONABLE_QUEUE_URL,
        WEBHOOK_TOKENS,
        QUARANTINE_QUEUE_URL,
        ACTIVITY_QUEUE_URL,
        ACTIONABLE_EVENTS,
        IDEMPOTENCY_TTL_SECONDS,
        MAX_BODY_BYTES,
    ];
}

/// Default record lifetime: 7 days.
pub const DEFAULT_TTL_SECONDS: u64 = 604_800;
/// Shortest record lifetime: 15 minutes, Lambda's longest timeout, so a record always outlives
/// the invocation that holds its claim.
pub const MIN_TTL_SECONDS: u64 = 900;
/// Default body limit: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 262_144;
/// Largest body limit: a body this size still fits an SQS message once quarantined as base64.
pub const MAX_BODY_BYTES_LIMIT: usize = MAX_QUARANTINABLE_BODY_BYTES;

/// Everything the functions are configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub actionable_queue_url: String,
    /// Where authentic deliveries that cannot be processed are kept; without it they are
    /// refused (400/409) instead.
    pub quarantine_queue_url: Option<String>,
    pub activity_queue_url: Option<String>,
    pub tokens: TokenSet,
    /// `None`: the default actionable types (and every unknown type).
    pub actionable_events: Option<ActionableEvents>,
    pub record_ttl: Duration,
    pub max_body_bytes: usize,
}

/// An explicit `ACTIONABLE_EVENTS` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionableEvents(HashSet<String>);

impl ActionableEvents {
    /// Parses a comma-separated list of known event types (any spelling). An unknown name is
    /// an error: a typo would otherwise silently park an event type.
    pub fn parse(list: &str) -> Result<ActionableEvents, ConfigError> {
        let mut names = HashSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match EventType::parse(name) {
                EventType::Unknown(_) => {
                    return Err(ConfigError::Invalid {
                        var: vars::ACTIONABLE_EVENTS,
                        reason: format!(
                            "{name:?} is not a known event type (expected names like email_replied)"
                        ),
                    });
                }
                known => names.insert(known.as_str().to_owned()),
            };
        }
        Ok(ActionableEvents(names))
    }

    /// Whether `event_type` is on the list. Unknown types are never on it: they are always
    /// actionable, so a type Reply adds is forwarded, not parked.
    pub fn contains(&self, event_type: &EventType) -> bool {
        self.0.contains(event_type.as_str())
    }
}

/// A variable that stops start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set; it is required (see the README's configuration table)")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). Empty
    /// values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::read(lookup, true)
    }

    /// The configuration for a replay of quarantined deliveries: as [`Config::from_lookup`],
    /// but without tokens (a replay authenticates nothing: its deliveries were authenticated
    /// when they arrived).
    pub fn for_replay(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::read(lookup, false)
    }

    fn read(
        lookup: impl Fn(&str) -> Option<String>,
        with_tokens: bool,
    ) -> Result<Config, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let table_name = required(vars::IDEMPOTENCY_TABLE_NAME)?.trim().to_owned();
        let actionable_queue_url = queue_url(
            vars::ACTIONABLE_QUEUE_URL,
            required(vars::ACTIONABLE_QUEUE_URL)?,
        )?;
        let optional_queue = |var| get(var).map(|url| queue_url(var, url)).transpose();
        let quarantine_queue_url = optional_queue(vars::QUARANTINE_QUEUE_URL)?;
        let activity_queue_url = optional_queue(vars::ACTIVITY_QUEUE_URL)?;
        let tokens = if with_tokens {
            TokenSet::parse(&required(vars::WEBHOOK_TOKENS)?).map_err(|err| {
                ConfigError::Invalid {
                    var: vars::WEBHOOK_TOKENS,
                    reason: err.to_string(),
                }
            })?
        } else {
            TokenSet::none()
        };
        let actionable_events = get(vars::ACTIONABLE_EVENTS)
            .map(|list| ActionableEvents::parse(&list))
            .transpose()?;
        let ttl_seconds = number(
            vars::IDEMPOTENCY_TTL_SECONDS,
            get(vars::IDEMPOTENCY_TTL_SECONDS),
            MIN_TTL_SECONDS..=u64::MAX,
        )?
        .unwrap_or(DEFAULT_TTL_SECONDS);
        let max_body_bytes = number(
            vars::MAX_BODY_BYTES,
            get(vars::MAX_BODY_BYTES),
            1..=MAX_BODY_BYTES_LIMIT as u64,
        )?
        .map_or(DEFAULT_MAX_BODY_BYTES, |n| n as usize);
        Ok(Config {
            table_name,
            actionable_queue_url,
            quarantine_queue_url,
            activity_queue_url,
            tokens,
            actionable_events,
            record_ttl: Duration::from_secs(ttl_seconds),
            max_body_bytes,
        })
    }
}

fn queue_url(var: &'static str, value: String) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: format!("expected an SQS queue URL (https://...), got {value:?}"),
        })
    }
}

/// A whole number within `range`, when set.
fn number(
    var: &'static str,
    value: Option<String>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let expected = || match (*range.start(), *range.end()) {
        (low, u64::MAX) => format!("a whole number of at least {low}"),
        (low, high) => format!("a whole number from {low} to {high}"),
    };
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError::Invalid {
            var,
            reason: format!("expected {}, got {value:?}", expected()),
        }),
    }
}

impl Config {
    /// Whether an event of this type goes to the actionable queue: the `ACTIONABLE_EVENTS`
    /// list when set, else the defaults. Unknown types always are.
    pub fn is_actionable(&self, event_type: &EventType) -> bool {
        match (&self.actionable_events, event_type) {
            (_, EventType::Unknown(_)) => true,
            (Some(list), known) => list.contains(known),
            (None, known) => known.actionable_by_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const MINIMAL: [(&str, &str); 3] = [
        (vars::IDEMPOTENCY_TABLE_NAME, "table"),
        (
            vars::ACTIONABLE_QUEUE_URL,
            "https://sqs.us-east-1.amazonaws.com/1/q",
        ),
        (vars::WEBHOOK_TOKENS, "reply-local-test-token-0001"),
    ];

    #[test]
    fn defaults_apply_when_optional_variables_are_unset() {
        let c = config(&MINIMAL).unwrap();
        assert_eq!(c.record_ttl, Duration::from_secs(604_800));
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.activity_queue_url, None);
        assert!(c.is_actionable(&EventType::EmailReplied));
        assert!(!c.is_actionable(&EventType::EmailOpened));
        assert!(c.is_actionable(&EventType::Unknown("meeting_booked".into())));
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for missing in [
            vars::IDEMPOTENCY_TABLE_NAME,
            vars::ACTIONABLE_QUEUE_URL,
            vars::WEBHOOK_TOKENS,
        ] {
            let vars: Vec<_> = MINIMAL
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(config(&vars).unwrap_err(), ConfigError::Missing(missing));
        }
    }

    #[test]
    fn bad_values_are_named_and_tokens_never_echoed() {
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = MINIMAL.to_vec();
            vars.retain(|(k, _)| *k != extra.0);
            vars.push(extra);
            config(&vars).unwrap_err().to_string()
        };
        let err = with((
            vars::WEBHOOK_TOKENS,
            "reply-local-test-token-0001,tiny-secret",
        ));
        assert!(err.starts_with("WEBHOOK_TOKENS is invalid"), "{err}");
        assert!(
            !err.contains("tiny-secret") && !err.contains("reply-local"),
            "{err}"
        );
        assert!(with((vars::IDEMPOTENCY_TTL_SECONDS, "7d")).starts_with("IDEMPOTENCY_TTL_SECONDS"));
        assert_eq!(
            with((vars::IDEMPOTENCY_TTL_SECONDS, "899")),
            "IDEMPOTENCY_TTL_SECONDS is invalid: expected a whole number of at least 900, got \"899\""
        );
        assert!(with((vars::MAX_BODY_BYTES, "0")).starts_with("MAX_BODY_BYTES"));
        assert!(
            with((vars::MAX_BODY_BYTES, "1048576")).contains("from 1 to 780288"),
            "{}",
            with((vars::MAX_BODY_BYTES, "1048576"))
        );
        let err = with((vars::WEBHOOK_TOKENS, "aB3dE6gH9jK2mN5p+Q=="));
        assert!(err.contains("token #1 has a character outside"), "{err}");
        assert!(!err.contains("aB3d"), "{err}");
        assert!(with((vars::QUARANTINE_QUEUE_URL, "q")).starts_with("QUARANTINE_QUEUE_URL"));
        assert!(with((vars::ACTIONABLE_QUEUE_URL, "my-queue")).starts_with("ACTIONABLE_QUEUE_URL"));
        assert!(
            with((vars::ACTIONABLE_EVENTS, "email_replied,emial_opened")).contains("emial_opened")
        );
    }

    #[test]
    fn actionable_events_override_the_defaults_for_known_types_only() {
        let mut vars = MINIMAL.to_vec();
        vars.push((vars::ACTIONABLE_EVENTS, "EmailOpened, email_sent"));
        let c = config(&vars).unwrap();
        assert!(c.is_actionable(&EventType::EmailOpened));
        assert!(!c.is_actionable(&EventType::EmailReplied));
        assert!(c.is_actionable(&EventType::Unknown("meeting_booked".into())));
    }
}
