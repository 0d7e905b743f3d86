//! Fault injection: DynamoDB or SQS slow, hung or reset, before or after the request reaches
//! the service, through a loopback proxy (devkit::proxy) in front of the fixture's strict one.
//! Both are strict, so every request that gets through is also one AWS would accept.
//!
//! The faulty side's SDK client has the functions' own timeouts
//! ([`webhook_lambda::sdk_timeouts`]: connect 1 s, attempt 1 s, operation 3 s) and default
//! retries; the invocation is bounded by its deadline as on Lambda ([`webhook_lambda::handle`]).
//! Each test asserts the HTTP answer, what is stored and what is sent, and then what Reply's
//! retry gets. Dependency-down, takeover and past-deadline cases live in aws_pipeline.rs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use devkit::proxy::{Fault, Proxy, Trigger, target};
use reply_payload::Category;
use reply_webhooks_tests::{
    Fixture, Queues, TOKEN, body, deadline_in, http_event, invoke_at, require_moto,
};
use serde_json::{Value, json};
use webhook_core::Config;
use webhook_lambda::{AwsPipeline, aws_pipeline};

/// An SDK configuration like the functions': their timeouts, default retries, `endpoint`.
async fn sdk_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .timeout_config(webhook_lambda::sdk_timeouts())
        .load()
        .await
}

/// A proxy in front of `upstream` that injects `fault` into every exchange.
async fn faulty(upstream: &str, fault: Fault) -> Proxy {
    let proxy = Proxy::start(upstream).await.unwrap();
    proxy.inject(fault, Trigger::always());
    proxy
}

/// The email function with DynamoDB at `dynamodb` and SQS at `sqs` (the fixture's strict
/// proxy, or a faulty one in front of it).
async fn pipeline(f: &Fixture, dynamodb: &str, sqs: &str, config: Config) -> AwsPipeline {
    assert_eq!(config.actionable_queue_url, f.actionable_queue_url);
    aws_pipeline(
        config,
        Category::Email,
        &sdk_at(dynamodb).await,
        &sdk_at(sqs).await,
    )
}

/// Delivers `delivery` with the invocation deadline `deadline` (epoch ms); returns the status,
/// the body and when the answer came (epoch ms).
async fn deliver(p: &AwsPipeline, delivery: &str, deadline: u64) -> (u16, Value, u64) {
    let request = http_event(
        "POST",
        "/webhooks/email",
        &format!("token={TOKEN}"),
        delivery,
        false,
    );
    let answer = invoke_at(p, &request, deadline).await;
    let answered = deadline_in(Duration::ZERO);
    assert!(!answer.body.to_string().contains(TOKEN));
    (answer.status, answer.body, answered)
}

fn attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn millis(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The event ids of every message in the actionable queue (drained).
async fn sent_ids(f: &Fixture) -> Vec<String> {
    f.drain(&f.actionable_queue_url)
        .await
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            body["event_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Asserts the event is held by an INPROGRESS claim expiring at `deadline`: what an
/// invocation that died (or gave up) after claiming leaves behind.
async fn assert_claim_left_until(f: &Fixture, id: &str, deadline: u64) {
    let item = f.record(id).await.expect("the claim is still there");
    assert_eq!(attr(&item, "status"), Some("INPROGRESS"));
    assert_eq!(millis(&item, "in_progress_expiration"), Some(deadline));
    assert!(!item.contains_key("message_id"));
}

/// Reply's retries on a healthy stack: 409 while the dead invocation's claim is live, then,
/// after its deadline, the takeover sends the event exactly once; a later duplicate sends
/// nothing.
async fn retry_takes_over_after(f: &Fixture, id: &str, delivery: &str, dead_deadline: u64) {
    let aws = f.endpoint();
    let healthy = pipeline(f, &aws, &aws, f.config(&[])).await;
    let later = deadline_in(Duration::from_secs(10));
    if deadline_in(Duration::ZERO) + 100 < dead_deadline {
        let (status, answer, _) = deliver(&healthy, delivery, later).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (409, Some("in_progress")),
            "{answer}"
        );
    }
    let wait = dead_deadline.saturating_sub(deadline_in(Duration::ZERO)) + 50;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let (status, answer, _) = deliver(&healthy, delivery, later).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"status": "accepted", "event_id": id, "enqueued": true})
        )
    );
    let (status, answer, _) = deliver(&healthy, delivery, later).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(sent_ids(f).await, [id], "exactly one message");
    let item = f.record(id).await.unwrap();
    assert_eq!(attr(&item, "status"), Some("COMPLETED"));
    assert_eq!(f.record_count().await, 1);
}

fn assert_unavailable(status: u16, answer: &Value) {
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{answer}"
    );
}

#[tokio::test]
async fn dynamodb_slow_but_within_the_attempt_timeout_succeeds() {
    require_moto!();
    let f = Fixture::new("slow-ddb-ok", Queues::default()).await;
    let aws = f.endpoint();
    let proxy = faulty(&aws, Fault::Delay(Duration::from_millis(300))).await;
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body("fault-1", "email_replied");
    let started = Instant::now();
    let (status, answer, _) = deliver(&p, &delivery, deadline_in(Duration::from_secs(5))).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"status": "accepted", "event_id": "fault-1", "enqueued": true})
        )
    );
    // Claim and completion, each held 300 ms.
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(proxy.faults(), 2);
    let item = f.record("fault-1").await.unwrap();
    assert_eq!(attr(&item, "status"), Some("COMPLETED"));
    assert_eq!(sent_ids(&f).await, ["fault-1"]);
}

#[tokio::test]
async fn dynamodb_slower_than_the_attempt_timeout_is_503_sends_nothing_and_the_retry_sends_once() {
    require_moto!();
    let f = Fixture::new("slow-ddb-fail", Queues::default()).await;
    let aws = f.endpoint();
    // Every answer 1.5 s late: each attempt (1 s) times out, after DynamoDB applied it.
    let proxy = faulty(&aws, Fault::Delay(Duration::from_millis(1500))).await;
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body("fault-2", "email_replied");
    let deadline = deadline_in(Duration::from_millis(2000));
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_unavailable(status, &answer);
    assert!(answered < deadline, "answered before the deadline");
    assert!(sent_ids(&f).await.is_empty(), "nothing sent");
    // The first attempt's PutItem landed: the claim is held until the invocation's deadline,
    // never COMPLETED.
    assert_claim_left_until(&f, "fault-2", deadline).await;
    drop(proxy);
    retry_takes_over_after(&f, "fault-2", &delivery, deadline).await;
}

#[tokio::test]
async fn dynamodb_hung_cannot_hold_the_invocation_past_its_deadline() {
    require_moto!();
    let f = Fixture::new("hung-ddb", Queues::default()).await;
    let aws = f.endpoint();
    // Accepts the connection, swallows the request: DynamoDB never sees it.
    let proxy = faulty(&aws, Fault::Hang).await;
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let deadline = deadline_in(Duration::from_millis(1500));
    let (status, answer, answered) = deliver(&p, &body("fault-3", "email_replied"), deadline).await;
    assert_unavailable(status, &answer);
    assert!(
        answered < deadline,
        "answered {} ms after the deadline",
        answered.saturating_sub(deadline)
    );
    // The claim may use the time left less the answer's margin and what a send and its
    // completion need (0.25 + 0.25 + 0.5 s).
    assert!(
        answered + 1_200 > deadline,
        "gave up {} ms early",
        deadline - answered
    );
    assert!(proxy.faults() >= 1);
    assert_eq!(f.record_count().await, 0, "nothing stored");
    assert!(sent_ids(&f).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn dynamodb_hung_mid_request_leaves_a_claim_until_the_deadline_then_the_retry_sends_once() {
    require_moto!();
    let f = Fixture::new("hung-mid-ddb", Queues::default()).await;
    let aws = f.endpoint();
    // The PutItem reaches DynamoDB and is applied; its answer never comes back.
    let proxy = faulty(&aws, Fault::HangAfterForward).await;
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body("fault-4", "email_replied");
    let deadline = deadline_in(Duration::from_millis(1500));
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_unavailable(status, &answer);
    assert!(answered < deadline);
    assert!(sent_ids(&f).await.is_empty(), "nothing sent");
    assert_claim_left_until(&f, "fault-4", deadline).await;
    drop(proxy);
    retry_takes_over_after(&f, "fault-4", &delivery, deadline).await;
}

#[tokio::test]
async fn dynamodb_reset_mid_request_is_503_sends_nothing_and_the_retry_sends_once() {
    require_moto!();
    let f = Fixture::new("reset-mid-ddb", Queues::default()).await;
    let aws = f.endpoint();
    // Every request is applied, then the connection is reset instead of answered; the SDK
    // retries (its retries find the claim their first attempt wrote, and are reset too).
    let proxy = faulty(&aws, Fault::ResetAfterForward).await;
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body("fault-5", "email_replied");
    let deadline = deadline_in(Duration::from_millis(3000));
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_unavailable(status, &answer);
    assert!(answered < deadline);
    assert!(proxy.faults() >= 2, "the SDK retried a reset request");
    assert!(sent_ids(&f).await.is_empty(), "nothing sent");
    assert_claim_left_until(&f, "fault-5", deadline).await;
    drop(proxy);
    retry_takes_over_after(&f, "fault-5", &delivery, deadline).await;
}

#[tokio::test]
async fn dynamodb_reset_once_before_the_request_arrives_is_retried_and_succeeds() {
    require_moto!();
    let f = Fixture::new("reset-once-ddb", Queues::default()).await;
    let aws = f.endpoint();
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(Fault::Reset, Trigger::once());
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let (status, answer, _) = deliver(
        &p,
        &body("fault-6", "email_replied"),
        deadline_in(Duration::from_secs(5)),
    )
    .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    assert_eq!(proxy.faults(), 1);
    assert_eq!(
        attr(&f.record("fault-6").await.unwrap(), "status"),
        Some("COMPLETED")
    );
    assert_eq!(sent_ids(&f).await, ["fault-6"]);
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_recognised_by_the_sdk_retry_as_ours() {
    require_moto!();
    let f = Fixture::new("lost-claim-answer", Queues::default()).await;
    let aws = f.endpoint();
    // One blip: the claim is applied, its answer reset; the SDK's retry then meets the claim
    // its own first attempt wrote, recognises its claim token, and carries on.
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(Fault::ResetAfterForward, Trigger::once());
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body("fault-7", "email_replied");
    let deadline = deadline_in(Duration::from_secs(10));
    let (status, answer, _) = deliver(&p, &delivery, deadline).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"status": "accepted", "event_id": "fault-7", "enqueued": true})
        )
    );
    assert_eq!(proxy.faults(), 1);
    assert_eq!(sent_ids(&f).await, ["fault-7"], "exactly one message");
    let item = f.record("fault-7").await.unwrap();
    assert_eq!(attr(&item, "status"), Some("COMPLETED"));
    let (status, answer, _) = deliver(&p, &delivery, deadline).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert!(sent_ids(&f).await.is_empty(), "nothing more");
}

#[tokio::test]
async fn sqs_hung_is_503_the_claim_is_released_and_the_retry_sends_once() {
    require_moto!();
    let f = Fixture::new("hung-sqs", Queues::default()).await;
    let aws = f.endpoint();
    let proxy = faulty(&aws, Fault::Hang).await;
    let p = pipeline(&f, &aws, &proxy.url(), f.config(&[])).await;
    let delivery = body("fault-8", "email_replied");
    // A deadline far enough for the SDK's operation timeout (3 s) to end the send first.
    let deadline = deadline_in(Duration::from_secs(6));
    let started = Instant::now();
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_unavailable(status, &answer);
    assert!(answered < deadline);
    assert!(
        started.elapsed() < Duration::from_millis(3900),
        "the operation timeout ended the send: {:?}",
        started.elapsed()
    );
    assert!(proxy.faults() >= 1);
    assert!(f.record("fault-8").await.is_none(), "the claim is released");
    assert!(sent_ids(&f).await.is_empty(), "nothing sent");
    // Released, so Reply's retry does not wait for the deadline.
    retry_takes_over_after(&f, "fault-8", &delivery, 0).await;
}

#[tokio::test]
async fn killed_between_claim_and_publish_the_retry_after_the_deadline_sends_once() {
    require_moto!();
    let f = Fixture::new("killed", Queues::default()).await;
    let aws = f.endpoint();
    // SQS hangs, and the process dies while the send is in flight (the invocation's future is
    // dropped, as when Lambda ends the process): the claim is written, the publish never
    // finished, the release never runs.
    let proxy = faulty(&aws, Fault::Hang).await;
    let p = pipeline(&f, &aws, &proxy.url(), f.config(&[])).await;
    let delivery = body("fault-9", "contact_opted_out");
    let deadline = deadline_in(Duration::from_millis(2500));
    let killed = tokio::time::timeout(
        Duration::from_millis(1000),
        deliver(&p, &delivery, deadline),
    )
    .await;
    assert!(killed.is_err(), "the invocation was cut mid-send");
    assert!(proxy.faults() >= 1, "the send was in flight");
    assert!(sent_ids(&f).await.is_empty(), "nothing sent");
    assert_claim_left_until(&f, "fault-9", deadline).await;
    drop(proxy);
    retry_takes_over_after(&f, "fault-9", &delivery, deadline).await;
}

/// Only the completion fails, once: the first UpdateItem is reset before it lands (the PutItem
/// and the SendMessage before it pass), the SDK retries it, and the event ends COMPLETED and
/// sent once.
#[tokio::test]
async fn the_first_completion_reset_before_it_lands_is_retried_and_the_event_completes() {
    require_moto!();
    let f = Fixture::new("reset-first-update", Queues::default()).await;
    let aws = f.endpoint();
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(Fault::Reset, Trigger::nth(target::UPDATE_ITEM, 1));
    let p = pipeline(&f, &proxy.url(), &proxy.url(), f.config(&[])).await;
    let delivery = body("fault-12", "email_replied");
    let (status, answer, _) = deliver(&p, &delivery, deadline_in(Duration::from_secs(6))).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"status": "accepted", "event_id": "fault-12", "enqueued": true})
        )
    );
    let seen: Vec<(String, Option<Fault>)> = proxy
        .exchanges()
        .into_iter()
        .map(|exchange| (exchange.target, exchange.fault))
        .collect();
    let expected = [
        (target::PUT_ITEM, None),
        (target::SEND_MESSAGE, None),
        (target::UPDATE_ITEM, Some(Fault::Reset)),
        (target::UPDATE_ITEM, None),
    ]
    .map(|(name, fault)| (name.to_owned(), fault));
    assert_eq!(seen, expected);
    assert_eq!(
        attr(&f.record("fault-12").await.unwrap(), "status"),
        Some("COMPLETED")
    );
    assert_eq!(sent_ids(&f).await, ["fault-12"]);
}

/// SQS took the message, then every attempt to mark the record COMPLETED is reset: the answer
/// is 200 (the message is out; a 503 would make Reply send it again), the claim stays
/// INPROGRESS until the invocation's deadline, and the event was sent once.
#[tokio::test]
async fn completion_failing_after_the_send_is_200_with_the_claim_left_until_the_deadline() {
    require_moto!();
    let f = Fixture::new("completion-fails", Queues::default()).await;
    let aws = f.endpoint();
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(Fault::Reset, Trigger::every(target::UPDATE_ITEM));
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let deadline = deadline_in(Duration::from_secs(6));
    let (status, answer, _) = deliver(&p, &body("fault-13", "email_replied"), deadline).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"status": "accepted", "event_id": "fault-13", "enqueued": true})
        )
    );
    assert!(proxy.faults() >= 1);
    assert!(
        proxy
            .exchanges()
            .iter()
            .filter(|exchange| exchange.target == target::UPDATE_ITEM)
            .all(|exchange| exchange.fault == Some(Fault::Reset))
    );
    assert_claim_left_until(&f, "fault-13", deadline).await;
    assert_eq!(sent_ids(&f).await, ["fault-13"]);
}

/// The at-least-once window: SQS took the message but its answer was lost. The SDK retries
/// the send, the pipeline answers 503 and releases, Reply retries: a standard queue gets the
/// event more than once (same event_id; consumers dedupe on it), and the record ends
/// COMPLETED once.
#[tokio::test]
async fn sqs_answer_lost_after_the_send_is_at_least_once_on_a_standard_queue() {
    require_moto!();
    let f = Fixture::new("lost-send-answer", Queues::default()).await;
    let aws = f.endpoint();
    let proxy = faulty(&aws, Fault::HangAfterForward).await;
    let p = pipeline(&f, &aws, &proxy.url(), f.config(&[])).await;
    let delivery = body("fault-10", "email_replied");
    let (status, answer, _) = deliver(&p, &delivery, deadline_in(Duration::from_secs(6))).await;
    assert_unavailable(status, &answer);
    assert!(
        f.record("fault-10").await.is_none(),
        "the claim is released"
    );
    drop(proxy);
    let healthy = pipeline(&f, &aws, &aws, f.config(&[])).await;
    let (status, _, _) = deliver(&healthy, &delivery, deadline_in(Duration::from_secs(6))).await;
    assert_eq!(status, 200);
    let ids = sent_ids(&f).await;
    assert!(ids.len() >= 2, "{ids:?}");
    assert!(ids.iter().all(|id| id == "fault-10"));
    assert_eq!(
        attr(&f.record("fault-10").await.unwrap(), "status"),
        Some("COMPLETED")
    );
}

/// The same fault on a FIFO queue: MessageDeduplicationId = event id, so within SQS's 5-minute
/// window the queue holds the event exactly once.
#[tokio::test]
async fn sqs_answer_lost_after_the_send_is_exactly_once_on_a_fifo_queue() {
    require_moto!();
    let f = Fixture::new(
        "lost-send-answer-fifo",
        Queues {
            fifo: true,
            ..Queues::default()
        },
    )
    .await;
    let aws = f.endpoint();
    let proxy = faulty(&aws, Fault::HangAfterForward).await;
    let p = pipeline(&f, &aws, &proxy.url(), f.config(&[])).await;
    let delivery = body("fault-11", "email_replied");
    let (status, answer, _) = deliver(&p, &delivery, deadline_in(Duration::from_secs(6))).await;
    assert_unavailable(status, &answer);
    drop(proxy);
    let healthy = pipeline(&f, &aws, &aws, f.config(&[])).await;
    let (status, _, _) = deliver(&healthy, &delivery, deadline_in(Duration::from_secs(6))).await;
    assert_eq!(status, 200);
    assert_eq!(sent_ids(&f).await, ["fault-11"]);
}

// ---------------------------------------------------------------------------------------------
// The exactly-once windows, each at the template's shortest function timeout (3 s) and its
// default (10 s): the invocation's deadline is that far from its start, as on Lambda.
// ---------------------------------------------------------------------------------------------

/// The template's `FunctionTimeout` minimum and default, in seconds.
const TIMEOUTS: [u64; 2] = [3, 10];

/// Runs `scenario` once per timeout, each on its own table and queues.
macro_rules! at_each_timeout {
    ($($name:ident => $scenario:ident;)+) => {$(
        #[tokio::test]
        async fn $name() {
            require_moto!();
            for seconds in TIMEOUTS {
                $scenario(seconds).await;
            }
        }
    )+};
}

at_each_timeout! {
    a_lost_claim_answer_is_200_with_one_message => lost_claim_answer;
    lost_completion_answers_leave_one_message_before_and_after_the_deadline => lost_completion_answers;
    a_deadline_during_completion_is_200_with_one_message => deadline_during_completion;
    a_record_deleted_under_the_claim_is_never_recreated => record_deleted_under_the_claim;
}

fn accepted(id: &str) -> Value {
    json!({"status": "accepted", "event_id": id, "enqueued": true})
}

/// The claim's PutItem is applied and its answer lost; the SDK's retry finds its own claim.
async fn lost_claim_answer(seconds: u64) {
    let f = Fixture::new("window-claim", Queues::default()).await;
    let aws = f.endpoint();
    let id = format!("window-claim-{seconds}");
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(Fault::ResetAfterForward, Trigger::nth(target::PUT_ITEM, 1));
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body(&id, "email_replied");
    let deadline = deadline_in(Duration::from_secs(seconds));
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_eq!((status, answer), (200, accepted(&id)), "{seconds} s");
    assert!(answered < deadline);
    assert_eq!(proxy.faults(), 1);
    let (status, answer, _) =
        deliver(&p, &delivery, deadline_in(Duration::from_secs(seconds))).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(
        attr(&f.record(&id).await.unwrap(), "status"),
        Some("COMPLETED")
    );
    assert_eq!(
        sent_ids(&f).await,
        [id.as_str()],
        "{seconds} s: one message"
    );
}

/// Every UpdateItem that marks the claim COMPLETED is applied and its answer lost (the SDK's
/// retries too): the record is COMPLETED all the same, so a duplicate before the deadline and
/// one after it are both duplicates.
async fn lost_completion_answers(seconds: u64) {
    let f = Fixture::new("window-complete", Queues::default()).await;
    let aws = f.endpoint();
    let id = format!("window-complete-{seconds}");
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(
        Fault::ResetAfterForward,
        Trigger::every(target::UPDATE_ITEM),
    );
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body(&id, "email_replied");
    let deadline = deadline_in(Duration::from_secs(seconds));
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_eq!((status, answer), (200, accepted(&id)), "{seconds} s");
    assert!(answered < deadline);
    assert!(proxy.faults() >= 1);
    assert_eq!(
        attr(&f.record(&id).await.unwrap(), "status"),
        Some("COMPLETED")
    );

    let moto_only = pipeline(&f, &aws, &aws, f.config(&[])).await;
    let later = || deadline_in(Duration::from_secs(seconds));
    let (status, answer, _) = deliver(&moto_only, &delivery, later()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate")),
        "before the deadline"
    );
    let wait = deadline.saturating_sub(deadline_in(Duration::ZERO)) + 50;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let (status, answer, _) = deliver(&moto_only, &delivery, later()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate")),
        "after the deadline"
    );
    assert_eq!(
        sent_ids(&f).await,
        [id.as_str()],
        "{seconds} s: one message in all"
    );
}

/// DynamoDB hangs on the completion: the answer is 200 before the deadline (the message is
/// out), and the claim is left INPROGRESS until the deadline. This is the one window left on
/// a standard queue (docs/reliability.md): a duplicate after that deadline would be sent
/// again; before it, it is 409.
async fn deadline_during_completion(seconds: u64) {
    let f = Fixture::new("window-deadline", Queues::default()).await;
    let aws = f.endpoint();
    let id = format!("window-deadline-{seconds}");
    let proxy = Proxy::start(&aws).await.unwrap();
    proxy.inject(Fault::Hang, Trigger::every(target::UPDATE_ITEM));
    let p = pipeline(&f, &proxy.url(), &aws, f.config(&[])).await;
    let delivery = body(&id, "email_replied");
    let deadline = deadline_in(Duration::from_secs(seconds));
    let (status, answer, answered) = deliver(&p, &delivery, deadline).await;
    assert_eq!((status, answer), (200, accepted(&id)), "{seconds} s");
    assert!(answered < deadline, "answered before the deadline");
    assert_claim_left_until(&f, &id, deadline).await;
    let moto_only = pipeline(&f, &aws, &aws, f.config(&[])).await;
    let (status, answer, _) = deliver(
        &moto_only,
        &delivery,
        deadline_in(Duration::from_secs(seconds)),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("in_progress")),
        "a duplicate before the deadline sends nothing"
    );
    assert_eq!(
        sent_ids(&f).await,
        [id.as_str()],
        "{seconds} s: one message"
    );
}

/// The record disappears between the claim and the completion (deleted by an operator, or
/// taken over and released): marking it COMPLETED must not create an item without
/// `expiration` or `validation` that would block the id forever.
async fn record_deleted_under_the_claim(seconds: u64) {
    let f = Fixture::new("window-deleted", Queues::default()).await;
    let aws = f.endpoint();
    let id = format!("window-deleted-{seconds}");
    let proxy = Proxy::start(&aws).await.unwrap();
    // The send is slow, which leaves time to delete the claim under it.
    proxy.inject(
        Fault::Delay(Duration::from_millis(400)),
        Trigger::every(target::SEND_MESSAGE),
    );
    let p = pipeline(&f, &aws, &proxy.url(), f.config(&[])).await;
    let delivery = body(&id, "email_replied");
    let deadline = deadline_in(Duration::from_secs(seconds));
    let deleter = async {
        loop {
            if f.record(&id).await.is_some() {
                f.dynamodb
                    .delete_item()
                    .table_name(&f.table)
                    .key("id", AttributeValue::S(format!("reply#{id}")))
                    .send()
                    .await
                    .unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let ((status, answer, _), ()) = tokio::join!(deliver(&p, &delivery, deadline), deleter);
    assert_eq!(
        (status, answer),
        (200, accepted(&id)),
        "{seconds} s: the message is out"
    );
    assert!(
        f.record(&id).await.is_none(),
        "{seconds} s: no item was created"
    );
    assert_eq!(
        sent_ids(&f).await,
        [id.as_str()],
        "{seconds} s: one message"
    );
}
