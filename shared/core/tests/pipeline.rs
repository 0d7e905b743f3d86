//! The pipeline with in-memory ports: fast, no AWS. The rules that live in the core itself
//! (fenced claims, the time budget, quarantine, canonical duplicates, replay) are tested here;
//! the HTTP contract as a whole runs from the shared case file against every backend.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use reply_payload::Category;
use serde_json::{Value, json};
use webhook_core::config::{Config, vars};
use webhook_core::memory::{ManualClock, MemoryPublisher, MemoryStore};
use webhook_core::ports::{Clock, Destination};
use webhook_core::record::{EpochMillis, RecordStatus};
use webhook_core::{
    Deadline, Handled, InboundRequest, Outcome, Pipeline, QuarantineReason, RequestBody,
    TokenParam, Unfinished,
};

const TOKEN: &str = "reply-local-test-token-0001";
const START: Duration = Duration::from_secs(1_790_000_000);

type MemoryPipeline<'h> = Pipeline<&'h MemoryStore, &'h MemoryPublisher, &'h ManualClock>;

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

    /// The email function with a quarantine queue (as deployed), plus `extra` variables.
    fn pipeline(&self, extra: &[(&str, &str)]) -> MemoryPipeline<'_> {
        self.pipeline_for(Category::Email, extra)
    }

    fn pipeline_for(&self, function: Category, extra: &[(&str, &str)]) -> MemoryPipeline<'_> {
        let config = Config::from_lookup(|name| {
            extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| match name {
                    vars::IDEMPOTENCY_TABLE_NAME => Some("table".into()),
                    vars::ACTIONABLE_QUEUE_URL => Some("https://sqs.local/1/actionable".into()),
                    vars::QUARANTINE_QUEUE_URL => Some("https://sqs.local/1/quarantine".into()),
                    vars::WEBHOOK_TOKENS => Some(format!("{TOKEN},another-valid-token-02")),
                    _ => None,
                })
        })
        .unwrap();
        Pipeline::new(config, function, &self.store, &self.publisher, &self.clock)
    }

    fn now_ms(&self) -> u64 {
        EpochMillis::from_system_time(self.clock.now()).0
    }

    /// An invocation that started now and may run `seconds`.
    fn deadline_in(&self, millis: u64) -> Deadline {
        Deadline {
            claim_expires: EpochMillis(self.now_ms() + millis),
            answer_by: EpochMillis((self.now_ms() + millis).saturating_sub(250)),
        }
    }

    fn deadline(&self) -> Deadline {
        self.deadline_in(10_000)
    }

    fn quarantined(&self) -> Vec<Value> {
        self.publisher
            .sent_to(Destination::Quarantine)
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    fn events_sent(&self) -> usize {
        self.publisher.sent_to(Destination::Actionable).len()
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

fn request(body: &[u8]) -> InboundRequest<'_> {
    InboundRequest {
        method: "POST",
        token: TokenParam::One(TOKEN),
        body: RequestBody::Bytes(body),
        content_type: Some("application/json"),
    }
}

async fn post(pipeline: &MemoryPipeline<'_>, deadline: Deadline, body: &[u8]) -> Handled {
    pipeline.handle(&request(body), deadline).await
}

fn json_body(handled: &Handled) -> Value {
    serde_json::from_str(&handled.response.body).unwrap()
}

#[tokio::test]
async fn new_actionable_event_is_recorded_completed_and_sent_once() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
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
    assert_eq!(record.record.received_at, "2026-09-21T14:13:20.000Z");
    assert_eq!(record.record.claim_token.as_str().len(), 32);
    assert_eq!(record.message_id.as_deref(), Some("memory-message-0"));
    let message: Value =
        serde_json::from_str(&h.publisher.sent_to(Destination::Actionable)[0].body).unwrap();
    assert_eq!(
        message["payload"],
        serde_json::from_slice::<Value>(&sent_body).unwrap()
    );
    assert_eq!(handled.report.requests.total(), 3);
    assert_eq!(h.store.requests() + h.publisher.requests(), 3);
}

#[tokio::test]
async fn claim_tokens_differ_per_claim() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    post(&p, h.deadline(), &body("evt-a", "email_opened")).await;
    post(&p, h.deadline(), &body("evt-b", "email_opened")).await;
    let token = |key: &str| h.store.get(key).unwrap().record.claim_token;
    assert_ne!(token("reply#evt-a"), token("reply#evt-b"));
}

#[tokio::test]
async fn the_same_json_written_differently_is_a_duplicate() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let original =
        br#"{"event":{"id":"evt-2","type":"email_replied"},"text":"caf\u00e9","n":[1,2]}"#;
    let rewritten = b"{ \"n\" : [1, 2],\n  \"text\": \"caf\xc3\xa9\", \"event\": {\"type\":\"email_replied\",\"id\":\"evt-2\"} }";
    assert_eq!(post(&p, h.deadline(), original).await.response.status, 200);
    let handled = post(&p, h.deadline(), rewritten).await;
    assert_eq!(
        json_body(&handled),
        json!({"status": "duplicate", "event_id": "evt-2"})
    );
    assert_eq!(h.events_sent(), 1);
    assert!(h.quarantined().is_empty());
}

#[tokio::test]
async fn a_different_value_under_a_known_id_is_quarantined_and_nothing_forwarded() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    post(&p, h.deadline(), &body("evt-3", "email_replied")).await;
    let other = body("evt-3", "email_bounced");
    let handled = post(&p, h.deadline(), &other).await;
    assert_eq!(handled.response.status, 202);
    let answer = json_body(&handled);
    assert_eq!(answer["status"], "quarantined");
    assert_eq!(answer["reason"], "payload_mismatch");
    assert_eq!(answer["event_id"], "evt-3");
    assert_eq!(h.events_sent(), 1);
    let kept = h.quarantined();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["reason"], "payload_mismatch");
    assert_eq!(kept[0]["event_id"], "evt-3");
    assert_eq!(
        kept[0]["body"].as_str().unwrap().as_bytes(),
        other.as_slice()
    );
    // The record is the first delivery's.
    assert_eq!(
        h.store.get("reply#evt-3").unwrap().record.event_type,
        "email_replied"
    );
}

#[tokio::test]
async fn without_a_quarantine_queue_the_old_answers_stay() {
    let h = Harness::new();
    let p = h.pipeline(&[(vars::QUARANTINE_QUEUE_URL, "")]);
    post(&p, h.deadline(), &body("evt-4", "email_replied")).await;
    let handled = post(&p, h.deadline(), &body("evt-4", "email_bounced")).await;
    assert_eq!(handled.response.status, 409);
    assert_eq!(json_body(&handled)["error"]["code"], "payload_mismatch");
    let handled = post(&p, h.deadline(), br#"{"event":{"type":"email_replied"}}"#).await;
    assert_eq!(handled.response.status, 400);
    assert_eq!(
        json_body(&handled)["error"],
        json!({"code": "invalid_payload", "message": "event.id is missing"})
    );
    h.publisher.refuse_events.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &body("evt-5", "email_replied")).await;
    assert_eq!(handled.response.status, 503);
    assert!(
        h.store.get("reply#evt-5").is_none(),
        "the claim is released"
    );
    assert!(h.publisher.sent().len() == 1, "only evt-4's message");
}

#[tokio::test]
async fn an_authentic_unreadable_body_is_kept_whole_in_the_quarantine_queue() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let cases: [(&[u8], &str, Option<&str>); 4] = [
        (
            b"not json",
            "body is not valid JSON: expected ident at line 1 column 2",
            None,
        ),
        (
            br#"{"event":{"id":"evt-6"}}"#,
            "event.type is missing",
            Some("evt-6"),
        ),
        (
            b"\xff\xfe{}",
            "body is not valid UTF-8 (invalid byte at offset 0)",
            None,
        ),
        (
            br#"{"event":{"id":"a","Id":"b","type":"email_replied"}}"#,
            "event.id is given more than once with different values",
            None,
        ),
    ];
    for (raw, problem, event_id) in cases {
        let handled = post(&p, h.deadline(), raw).await;
        assert_eq!(handled.response.status, 202, "{problem}");
        let answer = json_body(&handled);
        assert_eq!(answer["reason"], "invalid_payload");
        assert_eq!(answer["message"], problem);
        let kept = h.quarantined().pop().unwrap();
        assert_eq!(kept["message"], problem);
        assert_eq!(kept["function"], "email");
        assert_eq!(kept["content_type"], "application/json");
        assert_eq!(kept.get("event_id").and_then(Value::as_str), event_id);
        let recovered = match kept["body"].as_str() {
            Some(text) => text.as_bytes().to_vec(),
            None => BASE64_STANDARD
                .decode(kept["body_base64"].as_str().unwrap())
                .unwrap(),
        };
        assert_eq!(recovered, raw, "{problem}");
        assert!(!handled.response.body.contains(TOKEN) && !kept.to_string().contains(TOKEN));
    }
    assert_eq!(h.store.requests(), 0, "nothing is claimed");
    assert_eq!(h.events_sent(), 0);
}

#[tokio::test]
async fn a_body_marked_base64_that_is_not_is_quarantined_as_it_came() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let raw = b"eyJldmVudCI6e30*";
    let handled = p
        .handle(
            &InboundRequest {
                body: RequestBody::NotBase64(raw),
                ..request(b"")
            },
            h.deadline(),
        )
        .await;
    assert_eq!(handled.response.status, 202);
    let kept = h.quarantined().pop().unwrap();
    assert_eq!(
        kept["message"],
        "body is marked base64-encoded but is not valid base64"
    );
    assert_eq!(kept["body"], "eyJldmVudCI6e30*");
}

#[tokio::test]
async fn a_quarantine_that_cannot_be_written_is_503() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    h.publisher.fail.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), b"not json").await;
    assert_eq!(handled.response.status, 503);
    assert_eq!(json_body(&handled)["error"]["code"], "unavailable");
}

#[tokio::test]
async fn a_message_the_queue_refuses_is_quarantined_and_its_claim_released() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let b = body("evt-7", "email_replied");
    h.publisher.refuse_events.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(handled.response.status, 202);
    assert_eq!(json_body(&handled)["reason"], "rejected_by_queue");
    let kept = h.quarantined().pop().unwrap();
    assert_eq!(kept["reason"], "rejected_by_queue");
    assert!(
        kept["message"]
            .as_str()
            .unwrap()
            .contains("InvalidMessageContents")
    );
    assert_eq!(kept["body"].as_str().unwrap().as_bytes(), b.as_slice());
    assert!(
        h.store.get("reply#evt-7").is_none(),
        "released, so a replay can claim it"
    );

    // Once the cause is fixed, the replay sends it exactly once.
    h.publisher.refuse_events.store(false, Ordering::SeqCst);
    let replayed = p.replay(&b, h.deadline()).await;
    assert_eq!(
        replayed.report.outcome,
        Outcome::Accepted {
            sent_to: Some(Destination::Actionable)
        }
    );
    assert_eq!(
        p.replay(&b, h.deadline()).await.report.outcome,
        Outcome::Duplicate
    );
    assert_eq!(h.events_sent(), 1);
}

#[tokio::test]
async fn a_message_over_the_sqs_limit_is_quarantined_without_trying_to_send_it() {
    let h = Harness::new();
    let p = h.pipeline(&[(vars::MAX_BODY_BYTES, "780288")]);
    // U+FFFF is 3 bytes in the body and 6 once escaped for SQS.
    let text = "\u{FFFF}".repeat(250_000);
    let b = format!(r#"{{"event":{{"id":"evt-8","type":"email_replied"}},"t":"{text}"}}"#);
    let handled = post(&p, h.deadline(), b.as_bytes()).await;
    assert_eq!(json_body(&handled)["reason"], "rejected_by_queue");
    let kept = h.quarantined().pop().unwrap();
    assert!(
        kept["message"]
            .as_str()
            .unwrap()
            .starts_with("SQS refused the event message (MessageTooLong)")
    );
    assert_eq!(
        BASE64_STANDARD
            .decode(kept["body_base64"].as_str().unwrap())
            .unwrap(),
        b.as_bytes()
    );
    assert_eq!(
        h.publisher.requests(),
        1,
        "only the quarantine message was sent"
    );
}

#[tokio::test]
async fn a_claim_retried_by_the_sdk_after_a_lost_answer_is_ours() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    h.store.retried_claim.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &body("evt-9", "email_replied")).await;
    assert_eq!(json_body(&handled)["status"], "accepted");
    assert_eq!(h.events_sent(), 1);
    assert_eq!(
        h.store.get("reply#evt-9").unwrap().status(),
        RecordStatus::Completed
    );
}

#[tokio::test]
async fn a_claim_taken_over_before_complete_is_reported_and_nothing_is_written() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    h.store
        .taken_over_before_complete
        .store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &body("evt-11", "email_replied")).await;
    assert_eq!(handled.response.status, 200, "the message is out: 200");
    assert_eq!(handled.report.unfinished, Some(Unfinished::ClaimLost));
    let record = h.store.get("reply#evt-11").unwrap();
    assert_eq!(
        record.status(),
        RecordStatus::InProgress,
        "someone else's claim, untouched"
    );
    assert_eq!(record.message_id, None);
}

#[tokio::test]
async fn failing_to_complete_a_sent_event_still_answers_200_after_retrying() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    h.store.fail_complete.store(true, Ordering::SeqCst);
    let handled = post(&p, h.deadline(), &body("evt-12", "email_replied")).await;
    assert_eq!(handled.response.status, 200);
    assert!(matches!(
        handled.report.unfinished,
        Some(Unfinished::NotCompleted(_))
    ));
    assert_eq!(h.events_sent(), 1);
    // claim + send + three attempts at completing
    assert_eq!(handled.report.requests.total(), 5);
}

#[tokio::test]
async fn with_too_little_time_left_nothing_is_sent_and_the_claim_is_released() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    // 700 ms to the deadline: 450 ms to answer, less than a send plus its completion.
    let handled = post(&p, h.deadline_in(700), &body("evt-13", "email_replied")).await;
    assert_eq!(handled.response.status, 503);
    assert_eq!(json_body(&handled)["error"]["code"], "unavailable");
    assert_eq!(handled.report.event_id.as_deref(), Some("evt-13"));
    assert_eq!(h.events_sent(), 0);
    assert!(h.store.get("reply#evt-13").is_none());
    // A non-actionable event needs only its claim: it is recorded.
    let handled = post(&p, h.deadline_in(700), &body("evt-14", "email_opened")).await;
    assert_eq!(handled.response.status, 200);
}

#[tokio::test]
async fn an_expired_in_progress_claim_is_taken_over() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let b = body("evt-15", "email_replied");
    h.store
        .taken_over_before_complete
        .store(false, Ordering::SeqCst);
    // Leave a claim behind: complete fails, so the record stays INPROGRESS until its deadline.
    h.store.fail_complete.store(true, Ordering::SeqCst);
    post(&p, h.deadline(), &b).await;
    h.store.fail_complete.store(false, Ordering::SeqCst);
    assert_eq!(
        h.store.get("reply#evt-15").unwrap().status(),
        RecordStatus::InProgress
    );
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(handled.response.status, 409);
    assert_eq!(json_body(&handled)["error"]["code"], "in_progress");
    h.clock.advance(Duration::from_secs(11));
    let handled = post(&p, h.deadline(), &b).await;
    assert_eq!(json_body(&handled)["status"], "accepted");
}

#[tokio::test]
async fn non_actionable_event_costs_one_request_and_sends_nothing() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let handled = post(&p, h.deadline(), &body("evt-16", "email_opened")).await;
    assert_eq!(
        json_body(&handled),
        json!({"status": "accepted", "event_id": "evt-16", "enqueued": false})
    );
    let record = h.store.get("reply#evt-16").unwrap();
    assert_eq!(record.status(), RecordStatus::Completed);
    assert_eq!(record.record.enqueued, Some(false));
    assert!(h.publisher.sent().is_empty());
    assert_eq!(handled.report.requests.total(), 1);
}

#[tokio::test]
async fn non_actionable_event_goes_to_the_activity_queue_when_configured() {
    let h = Harness::new();
    let p = h.pipeline_for(
        Category::Linkedin,
        &[(vars::ACTIVITY_QUEUE_URL, "https://sqs.local/1/activity")],
    );
    let handled = post(&p, h.deadline(), &body("evt-17", "linkedin_message_sent")).await;
    assert_eq!(json_body(&handled)["enqueued"], true);
    assert_eq!(h.publisher.sent()[0].0, Destination::Activity);
}

#[tokio::test]
async fn a_tolerated_envelope_oddity_is_reported_as_a_warning() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let raw = br#"{"event":{"id":"evt-18","type":"email_replied","team_id":1,"TeamId":2,"user_id":true}}"#;
    let handled = post(&p, h.deadline(), raw).await;
    assert_eq!(handled.response.status, 200);
    assert_eq!(
        handled.report.warnings,
        [
            "event.team_id is given more than once; the canonical spelling (else the last) is used",
            "event.user_id is not a number or a string; read as absent",
        ]
    );
    let message: Value =
        serde_json::from_str(&h.publisher.sent_to(Destination::Actionable)[0].body).unwrap();
    assert_eq!(message["team_id"], "1");
    assert_eq!(message["user_id"], Value::Null);
}

#[tokio::test]
async fn known_type_on_the_wrong_route_is_processed_under_its_own_category() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let handled = post(
        &p,
        h.deadline(),
        &body("evt-19", "linkedin_message_replied"),
    )
    .await;
    assert_eq!(
        json_body(&handled),
        json!({"status": "accepted", "event_id": "evt-19", "enqueued": true,
               "warning": "wrong_route", "route": "/webhooks/linkedin"})
    );
    assert!(handled.report.event.unwrap().wrong_route);
    assert_eq!(
        h.store.get("reply#evt-19").unwrap().record.category,
        "linkedin"
    );
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_send_one_message() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let b = body("evt-20", "email_replied");
    let deadline = h.deadline();
    let results = futures::future::join_all((0..20).map(|_| post(&p, deadline, &b))).await;
    let accepted = results
        .iter()
        .filter(|r| {
            r.report.outcome
                == (Outcome::Accepted {
                    sent_to: Some(Destination::Actionable),
                })
        })
        .count();
    assert_eq!(accepted, 1);
    assert_eq!(h.events_sent(), 1);
}

#[tokio::test]
async fn a_replay_that_still_fails_is_not_quarantined_again() {
    let h = Harness::new();
    let p = h.pipeline(&[]);
    let handled = p.replay(b"still not json", h.deadline()).await;
    assert_eq!(handled.response.status, 400);
    assert!(matches!(handled.report.outcome, Outcome::InvalidPayload(_)));
    assert!(h.publisher.sent().is_empty());
    let quarantined = Outcome::Quarantined {
        reason: QuarantineReason::InvalidPayload,
        problem: String::new(),
    };
    assert!(quarantined.is_success() && !handled.report.outcome.is_success());
}
