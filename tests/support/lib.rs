//! Helpers for the integration tests: per-test tables and queues on moto's server (started by
//! `make test`) behind a strict proxy of their own, readers for what the functions left there,
//! and the in-memory and moto backends of the contract suite (`backends`).
//!
//! Tests reach moto only through the real AWS SDK, configured by the standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, dummy credentials) exactly as the functions are, and
//! through [`devkit::proxy`] in strict mode: a request AWS would refuse fails the test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use devkit::lambda_event::{Encoding, HttpRequest, Source};
use devkit::provision::{create_queue, create_table};
use devkit::proxy::Proxy;
use webhook_core::Config;
use webhook_core::config::vars;

pub mod backends;

/// The documented local test token (events/apigw/ carries it).
pub const TOKEN: &str = devkit::LOCAL_TOKEN;

/// The moto endpoint, or `None` when the tests run outside `make test`. Under CI a missing
/// endpoint is a failure, never a silent skip.
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("AWS_ENDPOINT_URL is not set under CI: run the tests through `make test`")
        }
        _ => None,
    }
}

/// Skips the calling test (returns) when moto is not running, with a note saying why.
#[macro_export]
macro_rules! require_moto {
    () => {
        match $crate::moto_endpoint() {
            Some(endpoint) => endpoint,
            None => {
                eprintln!("skipped: AWS_ENDPOINT_URL is not set; run `make test` to start moto");
                return;
            }
        }
    };
}

/// AWS configuration from the environment, like the functions load it.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// AWS configuration from the environment, with another endpoint.
pub async fn sdk_config_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An AWS configuration whose endpoint refuses connections: a dependency that is down.
pub async fn unreachable_sdk_config() -> SdkConfig {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{closed}"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// A table and queues of one test's own, reached through a strict proxy of its own: every
/// request of the functions and of the test through `sdk` is checked against AWS's rules, and
/// a refusal fails the test when the fixture is dropped (unless [`Fixture::expect_refusals`]).
pub struct Fixture {
    /// Points at the proxy.
    pub sdk: SdkConfig,
    /// Between `sdk` and moto.
    pub proxy: Proxy,
    /// Refusals are what the test is about.
    refusals_expected: bool,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub actionable_queue_url: String,
    pub activity_queue_url: Option<String>,
    pub quarantine_queue_url: String,
}

/// How a fixture's queues are made.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queues {
    pub fifo: bool,
    pub activity: bool,
}

impl Fixture {
    /// Creates a table and queues named after `test` and unique to this run.
    pub async fn new(test: &str, queues: Queues) -> Fixture {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "{}-{}-{}",
            test.replace('_', "-"),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let moto = moto_endpoint().expect("the fixture needs moto: AWS_ENDPOINT_URL");
        let proxy = Proxy::start(&moto)
            .await
            .unwrap_or_else(|e| panic!("cannot start the strict proxy: {e}"));
        let sdk = sdk_config_at(&proxy.url()).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let table = format!("t-{unique}");
        create_table(&dynamodb, &table).await.unwrap();
        let suffix = if queues.fifo { ".fifo" } else { "" };
        let dlq = create_queue(&sqs, &format!("dlq-{unique}{suffix}"), None)
            .await
            .unwrap();
        let actionable = create_queue(&sqs, &format!("q-{unique}{suffix}"), Some(&dlq.arn))
            .await
            .unwrap();
        let quarantine_queue_url = create_queue(&sqs, &format!("quarantine-{unique}"), None)
            .await
            .unwrap()
            .url;
        let activity_queue_url = if queues.activity {
            Some(
                create_queue(&sqs, &format!("activity-{unique}"), None)
                    .await
                    .unwrap()
                    .url,
            )
        } else {
            None
        };
        Fixture {
            sdk,
            proxy,
            refusals_expected: false,
            dynamodb,
            sqs,
            table,
            actionable_queue_url: actionable.url,
            activity_queue_url,
            quarantine_queue_url,
        }
    }

    /// The endpoint of the fixture's strict proxy, in front of moto.
    pub fn endpoint(&self) -> String {
        self.proxy.url()
    }

    /// Refusals by the proxy are what this test checks: they do not fail it.
    pub fn expect_refusals(&mut self) {
        self.refusals_expected = true;
    }

    /// The functions' configuration for this fixture, plus `extra` variables.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            if let Some((_, value)) = extra.iter().find(|(k, _)| *k == name) {
                return Some(value.to_string());
            }
            match name {
                vars::IDEMPOTENCY_TABLE_NAME => Some(self.table.clone()),
                vars::ACTIONABLE_QUEUE_URL => Some(self.actionable_queue_url.clone()),
                vars::ACTIVITY_QUEUE_URL => self.activity_queue_url.clone(),
                vars::QUARANTINE_QUEUE_URL => Some(self.quarantine_queue_url.clone()),
                vars::WEBHOOK_TOKENS => Some(TOKEN.to_owned()),
                _ => None,
            }
        })
        .unwrap()
    }

    /// The stored item for `event_id`, attribute by attribute.
    pub async fn record(&self, event_id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(format!("reply#{event_id}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// How many items the table holds.
    pub async fn record_count(&self) -> usize {
        let out = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .unwrap();
        out.items().len()
    }

    /// Drains a queue: every message it holds now (bounded), deleted, so that on a FIFO queue
    /// the next message of the same group can be received.
    pub async fn drain(&self, queue_url: &str) -> Vec<Message> {
        let mut all = Vec::new();
        for _ in 0..50 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .visibility_timeout(600)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap();
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for message in &batch {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
            all.extend(batch);
        }
        all
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let refusals = self.proxy.refusals();
        if !refusals.is_empty() && !self.refusals_expected && !std::thread::panicking() {
            let listed: Vec<String> = refusals
                .iter()
                .map(|e| format!("{} refused with {:?}", e.target, e.refused))
                .collect();
            panic!(
                "the strict proxy refused requests AWS would refuse:\n  {}",
                listed.join("\n  ")
            );
        }
    }
}

/// Epoch milliseconds `ahead` from now: an invocation deadline.
pub fn deadline_in(ahead: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from((now + ahead).as_millis()).unwrap_or(u64::MAX)
}

/// A typical delivery body for `event_type` with id `event_id`.
pub fn body(event_id: &str, event_type: &str) -> String {
    serde_json::json!({
        "event": {"id": event_id, "type": event_type, "date": "2026-04-21T09:30:00.000Z",
                  "user_id": 1234, "team_id": 100, "subscription_id": 42},
        "contact_fields": {"id": 12345, "email": "prospect@example.com", "first_name": "Test"},
        "sequence_fields": {"id": 67890, "name": "Q2 Outbound", "step_number": 1},
        "reply_content": "Sounds good, let's talk next week.",
        "an_unknown_field": {"kept": [1, 2, 3]}
    })
    .to_string()
}

/// An HTTP API (payload 2.0) event: `method` on `route` with `query` and `body`; `base64`
/// marks the body base64-encoded (the caller encodes it).
pub fn http_event(method: &str, route: &str, query: &str, body: &str, base64: bool) -> String {
    Source::HttpApiV2
        .event(&HttpRequest {
            method: method.to_owned(),
            path: route.to_owned(),
            query: query.to_owned(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.as_bytes().to_vec(),
            encoding: if base64 {
                Encoding::MarkedOnly
            } else {
                Encoding::Auto
            },
        })
        .to_string()
}

/// A function's answer: status, headers and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
}

/// Runs one Lambda event through the function's whole service (as the runtime would) with the
/// invocation deadline `deadline` (epoch ms); the JSON answer.
pub async fn invoke_raw<S, P, C>(
    pipeline: &webhook_core::Pipeline<S, P, C>,
    event: &str,
    deadline: u64,
) -> Result<serde_json::Value, String>
where
    S: webhook_core::ports::IdempotencyStore,
    P: webhook_core::ports::Publisher,
    C: webhook_core::ports::Clock,
{
    let mut context = lambda_runtime::Context::default();
    context.request_id = "test-request".into();
    context.deadline = deadline;
    webhook_lambda::invoke(pipeline, event, context)
        .await
        .map_err(|err| format!("the function failed: {err}"))
}

/// [`invoke_raw`], its HTTP API answer read.
pub async fn invoke_at<S, P, C>(
    pipeline: &webhook_core::Pipeline<S, P, C>,
    event: &str,
    deadline: u64,
) -> Answer
where
    S: webhook_core::ports::IdempotencyStore,
    P: webhook_core::ports::Publisher,
    C: webhook_core::ports::Clock,
{
    let answer = invoke_raw(pipeline, event, deadline)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let header = |name: &str| {
        answer["headers"][name]
            .as_str()
            .or_else(|| answer["multiValueHeaders"][name][0].as_str())
            .map(str::to_owned)
    };
    Answer {
        status: u16::try_from(answer["statusCode"].as_u64().unwrap_or_default()).unwrap_or(0),
        content_type: header("content-type"),
        body: answer["body"]
            .as_str()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default(),
    }
}

/// [`invoke_at`] with a deadline ten seconds away.
pub async fn invoke<S, P, C>(pipeline: &webhook_core::Pipeline<S, P, C>, event: &str) -> Answer
where
    S: webhook_core::ports::IdempotencyStore,
    P: webhook_core::ports::Publisher,
    C: webhook_core::ports::Clock,
{
    invoke_at(pipeline, event, deadline_in(Duration::from_secs(10))).await
}
