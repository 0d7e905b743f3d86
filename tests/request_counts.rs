//! AWS requests per delivery (issue 7, SPEC §5 "a duplicate costs one request"), counted on the
//! wire: the function's AWS clients talk to moto through a counting HTTP proxy on loopback,
//! which records each request's `X-Amz-Target` (DynamoDB and SQS both speak the JSON protocol)
//! and body before forwarding it.
//!
//! A proxy of this test's own rather than moto's request recorder: the recorder is global to
//! the one moto server all tests share and appends to a file in moto's working directory (the
//! repository root under `make test`), so parallel tests would see each other's requests. Here
//! only the pipeline under test goes through the proxy, so tests stay parallel-safe; each
//! request is still checked to name this test's own table or queue.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::BehaviorVersion;
use reply_payload::Category;
use reply_webhooks_tests::{
    Fixture, Queues, TOKEN, body, deadline_in, http_event, invoke, require_moto,
};
use serde_json::Value;
use webhook_core::{InboundRequest, Outcome, RequestBody, TokenParam};

const PUT_ITEM: &str = "DynamoDB_20120810.PutItem";
const UPDATE_ITEM: &str = "DynamoDB_20120810.UpdateItem";
const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";

/// One request seen by the proxy.
#[derive(Debug, Clone)]
struct Seen {
    /// `X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem` (empty when absent).
    target: String,
    body: String,
}

/// A loopback HTTP/1.1 proxy to one upstream that records every request it forwards.
/// Requests are parsed (head + `Content-Length` body) on the way up; responses are relayed
/// byte for byte. Stopped when dropped.
struct CountingProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    fn start(upstream: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let seen = Arc::clone(&seen2);
                std::thread::spawn(move || relay(client, upstream, &seen));
            }
        });
        CountingProxy { addr, seen, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything seen so far, and forgets it.
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves one client connection: each request is recorded, then forwarded on one upstream
/// connection; a second thread copies the upstream's bytes back.
fn relay(client: TcpStream, upstream: SocketAddr, seen: &Mutex<Vec<Seen>>) {
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut down), Ok(mut up_read)) = (client.try_clone(), up.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut down);
        let _ = down.shutdown(Shutdown::Write);
    });
    let mut reader = BufReader::new(client);
    // Bounded: a connection carries at most this many requests in this test.
    for _ in 0..10_000 {
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let end = line == b"\r\n";
            head.extend_from_slice(&line);
            if end {
                break;
            }
        }
        if !head.ends_with(b"\r\n\r\n") {
            break; // the client closed the connection
        }
        let text = String::from_utf8_lossy(&head);
        let header = |name: &str| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        assert!(
            header("transfer-encoding").is_none(),
            "the SDK sent a chunked request; the proxy reads Content-Length bodies only"
        );
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            break;
        }
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                target: header("x-amz-target").unwrap_or_default(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        if up
            .write_all(&head)
            .and_then(|()| up.write_all(&body))
            .is_err()
        {
            break;
        }
    }
    let _ = up.shutdown(Shutdown::Write);
    let _ = back.join();
}

fn upstream(endpoint: &str) -> SocketAddr {
    let host_port = endpoint.trim_start_matches("http://").trim_end_matches('/');
    host_port
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap_or_else(|| panic!("AWS_ENDPOINT_URL {endpoint} names no address"))
}

/// The targets of `seen`, after checking each names this test's table or queue.
fn targets(seen: &[Seen], f: &Fixture) -> Vec<String> {
    seen.iter()
        .map(|request| {
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
    let proxy = CountingProxy::start(upstream(&endpoint));
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
        let seen = targets(&proxy.take(), &f);
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
        let seen = targets(&proxy.take(), &f);
        assert_eq!(
            seen.len(),
            handled.report.requests.total() as usize,
            "the report's request count vs the wire for {outcome:?}: {seen:?}"
        );
    }
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 2);
}
