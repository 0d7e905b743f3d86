//! Parse cost per Reply event type (issue 7): the request path's `Delivery::parse` and the full
//! model `ReplyEvent::parse`, on every sample in `events/reply/`.
//!
//! Run with `make bench` (scripts/bench.sh), or
//! `cargo bench -p reply-payload --bench parse -- --warm-up-time 1 --measurement-time 3`.

use std::fmt;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reply_payload::{Delivery, ReplyEvent};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

    // Where `Delivery::parse`'s time goes, on the typical 2 KB delivery: the passes it makes
    // over the body, and the alternatives a faster design could use instead.
    let body = &samples
        .iter()
        .find(|(name, _)| name == "email_replied")
        .expect("email_replied sample")
        .1;
    // The single-pass alternative refuses what the second pass refuses.
    assert!(serde_json::from_slice::<Skip>(br#"{"a":[1e400]}"#).is_err());
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(serde_json::from_slice::<Skip>(deep.as_bytes()).is_err());
    assert!(serde_json::from_slice::<IgnoredAny>(deep.as_bytes()).is_ok());
    assert!(serde_json::from_slice::<Skip>(body).is_ok() && depth_and_number_scan(body));
    let mut parts = c.benchmark_group("parse_parts");
    parts.throughput(Throughput::Bytes(body.len() as u64));
    parts.bench_function("utf8_check", |b| {
        b.iter(|| std::str::from_utf8(black_box(body)).is_ok())
    });
    parts.bench_function("serde_skip_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(body)).is_ok())
    });
    parts.bench_function("serde_skip_deserialize_any", |b| {
        b.iter(|| serde_json::from_slice::<Skip>(black_box(body)).is_ok())
    });
    parts.bench_function("depth_and_number_scan_replica", |b| {
        b.iter(|| depth_and_number_scan(black_box(body)))
    });
    parts.bench_function("serde_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).is_ok())
    });
    parts.finish();
}

/// Skips any JSON value through `deserialize_any`, so serde_json applies its own recursion
/// limit (128) and evaluates numbers (refusing `1e400`), unlike `IgnoredAny`, whose skipping
/// does neither: the checks `Delivery::parse` makes in a second pass, made in the first.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// A replica of the second pass `Delivery::parse` makes (`check_depth` in src/delivery.rs as of
/// commit f61e12e): a byte-by-byte scan for nesting depth and out-of-range numbers.
fn depth_and_number_scan(body: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut number_end = 0;
    for (offset, &byte) in body.iter().enumerate() {
        if offset < number_end {
            continue;
        }
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth >= 128 {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                number_end = offset
                    + body[offset..]
                        .iter()
                        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                        .unwrap_or(body.len() - offset);
                let number = &body[offset..number_end];
                let may_overflow =
                    number.len() > 300 || number.iter().any(|b| matches!(b, b'e' | b'E'));
                if may_overflow && serde_json::from_slice::<f64>(number).is_err() {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
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
