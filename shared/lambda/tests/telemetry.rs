//! The log and metric lines an invocation leaves: their shape, their fields, and that no
//! token and no prospect data ever reach them.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use reply_payload::Category;
use serde_json::{Value, json};
use webhook_core::config::vars;
use webhook_core::memory::{ManualClock, MemoryPublisher, MemoryStore};
use webhook_core::{Config, Handled, InboundRequest, Pipeline, RequestBody, Routing, TokenParam};
use webhook_lambda::metrics::{NAMESPACE, emf_line};

const TOKEN: &str = "reply-local-test-token-0001";
/// Prospect data the sample body carries; none of it may be logged.
const PII: [&str; 6] = [
    "prospect@example.com",
    "Jane",
    "Doe",
    "+1 555 0100",
    "Let's meet on Tuesday",
    "Acme Corp",
];

fn body(id: &str, event_type: &str) -> String {
    json!({
        "event": {"id": id, "type": event_type, "team_id": 100},
        "contact_fields": {"id": 12345, "email": PII[0], "first_name": PII[1], "last_name": PII[2],
                           "phone": PII[3], "company": PII[5]},
        "reply_content": PII[4]
    })
    .to_string()
}

/// Collects everything tracing writes, as the Lambda JSON log format would.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

struct Run {
    logs: Vec<Value>,
    handled_status: u16,
}

/// Runs one delivery through `webhook_lambda::handle` with in-memory ports and captures
/// the logs at DEBUG level and above.
fn deliver(
    function: Category,
    query: &str,
    body: &str,
    prepare: impl Fn(&MemoryStore, &MemoryPublisher),
) -> Run {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let store = MemoryStore::default();
    let publisher = MemoryPublisher::default();
    prepare(&store, &publisher);
    let clock = ManualClock::at(SystemTime::now());
    let pipeline = Pipeline::new(config(), function, &store, &publisher, &clock);
    let event = json!({
        "version": "2.0", "routeKey": "ANY /webhooks/x", "rawPath": function.route(),
        "rawQueryString": query, "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": function.route(),
            "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "accountId": "123456789012", "apiId": "api", "domainName": "localhost",
            "domainPrefix": "localhost", "requestId": "r", "routeKey": "ANY /webhooks/x",
            "stage": "$default", "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
    .to_string();
    let mut context = Context::default();
    context.request_id = "req-1".into();
    context.deadline = deadline();
    let status = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let answer = webhook_lambda::invoke(&pipeline, &event, context.clone())
                .await
                .unwrap();
            u16::try_from(answer["statusCode"].as_u64().unwrap()).unwrap()
        })
    });
    Run {
        logs: captured.lines(),
        handled_status: status,
    }
}

fn config() -> Config {
    Config::from_lookup(|name| match name {
        vars::IDEMPOTENCY_TABLE_NAME => Some("table".into()),
        vars::ACTIONABLE_QUEUE_URL => Some("https://sqs.local/1/q".into()),
        vars::QUARANTINE_QUEUE_URL => Some("https://sqs.local/1/quarantine".into()),
        vars::WEBHOOK_TOKENS => Some(TOKEN.into()),
        _ => None,
    })
    .unwrap()
}

fn deadline() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from((now + Duration::from_secs(10)).as_millis()).unwrap()
}

fn assert_clean(logs: &[Value]) {
    let text = logs
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!text.contains(TOKEN), "token in logs: {text}");
    for pii in PII {
        assert!(!text.contains(pii), "{pii:?} in logs: {text}");
    }
}

fn with_message<'a>(logs: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(prefix))
        })
        .collect()
}

#[test]
fn one_summary_line_per_invocation_with_every_field_and_nothing_private() {
    let run = deliver(
        Category::Email,
        &format!("token={TOKEN}"),
        &body("evt-1", "email_replied"),
        |_, _| {},
    );
    assert_eq!(run.handled_status, 200);
    let summaries = with_message(&run.logs, "delivery handled");
    assert_eq!(summaries.len(), 1, "{:?}", run.logs);
    let summary = summaries[0];
    assert_eq!(summary["level"], "INFO");
    let fields = &summary["fields"];
    assert_eq!(fields["request_id"], "req-1");
    assert_eq!(fields["event_id"], "evt-1");
    assert_eq!(fields["event_type"], "email_replied");
    assert_eq!(fields["category"], "email");
    assert_eq!(fields["function"], "email");
    assert_eq!(fields["path"], "/webhooks/email");
    assert_eq!(fields["outcome"], "accepted");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["aws_requests"], 3);
    assert!(fields["duration_ms"].as_f64().is_some());
    assert_clean(&run.logs);
}

#[test]
fn a_rejected_token_is_never_logged() {
    let run = deliver(
        Category::Email,
        "token=a-wrong-token-but-secret",
        &body("evt-2", "email_replied"),
        |_, _| {},
    );
    assert_eq!(run.handled_status, 401);
    let text = run.logs.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains("a-wrong-token-but-secret"));
    assert_eq!(
        with_message(&run.logs, "delivery handled")[0]["fields"]["outcome"],
        "unauthorized"
    );
}

#[test]
fn wrong_route_and_unknown_type_are_warnings() {
    let run = deliver(
        Category::Account,
        &format!("token={TOKEN}"),
        &body("evt-3", "email_bounced"),
        |_, _| {},
    );
    let warning = with_message(&run.logs, "event delivered to another category's function");
    assert_eq!(warning.len(), 1);
    assert_eq!(warning[0]["level"], "WARN");
    assert_eq!(warning[0]["fields"]["belongs_on"], "/webhooks/email");

    let run = deliver(
        Category::Account,
        &format!("token={TOKEN}"),
        &body("evt-4", "meeting_booked"),
        |_, _| {},
    );
    let warning = with_message(&run.logs, "unknown event type");
    assert_eq!(
        (warning.len(), warning[0]["level"].as_str()),
        (1, Some("WARN"))
    );
    assert_clean(&run.logs);
}

#[test]
fn a_dependency_failure_is_an_error_naming_the_dependency_and_its_code() {
    let run = deliver(
        Category::Email,
        &format!("token={TOKEN}"),
        &body("evt-5", "email_replied"),
        |_, publisher| {
            publisher.fail.store(true, Ordering::SeqCst);
        },
    );
    assert_eq!(run.handled_status, 503);
    let errors = with_message(&run.logs, "dependency failed");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["level"], "ERROR");
    assert_eq!(errors[0]["fields"]["dependency"], "sqs");
    assert_eq!(errors[0]["fields"]["error_code"], "ServiceUnavailable");
    assert_clean(&run.logs);
}

#[test]
fn a_quarantined_delivery_is_a_warning_with_its_reason_and_no_body() {
    let run = deliver(
        Category::Email,
        &format!("token={TOKEN}"),
        r#"{"event":{"type":"email_replied"},"reply_content":"Let's meet on Tuesday"}"#,
        |_, _| {},
    );
    assert_eq!(run.handled_status, 202);
    let warning = with_message(&run.logs, "delivery quarantined");
    assert_eq!(warning.len(), 1);
    assert_eq!(warning[0]["fields"]["reason"], "invalid_payload");
    assert_eq!(warning[0]["fields"]["problem"], "event.id is missing");
    assert_clean(&run.logs);
}

#[test]
fn a_tolerated_envelope_oddity_is_a_warning() {
    let run = deliver(
        Category::Email,
        &format!("token={TOKEN}"),
        r#"{"event":{"id":"evt-9","type":"email_replied","team_id":1,"TeamId":2}}"#,
        |_, _| {},
    );
    assert_eq!(run.handled_status, 200);
    let warning = with_message(&run.logs, "envelope tolerated");
    assert_eq!(warning.len(), 1);
    assert_eq!(
        warning[0]["fields"]["warning"],
        "event.team_id is given more than once; the canonical spelling (else the last) is used"
    );
}

#[test]
fn a_sent_message_whose_record_stays_in_progress_is_an_error() {
    let run = deliver(
        Category::Email,
        &format!("token={TOKEN}"),
        &body("evt-10", "email_replied"),
        |store, _| store.fail_complete.store(true, Ordering::SeqCst),
    );
    assert_eq!(run.handled_status, 200);
    let errors = with_message(&run.logs, "message sent (answered 200), but its record");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["level"], "ERROR");
}

/// Checks the rules CloudWatch applies to an EMF line, so a malformed one cannot ship.
fn assert_valid_emf(line: &str) -> Value {
    let emf: Value = serde_json::from_str(line).expect("one JSON object");
    let aws = &emf["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some(), "Timestamp in epoch ms");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics array");
    assert!(!directives.is_empty());
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE);
        for set in directive["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30);
            for key in set {
                let key = key.as_str().unwrap();
                assert!(
                    emf[key].is_string(),
                    "dimension {key} must be a string member"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                emf[name].is_number(),
                "metric {name} must be a number member"
            );
            assert!(["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()));
        }
    }
    emf
}

fn handled_for(token: &str, body: &str) -> Handled {
    let store = MemoryStore::default();
    let publisher = MemoryPublisher::default();
    let clock = ManualClock::at(SystemTime::now());
    let pipeline = Pipeline::new(config(), Category::Email, &store, &publisher, &clock);
    let request = InboundRequest {
        method: "POST",
        token: TokenParam::One(token),
        body: RequestBody::Bytes(body.as_bytes()),
        content_type: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(pipeline.handle(
        &request,
        webhook_lambda::deadline(deadline(), SystemTime::now()),
    ))
}

#[test]
fn emf_lines_are_valid_and_count_what_happened() {
    let token = TOKEN;
    let accepted = handled_for(token, &body("evt-6", "email_replied"));
    let emf = assert_valid_emf(&emf_line(
        &accepted,
        "email-webhook",
        Duration::from_micros(1500),
        1_790_000_000_000,
    ));
    assert_eq!(emf["_aws"]["Timestamp"], 1_790_000_000_000u64);
    assert_eq!(emf["Function"], "email-webhook");
    assert_eq!(
        (
            emf["Received"].clone(),
            emf["Accepted"].clone(),
            emf["Enqueued"].clone(),
            emf["Rejected"].clone()
        ),
        (json!(1), json!(1), json!(1), json!(0))
    );
    assert_eq!(emf["EventType"], "email_replied");
    assert_eq!(emf["Latency"], 1.5);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
        3
    );

    let rejected = handled_for("wrong-token-00000000", &body("evt-7", "email_replied"));
    let emf = assert_valid_emf(&emf_line(
        &rejected,
        "email-webhook",
        Duration::from_millis(1),
        0,
    ));
    assert_eq!(
        (emf["Rejected"].clone(), emf["Outcome"].clone()),
        (json!(1), json!("unauthorized"))
    );
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
        2,
        "no per-type series for a rejected delivery"
    );

    let unknown = handled_for(token, &body("evt-8", "some_new_type"));
    let emf = assert_valid_emf(&emf_line(
        &unknown,
        "email-webhook",
        Duration::from_millis(1),
        0,
    ));
    assert_eq!(
        (emf["UnknownType"].clone(), emf["EventType"].clone()),
        (json!(1), json!("unknown"))
    );
    let line = emf_line(&unknown, "email-webhook", Duration::from_millis(1), 0);
    for private in PII.iter().chain([&TOKEN]) {
        assert!(!line.contains(private));
    }

    let quarantined = handled_for(token, "not json");
    let emf = assert_valid_emf(&emf_line(
        &quarantined,
        "email-webhook",
        Duration::from_millis(1),
        0,
    ));
    assert_eq!(
        (
            emf["Quarantined"].clone(),
            emf["Reason"].clone(),
            emf["Rejected"].clone()
        ),
        (json!(1), json!("invalid_payload"), json!(0))
    );
}
