//! End to end through the runtime emulator: every sample delivery POSTed to the three functions
//! running under `cargo lambda watch` (the stack `make test` starts with scripts/stack.sh), then
//! the DynamoDB records and the actionable queue checked through the AWS SDK.
//!
//! The stack is named by `RW_STACK_DIR` (its `env` file and `watch.port`). `make test` sets it;
//! against `make local`: `RW_STACK_DIR=.stack/local cargo test -p reply-webhooks-tests --test e2e`.
//! Without it the tests are skipped, except under CI, where that is a failure.
//!
//! Each run is independent of earlier ones on the same stack: every delivery gets a fresh event
//! id (the sample's id replaced in its text, the rest of the body byte for byte), and only this
//! run's messages are counted.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use reply_payload::{Category, EventType};
use serde_json::Value;
use webhook_core::Routing;

const TOKEN: &str = "reply-local-test-token-0001";
const SCHEMA: &str = "reply-webhooks/event@1";

/// The running stack, read from `RW_STACK_DIR`.
struct Stack {
    base: String,
    env: HashMap<String, String>,
    http: ureq::Agent,
    runtime: tokio::runtime::Runtime,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
}

fn stack() -> Option<Stack> {
    let dir = match std::env::var("RW_STACK_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ if std::env::var_os("CI").is_some() => panic!(
            "RW_STACK_DIR is not set under CI: the end-to-end test needs the local stack; run it through `make test`"
        ),
        _ => {
            eprintln!(
                "skipped: RW_STACK_DIR is not set. Run `make test`, or against `make local`: \
                 RW_STACK_DIR=.stack/local cargo test -p reply-webhooks-tests --test e2e"
            );
            return None;
        }
    };
    let dir = if dir.is_relative() {
        workspace_root().join(dir)
    } else {
        dir
    };
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}. Is the stack running? (make local / make test)",
                dir.join(name).display()
            )
        })
    };
    let port = read("watch.port").trim().to_owned();
    let env: HashMap<String, String> = read("env")
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let endpoint = env
        .get("AWS_ENDPOINT_URL")
        .expect("the stack's env file names AWS_ENDPOINT_URL")
        .clone();
    let region = env
        .get("AWS_REGION")
        .cloned()
        .unwrap_or_else(|| "us-east-1".into());

    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    let config = runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "e2e",
            ))
            .load(),
    );
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Loopback only: never through a proxy from the environment.
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent();
    Some(Stack {
        base: format!("http://127.0.0.1:{port}"),
        env,
        http,
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        runtime,
    })
}

macro_rules! require_stack {
    () => {
        match stack() {
            Some(stack) => stack,
            None => return,
        }
    };
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// An HTTP answer: status and JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    raw: String,
}

impl Stack {
    fn url(&self, category: Category, token: Option<&str>) -> String {
        let mut url = format!(
            "{}/lambda-url/{}{}",
            self.base,
            category.binary(),
            category.route()
        );
        if let Some(token) = token {
            url.push_str("?token=");
            url.push_str(token);
        }
        url
    }

    fn post(&self, category: Category, token: Option<&str>, body: &[u8]) -> Answer {
        // Bytes that are not UTF-8 go as binary: the emulator base64-encodes them, as API
        // Gateway does, and the function must decode them.
        let content_type = if std::str::from_utf8(body).is_ok() {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let url = self.url(category, token);
        let response = self
            .http
            .post(&url)
            .header("content-type", content_type)
            .send(body);
        answer(&url, response)
    }

    /// A request as the manifest of events/bad/ describes it: method, raw query string
    /// (`None`: the valid token), extra headers, and whether the body goes as binary (the
    /// emulator then base64-encodes it, as API Gateway does).
    fn request(
        &self,
        method: &str,
        category: Category,
        query: Option<&str>,
        headers: &[(String, String)],
        body: &[u8],
        binary: bool,
    ) -> Answer {
        let mut url = self.url(category, None);
        match query {
            None => url.push_str(&format!("?token={TOKEN}")),
            Some("") => {}
            Some(raw) => {
                url.push('?');
                url.push_str(raw);
            }
        }
        let binary = binary || std::str::from_utf8(body).is_err();
        let content_type = if binary {
            "application/octet-stream"
        } else {
            "application/json"
        };
        let uri: ureq::http::Uri = url
            .parse()
            .unwrap_or_else(|e| panic!("{url} is not a URI: {e}"));
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(body.to_vec())
            .unwrap_or_else(|e| panic!("{url}: cannot build the request: {e}"));
        answer(&url, self.http.run(request))
    }

    fn get(&self, category: Category) -> Answer {
        let url = self.url(category, Some(TOKEN));
        answer(&url, self.http.get(&url).call())
    }

    fn record(&self, event_id: &str) -> Option<HashMap<String, AttributeValue>> {
        let table = &self.env["IDEMPOTENCY_TABLE_NAME"];
        self.runtime
            .block_on(
                self.dynamodb
                    .get_item()
                    .table_name(table)
                    .key("id", AttributeValue::S(format!("reply#{event_id}")))
                    .consistent_read(true)
                    .send(),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "GetItem on {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })
            .item
    }

    /// Every message of this run (`ours`) in the actionable queue: received until all
    /// `expected` were seen and one more poll came back empty (bounded), deleted once read.
    /// Messages of other runs are left alone.
    fn receive_ours(&self, ours: &HashSet<String>, expected: usize) -> Vec<Value> {
        let queue = &self.env["ACTIONABLE_QUEUE_URL"];
        let mut found = Vec::new();
        let mut empty_polls = 0;
        for _ in 0..60 {
            let out = self
                .runtime
                .block_on(
                    self.sqs
                        .receive_message()
                        .queue_url(queue)
                        .max_number_of_messages(10)
                        .message_attribute_names("All")
                        .visibility_timeout(60)
                        .wait_time_seconds(1)
                        .send(),
                )
                .unwrap_or_else(|e| {
                    panic!(
                        "ReceiveMessage on {queue}: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    )
                });
            let messages = out.messages.unwrap_or_default();
            let mut new_ours = 0;
            for message in messages {
                let body: Value = serde_json::from_str(message.body().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("a queue message is not JSON: {e}"));
                let id = body["event_id"].as_str().unwrap_or_default().to_owned();
                if !ours.contains(&id) {
                    continue;
                }
                new_ours += 1;
                let attributes: HashMap<String, String> = message
                    .message_attributes()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.string_value().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                found.push(serde_json::json!({ "body": body, "attributes": attributes }));
                if let Some(handle) = message.receipt_handle() {
                    let _ = self.runtime.block_on(
                        self.sqs
                            .delete_message()
                            .queue_url(queue)
                            .receipt_handle(handle)
                            .send(),
                    );
                }
            }
            if new_ours == 0 && found.len() >= expected {
                empty_polls += 1;
                if empty_polls >= 2 {
                    break;
                }
            }
        }
        found
    }
}

fn answer(url: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.unwrap_or_else(|e| {
        panic!("{url}: no answer from cargo lambda watch: {e}. Is the stack running?")
    });
    let status = response.status().as_u16();
    let raw = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("{url}: unreadable body: {e}"));
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer { status, body, raw }
}

/// A fresh, random UUID-shaped event id.
fn fresh_id() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    let a = h.finish();
    let b = RandomState::new().build_hasher().finish();
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A sample from events/reply/, with a fresh event id.
struct Delivery {
    event_type: EventType,
    event_id: String,
    body: Vec<u8>,
}

impl Delivery {
    fn category(&self) -> Category {
        self.event_type.category().unwrap_or(Category::Email)
    }
}

fn samples() -> Vec<Delivery> {
    let dir = workspace_root().join("events/reply");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 19,
        "expected the 19 samples in events/reply/"
    );
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a sample is UTF-8");
            let json: Value = serde_json::from_str(&text).expect("a sample is JSON");
            let old = json["event"]["id"].as_str().expect("event.id").to_owned();
            let event_type = EventType::parse(json["event"]["type"].as_str().expect("event.type"));
            let event_id = fresh_id();
            let body = text
                .replace(&format!("\"{old}\""), &format!("\"{event_id}\""))
                .into_bytes();
            Delivery {
                event_type,
                event_id,
                body,
            }
        })
        .collect()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_else(|| panic!("record attribute `{name}` is missing or not a string: {item:?}"))
}

#[test]
fn every_sample_is_answered_recorded_and_enqueued_exactly_once() {
    let stack = require_stack!();
    let deliveries = samples();
    let mut failures = Vec::new();

    // 1. Every sample to its own route: 200 accepted, `enqueued` for the actionable types.
    for d in &deliveries {
        let a = stack.post(d.category(), Some(TOKEN), &d.body);
        let actionable = d.event_type.actionable_by_default();
        let ok = a.status == 200
            && a.body["status"] == "accepted"
            && a.body["event_id"] == d.event_id.as_str()
            && a.body["enqueued"] == actionable
            && a.body.get("warning").is_none();
        if !ok {
            failures.push(format!(
                "{} → HTTP {} {} (expected 200 accepted, enqueued {actionable})",
                d.event_type, a.status, a.raw
            ));
        }
    }

    // 2. A duplicate: 200 duplicate, no second message.
    let first = &deliveries[0];
    let a = stack.post(first.category(), Some(TOKEN), &first.body);
    if !(a.status == 200
        && a.body["status"] == "duplicate"
        && a.body["event_id"] == first.event_id.as_str())
    {
        failures.push(format!(
            "duplicate {} → HTTP {} {}",
            first.event_type, a.status, a.raw
        ));
    }

    // 3. A linkedin event at the email route: processed under its own category, with a warning.
    let misrouted = {
        let sample = deliveries
            .iter()
            .find(|d| d.event_type == EventType::LinkedinMessageReplied)
            .expect("the linkedin_message_replied sample");
        let event_id = fresh_id();
        let text = String::from_utf8(sample.body.clone()).expect("UTF-8");
        Delivery {
            event_type: sample.event_type.clone(),
            body: text.replace(&sample.event_id, &event_id).into_bytes(),
            event_id,
        }
    };
    let a = stack.post(Category::Email, Some(TOKEN), &misrouted.body);
    if !(a.status == 200
        && a.body["status"] == "accepted"
        && a.body["event_id"] == misrouted.event_id.as_str()
        && a.body["enqueued"] == true
        && a.body["warning"] == "wrong_route"
        && a.body["route"] == "/webhooks/linkedin")
    {
        failures.push(format!(
            "linkedin_message_replied at /webhooks/email → HTTP {} {} (expected 200 accepted, warning wrong_route, route /webhooks/linkedin)",
            a.status, a.raw
        ));
    }
    assert!(
        failures.is_empty(),
        "answers not as the HTTP contract says:\n  {}",
        failures.join("\n  ")
    );

    // 4. The records: one per delivery, COMPLETED, Powertools schema.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let all: Vec<&Delivery> = deliveries
        .iter()
        .chain(std::iter::once(&misrouted))
        .collect();
    for d in &all {
        let item = stack
            .record(&d.event_id)
            .unwrap_or_else(|| panic!("no record reply#{} for {}", d.event_id, d.event_type));
        assert_eq!(s(&item, "id"), format!("reply#{}", d.event_id));
        assert_eq!(
            s(&item, "status"),
            "COMPLETED",
            "{}: {item:?}",
            d.event_type
        );
        assert_eq!(
            s(&item, "validation"),
            webhook_core::validation::validation_hash(&d.body),
            "{}: validation",
            d.event_type
        );
        assert_eq!(s(&item, "event_type"), d.event_type.as_str());
        assert_eq!(
            s(&item, "category"),
            d.category().as_str(),
            "{}",
            d.event_type
        );
        let expiration: u64 = item
            .get("expiration")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: `expiration` is not a number: {item:?}", d.event_type));
        assert!(
            expiration > now && expiration < now + 400 * 86_400,
            "{}: `expiration` {expiration} is not epoch seconds in the future",
            d.event_type
        );
    }

    // 5. The queue: each actionable delivery exactly once, its payload the delivered body.
    let ours: HashSet<String> = all.iter().map(|d| d.event_id.clone()).collect();
    let actionable: Vec<&&Delivery> = all
        .iter()
        .filter(|d| d.event_type.actionable_by_default())
        .collect();
    let messages = stack.receive_ours(&ours, actionable.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *seen
            .entry(
                m["body"]["event_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    for d in &all {
        let count = seen.get(&d.event_id).copied().unwrap_or(0);
        let want = usize::from(d.event_type.actionable_by_default());
        assert_eq!(
            count, want,
            "{} ({}): {count} message(s) in the actionable queue, expected {want}",
            d.event_type, d.event_id
        );
    }
    for d in &actionable {
        let m = messages
            .iter()
            .find(|m| m["body"]["event_id"] == d.event_id.as_str())
            .expect("counted above");
        let body = &m["body"];
        let sent: Value = serde_json::from_slice(&d.body).expect("JSON");
        assert_eq!(body["schema"], SCHEMA, "{}", d.event_type);
        assert_eq!(body["event_type"], d.event_type.as_str());
        assert_eq!(body["category"], d.category().as_str(), "{}", d.event_type);
        assert_eq!(body["known_type"], true);
        assert_eq!(
            body["payload"], sent,
            "{}: payload differs from the delivered body",
            d.event_type
        );
        assert_eq!(m["attributes"]["event_type"], d.event_type.as_str());
        assert_eq!(m["attributes"]["category"], d.category().as_str());
    }
}

#[test]
fn bad_requests_are_refused_through_the_runtime() {
    let stack = require_stack!();
    let mut failures = Vec::new();
    let expect = |what: &str, a: Answer, status: u16, code: &str| -> Option<String> {
        let got = a.body["error"]["code"]
            .as_str()
            .or(a.body["status"].as_str());
        (!(a.status == status && got == Some(code))).then(|| {
            format!(
                "{what} → HTTP {} {} (expected {status} {code})",
                a.status, a.raw
            )
        })
    };

    let body = samples().remove(0).body;
    failures.extend(expect(
        "wrong token",
        stack.post(
            Category::Email,
            Some("not-the-configured-token-0000"),
            &body,
        ),
        401,
        "unauthorized",
    ));
    failures.extend(expect(
        "no token",
        stack.post(Category::Email, None, &body),
        401,
        "unauthorized",
    ));
    failures.extend(expect(
        "GET",
        stack.get(Category::Account),
        405,
        "method_not_allowed",
    ));
    let mut big = b"{\"event\":{\"id\":\"x\",\"type\":\"email_sent\"},\"pad\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 262_145));
    big.extend(b"\"}");
    failures.extend(expect(
        "a body over MAX_BODY_BYTES",
        stack.post(Category::Email, Some(TOKEN), &big),
        413,
        "payload_too_large",
    ));

    // Every bad body of events/bad/ (their manifest says the answer).
    let dir = workspace_root().join("events/bad");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("events/bad/manifest.json"),
    )
    .expect("the manifest is JSON");
    let entries = manifest.as_array().expect("the manifest is an array");
    assert!(!entries.is_empty());
    let mut sent = 0;
    for entry in entries {
        let file = entry["file"].as_str().expect("file");
        // A body marked base64 that is not (raw_body) cannot be sent through a function URL:
        // the emulator does the encoding. tests/hostile.rs covers those at the handler.
        if entry["raw_body"] == true {
            continue;
        }
        let body = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let status = u16::try_from(entry["status"].as_u64().expect("status")).expect("u16");
        let code = entry["code"].as_str().expect("code");
        let headers: Vec<(String, String)> = entry["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let a = stack.request(
            entry["method"].as_str().unwrap_or("POST"),
            Category::Email,
            entry["query"].as_str(),
            &headers,
            &body,
            entry["base64"] == true,
        );
        sent += 1;
        if status == 200 {
            // Positive controls carry fixed ids: on a stack that saw them before they are
            // duplicates, which is as right.
            let ok =
                a.status == 200 && (a.body["status"] == code || a.body["status"] == "duplicate");
            if !ok {
                failures.push(format!(
                    "{file} → HTTP {} {} (expected 200 {code})",
                    a.status, a.raw
                ));
            }
        } else {
            failures.extend(expect(file, a, status, code));
        }
    }
    assert!(
        sent > 0,
        "no entry of events/bad/manifest.json could be sent"
    );
    assert!(
        failures.is_empty(),
        "answers not as the HTTP contract says:\n  {}",
        failures.join("\n  ")
    );
}
