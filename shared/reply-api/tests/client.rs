//! The client against the fake Reply: paging, each call's answer, errors with their code,
//! retries, the call budget, liberal reading, and the fake's test deliveries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use reply_api::fake::{FakeOptions, FakeReply};
use reply_api::{
    ApiKey, Client, ClientConfig, Error, PayloadConfig, RetryPolicy, Scope, SubscriptionId,
    SubscriptionSpec,
};

/// Fast retries: the tests check that they happen, not how long they wait.
const QUICK: RetryPolicy = RetryPolicy {
    attempts: 3,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
    max_retry_after: Duration::from_secs(1),
};

fn client_with(fake: &FakeReply, key: &str, budget: u32) -> Client {
    let mut config = ClientConfig::new(fake.base_url(), budget);
    config.retry = QUICK;
    Client::new(ApiKey::new(key).unwrap(), config).unwrap()
}

fn client(fake: &FakeReply) -> Client {
    client_with(fake, &fake.api_key(), 1000)
}

fn spec(event_type: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        event_type: event_type.into(),
        url: "http://127.0.0.1:9/webhooks/email?token=a-token-of-16-chars".into(),
        scope: Scope::Team,
        payload_config: PayloadConfig {
            include_email_url: true,
            include_email_text: false,
            include_prospect_custom_fields: true,
        },
    }
}

#[test]
fn creates_reads_replaces_toggles_and_deletes() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let client = client(&fake);

    let created = client.create(&spec("email_replied")).unwrap();
    assert_eq!(created.event_type, "email_replied");
    assert_eq!(created.scope, Some(Scope::Team));
    assert!(created.enabled);
    assert!(created.payload_config.include_prospect_custom_fields);
    let stored = &fake.subscriptions()[0];
    assert_eq!(stored.id.to_string(), created.id.as_str());
    assert_eq!(stored.url, spec("email_replied").url);

    let mut replacement = spec("email_replied");
    replacement.scope = Scope::Personal;
    replacement.payload_config.include_email_text = true;
    client.update(&created.id, &replacement).unwrap();
    client.disable(&created.id).unwrap();
    let read = client.get(&created.id).unwrap();
    assert_eq!(read.scope, Some(Scope::Personal));
    assert!(read.payload_config.include_email_text);
    assert!(!read.enabled);
    client.enable(&created.id).unwrap();
    assert!(client.get(&created.id).unwrap().enabled);

    client.delete(&created.id).unwrap();
    assert!(fake.subscriptions().is_empty());
    assert_eq!(client.calls(), 7, "one HTTP call each, no retries");
}

#[test]
fn lists_every_page() {
    let fake = FakeReply::start(FakeOptions {
        page_size: 4,
        ..FakeOptions::default()
    })
    .unwrap();
    for i in 0..10 {
        fake.insert(
            "email_sent",
            &format!("https://x.example/{i}"),
            "Personal",
            i % 2 == 0,
            PayloadConfig::default(),
        );
    }
    let client = client(&fake);
    let all = client.list().unwrap();
    assert_eq!(all.len(), 10);
    let urls: Vec<_> = all.iter().map(|s| s.url.clone()).collect();
    let expected: Vec<_> = (0..10).map(|i| format!("https://x.example/{i}")).collect();
    assert_eq!(urls, expected, "in order, none twice");
    assert_eq!(all.iter().filter(|s| s.enabled).count(), 5);
    assert_eq!(client.calls(), 3, "pages of 4, 4 and 2");
}

#[test]
fn reads_string_ids_and_lower_case_scopes() {
    let fake = FakeReply::start(FakeOptions {
        string_ids: true,
        lowercase_scope: true,
        ..FakeOptions::default()
    })
    .unwrap();
    let client = client(&fake);
    let created = client.create(&spec("contact_called")).unwrap();
    assert_eq!(created.scope, Some(Scope::Team));
    client.disable(&created.id).unwrap();
    let listed = client.list().unwrap();
    assert_eq!(listed[0].id, created.id);
    assert!(!listed[0].enabled);
    assert_eq!(client.event_types().unwrap().len(), 19);
}

#[test]
fn errors_carry_the_status_and_the_problem_code() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let client = client(&fake);
    let err = client.enable(&SubscriptionId::from(424242)).unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 404, code: Some(code), .. } if code == "webhook_not_found"),
        "{err:?}"
    );
    let mut bad = spec("email_replied");
    bad.url = "not-a-url".into();
    let err = client.create(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 400, code: Some(code), .. } if code == "invalid_url"),
        "{err:?}"
    );
    bad = spec("email_replied");
    bad.scope = Scope::Other("Organization".into());
    let err = client.create(&bad).unwrap_err();
    assert!(err.to_string().contains("invalid_scope"), "{err}");
}

#[test]
fn a_refused_key_is_unauthorized_and_never_repeated_in_messages() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let wrong = "wrong-key-that-must-not-leak";
    let client = client_with(&fake, wrong, 10);
    let err = client.list().unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("REPLY_API_KEY"));
    assert!(!format!("{err} {err:?} {client:?}").contains(wrong));
    assert_eq!(client.calls(), 1, "a 401 is not retried");
}

#[test]
fn rate_limits_and_server_errors_are_retried_where_safe() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let client = client(&fake);

    fake.fail_next(429, Some(0), 2);
    assert!(client.list().unwrap().is_empty(), "third attempt succeeds");
    assert_eq!(client.calls(), 3);

    fake.fail_next(503, None, 1);
    client.list().unwrap();
    assert_eq!(client.calls(), 5, "a read is retried after a 5xx");

    fake.fail_next(429, Some(0), 1);
    client.create(&spec("email_sent")).unwrap();
    assert_eq!(
        client.calls(),
        7,
        "a create is retried after a 429: it was not processed"
    );

    fake.fail_next(500, None, 1);
    let err = client.create(&spec("email_opened")).unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(client.calls(), 8, "but not after a 5xx: it might have been");
    assert_eq!(fake.subscriptions().len(), 1);

    fake.fail_next(429, Some(0), 3);
    let err = client.list().unwrap_err();
    assert_eq!(
        err.status(),
        Some(429),
        "gives up after the policy's attempts"
    );
    assert!(err.to_string().contains("wait a few minutes"), "{err}");

    fake.fail_next(429, Some(3600), 1);
    let err = client.list().unwrap_err();
    assert_eq!(
        err.status(),
        Some(429),
        "a Retry-After over the limit ends the call"
    );
    assert_eq!(client.calls(), 12);
}

#[test]
fn the_budget_caps_calls_retries_included() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let client = client_with(&fake, &fake.api_key(), 3);
    fake.fail_next(429, Some(0), 2);
    client.list().unwrap();
    let err = client.list().unwrap_err();
    assert!(
        matches!(err, Error::BudgetExhausted { limit: 3, .. }),
        "{err:?}"
    );
    assert_eq!(fake.calls().len(), 3, "nothing was sent past the budget");
}

#[test]
fn an_unreachable_api_is_a_transport_error() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = ClientConfig::new(format!("http://{closed}"), 10);
    config.retry = QUICK;
    let client = Client::new(ApiKey::new("k").unwrap(), config).unwrap();
    let err = client.list().unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(client.calls(), 3, "a read is retried");
}

/// A one-shot receiver standing in for a webhook function: answers 200 and hands over the
/// request line and body it got.
fn receiver() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/webhooks/email?token=a-token-of-16-chars",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let answer = r#"{"status":"accepted"}"#;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
            tx.send((request_line, String::from_utf8(body).unwrap()))
                .unwrap();
        }
    });
    (url, rx)
}

#[test]
fn test_deliveries_reach_the_url_with_repeating_placeholder_ids() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let client = client(&fake);
    let (url, received) = receiver();
    let mut spec = spec("email_replied");
    spec.url = url;
    let created = client.create(&spec).unwrap();

    client.test(&created.id).unwrap();
    client.test(&created.id).unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (request_line, body) = received.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            request_line.starts_with("POST /webhooks/email?token=a-token-of-16-chars "),
            "{request_line}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["event"]["type"], "email_replied");
        assert_eq!(
            body["event"]["subscription_id"].to_string(),
            created.id.as_str()
        );
        assert_eq!(body["contact_fields"]["email"], "prospect@example.com");
        ids.push(body["event"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids[0], ids[1], "placeholder data repeats");
    assert_eq!(ids[0], fake.placeholder_event_id("email_replied"));
    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries.iter().all(|d| d.status == Some(200)));

    client.disable(&created.id).unwrap();
    let err = client.test(&created.id).unwrap_err();
    assert_eq!(
        err.status(),
        Some(404),
        "a disabled subscription cannot be tested"
    );
}
