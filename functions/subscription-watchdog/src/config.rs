//! The watchdog's configuration: environment variables the template sets, read once at
//! start. A missing or bad one stops start-up with a message naming it (never a value).

use reply_api::plan::{self, Endpoints, WebhookToken};
use reply_api::{DEFAULT_BASE_URL, Plan, PlanOptions, RetryPolicy};
use reply_payload::Category;

/// The environment variables the watchdog reads. Besides these it reads `WEBHOOK_TOKENS`,
/// which the template gives every function.
pub mod vars {
    use reply_payload::Category;

    /// The ARN of the Secrets Manager secret holding the Reply API key (never the key).
    pub const REPLY_API_KEY_SECRET_ARN: &str = "REPLY_API_KEY_SECRET_ARN";
    /// Reply's API; default https://api.reply.io.
    pub const REPLY_API_BASE_URL: &str = "REPLY_API_BASE_URL";
    /// The plan's event types (comma-separated; empty: all), as `subscribe --events`.
    pub const REPLY_EVENT_TYPES: &str = "REPLY_EVENT_TYPES";
    /// `personal` or `team`, as `subscribe --scope`.
    pub const REPLY_SCOPE: &str = "REPLY_SCOPE";
    /// `true` or `false`, as `subscribe --include-email-text`.
    pub const REPLY_INCLUDE_EMAIL_TEXT: &str = "REPLY_INCLUDE_EMAIL_TEXT";

    /// The variable holding the route URL of `category`.
    pub const fn url(category: Category) -> &'static str {
        match category {
            Category::Email => "EMAIL_WEBHOOK_URL",
            Category::Linkedin => "LINKEDIN_WEBHOOK_URL",
            Category::Account => "ACCOUNT_WEBHOOK_URL",
        }
    }

    /// Every variable of the watchdog's own.
    pub const ALL: [&str; 8] = [
        REPLY_API_KEY_SECRET_ARN,
        REPLY_API_BASE_URL,
        url(Category::Email),
        url(Category::Linkedin),
        url(Category::Account),
        REPLY_EVENT_TYPES,
        REPLY_SCOPE,
        REPLY_INCLUDE_EMAIL_TEXT,
    ];
}

/// The token list the functions accept (the functions' own variable).
pub use webhook_core::config::vars::WEBHOOK_TOKENS;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set; it is required")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub api_key_secret_arn: String,
    pub base_url: String,
    pub plan: Plan,
    pub retry: RetryPolicy,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let invalid =
            |var: &'static str| move |reason: String| ConfigError::Invalid { var, reason };

        for category in Category::ALL {
            required(vars::url(category))?;
        }
        let endpoints = Endpoints::new(|c| get(vars::url(c)).unwrap_or_default())
            .map_err(|e| invalid("the *_WEBHOOK_URL variables")(e.to_string()))?;
        let token = newest_token(&required(WEBHOOK_TOKENS)?)
            .map_err(|e| invalid(WEBHOOK_TOKENS)(e.to_string()))?;
        let event_types =
            plan::parse_event_types(&get(vars::REPLY_EVENT_TYPES).unwrap_or_default())
                .map_err(|e| invalid(vars::REPLY_EVENT_TYPES)(e.to_string()))?;
        let scope = plan::parse_scope(&get(vars::REPLY_SCOPE).unwrap_or_else(|| "personal".into()))
            .map_err(|e| invalid(vars::REPLY_SCOPE)(e.to_string()))?;
        let include_email_text = match get(vars::REPLY_INCLUDE_EMAIL_TEXT)
            .as_deref()
            .map(str::trim)
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(invalid(vars::REPLY_INCLUDE_EMAIL_TEXT)(
                    "use true or false".into(),
                ));
            }
        };
        Ok(Config {
            api_key_secret_arn: required(vars::REPLY_API_KEY_SECRET_ARN)?.trim().to_owned(),
            base_url: get(vars::REPLY_API_BASE_URL).unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            plan: Plan::new(
                endpoints,
                token,
                PlanOptions {
                    event_types,
                    scope,
                    include_email_text,
                },
            ),
            retry: RetryPolicy::default(),
        })
    }
}

/// The token a recreated subscription carries: the last of the list, since a rotation lists
/// the new token after the old one (`<old>,<new>`).
fn newest_token(list: &str) -> Result<WebhookToken, plan::PlanError> {
    let newest = list
        .split(',')
        .map(str::trim)
        .rfind(|t| !t.is_empty())
        .unwrap_or_default();
    WebhookToken::new(newest)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use reply_payload::EventType;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 5] = [
        (
            "REPLY_API_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:reply-AbCdEf",
        ),
        ("EMAIL_WEBHOOK_URL", "https://h.example/webhooks/email"),
        (
            "LINKEDIN_WEBHOOK_URL",
            "https://h.example/webhooks/linkedin",
        ),
        ("ACCOUNT_WEBHOOK_URL", "https://h.example/webhooks/account"),
        (
            "WEBHOOK_TOKENS",
            "old-token-0000000001, new-token-0000000002",
        ),
    ];

    #[test]
    fn reads_the_plan_and_recreates_with_the_newest_token() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("REPLY_EVENT_TYPES", "email_replied"),
            ("REPLY_SCOPE", "Team"),
            ("REPLY_INCLUDE_EMAIL_TEXT", "true"),
        ]);
        let config = Config::from_lookup(env(&pairs)).unwrap();
        assert_eq!(config.base_url, "https://api.reply.io");
        assert_eq!(config.plan.event_types(), [EventType::EmailReplied]);
        let spec = config.plan.spec(&EventType::EmailReplied);
        assert_eq!(
            spec.url,
            "https://h.example/webhooks/email?token=new-token-0000000002"
        );
        assert_eq!(spec.scope, reply_api::Scope::Team);
        assert!(spec.payload_config.include_email_text);

        let defaults = Config::from_lookup(env(&BASE)).unwrap();
        assert_eq!(defaults.plan.event_types().len(), 19);
        assert!(!defaults.plan.payload_config().include_email_text);
    }

    #[test]
    fn bad_values_are_named_and_never_echoed() {
        let without = |name: &str| {
            let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != name).collect();
            Config::from_lookup(env(&pairs)).unwrap_err().to_string()
        };
        assert_eq!(
            without("ACCOUNT_WEBHOOK_URL"),
            "ACCOUNT_WEBHOOK_URL is not set; it is required"
        );
        assert_eq!(
            without("REPLY_API_KEY_SECRET_ARN"),
            "REPLY_API_KEY_SECRET_ARN is not set; it is required"
        );
        let mut pairs = BASE.to_vec();
        pairs.push(("REPLY_INCLUDE_EMAIL_TEXT", "yes"));
        assert!(
            Config::from_lookup(env(&pairs))
                .unwrap_err()
                .to_string()
                .starts_with("REPLY_INCLUDE_EMAIL_TEXT is invalid")
        );
        let mut pairs = BASE.to_vec();
        pairs[4] = ("WEBHOOK_TOKENS", "a token-with-space-00001");
        let err = Config::from_lookup(env(&pairs)).unwrap_err().to_string();
        assert!(
            err.starts_with("WEBHOOK_TOKENS is invalid") && !err.contains("token-with-space"),
            "{err}"
        );
    }
}
