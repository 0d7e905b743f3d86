//! The core's per-delivery cost: `Pipeline::handle` with in-memory ports on the
//! ~2 KB `events/reply/email_replied.json`, and the pieces it serialises (the queue message, the
//! idempotency record's derived fields, the HTTP answer).
//!
//! Run with `make bench`, or
//! `cargo bench -p webhook-core --bench pipeline -- --warm-up-time 1 --measurement-time 3`.
//!
//! The in-memory ports complete without waiting, so each `handle` future is polled once with a
//! no-op waker: no executor cost is measured, only the pipeline and the ports.

use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reply_payload::{Category, Delivery};
use webhook_core::config::vars;
use webhook_core::memory::{MemoryPublisher, MemoryStore};
use webhook_core::message::OutboundMessage;
use webhook_core::ports::{
    DependencyError, Destination, IdempotencyStore, PublishError, Publisher, SystemClock,
};
use webhook_core::record::{
    Claim, ClaimToken, Completed, EpochMillis, NewRecord, RecordStatus, record_key,
};
use webhook_core::validation::validation_hash;
use webhook_core::{
    Config, Deadline, Handled, InboundRequest, Outcome, Pipeline, RequestBody, Response, TokenParam,
};

const TOKEN: &str = "reply-local-test-token-0001";
/// Distinct event ids per fresh store: new events every iteration, the store rebuilt (untimed)
/// after each batch, so it never holds more than this many records.
const BATCH: usize = 1024;

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/reply")
        .join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `n` copies of `template` with distinct event ids of the same length (the last 12 hex digits
/// of the UUID replaced by a counter), so every body is a new event of the same size.
fn with_distinct_ids(template: &[u8], n: usize) -> Vec<Vec<u8>> {
    let id = Delivery::parse(template).unwrap().envelope.id;
    assert_eq!(id.len(), 36, "the samples' event ids are UUIDs");
    let text = std::str::from_utf8(template).unwrap();
    (0..n)
        .map(|i| {
            let new_id = format!("{}{i:012x}", &id[..24]);
            text.replacen(&id, &new_id, 1).into_bytes()
        })
        .collect()
}

fn config() -> Config {
    Config::from_lookup(|name| match name {
        vars::IDEMPOTENCY_TABLE_NAME => Some("bench-table".into()),
        vars::ACTIONABLE_QUEUE_URL => {
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/actionable".into())
        }
        vars::WEBHOOK_TOKENS => Some(format!("{TOKEN},another-valid-token-02")),
        _ => None,
    })
    .unwrap()
}

fn request(body: &[u8]) -> InboundRequest<'_> {
    InboundRequest {
        method: "POST",
        token: TokenParam::One(TOKEN),
        body: RequestBody::Bytes(body),
        content_type: Some("application/json"),
    }
}

fn deadline() -> Deadline {
    let end = EpochMillis::from_system_time(SystemTime::now() + Duration::from_secs(600));
    Deadline {
        claim_expires: end,
        answer_by: end,
    }
}

/// Polls a future that never waits (the in-memory ports) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("in-memory ports never wait"),
    }
}

/// Ports that do nothing: the pipeline's own cost, without the in-memory ports' bookkeeping
/// (a map insert, a cloned message).
struct NullStore;
struct NullPublisher;

impl IdempotencyStore for NullStore {
    async fn claim(
        &self,
        _: &NewRecord,
        _: EpochMillis,
        _: Duration,
    ) -> Result<Claim, DependencyError> {
        Ok(Claim::Written)
    }
    async fn complete(
        &self,
        _: &str,
        _: &ClaimToken,
        _: &str,
        _: Duration,
    ) -> Result<Completed, DependencyError> {
        Ok(Completed::Done)
    }
    async fn release(&self, _: &str, _: &ClaimToken, _: Duration) -> Result<(), DependencyError> {
        Ok(())
    }
}

impl Publisher for NullPublisher {
    async fn publish(
        &self,
        _: Destination,
        _: &OutboundMessage,
        _: Duration,
    ) -> Result<String, PublishError> {
        Ok(String::from("00000000-0000-0000-0000-000000000000"))
    }
}

type MemoryPipeline = Pipeline<MemoryStore, MemoryPublisher, SystemClock>;

fn memory_pipeline() -> MemoryPipeline {
    Pipeline::new(
        config(),
        Category::Email,
        MemoryStore::default(),
        MemoryPublisher::default(),
        SystemClock,
    )
}

/// Times `iters` new events: batches of distinct bodies, each through a fresh pipeline built
/// (and dropped) outside the timed section.
fn new_events(bodies: &[Vec<u8>], iters: u64, expected: &Outcome) -> Duration {
    let deadline = deadline();
    let mut left = iters;
    let mut total = Duration::ZERO;
    while left > 0 {
        let take = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(bodies.len());
        let pipeline = memory_pipeline();
        let started = Instant::now();
        for body in &bodies[..take] {
            black_box(ready(pipeline.handle(&request(black_box(body)), deadline)));
        }
        total += started.elapsed();
        // Outside the timing: the last one did what the benchmark claims it measures.
        let check = ready(pipeline.handle(&request(&bodies[take - 1]), deadline));
        assert_eq!(
            check.report.outcome,
            Outcome::Duplicate,
            "{expected:?} then duplicate"
        );
        left -= take as u64;
    }
    total
}

fn check(handled: &Handled, outcome: Outcome, aws_requests: u32) {
    assert_eq!(handled.report.outcome, outcome);
    assert_eq!(handled.report.requests.total(), aws_requests);
}

fn pipeline(c: &mut Criterion) {
    let replied = sample("email_replied");
    let opened = sample("email_opened");
    let replied_bodies = with_distinct_ids(&replied, BATCH);
    let opened_bodies = with_distinct_ids(&opened, BATCH);
    let deadline = deadline();

    // What each case does, checked once before timing it.
    let accepted = Outcome::Accepted {
        sent_to: Some(Destination::Actionable),
    };
    let recorded = Outcome::Accepted { sent_to: None };
    let p = memory_pipeline();
    check(
        &ready(p.handle(&request(&replied), deadline)),
        accepted.clone(),
        3,
    );
    check(
        &ready(p.handle(&request(&replied), deadline)),
        Outcome::Duplicate,
        1,
    );
    check(
        &ready(p.handle(&request(&opened), deadline)),
        recorded.clone(),
        1,
    );

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Bytes(replied.len() as u64));

    // The typical delivery: a new actionable event (claim, message, complete).
    group.bench_function("new_actionable_email_replied", |b| {
        b.iter_custom(|iters| new_events(&replied_bodies, iters, &accepted))
    });

    // A redelivery: parse, hash, one claim that finds the COMPLETED record.
    group.bench_function("duplicate_email_replied", |b| {
        let p = memory_pipeline();
        check(
            &ready(p.handle(&request(&replied), deadline)),
            accepted.clone(),
            3,
        );
        b.iter(|| ready(p.handle(&request(black_box(&replied)), deadline)))
    });

    // A new event with no queue to go to: one claim straight to COMPLETED.
    group.throughput(Throughput::Bytes(opened.len() as u64));
    group.bench_function("new_non_actionable_email_opened", |b| {
        b.iter_custom(|iters| new_events(&opened_bodies, iters, &recorded))
    });

    // The pipeline alone, ports that do nothing: what the core itself costs.
    group.throughput(Throughput::Bytes(replied.len() as u64));
    group.bench_function("new_actionable_email_replied_null_ports", |b| {
        let p = Pipeline::new(
            config(),
            Category::Email,
            NullStore,
            NullPublisher,
            SystemClock,
        );
        check(
            &ready(p.handle(&request(&replied), deadline)),
            accepted.clone(),
            3,
        );
        b.iter(|| ready(p.handle(&request(black_box(&replied)), deadline)))
    });

    // Refused before any parsing: the floor of an invocation.
    group.bench_function("unauthorized", |b| {
        let p = memory_pipeline();
        let wrong = InboundRequest {
            method: "POST",
            token: TokenParam::One("not-the-token-at-all-0000"),
            body: RequestBody::Bytes(&replied),
            content_type: None,
        };
        check(&ready(p.handle(&wrong, deadline)), Outcome::Unauthorized, 0);
        b.iter(|| ready(p.handle(black_box(&wrong), deadline)))
    });
    group.finish();
}

fn serialise(c: &mut Criterion) {
    let replied = sample("email_replied");
    let delivery = Delivery::parse(&replied).unwrap();
    let received_at = "2026-11-26T10:00:00.000Z";
    let mut group = c.benchmark_group("serialise");

    group.bench_function("outbound_message_new", |b| {
        b.iter(|| OutboundMessage::event(black_box(&delivery), Category::Email, received_at))
    });

    // The idempotency record as the pipeline derives it: key, canonical-form validation hash,
    // claim token, received_at, owned strings. Its DynamoDB item is built in webhook-aws.
    group.bench_function("new_record", |b| {
        b.iter(|| {
            let now = SystemTime::now();
            let now_ms = EpochMillis::from_system_time(now);
            NewRecord {
                key: record_key(&delivery.envelope.id),
                status: RecordStatus::InProgress,
                expiration: now_ms.seconds().plus(Duration::from_secs(604_800)),
                in_progress_expiration: Some(now_ms),
                validation: validation_hash(black_box(&replied)),
                claim_token: ClaimToken::new(),
                event_type: delivery.envelope.event_type.as_str().to_owned(),
                category: Category::Email.as_str().to_owned(),
                received_at: DateTime::<Utc>::from(now)
                    .to_rfc3339_opts(SecondsFormat::Millis, true),
                enqueued: None,
            }
        })
    });
    group.bench_function("record_validation_canonical_sha256", |b| {
        b.iter(|| validation_hash(black_box(&replied)))
    });
    group.bench_function("claim_token", |b| b.iter(ClaimToken::new));
    group.bench_function("record_received_at_rfc3339", |b| {
        b.iter(|| {
            DateTime::<Utc>::from(black_box(SystemTime::now()))
                .to_rfc3339_opts(SecondsFormat::Millis, true)
        })
    });

    let accepted = Outcome::Accepted {
        sent_to: Some(Destination::Actionable),
    };
    let id = Some(delivery.envelope.id.as_str());
    group.bench_function("response_accepted", |b| {
        b.iter(|| Response::for_outcome(black_box(&accepted), id, None))
    });
    group.bench_function("response_duplicate", |b| {
        b.iter(|| Response::for_outcome(black_box(&Outcome::Duplicate), id, None))
    });
    group.bench_function("message_body_clone", |b| {
        let message = OutboundMessage::event(&delivery, Category::Email, received_at);
        b.iter(|| black_box(&message).clone())
    });
    group.finish();
}

fn criterion() -> Criterion {
    // Bounded run time on a shared 2-core machine; command-line flags still override.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = pipeline, serialise
}
criterion_main!(benches);
