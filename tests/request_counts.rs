//! AWS requests per delivery ("a duplicate costs one request"), counted on the wire: the
//! function's AWS clients talk to moto through the loopback proxy (devkit::proxy), which
//! records each request's `X-Amz-Target` (DynamoDB and SQS both speak the JSON protocol) and
//! body. The proxy is strict, so each request counted is also one AWS would accept.
//!
//! The proxy rather than moto's request recorder: the recorder is global to the one moto
//! server all tests share and appends to a file in moto's working directory (the repository
//! root under `make test`), so parallel tests would see each other's requests. Here only the
//! pipeline under test goes through the proxy, so tests stay parallel-safe; each request is
//! still checked to name this test's own table or queue.

use std::time::Duration;

use aws_config::BehaviorVersion;
use devkit::proxy::target::{PUT_ITEM, SEND_MESSAGE, UPDATE_ITEM};
use devkit::proxy::{Exchange, Proxy};
use reply_payload::Category;
use reply_webhooks_tests::{
    Fixture, Queues, TOKEN, body, deadline_in, http_event, invoke, require_moto,
};
use serde_json::Value;
use webhook_core::{InboundRequest, Outcome, RequestBody, TokenParam};

/// The targets of `seen`, after checking each names this test's table or queue and was
/// forwarded (strict mode found nothing AWS would refuse).
fn targets(seen: &[Exchange], f: &Fixture) -> Vec<String> {
    seen.iter()
        .map(|request| {
            assert_eq!(
                request.refused, None,
                "{} refused: {}",
                request.target, request.body
            );
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let ours = if request.target.starts_with("DynamoDB_") {
                body["TableName"] == f.table.as_str()
            } else {
                body["QueueUrl"] == f.actionable_queue_url.as_str()
                    || body["QueueUrl"] == f.quarantine_queue_url.as_str()
            };
            assert!(
                ours,
                "{} for another table or queue: {body}",
                request.target
            );
            request.target.clone()
        })
        .collect()
}

#[tokio::test]
async fn each_outcome_costs_the_documented_number_of_aws_requests() {
    let endpoint = require_moto!();
    let f = Fixture::new("request-counts", Queues::default()).await;
    let proxy = Proxy::start(&endpoint).await.unwrap();
    // The function's clients, configured as the functions do but with the proxy as endpoint.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(proxy.url())
        .load()
        .await;
    let config = f.config(&[]);
    let p = webhook_lambda::aws_pipeline(config, Category::Email, &sdk, &sdk);
    let run = std::process::id();

    // Through the Lambda handler, as a function runs it: (what, body, token, status, requests).
    let actionable = body(&format!("count-{run}-1"), "email_replied");
    let passive = body(&format!("count-{run}-2"), "email_opened");
    let mismatch = body(&format!("count-{run}-1"), "email_bounced");
    let token = format!("token={TOKEN}");
    let cases: [(&str, &str, &str, u16, &[&str]); 7] = [
        (
            "new actionable",
            &actionable,
            &token,
            200,
            &[PUT_ITEM, SEND_MESSAGE, UPDATE_ITEM],
        ),
        (
            "duplicate of an actionable event",
            &actionable,
            &token,
            200,
            &[PUT_ITEM],
        ),
        ("new non-actionable", &passive, &token, 200, &[PUT_ITEM]),
        (
            "duplicate of a non-actionable event",
            &passive,
            &token,
            200,
            &[PUT_ITEM],
        ),
        (
            "same id, different payload (quarantined)",
            &mismatch,
            &token,
            202,
            &[PUT_ITEM, SEND_MESSAGE],
        ),
        (
            "wrong token",
            &actionable,
            "token=not-the-token-0000000",
            401,
            &[],
        ),
        ("not JSON (quarantined)", "{", &token, 202, &[SEND_MESSAGE]),
    ];
    for (what, sent, query, status, expected) in cases {
        let event = http_event("POST", "/webhooks/email", query, sent, false);
        let answer = invoke(&p, &event).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        let seen = targets(&proxy.take_exchanges(), &f);
        assert_eq!(seen, expected, "{what}: AWS requests");
    }

    // The pipeline's own count (logged as `aws_requests`) agrees with the wire.
    let fresh = body(&format!("count-{run}-3"), "contact_opted_out");
    let request = InboundRequest {
        method: "POST",
        token: TokenParam::One(TOKEN),
        body: RequestBody::Bytes(fresh.as_bytes()),
        content_type: None,
    };
    let deadline = webhook_lambda::deadline(
        deadline_in(Duration::from_secs(10)),
        std::time::SystemTime::now(),
    );
    for outcome in [
        Outcome::Accepted {
            sent_to: Some(webhook_core::ports::Destination::Actionable),
        },
        Outcome::Duplicate,
    ] {
        let handled = p.handle(&request, deadline).await;
        assert_eq!(handled.report.outcome, outcome);
        let seen = targets(&proxy.take_exchanges(), &f);
        assert_eq!(
            seen.len(),
            handled.report.requests.total() as usize,
            "the report's request count vs the wire for {outcome:?}: {seen:?}"
        );
    }
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 2);
}
