//! What can go wrong talking to Reply, each with what to do about it. No variant holds the API
//! key or a webhook token: text that came from Reply is redacted before it is kept.

use std::fmt;

use crate::model::SubscriptionId;

/// The call that failed, for messages (`enable 1823`, `create email_replied`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    List,
    Get(SubscriptionId),
    Create(String),
    Update(SubscriptionId),
    Enable(SubscriptionId),
    Disable(SubscriptionId),
    Delete(SubscriptionId),
    Test(SubscriptionId),
    EventTypes,
}

impl Operation {
    /// Whether repeating the call can do no harm: everything but a create (a repeat could
    /// make a second subscription) and a test (a repeat fires a second delivery).
    pub fn is_idempotent(&self) -> bool {
        !matches!(self, Operation::Create(_) | Operation::Test(_))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::List => f.write_str("list subscriptions"),
            Operation::Get(id) => write!(f, "get subscription {id}"),
            Operation::Create(event_type) => write!(f, "create a {event_type} subscription"),
            Operation::Update(id) => write!(f, "update subscription {id}"),
            Operation::Enable(id) => write!(f, "enable subscription {id}"),
            Operation::Disable(id) => write!(f, "disable subscription {id}"),
            Operation::Delete(id) => write!(f, "delete subscription {id}"),
            Operation::Test(id) => write!(f, "test subscription {id}"),
            Operation::EventTypes => f.write_str("list event types"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Reply refused the API key (HTTP 401) to {operation}: check REPLY_API_KEY or the secret it is read from (the key is under Settings > API Key in Reply)"
    )]
    Unauthorized { operation: Operation },

    #[error("Reply answered HTTP {status}{} to {operation}: {detail}. {}", code_suffix(.code), hint(*.status))]
    Api {
        operation: Operation,
        status: u16,
        /// The `code` slug of an `application/problem+json` answer.
        code: Option<String>,
        detail: String,
    },

    #[error(
        "could not reach Reply to {operation}: {detail}. Check the network, any proxy (HTTPS_PROXY) and REPLY_API_BASE_URL"
    )]
    Transport {
        operation: Operation,
        detail: String,
    },

    #[error(
        "Reply's answer to {operation} could not be read ({detail}); its v3 API is in beta and may have changed shape"
    )]
    UnexpectedAnswer {
        operation: Operation,
        detail: String,
    },

    #[error(
        "stopped before {operation}: this run may make at most {limit} Reply API calls (Reply allows about 15,000 a month per account); nothing more was sent, run again later"
    )]
    BudgetExhausted { operation: Operation, limit: u32 },

    #[error(
        "the Reply API base URL {0:?} is not an absolute http(s) URL (the default is https://api.reply.io)"
    )]
    BaseUrl(String),

    #[error("the Reply API key is empty: set REPLY_API_KEY, or store the key in the secret")]
    EmptyApiKey,

    #[error("cannot set up TLS for Reply's API: {0}")]
    Tls(String),
}

impl Error {
    /// The HTTP status Reply answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|code| format!(" ({code})"))
        .unwrap_or_default()
}

fn hint(status: u16) -> &'static str {
    match status {
        400 | 422 => "Reply refused the request as sent; the detail says which field",
        403 => "The API key may not manage webhooks: use a key of the account that owns them",
        404 => "It no longer exists in Reply; run again and the plan will account for it",
        409 => "Reply reports a conflict; run again to re-read its state",
        429 => {
            "Reply is rate-limiting this account even after retries; wait a few minutes and run again"
        }
        500..=599 => "Reply failed even after retries; try again later",
        _ => "See Reply's API documentation for this status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_call_the_code_and_what_to_do() {
        let err = Error::Api {
            operation: Operation::Enable(SubscriptionId::from(7)),
            status: 404,
            code: Some("webhook_not_found".into()),
            detail: "no such webhook".into(),
        };
        assert_eq!(
            err.to_string(),
            "Reply answered HTTP 404 (webhook_not_found) to enable subscription 7: no such webhook. \
             It no longer exists in Reply; run again and the plan will account for it"
        );
        assert_eq!(err.status(), Some(404));
        assert!(Operation::List.is_idempotent());
        assert!(!Operation::Create("email_sent".into()).is_idempotent());
        assert!(!Operation::Test(SubscriptionId::from(1)).is_idempotent());
    }
}
