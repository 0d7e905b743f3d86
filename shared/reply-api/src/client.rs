//! A blocking client for Reply's v3 webhook endpoints (ureq over rustls): small enough for a
//! CLI, and usable from a Lambda function through `spawn_blocking`.
//!
//! Every HTTP attempt, retries included, counts against the client's call budget, because
//! Reply counts them against the account's monthly allowance (about 15,000 calls).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::http::Method;
use url::Url;

use crate::error::{Error, Operation};
use crate::model::{Page, Subscription, SubscriptionId, SubscriptionSpec, event_type_names};
use crate::redact::redact_text;
use crate::retry::{RetryPolicy, jitter, parse_retry_after};

/// Reply's API, when `REPLY_API_BASE_URL` does not say otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.reply.io";

/// Subscriptions asked for per page of the list.
const PAGE_SIZE: usize = 100;
/// Pages read at most: 10,000 subscriptions, far beyond 19 per deployment.
const MAX_PAGES: usize = 100;
/// The largest answer read: a full page is tens of kilobytes.
const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// A Reply API key. It is sent only in the `Authorization` header and never printed.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, without surrounding whitespace (a pasted key often ends in a newline).
    pub fn new(key: &str) -> Result<ApiKey, Error> {
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::EmptyApiKey);
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// The key from a Secrets Manager secret string: the key itself, or a JSON object holding
    /// it under `apiKey` (also `api_key` or `REPLY_API_KEY`), as the console's key/value form
    /// stores it.
    pub fn from_secret_string(secret: &str) -> Result<ApiKey, Error> {
        match serde_json::from_str::<serde_json::Value>(secret) {
            Ok(serde_json::Value::Object(map)) => {
                let key = ["apiKey", "api_key", "REPLY_API_KEY"]
                    .iter()
                    .find_map(|name| map.get(*name)?.as_str())
                    .unwrap_or_default();
                ApiKey::new(key)
            }
            _ => ApiKey::new(secret),
        }
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// How a client talks to Reply.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.reply.io`, or a fake's address in tests.
    pub base_url: String,
    /// The most HTTP calls this client may make, retries included.
    pub call_budget: u32,
    pub retry: RetryPolicy,
    /// The longest one HTTP call may take, connecting included.
    pub timeout: Duration,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, call_budget: u32) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            call_budget,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Reply's v3 webhook API.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    base: Url,
    key: ApiKey,
    retry: RetryPolicy,
    call_budget: u32,
    calls: AtomicU32,
}

/// An HTTP answer, before it is judged.
struct Answer {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
}

impl Client {
    pub fn new(key: ApiKey, config: ClientConfig) -> Result<Client, Error> {
        let base = Url::parse(config.base_url.trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| Error::BaseUrl(config.base_url.clone()))?;
        let mut agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("reply-webhooks/", env!("CARGO_PKG_VERSION")));
        if base.scheme() == "https" {
            agent = agent.tls_config(tls_config()?);
        }
        if is_loopback(&base) {
            // A local fake: never through a proxy from the environment.
            agent = agent.proxy(None);
        }
        Ok(Client {
            agent: agent.build().new_agent(),
            base,
            key,
            retry: config.retry,
            call_budget: config.call_budget,
            calls: AtomicU32::new(0),
        })
    }

    /// HTTP calls made so far, retries included.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Every subscription of the account, page by page (`top`/`skip` until `hasMore` is false).
    pub fn list(&self) -> Result<Vec<Subscription>, Error> {
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let url = self.endpoint(
                &[],
                &[
                    ("top", PAGE_SIZE.to_string()),
                    ("skip", all.len().to_string()),
                ],
            );
            let answer = self.call(Operation::List, Method::GET, url, None)?;
            let page: Page = parse(Operation::List, &answer, self)?;
            let last = !page.has_more;
            if !last && page.items.is_empty() {
                return Err(Error::UnexpectedAnswer {
                    operation: Operation::List,
                    detail: "an empty page that says more follow".into(),
                });
            }
            all.extend(page.items);
            if last {
                return Ok(all);
            }
        }
        Err(Error::UnexpectedAnswer {
            operation: Operation::List,
            detail: format!("more than {} subscriptions", PAGE_SIZE * MAX_PAGES),
        })
    }

    pub fn get(&self, id: &SubscriptionId) -> Result<Subscription, Error> {
        let operation = Operation::Get(id.clone());
        let answer = self.call(
            operation.clone(),
            Method::GET,
            self.endpoint(&[id.as_str()], &[]),
            None,
        )?;
        parse(operation, &answer, self)
    }

    /// Creates an enabled subscription (`201` and the subscription).
    pub fn create(&self, spec: &SubscriptionSpec) -> Result<Subscription, Error> {
        #[derive(Serialize)]
        struct CreateBody<'a> {
            #[serde(flatten)]
            spec: &'a SubscriptionSpec,
            enabled: bool,
        }
        let operation = Operation::Create(spec.event_type.clone());
        let body = json_body(&CreateBody {
            spec,
            enabled: true,
        });
        let answer = self.call(
            operation.clone(),
            Method::POST,
            self.endpoint(&[], &[]),
            Some(body),
        )?;
        parse(operation, &answer, self)
    }

    /// Replaces a subscription's event type, URL, scope and payload options (not `enabled`).
    pub fn update(&self, id: &SubscriptionId, spec: &SubscriptionSpec) -> Result<(), Error> {
        let url = self.endpoint(&[id.as_str()], &[]);
        self.call(
            Operation::Update(id.clone()),
            Method::PUT,
            url,
            Some(json_body(spec)),
        )
        .map(drop)
    }

    pub fn enable(&self, id: &SubscriptionId) -> Result<(), Error> {
        let url = self.endpoint(&[id.as_str(), "enable"], &[]);
        self.call(Operation::Enable(id.clone()), Method::POST, url, None)
            .map(drop)
    }

    pub fn disable(&self, id: &SubscriptionId) -> Result<(), Error> {
        let url = self.endpoint(&[id.as_str(), "disable"], &[]);
        self.call(Operation::Disable(id.clone()), Method::POST, url, None)
            .map(drop)
    }

    pub fn delete(&self, id: &SubscriptionId) -> Result<(), Error> {
        let url = self.endpoint(&[id.as_str()], &[]);
        self.call(Operation::Delete(id.clone()), Method::DELETE, url, None)
            .map(drop)
    }

    /// Asks Reply to fire a test delivery (its placeholder data) to the subscription's URL.
    pub fn test(&self, id: &SubscriptionId) -> Result<(), Error> {
        let url = self.endpoint(&[id.as_str(), "test"], &[]);
        self.call(Operation::Test(id.clone()), Method::POST, url, None)
            .map(drop)
    }

    /// The event types a subscription may name, as Reply lists them.
    pub fn event_types(&self) -> Result<Vec<String>, Error> {
        let url = self.endpoint(&["events"], &[]);
        let answer = self.call(Operation::EventTypes, Method::GET, url, None)?;
        let value: serde_json::Value = parse(Operation::EventTypes, &answer, self)?;
        event_type_names(&value).ok_or_else(|| Error::UnexpectedAnswer {
            operation: Operation::EventTypes,
            detail: "not a list of event type names".into(),
        })
    }

    /// `<base>/v3/webhooks/<segments…>?<query>`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v3", "webhooks"])
                .extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One call with its retries: a 2xx answer, or the error it ended with.
    fn call(
        &self,
        operation: Operation,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        let mut failed = 0;
        loop {
            self.spend(&operation)?;
            let attempt = self.send(&method, &url, body.as_deref());
            failed += 1;
            let retryable = match &attempt {
                Ok(answer) if answer.status == 429 => true,
                Ok(answer) if answer.status >= 500 => operation.is_idempotent(),
                Ok(_) => false,
                Err(_) => operation.is_idempotent(),
            };
            let retry_after = attempt.as_ref().ok().and_then(|answer| answer.retry_after);
            if let Some(wait) = retryable
                .then(|| self.retry.delay(failed, retry_after, jitter()))
                .flatten()
            {
                tracing::warn!(
                    operation = %operation,
                    status = attempt.as_ref().ok().map(|answer| answer.status),
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "Reply call failed; trying again"
                );
                std::thread::sleep(wait);
                continue;
            }
            return match attempt {
                Ok(answer) => self.judge(operation, answer),
                Err(detail) => Err(Error::Transport { operation, detail }),
            };
        }
    }

    /// Counts a call against the budget, or refuses it.
    fn spend(&self, operation: &Operation) -> Result<(), Error> {
        self.calls
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used < self.call_budget).then_some(used + 1)
            })
            .map(drop)
            .map_err(|_| Error::BudgetExhausted {
                operation: operation.clone(),
                limit: self.call_budget,
            })
    }

    /// One HTTP exchange; `Err` holds a redacted description of a transport failure.
    fn send(&self, method: &Method, url: &Url, body: Option<&[u8]>) -> Result<Answer, String> {
        let request = ureq::http::Request::builder()
            .method(method.clone())
            .uri(url.as_str())
            .header("Authorization", format!("Bearer {}", self.key.expose()))
            .header("Accept", "application/json");
        let sent = match body {
            Some(bytes) => request
                .header("Content-Type", "application/json")
                .body(bytes.to_vec())
                .map(|request| self.agent.run(request)),
            None => request.body(()).map(|request| self.agent.run(request)),
        };
        let mut response = sent
            .map_err(|err| self.redact(&err.to_string()))?
            .map_err(|err| self.redact(&err.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|err| self.redact(&err.to_string()))?;
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// A 2xx answer passes; anything else becomes its error, with the problem's code.
    fn judge(&self, operation: Operation, answer: Answer) -> Result<Answer, Error> {
        match answer.status {
            200..=299 => Ok(answer),
            401 => Err(Error::Unauthorized { operation }),
            status => {
                let problem = Problem::read(&answer.body);
                Err(Error::Api {
                    operation,
                    status,
                    code: problem.code.map(|code| self.redact(&code)),
                    detail: self.redact(&problem.detail),
                })
            }
        }
    }

    fn redact(&self, text: &str) -> String {
        redact_text(text, &[self.key.expose()])
    }
}

/// An `application/problem+json` answer (or whatever came instead), reduced to what a person
/// needs: the `code` slug and one line of detail.
struct Problem {
    code: Option<String>,
    detail: String,
}

impl Problem {
    fn read(body: &str) -> Problem {
        let value = serde_json::from_str::<serde_json::Value>(body).ok();
        let field = |name: &str| {
            value
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let detail = field("detail")
            .or_else(|| field("title"))
            .or_else(|| field("message"))
            .unwrap_or_else(|| match body.trim() {
                "" => "no details given".to_owned(),
                text => text.chars().take(200).collect(),
            });
        Problem {
            code: field("code"),
            detail,
        }
    }
}

fn parse<T: DeserializeOwned>(
    operation: Operation,
    answer: &Answer,
    client: &Client,
) -> Result<T, Error> {
    serde_json::from_str(&answer.body).map_err(|err| Error::UnexpectedAnswer {
        operation,
        detail: client.redact(&err.to_string()),
    })
}

fn json_body(value: &impl Serialize) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys, no I/O.
    serde_json::to_vec(value).unwrap_or_default()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// rustls with the crypto provider and root certificates the AWS SDK in the same binaries
/// already uses (aws-lc-rs, the system's store), so no second TLS stack is built.
fn tls_config() -> Result<ureq::tls::TlsConfig, Error> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(Error::Tls(format!(
            "no root certificates found on this system ({} errors); install the ca-certificates package",
            found.errors.len()
        )));
    }
    let roots: Vec<ureq::tls::Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    Ok(ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_trimmed_read_from_secrets_and_never_printed() {
        let key = ApiKey::new(" abc123\n").unwrap();
        assert_eq!(key.expose(), "abc123");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert!(matches!(ApiKey::new("  "), Err(Error::EmptyApiKey)));
        assert_eq!(
            ApiKey::from_secret_string(r#"{"apiKey": "k-1"}"#)
                .unwrap()
                .expose(),
            "k-1"
        );
        assert_eq!(
            ApiKey::from_secret_string(r#"{"REPLY_API_KEY": "k-2"}"#)
                .unwrap()
                .expose(),
            "k-2"
        );
        assert_eq!(ApiKey::from_secret_string("k-3\n").unwrap().expose(), "k-3");
        assert!(matches!(
            ApiKey::from_secret_string(r#"{"other": "x"}"#),
            Err(Error::EmptyApiKey)
        ));
    }

    #[test]
    fn problems_give_their_code_and_a_line_of_detail() {
        let problem = Problem::read(
            r#"{"type": "about:blank", "title": "Bad Request", "status": 400,
                "detail": "url must be absolute", "code": "invalid_url"}"#,
        );
        assert_eq!(problem.code.as_deref(), Some("invalid_url"));
        assert_eq!(problem.detail, "url must be absolute");
        let bare = Problem::read("");
        assert_eq!(
            (bare.code, bare.detail.as_str()),
            (None, "no details given")
        );
        let html = Problem::read(&"<html>".repeat(100));
        assert_eq!(html.detail.chars().count(), 200);
    }

    #[test]
    fn base_urls_must_be_absolute_http() {
        for bad in ["api.reply.io", "ftp://api.reply.io", "", "https://"] {
            let config = ClientConfig::new(bad, 1);
            assert!(
                matches!(
                    Client::new(ApiKey::new("k").unwrap(), config),
                    Err(Error::BaseUrl(_))
                ),
                "{bad}"
            );
        }
        let client = Client::new(
            ApiKey::new("k").unwrap(),
            ClientConfig::new("http://127.0.0.1:9/prefix/", 1),
        )
        .unwrap();
        assert_eq!(
            client
                .endpoint(&["7 a", "enable"], &[("top", "1".into())])
                .as_str(),
            "http://127.0.0.1:9/prefix/v3/webhooks/7%20a/enable?top=1"
        );
    }
}
