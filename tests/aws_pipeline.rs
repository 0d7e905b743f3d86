//! The pipeline on DynamoDB and SQS over the real wire protocol (moto's server, started by
//! `make test`), driven through the Lambda handler with HTTP API events: the HTTP contract,
//! duplicates and concurrency, dependency failures, FIFO, and the message schema.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use reply_payload::Category;
use reply_webhooks_tests::{
    Fixture, Queues, TOKEN, body, deadline_in, http_event, invoke_at, require_moto,
};
use serde_json::{Value, json};
use webhook_aws::DynamoDbStore;
use webhook_core::Config;
use webhook_core::config::vars;
use webhook_lambda::{AwsPipeline, aws_pipeline};

fn pipeline(f: &Fixture, function: Category, config: Config) -> AwsPipeline {
    aws_pipeline(config, function, &f.sdk, &f.sdk)
}

fn pipeline_on(
    dynamodb: &aws_config::SdkConfig,
    sqs: &aws_config::SdkConfig,
    function: Category,
    config: Config,
) -> AwsPipeline {
    aws_pipeline(config, function, dynamodb, sqs)
}

async fn invoke(p: &AwsPipeline, event: String) -> (u16, Value) {
    invoke_with_deadline(p, event, deadline_in(Duration::from_secs(10))).await
}

async fn invoke_with_deadline(p: &AwsPipeline, event: String, deadline: u64) -> (u16, Value) {
    let answer = invoke_at(p, &event, deadline).await;
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    (answer.status, answer.body)
}

fn post(route: &str, body: &str) -> String {
    http_event("POST", route, &format!("token={TOKEN}"), body, false)
}

fn s(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn num(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn now_secs() -> u64 {
    deadline_in(Duration::ZERO) / 1000
}

#[tokio::test]
async fn new_actionable_event_is_stored_completed_and_sent_once_with_the_body_unchanged() {
    require_moto!();
    let f = Fixture::new("actionable", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let sent = body("aws-1", "email_replied");
    let (status, answer) = invoke(&p, post("/webhooks/email", &sent)).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"status": "accepted", "event_id": "aws-1", "enqueued": true})
    );

    let item = f.record("aws-1").await.expect("a record");
    assert_eq!(s(&item, "id"), "reply#aws-1");
    assert_eq!(s(&item, "status"), "COMPLETED");
    let ttl = num(&item, "expiration");
    assert!(
        ttl.abs_diff(now_secs() + 604_800) < 60,
        "expiration in epoch seconds: {ttl}"
    );
    assert!(!item.contains_key("in_progress_expiration"));
    assert_eq!(s(&item, "validation").len(), 64);
    assert_eq!(s(&item, "event_type"), "email_replied");
    assert_eq!(s(&item, "category"), "email");
    assert!(s(&item, "received_at").ends_with('Z'));
    assert_eq!(item.get("enqueued"), Some(&AttributeValue::Bool(true)));

    let messages = f.drain(&f.actionable_queue_url).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(Some(s(&item, "message_id").as_str()), message.message_id());
    let message_body = message.body().unwrap();
    assert!(
        message_body.ends_with(&format!(",\"payload\":{sent}}}")),
        "payload is the body byte for byte"
    );
    let attributes = message.message_attributes().unwrap();
    for (name, value) in [
        ("event_type", "email_replied"),
        ("category", "email"),
        ("contact_id", "12345"),
        ("team_id", "100"),
    ] {
        let attribute = &attributes[name];
        assert_eq!(attribute.data_type(), "String");
        assert_eq!(attribute.string_value(), Some(value));
    }
}

#[tokio::test]
async fn messages_sent_validate_against_the_published_json_schema() {
    require_moto!();
    let schema: Value =
        serde_json::from_str(include_str!("../docs/event-message.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let f = Fixture::new("schema", Queues::default()).await;
    let p = pipeline(&f, Category::Account, f.config(&[]));
    for (id, event_type) in [
        ("s-1", "email_account_error"),
        ("s-2", "meeting_booked"),
        ("s-3", "AutopilotStopped"),
    ] {
        invoke(&p, post("/webhooks/account", &body(id, event_type))).await;
    }
    let minimal = r#"{"event":{"id":"s-4","type":"autopilot_stopped"}}"#;
    invoke(&p, post("/webhooks/account", minimal)).await;
    let messages = f.drain(&f.actionable_queue_url).await;
    assert_eq!(messages.len(), 4);
    for message in &messages {
        let value: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?} in {value}");
    }
    // The schema is strict enough to catch a drift.
    let mut broken: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    broken["team_id"] = json!(100);
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn quarantine_messages_validate_against_the_published_json_schema() {
    require_moto!();
    let schema: Value =
        serde_json::from_str(include_str!("../docs/quarantined-message.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let f = Fixture::new("quarantine-schema", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let token = format!("token={TOKEN}");
    for (body, base64) in [
        ("not json", false),
        (r#"{"event":{"id":"q-1"}}"#, false),
        // Latin-1 bytes: not UTF-8, kept as base64.
        ("eyJldmVudCI6IOl9", true),
    ] {
        invoke(
            &p,
            http_event("POST", "/webhooks/email", &token, body, base64),
        )
        .await;
    }
    invoke(&p, post("/webhooks/email", &body("q-2", "email_replied"))).await;
    invoke(&p, post("/webhooks/email", &body("q-2", "email_bounced"))).await;
    let kept = f.drain(&f.quarantine_queue_url).await;
    assert_eq!(kept.len(), 4);
    let mut reasons = Vec::new();
    for message in &kept {
        let value: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?} in {value}");
        reasons.push(value["reason"].as_str().unwrap().to_owned());
        let attributes = message.message_attributes().unwrap();
        assert_eq!(
            attributes["reason"].string_value(),
            value["reason"].as_str()
        );
        assert_eq!(attributes["function"].string_value(), Some("email"));
    }
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "invalid_payload",
            "invalid_payload",
            "invalid_payload",
            "payload_mismatch"
        ]
    );
    let mut broken: Value = serde_json::from_str(kept[0].body().unwrap()).unwrap();
    broken["body_base64"] = json!("AA==");
    broken["body"] = json!("x");
    assert!(
        !validator.is_valid(&broken),
        "one of body and body_base64, not both"
    );
}

#[tokio::test]
async fn non_actionable_event_is_stored_completed_in_one_request_and_not_sent() {
    require_moto!();
    let f = Fixture::new("passive", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let (status, answer) =
        invoke(&p, post("/webhooks/email", &body("aws-2", "email_opened"))).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"status": "accepted", "event_id": "aws-2", "enqueued": false})
        )
    );
    let item = f.record("aws-2").await.unwrap();
    assert_eq!(s(&item, "status"), "COMPLETED");
    assert_eq!(item.get("enqueued"), Some(&AttributeValue::Bool(false)));
    assert!(!item.contains_key("message_id"));
    assert!(f.drain(&f.actionable_queue_url).await.is_empty());
}

#[tokio::test]
async fn non_actionable_event_goes_to_the_activity_queue_when_one_is_configured() {
    require_moto!();
    let f = Fixture::new(
        "activity",
        Queues {
            activity: true,
            ..Queues::default()
        },
    )
    .await;
    let p = pipeline(&f, Category::Linkedin, f.config(&[]));
    let (_, answer) = invoke(
        &p,
        post(
            "/webhooks/linkedin",
            &body("aws-3", "linkedin_message_sent"),
        ),
    )
    .await;
    assert_eq!(answer["enqueued"], true);
    let activity = f.activity_queue_url.clone().unwrap();
    assert_eq!(f.drain(&activity).await.len(), 1);
    assert!(f.drain(&f.actionable_queue_url).await.is_empty());
}

#[tokio::test]
async fn sequential_duplicate_is_200_duplicate_and_sends_nothing_more() {
    require_moto!();
    let f = Fixture::new("duplicate", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let b = body("aws-4", "email_bounced");
    invoke(&p, post("/webhooks/email", &b)).await;
    let (status, answer) = invoke(&p, post("/webhooks/email", &b)).await;
    assert_eq!(
        (status, answer),
        (200, json!({"status": "duplicate", "event_id": "aws-4"}))
    );
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
    assert_eq!(f.record_count().await, 1);
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_event_give_one_message_and_one_record() {
    require_moto!();
    let f = Fixture::new("concurrent", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let b = body("aws-5", "contact_opted_out");
    let answers =
        futures::future::join_all((0..20).map(|_| invoke(&p, post("/webhooks/email", &b)))).await;
    let accepted = answers
        .iter()
        .filter(|(_, a)| a["status"] == "accepted")
        .count();
    assert_eq!(accepted, 1, "{answers:?}");
    for (status, answer) in &answers {
        let other = answer["status"] == "duplicate" || answer["error"]["code"] == "in_progress";
        assert!(
            *status == 200 || (*status == 409 && other),
            "{status} {answer}"
        );
    }
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
    assert_eq!(f.record_count().await, 1);
}

#[tokio::test]
async fn same_id_with_a_different_body_is_quarantined() {
    require_moto!();
    let f = Fixture::new("mismatch", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    invoke(&p, post("/webhooks/email", &body("aws-6", "email_replied"))).await;
    let other = body("aws-6", "email_auto_reply");
    let (status, answer) = invoke(&p, post("/webhooks/email", &other)).await;
    assert_eq!(status, 202);
    assert_eq!(
        (answer["status"].as_str(), answer["reason"].as_str()),
        (Some("quarantined"), Some("payload_mismatch"))
    );
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
    let kept = f.drain(&f.quarantine_queue_url).await;
    let kept: Value = serde_json::from_str(kept[0].body().unwrap()).unwrap();
    assert_eq!(kept["body"], other.as_str());
    assert_eq!(
        s(&f.record("aws-6").await.unwrap(), "event_type"),
        "email_replied"
    );
}

#[tokio::test]
async fn sqs_unreachable_is_503_releases_the_claim_and_a_retry_sends_exactly_once() {
    require_moto!();
    let f = Fixture::new("sqs-down", Queues::default()).await;
    let down = reply_webhooks_tests::unreachable_sdk_config().await;
    let broken = pipeline_on(&f.sdk, &down, Category::Email, f.config(&[]));
    let b = body("aws-7", "email_replied");
    let (status, answer) = invoke(&broken, post("/webhooks/email", &b)).await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], "unavailable");
    assert!(f.record("aws-7").await.is_none(), "the claim is released");

    let healthy = pipeline(&f, Category::Email, f.config(&[]));
    assert_eq!(invoke(&healthy, post("/webhooks/email", &b)).await.0, 200);
    assert_eq!(
        invoke(&healthy, post("/webhooks/email", &b)).await.1["status"],
        "duplicate"
    );
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
}

#[tokio::test]
async fn dynamodb_unreachable_is_503_and_nothing_is_sent() {
    require_moto!();
    let f = Fixture::new("ddb-down", Queues::default()).await;
    let down = reply_webhooks_tests::unreachable_sdk_config().await;
    let broken = pipeline_on(&down, &f.sdk, Category::Email, f.config(&[]));
    let (status, answer) = invoke(
        &broken,
        post("/webhooks/email", &body("aws-8", "email_replied")),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], "unavailable");
    assert!(f.drain(&f.actionable_queue_url).await.is_empty());
    assert_eq!(f.record_count().await, 0);
}

#[tokio::test]
async fn an_in_progress_claim_blocks_until_its_deadline_then_is_taken_over() {
    require_moto!();
    let f = Fixture::new("takeover", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let b = body("aws-9", "email_replied");
    // An invocation that claimed the event and died before publishing: its claim is held
    // until its deadline, 1.5 s from now.
    let store = DynamoDbStore::new(f.dynamodb.clone(), f.table.clone());
    let deadline = deadline_in(Duration::from_millis(1500));
    let claim = webhook_core::record::NewRecord {
        key: "reply#aws-9".into(),
        status: webhook_core::record::RecordStatus::InProgress,
        expiration: webhook_core::record::EpochSeconds(now_secs() + 3600),
        in_progress_expiration: Some(webhook_core::record::EpochMillis(deadline)),
        validation: webhook_core::validation::validation_hash(b.as_bytes()),
        claim_token: webhook_core::record::ClaimToken::new(),
        event_type: "email_replied".into(),
        category: "email".into(),
        received_at: "2026-11-26T00:00:00.000Z".into(),
        enqueued: None,
    };
    use webhook_core::ports::IdempotencyStore;
    let now = webhook_core::record::EpochMillis(deadline_in(Duration::ZERO));
    assert_eq!(
        store
            .claim(&claim, now, Duration::from_secs(5))
            .await
            .unwrap(),
        webhook_core::record::Claim::Written
    );
    let item = f.record("aws-9").await.unwrap();
    assert_eq!(s(&item, "status"), "INPROGRESS");
    assert_eq!(
        num(&item, "in_progress_expiration"),
        deadline,
        "epoch milliseconds"
    );

    let (status, answer) = invoke(&p, post("/webhooks/email", &b)).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (409, json!("in_progress"))
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, answer) = invoke(&p, post("/webhooks/email", &b)).await;
    assert_eq!((status, answer["status"].clone()), (200, json!("accepted")));
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
}

#[tokio::test]
async fn a_deadline_already_passed_leaves_a_claim_that_a_retry_takes_over() {
    require_moto!();
    let f = Fixture::new("late", Queues::default()).await;
    let down = reply_webhooks_tests::unreachable_sdk_config().await;
    // SQS down and a deadline in the past: the release may not even run; whatever is left
    // must not block the retry.
    let broken = pipeline_on(&f.sdk, &down, Category::Email, f.config(&[]));
    let b = body("aws-10", "email_replied");
    let (status, _) = invoke_with_deadline(
        &broken,
        post("/webhooks/email", &b),
        deadline_in(Duration::ZERO) - 1,
    )
    .await;
    assert_eq!(status, 503);
    let healthy = pipeline(&f, Category::Email, f.config(&[]));
    assert_eq!(invoke(&healthy, post("/webhooks/email", &b)).await.0, 200);
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
}

#[tokio::test]
async fn fifo_queue_gets_group_and_deduplication_ids() {
    require_moto!();
    let f = Fixture::new(
        "fifo",
        Queues {
            fifo: true,
            ..Queues::default()
        },
    )
    .await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    invoke(
        &p,
        post("/webhooks/email", &body("aws-11", "email_replied")),
    )
    .await;
    let messages = f.drain(&f.actionable_queue_url).await;
    assert_eq!(messages.len(), 1);
    let system = messages[0].attributes().unwrap();
    use aws_sdk_sqs::types::MessageSystemAttributeName as A;
    assert_eq!(
        system.get(&A::MessageGroupId).map(String::as_str),
        Some("12345")
    );
    assert_eq!(
        system.get(&A::MessageDeduplicationId).map(String::as_str),
        Some("aws-11")
    );
}

#[tokio::test]
async fn wrong_route_is_processed_under_its_own_category_with_a_warning() {
    require_moto!();
    let f = Fixture::new("wrong-route", Queues::default()).await;
    let p = pipeline(&f, Category::Email, f.config(&[]));
    let (status, answer) = invoke(
        &p,
        post(
            "/webhooks/email",
            &body("aws-12", "linkedin_message_replied"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"status": "accepted", "event_id": "aws-12", "enqueued": true, "warning": "wrong_route", "route": "/webhooks/linkedin"})
    );
    assert_eq!(
        s(&f.record("aws-12").await.unwrap(), "category"),
        "linkedin"
    );
    let messages = f.drain(&f.actionable_queue_url).await;
    assert_eq!(
        messages[0].message_attributes().unwrap()["category"].string_value(),
        Some("linkedin")
    );
}

#[tokio::test]
async fn unknown_type_is_recorded_and_forwarded_with_its_raw_type() {
    require_moto!();
    let f = Fixture::new("unknown", Queues::default()).await;
    let p = pipeline(&f, Category::Linkedin, f.config(&[]));
    let (status, answer) = invoke(
        &p,
        post(
            "/webhooks/linkedin",
            &body("aws-13", "LinkedinInmailBounced"),
        ),
    )
    .await;
    assert_eq!((status, answer["enqueued"].clone()), (200, json!(true)));
    assert_eq!(
        s(&f.record("aws-13").await.unwrap(), "event_type"),
        "LinkedinInmailBounced"
    );
    let messages = f.drain(&f.actionable_queue_url).await;
    let message: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(
        (message["event_type"].clone(), message["known_type"].clone()),
        (json!("LinkedinInmailBounced"), json!(false))
    );
}

#[tokio::test]
async fn refused_and_quarantined_requests_answer_their_status_and_write_no_record() {
    require_moto!();
    let f = Fixture::new("refused", Queues::default()).await;
    let p = pipeline(
        &f,
        Category::Email,
        f.config(&[(vars::MAX_BODY_BYTES, "4096")]),
    );
    let good = body("aws-14", "email_replied");
    let big = format!(
        r#"{{"event":{{"id":"aws-15","type":"email_replied"}},"pad":"{}"}}"#,
        "x".repeat(4096)
    );
    let token = format!("token={TOKEN}");
    let cases = [
        (
            http_event("POST", "/webhooks/email", "", &good, false),
            401,
            "unauthorized",
        ),
        (
            http_event(
                "POST",
                "/webhooks/email",
                "token=not-the-right-token",
                &good,
                false,
            ),
            401,
            "unauthorized",
        ),
        (
            http_event(
                "POST",
                "/webhooks/email",
                &format!("{token}&{token}"),
                &good,
                false,
            ),
            401,
            "unauthorized",
        ),
        (
            http_event("GET", "/webhooks/email", &token, "", false),
            405,
            "method_not_allowed",
        ),
        (
            http_event("POST", "/webhooks/email", &token, &big, false),
            413,
            "payload_too_large",
        ),
        (
            http_event("POST", "/webhooks/email", &token, "{not json", false),
            202,
            "quarantined",
        ),
        (
            http_event("POST", "/webhooks/email", &token, "[1,2]", false),
            202,
            "quarantined",
        ),
        (
            http_event(
                "POST",
                "/webhooks/email",
                &token,
                r#"{"event":{"id":"aws-16"}}"#,
                false,
            ),
            202,
            "quarantined",
        ),
        (
            http_event("POST", "/webhooks/email", &token, "%%%not-base64", true),
            202,
            "quarantined",
        ),
    ];
    for (request, status, code) in cases {
        let (got, answer) = invoke(&p, request).await;
        let got_code = answer["error"]["code"]
            .as_str()
            .or(answer["status"].as_str());
        assert_eq!((got, got_code), (status, Some(code)), "{answer}");
        assert!(!answer.to_string().contains(TOKEN));
    }
    assert_eq!(f.record_count().await, 0);
    assert!(f.drain(&f.actionable_queue_url).await.is_empty());
    let kept = f.drain(&f.quarantine_queue_url).await;
    assert_eq!(
        kept.len(),
        4,
        "only the authentic, unreadable bodies are kept"
    );
    assert!(kept.iter().all(|m| !m.body().unwrap().contains(TOKEN)));

    // The same body, base64-encoded and in a text/plain request, is accepted.
    let encoded = base64::prelude::BASE64_STANDARD.encode(&good);
    let (status, _) = invoke(
        &p,
        http_event("POST", "/webhooks/email", &token, &encoded, true),
    )
    .await;
    assert_eq!(status, 200);
    let messages = f.drain(&f.actionable_queue_url).await;
    assert!(
        messages[0]
            .body()
            .unwrap()
            .ends_with(&format!(",\"payload\":{good}}}"))
    );
}
