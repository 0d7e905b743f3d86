//! Parse cost per Reply event type: the request path's `Delivery::parse` and the full
//! model `ReplyEvent::parse`, on every sample in `events/reply/`.
//!
//! Run with `make bench` (scripts/bench.sh), or
//! `cargo bench -p reply-payload --bench parse -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reply_payload::{Delivery, ReplyEvent};

/// Every `events/reply/*.json`, sorted by name: (event type, body).
fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/reply");
    let mut samples: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    samples.sort();
    assert_eq!(
        samples.len(),
        19,
        "one sample per event type in {}",
        dir.display()
    );
    samples
}

fn parse(c: &mut Criterion) {
    let samples = samples();
    for (name, body) in &samples {
        // Both parsers must accept every sample, or the figure means nothing.
        Delivery::parse(body).unwrap_or_else(|err| panic!("{name}: {err}"));
        ReplyEvent::parse(body).unwrap_or_else(|err| panic!("{name}: {err}"));
    }

    let mut delivery = c.benchmark_group("delivery_parse");
    for (name, body) in &samples {
        delivery.throughput(Throughput::Bytes(body.len() as u64));
        delivery.bench_function(name.as_str(), |b| {
            b.iter(|| Delivery::parse(black_box(body)))
        });
    }
    delivery.finish();

    let mut event = c.benchmark_group("reply_event_parse");
    for (name, body) in &samples {
        event.throughput(Throughput::Bytes(body.len() as u64));
        event.bench_function(name.as_str(), |b| {
            b.iter(|| ReplyEvent::parse(black_box(body)))
        });
    }
    event.finish();

    // For scale: the UTF-8 check and building a whole `serde_json::Value` from the same body.
    let body = &samples
        .iter()
        .find(|(name, _)| name == "email_replied")
        .expect("email_replied sample")
        .1;
    let mut parts = c.benchmark_group("parse_parts");
    parts.throughput(Throughput::Bytes(body.len() as u64));
    parts.bench_function("utf8_check", |b| {
        b.iter(|| std::str::from_utf8(black_box(body)).is_ok())
    });
    parts.bench_function("serde_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).is_ok())
    });
    parts.finish();
}

fn config() -> Criterion {
    // 38 benchmarks of 0.3–10 µs each: 0.5 s warm-up and 1 s of samples are plenty and keep the
    // run near a minute on a shared 2-core machine. Command-line flags still override.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse
}
criterion_main!(benches);
