//! The pipeline on DynamoDB and SQS over the real wire protocol (moto's server, started by
//! `make test`, behind each fixture's strict proxy), driven through the Lambda handler with
//! HTTP API events: what is not one row of the HTTP contract (tests/contract.rs runs those):
//! concurrency, a claim taken over after its deadline, dependencies down, FIFO ids, and the
//! published message schemas.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use reply_payload::Category;
use reply_webhooks_tests::{
    Fixture, Queues, TOKEN, body, deadline_in, http_event, invoke_at, require_moto,
};
use serde_json::{Value, json};
use webhook_aws::DynamoDbStore;
use webhook_core::Config;
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
