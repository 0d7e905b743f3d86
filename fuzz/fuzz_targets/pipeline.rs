//! Any bytes as a request through `Pipeline::handle` on the in-memory ports (a tiny executor:
//! the ports never wait). The first byte picks the request's shape, the rest is the body.
//!
//! Invariants (SPEC §4): the status is one of the contract's; the body is JSON of the right
//! shape for it; the token never appears in it (unless the delivery itself carried it); a
//! request that is not authentic, not a POST or too large never touches the store or the queue;
//! an accepted event is recorded, sent at most once, and its redelivery is a duplicate.
#![no_main]

use std::sync::atomic::Ordering;

use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use reply_payload::{Category, Delivery};
use serde_json::Value;
use webhook_core::config::vars;
use webhook_core::memory::{MemoryPublisher, MemoryStore};
use webhook_core::ports::SystemClock;
use webhook_core::record::EpochMillis;
use webhook_core::{Config, InboundRequest, Pipeline, RequestBody, TokenParam};

const TOKEN: &str = "fuzz-token-0123456789";
const MAX_BODY_BYTES: usize = 8192;

fn config() -> Option<Config> {
    Config::from_lookup(|name| match name {
        vars::IDEMPOTENCY_TABLE_NAME => Some("fuzz-table".into()),
        vars::ACTIONABLE_QUEUE_URL => Some("https://sqs.local/1/fuzz".into()),
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
    let base64 = shape & 0b1_0000 != 0;
    let text = std::str::from_utf8(body).unwrap_or("");
    let request = InboundRequest {
        method,
        token,
        body: if base64 {
            RequestBody::Base64(text)
        } else {
            RequestBody::Plain(body)
        },
    };
    let deadline =
        EpochMillis(EpochMillis::from_system_time(std::time::SystemTime::now()).0 + 5_000);
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
        200 => answer["status"].as_str(),
        400 | 401 | 405 | 409 | 413 | 503 => answer["error"]["code"].as_str(),
        other => panic!("status {other} is not in the contract"),
    };
    let expected: &[&str] = match response.status {
        200 => &["accepted", "duplicate"],
        400 => &["invalid_payload"],
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

    let authentic = shape & 0b11 == 0;
    if !authentic {
        assert_eq!(response.status, 401);
    }
    if response.status != 200 {
        // Refused before the claim, or the claim released after SQS failed: nothing
        // written, nothing sent.
        assert!(store.records().is_empty(), "{}", response.body);
        assert!(publisher.sent().is_empty());
    }
    if response.status == 503 {
        assert!(sqs_down, "only SQS can fail here: {}", response.body);
    }
    if authentic && method.eq_ignore_ascii_case("POST") && !base64 && body.len() <= MAX_BODY_BYTES {
        // Exactly the bodies the parser accepts are accepted.
        let parsed = Delivery::parse(body).is_ok();
        assert_eq!(
            parsed,
            matches!(response.status, 200 | 503),
            "{}",
            response.body
        );
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
