//! Any bytes as a request through `Pipeline::handle` on the in-memory ports (a tiny executor:
//! the ports never wait). The first byte picks the request's shape, the rest is the body.
//!
//! Invariants of the HTTP contract: the status is one of the contract's; the body is JSON of
//! the right shape for it; the token never appears in it (unless the delivery itself carried
//! it); a request that is not authentic, not a POST or too large never touches the store or the
//! queues; an authentic body the parser refuses is quarantined whole; an accepted event is
//! recorded, sent at most once, and its redelivery is a duplicate.
#![no_main]

use std::sync::atomic::Ordering;

use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use reply_payload::{Category, Delivery};
use serde_json::Value;
use webhook_core::config::vars;
use webhook_core::memory::{MemoryPublisher, MemoryStore};
use webhook_core::ports::{Destination, SystemClock};
use webhook_core::quarantine::Quarantined;
use webhook_core::record::EpochMillis;
use webhook_core::{Config, Deadline, InboundRequest, Pipeline, RequestBody, TokenParam};

const TOKEN: &str = "fuzz-token-0123456789";
const MAX_BODY_BYTES: usize = 8192;

fn config() -> Option<Config> {
    Config::from_lookup(|name| match name {
        vars::IDEMPOTENCY_TABLE_NAME => Some("fuzz-table".into()),
        vars::ACTIONABLE_QUEUE_URL => Some("https://sqs.local/1/fuzz".into()),
        vars::QUARANTINE_QUEUE_URL => Some("https://sqs.local/1/quarantine".into()),
        vars::WEBHOOK_TOKENS => Some(format!("{TOKEN},second-fuzz-token-abcdef")),
        vars::MAX_BODY_BYTES => Some(MAX_BODY_BYTES.to_string()),
        _ => None,
    })
    .ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, body)) = data.split_first() else {
        return;
    };
    let Some(config) = config() else {
        panic!("the fuzz configuration is invalid");
    };
    let store = MemoryStore::default();
    let publisher = MemoryPublisher::default();
    let function =
        [Category::Email, Category::Linkedin, Category::Account][usize::from(shape >> 6) % 3];
    let sqs_down = shape & 0b10_0000 != 0;
    publisher.fail.store(sqs_down, Ordering::SeqCst);
    let pipeline = Pipeline::new(config, function, &store, &publisher, SystemClock);

    let several = [TOKEN, TOKEN];
    let token = match shape & 0b11 {
        0 => TokenParam::One(TOKEN),
        1 => TokenParam::Absent,
        2 => TokenParam::One("fuzz-token-012345678"),
        _ => TokenParam::from_values(several),
    };
    let method = ["POST", "post", "GET", "PUT"][usize::from((shape >> 2) & 0b11)];
    // A body the event marked base64-encoded that was not (the Lambda layer passes it on).
    let not_base64 = shape & 0b1_0000 != 0;
    let request = InboundRequest {
        method,
        token,
        body: if not_base64 {
            RequestBody::NotBase64(body)
        } else {
            RequestBody::Bytes(body)
        },
        content_type: Some("application/json"),
    };
    let end = EpochMillis(EpochMillis::from_system_time(std::time::SystemTime::now()).0 + 5_000);
    let deadline = Deadline {
        claim_expires: end,
        answer_by: end,
    };
    let handled = block_on(pipeline.handle(&request, deadline));
    let response = &handled.response;

    let answer: Value = match serde_json::from_str(&response.body) {
        Ok(answer) => answer,
        Err(err) => panic!("the body is not JSON ({err}): {}", response.body),
    };
    if !contains(body, TOKEN.as_bytes()) {
        assert!(
            !response.body.contains(TOKEN),
            "the token leaked: {}",
            response.body
        );
    }
    let code = match response.status {
        200 | 202 => answer["status"].as_str(),
        401 | 405 | 409 | 413 | 503 => answer["error"]["code"].as_str(),
        other => panic!("status {other} is not in the contract"),
    };
    let expected: &[&str] = match response.status {
        200 => &["accepted", "duplicate"],
        202 => &["quarantined"],
        401 => &["unauthorized"],
        405 => &["method_not_allowed"],
        409 => &["in_progress", "payload_mismatch"],
        413 => &["payload_too_large"],
        _ => &["unavailable"],
    };
    assert!(
        code.is_some_and(|c| expected.contains(&c)),
        "{} {}",
        response.status,
        response.body
    );
    if response.status >= 400 {
        assert!(answer["error"]["message"].is_string(), "{}", response.body);
    }
    let quarantined = publisher.sent_to(Destination::Quarantine);
    if response.status == 202 {
        // Kept whole: the quarantine message gives the body back byte for byte.
        assert_eq!(quarantined.len(), 1);
        let kept = Quarantined::parse(&quarantined[0].body).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(kept.body, body);
        assert!(!quarantined[0].body.contains(TOKEN) || contains(body, TOKEN.as_bytes()));
    } else {
        assert!(quarantined.is_empty(), "{}", response.body);
    }

    let authentic = shape & 0b11 == 0;
    if !authentic {
        assert_eq!(response.status, 401);
    }
    if response.status != 200 {
        // Refused or quarantined before the claim, or the claim released after SQS failed:
        // nothing recorded, no event sent.
        assert!(store.records().is_empty(), "{}", response.body);
        assert!(publisher.sent_to(Destination::Actionable).is_empty());
    }
    if response.status == 503 {
        assert!(sqs_down, "only SQS can fail here: {}", response.body);
    }
    if authentic && method.eq_ignore_ascii_case("POST") && body.len() <= MAX_BODY_BYTES {
        // Exactly the bodies the parser accepts are processed; the rest are quarantined (or,
        // with SQS down, answered 503 so Reply retries).
        let parsed = !not_base64 && Delivery::parse(body).is_ok();
        let processed = matches!(response.status, 200) || (response.status == 503 && parsed);
        assert_eq!(parsed, processed, "{}", response.body);
    }
    if response.status == 200 {
        assert_eq!(store.records().len(), 1);
        assert!(publisher.sent().len() <= 1);
        // Redelivered: a duplicate, and nothing more is sent.
        let sent = publisher.sent().len();
        let again = block_on(pipeline.handle(&request, deadline));
        assert_eq!(again.response.status, 200, "{}", again.response.body);
        let again: Value = serde_json::from_str(&again.response.body).unwrap_or_default();
        assert_eq!(again["status"], "duplicate");
        assert_eq!(publisher.sent().len(), sent);
    }
});
