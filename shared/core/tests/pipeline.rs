//! Every row of SPEC §4 through the pipeline with in-memory ports: fast, no AWS. The same
//! table runs against DynamoDB and SQS on moto in the `reply-webhooks-tests` crate.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reply_payload::Category;
use serde_json::{Value, json};
use webhook_core::config::{Config, vars};
use webhook_core::memory::{ManualClock, MemoryPublisher, MemoryStore};
use webhook_core::ports::{Destination, IdempotencyStore};
use webhook_core::record::{EpochMillis, RecordStatus};
use webhook_core::{Handled, InboundRequest, Outcome, Pipeline, RequestBody, TokenParam};

const TOKEN: &str = "reply-local-test-token-0001";
const START: Duration = Duration::from_secs(1_790_000_000);

struct Harness {
    store: MemoryStore,
    publisher: MemoryPublisher,
    clock: ManualClock,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            store: MemoryStore::default(),
            publisher: MemoryPublisher::default(),
            clock: ManualClock::at(SystemTime::UNIX_EPOCH + START),
        }
    }

    fn pipeline(
        &self,
        function: Category,
        extra: &[(&str, &str)],
    ) -> Pipeline<&MemoryStore, &MemoryPublisher, &ManualClock> {
        let config = Config::from_lookup(|name| {
            extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| match name {
                    vars::IDEMPOTENCY_TABLE_NAME => Some("table".into()),
                    vars::ACTIONABLE_QUEUE_URL => Some("https://sqs.local/1/actionable".into()),
                    vars::WEBHOOK_TOKENS => Some(format!("{TOKEN},another-valid-token-02")),
                    _ => None,
                })
        })
        .unwrap();
        Pipeline::new(config, function, &self.store, &self.publisher, &self.clock)
    }

    /// The deadline of an invocation that started now and may run 10 s.
    fn deadline(&self) -> EpochMillis {
        EpochMillis::from_system_time(self.clock.now_plus(Duration::from_secs(10)))
    }
}

trait NowPlus {
    fn now_plus(&self, by: Duration) -> SystemTime;
}

impl NowPlus for ManualClock {
    fn now_plus(&self, by: Duration) -> SystemTime {
        webhook_core::ports::Clock::now(self) + by
    }
}

fn body(id: &str, event_type: &str) -> Vec<u8> {
    json!({
        "event": {"id": id, "type": event_type, "date": "2026-04-21T09:30:00.000Z",
                  "user_id": 1234, "team_id": 100, "subscription_id": 42},
        "contact_fields": {"id": 12345, "email": "prospect@example.com"},
        "sequence_fields": {"id": 67890, "name": "Q2 Outbound", "step_number": 1},
        "unknown_field": {"kept": true}
    })
    .to_string()
    .into_bytes()
}

async fn post(
    pipeline: &Pipeline<&MemoryStore, &MemoryPublisher, &ManualClock>,
    deadline: EpochMillis,
    body: &[u8],
) -> Handled {
    let request = InboundRequest {
        method: "POST",
        token: TokenParam::One(TOKEN),
        body: RequestBody::Plain(body),
    };
    pipeline.handle(&request, deadline).await
}

fn json_body(handled: &Handled) -> Value {
    serde_json::from_str(&handled.response.body).unwrap()
}

#[tokio::test]
async fn new_actionable_event_is_recorded_completed_and_sent_once() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let sent_body = body("evt-1", "email_replied");
    let handled = post(&p, h.deadline(), &sent_body).await;

    assert_eq!(handled.response.status, 200);
    assert_eq!(
        json_body(&handled),
        json!({"status": "accepted", "event_id": "evt-1", "enqueued": true})
    );
    let record = h.store.get("reply#evt-1").unwrap();
    assert_eq!(record.status(), RecordStatus::Completed);
    assert_eq!(record.record.in_progress_expiration, None);
    assert_eq!(record.record.expiration.0, START.as_secs() + 604_800);
    assert_eq!(record.record.event_type, "email_replied");
    assert_eq!(record.record.category, "email");
    assert_eq!(record.record.received_at, "2026-09-21T14:13:20.000Z");
    assert_eq!(record.record.validation.len(), 64);
    assert_eq!(
        record.completion.unwrap().message_id.as_deref(),
        Some("memory-message-0")
    );

    let sent = h.publisher.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Destination::Actionable);
    let message: Value = serde_json::from_str(&sent[0].1.body).unwrap();
    assert_eq!(
        message["payload"],
        serde_json::from_slice::<Value>(&sent_body).unwrap()
    );
    assert_eq!(message["received_at"], "2026-09-21T14:13:20.000Z");
    assert_eq!(handled.report.aws_requests, 3);
    assert_eq!(h.store.requests() + h.publisher.requests(), 3);
}

#[tokio::test]
async fn non_actionable_event_costs_one_request_and_sends_nothing() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let handled = post(&p, h.deadline(), &body("evt-2", "email_opened")).await;
    assert_eq!(
        json_body(&handled),
        json!({"status": "accepted", "event_id": "evt-2", "enqueued": false})
    );
    let record = h.store.get("reply#evt-2").unwrap();
    assert_eq!(record.status(), RecordStatus::Completed);
    assert_eq!(record.record.enqueued, Some(false));
    assert!(h.publisher.sent().is_empty());
    assert_eq!(handled.report.aws_requests, 1);
    assert_eq!(h.store.requests(), 1);
}

#[tokio::test]
async fn non_actionable_event_goes_to_the_activity_queue_when_configured() {
    let h = Harness::new();
    let p = h.pipeline(
        Category::Linkedin,
        &[(vars::ACTIVITY_QUEUE_URL, "https://sqs.local/1/activity")],
    );
    let handled = post(&p, h.deadline(), &body("evt-3", "linkedin_message_sent")).await;
    assert_eq!(json_body(&handled)["enqueued"], true);
    assert_eq!(h.publisher.sent()[0].0, Destination::Activity);
}

#[tokio::test]
async fn duplicate_of_a_completed_event_costs_one_request_and_sends_nothing() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let b = body("evt-4", "email_bounced");
    post(&p, h.deadline(), &b).await;
    let before = h.store.requests() + h.publisher.requests();
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(handled.response.status, 200);
    assert_eq!(
        json_body(&handled),
        json!({"status": "duplicate", "event_id": "evt-4"})
    );
    assert_eq!(h.publisher.sent().len(), 1);
    assert_eq!(h.store.requests() + h.publisher.requests() - before, 1);
    assert_eq!(handled.report.aws_requests, 1);
}

#[tokio::test]
async fn same_id_still_in_progress_is_409_and_taken_over_after_its_deadline() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let b = body("evt-5", "email_replied");
    // A claim left by an invocation that died between claim and publish.
    let deadline = h.deadline();
    let claim = webhook_core::record::NewRecord {
        key: "reply#evt-5".into(),
        status: RecordStatus::InProgress,
        expiration: webhook_core::record::EpochSeconds(START.as_secs() + 604_800),
        in_progress_expiration: Some(deadline),
        validation: hex_sha256(&b),
        event_type: "email_replied".into(),
        category: "email".into(),
        received_at: "2026-09-21T14:13:20.000Z".into(),
        enqueued: None,
    };
    let now = EpochMillis::from_system_time(h.clock.now_plus(Duration::ZERO));
    IdempotencyStore::claim(&h.store, &claim, now)
        .await
        .unwrap();

    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(handled.response.status, 409);
    assert_eq!(json_body(&handled)["error"]["code"], "in_progress");
    assert!(h.publisher.sent().is_empty());

    h.clock.advance(Duration::from_secs(11));
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(json_body(&handled)["status"], "accepted");
    assert_eq!(h.publisher.sent().len(), 1);
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn a_deadline_already_past_leaves_a_claim_a_retry_can_take_over() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let b = body("evt-6", "email_replied");
    h.publisher.fail.store(true, Ordering::SeqCst);
    let past =
        EpochMillis::from_system_time(h.clock.now_plus(Duration::ZERO) - Duration::from_millis(1));
    let handled = post(&p, past, &b).await;
    assert_eq!(handled.response.status, 503);
    h.publisher.fail.store(false, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(json_body(&handled)["status"], "accepted");
    assert_eq!(h.publisher.sent().len(), 1);
}

#[tokio::test]
async fn same_id_with_a_different_body_is_a_payload_mismatch() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    post(&p, h.deadline(), &body("evt-7", "email_replied")).await;
    let handled = post(&p, h.deadline(), &body("evt-7", "email_bounced")).await;
    assert_eq!(handled.response.status, 409);
    assert_eq!(json_body(&handled)["error"]["code"], "payload_mismatch");
    assert_eq!(h.publisher.sent().len(), 1);
}

#[tokio::test]
async fn rejected_requests_touch_nothing() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[(vars::MAX_BODY_BYTES, "1000")]);
    let good = body("evt-8", "email_replied");
    let big = format!(
        r#"{{"event":{{"id":"x","type":"email_replied"}},"pad":"{}"}}"#,
        "a".repeat(1000)
    );
    let cases: Vec<(InboundRequest<'_>, u16, &str)> = vec![
        (
            InboundRequest {
                method: "POST",
                token: TokenParam::Absent,
                body: RequestBody::Plain(&good),
            },
            401,
            "unauthorized",
        ),
        (
            InboundRequest {
                method: "POST",
                token: TokenParam::One("wrong-token-0000000"),
                body: RequestBody::Plain(&good),
            },
            401,
            "unauthorized",
        ),
        (
            InboundRequest {
                method: "POST",
                token: TokenParam::Several,
                body: RequestBody::Plain(&good),
            },
            401,
            "unauthorized",
        ),
        (
            InboundRequest {
                method: "GET",
                token: TokenParam::One(TOKEN),
                body: RequestBody::Plain(&good),
            },
            405,
            "method_not_allowed",
        ),
        (
            InboundRequest {
                method: "POST",
                token: TokenParam::One(TOKEN),
                body: RequestBody::Plain(big.as_bytes()),
            },
            413,
            "payload_too_large",
        ),
        (
            InboundRequest {
                method: "POST",
                token: TokenParam::One(TOKEN),
                body: RequestBody::Plain(b"not json"),
            },
            400,
            "invalid_payload",
        ),
        (
            InboundRequest {
                method: "POST",
                token: TokenParam::One(TOKEN),
                body: RequestBody::Plain(br#"{"event":{"type":"email_replied"}}"#),
            },
            400,
            "invalid_payload",
        ),
    ];
    for (request, status, code) in cases {
        let handled = p.handle(&request, h.deadline()).await;
        assert_eq!(handled.response.status, status, "{code}");
        let body = json_body(&handled);
        assert_eq!(body["error"]["code"], code);
        assert!(!handled.response.body.contains(TOKEN));
        assert_eq!(handled.response.allow_post, status == 405);
    }
    let handled = post(&p, h.deadline(), br#"{"event":{"type":"email_replied"}}"#).await;
    assert_eq!(
        json_body(&handled)["error"]["message"],
        "event.id is missing"
    );
    assert_eq!(h.store.requests() + h.publisher.requests(), 0);
}

#[tokio::test]
async fn second_token_of_the_rotation_list_is_accepted() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let b = body("evt-9", "email_replied");
    let request = InboundRequest {
        method: "POST",
        token: TokenParam::One("another-valid-token-02"),
        body: RequestBody::Plain(&b),
    };
    assert_eq!(p.handle(&request, h.deadline()).await.response.status, 200);
}

#[tokio::test]
async fn known_type_on_the_wrong_route_is_processed_under_its_own_category() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let handled = post(
        &p,
        h.deadline(),
        &body("evt-10", "linkedin_message_replied"),
    )
    .await;
    assert_eq!(
        json_body(&handled),
        json!({"status": "accepted", "event_id": "evt-10", "enqueued": true,
               "warning": "wrong_route", "route": "/webhooks/linkedin"})
    );
    assert!(handled.report.wrong_route);
    assert_eq!(
        h.store.get("reply#evt-10").unwrap().record.category,
        "linkedin"
    );
    let message: Value = serde_json::from_str(&h.publisher.sent()[0].1.body).unwrap();
    assert_eq!(message["category"], "linkedin");
}

#[tokio::test]
async fn unknown_type_is_recorded_and_forwarded_as_actionable() {
    let h = Harness::new();
    let p = h.pipeline(Category::Account, &[]);
    let handled = post(&p, h.deadline(), &body("evt-11", "MeetingBooked")).await;
    assert_eq!(json_body(&handled)["enqueued"], true);
    assert!(!handled.report.known_type && !handled.report.wrong_route);
    let message: Value = serde_json::from_str(&h.publisher.sent()[0].1.body).unwrap();
    assert_eq!(message["event_type"], "MeetingBooked");
    assert_eq!(message["known_type"], false);
    assert_eq!(message["category"], "account");
}

#[tokio::test]
async fn dynamodb_down_is_503_and_nothing_is_sent() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    h.store.fail.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &body("evt-12", "email_replied")).await;
    assert_eq!(handled.response.status, 503);
    assert_eq!(json_body(&handled)["error"]["code"], "unavailable");
    assert!(h.publisher.sent().is_empty());
}

#[tokio::test]
async fn sqs_down_is_503_releases_the_claim_and_a_retry_sends_once() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let b = body("evt-13", "email_replied");
    h.publisher.fail.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(handled.response.status, 503);
    assert_eq!(h.store.get("reply#evt-13"), None, "the claim is released");
    h.publisher.fail.store(false, Ordering::SeqCst);
    assert_eq!(post(&p, h.deadline(), &b).await.response.status, 200);
    assert_eq!(post(&p, h.deadline(), &b).await.response.status, 200);
    assert_eq!(h.publisher.sent().len(), 1);
}

#[tokio::test]
async fn failing_to_mark_a_sent_event_completed_still_answers_200() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    h.store.fail_complete.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &body("evt-14", "email_replied")).await;
    assert_eq!(handled.response.status, 200);
    assert!(handled.report.secondary_failure.is_some());
    assert_eq!(h.publisher.sent().len(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_send_one_message() {
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[]);
    let b = body("evt-15", "email_replied");
    let deadline = h.deadline();
    let results = futures::future::join_all((0..20).map(|_| post(&p, deadline, &b))).await;
    let accepted = results
        .iter()
        .filter(|r| {
            r.report.outcome
                == (Outcome::Accepted {
                    enqueued: true,
                    destination: Some(Destination::Actionable),
                })
        })
        .count();
    assert_eq!(accepted, 1);
    assert_eq!(h.publisher.sent().len(), 1);
}

#[tokio::test]
async fn base64_bodies_are_decoded_and_broken_ones_refused() {
    use base64::Engine;
    let h = Harness::new();
    let p = h.pipeline(Category::Email, &[(vars::MAX_BODY_BYTES, "2000")]);
    let b = body("evt-16", "email_replied");
    let encoded = base64::prelude::BASE64_STANDARD.encode(&b);
    let request = |body| InboundRequest {
        method: "POST",
        token: TokenParam::One(TOKEN),
        body,
    };
    let handled = p
        .handle(&request(RequestBody::Base64(&encoded)), h.deadline())
        .await;
    assert_eq!(json_body(&handled)["status"], "accepted");
    let message: Value = serde_json::from_str(&h.publisher.sent()[0].1.body).unwrap();
    assert_eq!(
        message["payload"],
        serde_json::from_slice::<Value>(&b).unwrap()
    );

    let handled = p
        .handle(
            &request(RequestBody::Base64("eyJldmVudCI6e30*")),
            h.deadline(),
        )
        .await;
    assert_eq!(handled.response.status, 400);
    assert_eq!(
        json_body(&handled)["error"]["message"],
        "body is marked base64-encoded but is not valid base64"
    );
    let huge = base64::prelude::BASE64_STANDARD.encode(vec![b' '; 2001]);
    let handled = p
        .handle(&request(RequestBody::Base64(&huge)), h.deadline())
        .await;
    assert_eq!(handled.response.status, 413);
    assert_eq!(h.publisher.sent().len(), 1);
}

#[tokio::test]
async fn a_body_exactly_at_the_limit_is_accepted_and_one_byte_more_refused() {
    let h = Harness::new();
    let b = body("evt-17", "email_replied");
    let limit = b.len().to_string();
    let p = h.pipeline(Category::Email, &[(vars::MAX_BODY_BYTES, &limit)]);
    assert_eq!(post(&p, h.deadline(), &b).await.response.status, 200);
    let mut over = body("evt-18", "email_replied");
    over.push(b' ');
    assert_eq!(post(&p, h.deadline(), &over).await.response.status, 413);
}
