//! What the strict rules need that a request does not say: a table's key schema, a queue's
//! attributes, an item's current content. Asked of the upstream directly, with the calling
//! request's credentials so the emulator answers for the same account and region. These
//! calls are the proxy's own: they are neither recorded nor faulted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::http::{Request, read_response};

/// How long a table's key schema or a queue's attributes are trusted. Changes made through
/// the proxy forget them at once; this bounds how long one made around it goes unseen.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// A lookup slower than this is given up, and the rules that needed it are skipped.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A table's key attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableKeys {
    pub partition: String,
    pub sort: Option<String>,
}

/// The attributes of a queue that decide what a message may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFacts {
    pub fifo: bool,
    pub content_based_deduplication: bool,
    /// `MaximumMessageSize`, in bytes.
    pub max_message_size: usize,
}

type Scoped<T> = Mutex<HashMap<(String, String), (Instant, T)>>;

/// Key schemas and queue attributes seen recently, per credential scope.
#[derive(Debug, Default)]
pub(super) struct Cache {
    tables: Scoped<TableKeys>,
    queues: Scoped<QueueFacts>,
}

impl Cache {
    /// Forgets what an administrative request that passed through may change.
    pub(super) fn note(&self, target: &str) {
        let operation = target.rsplit('.').next().unwrap_or_default();
        match operation {
            "CreateTable" | "DeleteTable" | "UpdateTable" => lock(&self.tables).clear(),
            "CreateQueue" | "DeleteQueue" | "SetQueueAttributes" => lock(&self.queues).clear(),
            _ => {}
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn cached<T: Clone>(map: &Scoped<T>, key: &(String, String)) -> Option<T> {
    lock(map)
        .get(key)
        .filter(|(at, _)| at.elapsed() < CACHE_TTL)
        .map(|(_, value)| value.clone())
}

/// Lookups on behalf of one request.
pub(super) struct Lookup<'a> {
    upstream: SocketAddr,
    /// The request's credential headers (the emulator routes and scopes by them).
    identity: Vec<(String, String)>,
    /// Access key and region: what the emulator scopes tables and queues by.
    scope: String,
    cache: &'a Cache,
}

impl<'a> Lookup<'a> {
    pub(super) fn new(upstream: SocketAddr, request: &Request, cache: &'a Cache) -> Lookup<'a> {
        let mut identity: Vec<(String, String)> =
            ["authorization", "x-amz-date", "x-amz-security-token"]
                .iter()
                .filter_map(|name| {
                    request
                        .head
                        .header(name)
                        .map(|value| ((*name).to_owned(), value.to_owned()))
                })
                .collect();
        if request.head.header("authorization").is_none() {
            let service = match request.head.header("x-amz-target") {
                Some(target) if target.starts_with("AmazonSQS") => "sqs",
                _ => "dynamodb",
            };
            identity.push((
                "authorization".to_owned(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            ));
        }
        let scope = identity
            .iter()
            .find(|(name, _)| name == "authorization")
            .and_then(|(_, value)| value.split("Credential=").nth(1))
            .map(|credential| {
                let parts: Vec<&str> = credential.split('/').collect();
                format!(
                    "{}/{}",
                    parts.first().unwrap_or(&""),
                    parts.get(2).unwrap_or(&"")
                )
            })
            .unwrap_or_default();
        Lookup {
            upstream,
            identity,
            scope,
            cache,
        }
    }

    /// The key attributes of `table`; `None` if the upstream cannot say (no such table).
    pub(super) async fn table_keys(&self, table: &str) -> Option<TableKeys> {
        let key = (self.scope.clone(), table.to_owned());
        if let Some(keys) = cached(&self.cache.tables, &key) {
            return Some(keys);
        }
        let answer = self
            .call(
                "DynamoDB_20120810.DescribeTable",
                json!({ "TableName": table }),
            )
            .await?;
        let schema = answer["Table"]["KeySchema"].as_array()?;
        let named = |kind: &str| {
            schema
                .iter()
                .find(|element| element["KeyType"] == kind)
                .and_then(|element| element["AttributeName"].as_str())
                .map(str::to_owned)
        };
        let keys = TableKeys {
            partition: named("HASH")?,
            sort: named("RANGE"),
        };
        lock(&self.cache.tables).insert(key, (Instant::now(), keys.clone()));
        Some(keys)
    }

    /// The attributes of the queue at `url`; `None` if the upstream cannot say.
    pub(super) async fn queue(&self, url: &str) -> Option<QueueFacts> {
        let key = (self.scope.clone(), url.to_owned());
        if let Some(facts) = cached(&self.cache.queues, &key) {
            return Some(facts);
        }
        let answer = self
            .call(
                "AmazonSQS.GetQueueAttributes",
                json!({ "QueueUrl": url, "AttributeNames": ["All"] }),
            )
            .await?;
        let attributes = answer["Attributes"].as_object()?;
        let flag = |name: &str| attributes.get(name).and_then(Value::as_str) == Some("true");
        let facts = QueueFacts {
            fifo: flag("FifoQueue") || url.trim_end_matches('/').ends_with(".fifo"),
            content_based_deduplication: flag("ContentBasedDeduplication"),
            max_message_size: attributes
                .get("MaximumMessageSize")
                .and_then(Value::as_str)
                .and_then(|size| size.parse().ok())
                .unwrap_or(super::sqs::MAX_MESSAGE_BYTES),
        };
        lock(&self.cache.queues).insert(key, (Instant::now(), facts));
        Some(facts)
    }

    /// The item stored under `key` now: `Some(None)` when there is none, `None` when the
    /// upstream cannot say.
    pub(super) async fn item(
        &self,
        table: &str,
        key: &Value,
    ) -> Option<Option<Map<String, Value>>> {
        let answer = self
            .call(
                "DynamoDB_20120810.GetItem",
                json!({ "TableName": table, "Key": key, "ConsistentRead": true }),
            )
            .await?;
        Some(answer.get("Item").and_then(Value::as_object).cloned())
    }

    /// One JSON-protocol call on a connection of its own; `None` on any failure.
    async fn call(&self, target: &str, body: Value) -> Option<Value> {
        tokio::time::timeout(LOOKUP_TIMEOUT, self.exchange(target, body))
            .await
            .ok()
            .flatten()
    }

    async fn exchange(&self, target: &str, body: Value) -> Option<Value> {
        let body = serde_json::to_vec(&body).ok()?;
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: {target}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.upstream,
            body.len()
        );
        for (name, value) in &self.identity {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut stream = BufReader::new(TcpStream::connect(self.upstream).await.ok()?);
        stream.write_all(request.as_bytes()).await.ok()?;
        stream.write_all(&body).await.ok()?;
        stream.flush().await.ok()?;
        let response = read_response(&mut stream, "POST").await.ok()?;
        if response.status != 200 {
            return None;
        }
        serde_json::from_slice(&response.body).ok()
    }
}
