//! `load`: a load test through the real binaries on a private local stack. N deliveries at
//! concurrency C, 20 % of them duplicates (half fired at the same moment as their original,
//! half later, as Reply's retries would be), mixing every sample event type. Then:
//! - no request got a 5xx, and every unique event was answered `accepted` exactly once;
//! - the actionable queue holds every unique actionable event exactly once, and nothing else;
//! - the table holds exactly one COMPLETED record per unique event.
//!
//! Throughput and latency percentiles are printed. Loopback only, bounded in count and time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use devkit::console::{note, say};
use devkit::http::Loopback;
use devkit::process::log_tail;
use devkit::{LOCAL_TOKEN, Stack, StackMode, Workspace, ids, local_aws, routes};
use reply_payload::EventType;
use serde_json::Value;
use webhook_core::config::vars;

use crate::args::Args;
use crate::{Chore, Error, Result};

pub const CHORE: Chore = Chore {
    name: "load",
    summary: "load test through the real binaries: N=5000 deliveries at C=32, 20 % duplicates",
    usage: "\
usage: cargo xtask load [--deliveries N] [--concurrency C] [--timeout SECONDS]
       defaults: $N else 5000 (10-100000), $C else 32 (1-256),
                 $LOAD_TIMEOUT else 1200 (bound on the sending phase, >= 10)

Starts a private local stack, sends N deliveries at concurrency C (20 % duplicates: half
together with their original, half later), then checks the answers, drains the actionable
queue and scans the table: every unique event accepted once, recorded COMPLETED once and, if
actionable, queued exactly once; no 5xx. Prints throughput and latency percentiles.",
    run,
};

/// Seed of the job order: runs are comparable.
const SEED: u64 = 20_261_126;
/// How long draining the queue may take.
const DRAIN_WITHIN: Duration = Duration::from_secs(600);

/// One unique event.
struct Event {
    id: String,
    event_type: EventType,
    path: String,
    body: Vec<u8>,
}

/// What to send: one delivery, or copies fired together.
#[derive(Clone, Copy)]
enum Job {
    One(usize),
    Burst(usize, usize),
}

#[derive(Default)]
struct Results {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    answers: HashMap<usize, Vec<String>>,
    failures: Vec<String>,
}

fn run(ws: &Workspace, mut args: Args) -> Result {
    let deliveries = args.setting("--deliveries", "N", 5000usize, 10..=100_000)?;
    let concurrency = args.setting("--concurrency", "C", 32usize, 1..=256)?;
    let timeout = args.setting("--timeout", "LOAD_TIMEOUT", 1200u64, 10..=86_400)?;
    args.finish()?;

    let started = Instant::now();
    let stack = Stack::start(
        ws,
        &ws.stack_dir(&format!("load-{}", std::process::id())),
        StackMode::Private,
    )?;
    say(format!(
        "stack ready in {} s; sending {deliveries} deliveries at concurrency {concurrency}",
        started.elapsed().as_secs()
    ));
    let outcome = load(
        ws,
        &stack,
        deliveries,
        concurrency,
        Duration::from_secs(timeout),
    );
    if outcome.is_err() {
        note(format!(
            "tail of the functions' log:{}",
            log_tail(&stack.watch_log(), 15)
        ));
    }
    say("stopping the load-test stack");
    stack.stop();
    outcome
}

fn load(
    ws: &Workspace,
    stack: &Stack,
    deliveries: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result {
    let events = events(ws, deliveries - deliveries / 5)?;
    let duplicates = deliveries / 5;
    let together = duplicates / 2;
    let jobs = jobs(events.len(), together, duplicates - together);

    let client = Loopback::new(Duration::from_secs(60));
    let base = stack.watch_url();
    let results = Mutex::new(Results::default());
    let next = AtomicUsize::new(0);
    let deadline = Instant::now() + timeout;
    let post = |event: usize| {
        let outcome = if Instant::now() > deadline {
            Err("not sent: the sending phase passed LOAD_TIMEOUT".to_owned())
        } else {
            let sent = Instant::now();
            client
                .post_json(
                    &format!("{base}{}", events[event].path),
                    &events[event].body,
                )
                .map(|reply| (sent.elapsed(), reply))
                .map_err(|e| e.to_string())
        };
        let mut results = results.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok((latency, reply)) => {
                results.latencies.push(latency);
                *results.statuses.entry(reply.status).or_default() += 1;
                results
                    .answers
                    .entry(event)
                    .or_default()
                    .push(code(&reply.body));
            }
            Err(reason) => results.failures.push(reason),
        }
    };
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..concurrency {
            scope.spawn(|| {
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    match *job {
                        Job::One(event) => post(event),
                        Job::Burst(event, copies) => {
                            let barrier = Barrier::new(copies);
                            std::thread::scope(|burst| {
                                for _ in 0..copies {
                                    burst.spawn(|| {
                                        barrier.wait();
                                        post(event);
                                    });
                                }
                            });
                        }
                    }
                }
            });
        }
    });
    let wall = began.elapsed();
    let results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut problems = report_answers(&events, &results, wall, concurrency, duplicates, together);

    let env: HashMap<String, String> = stack.env().into_iter().collect();
    let queue_url = env
        .get(vars::ACTIONABLE_QUEUE_URL)
        .ok_or("the stack's env file has no ACTIONABLE_QUEUE_URL".to_owned())?;
    let table = env
        .get(vars::IDEMPOTENCY_TABLE_NAME)
        .ok_or("the stack's env file has no IDEMPOTENCY_TABLE_NAME".to_owned())?;
    let aws = stack.moto().clone();
    let (queued, drained, records) = local_aws::runtime()?.block_on(async {
        let (dynamodb, sqs) = aws.clients().await;
        let (queued, drained) = drain(&sqs, queue_url).await?;
        let records = scan(&dynamodb, table).await?;
        Ok::<_, Error>((queued, drained, records))
    })?;
    problems.extend(check_queue(&events, &queued, drained));
    problems.extend(check_table(&events, &records));

    if problems.is_empty() {
        println!(
            "\nPASSED: every unique event accepted once, recorded COMPLETED once, and (if actionable) in the queue exactly once; no 5xx"
        );
        Ok(())
    } else {
        println!("\nFAILED:");
        for problem in &problems {
            println!("  {problem}");
        }
        Err(Error::check(format!(
            "{} check(s) failed (listed above)",
            problems.len()
        )))
    }
}

/// `count` unique events cycling through the sample types, each with its own id.
fn events(ws: &Workspace, count: usize) -> Result<Vec<Event>> {
    let dir = ws.root().join("events/reply");
    let mut samples: Vec<(String, Value)> = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
    for path in entries.flatten().map(|e| e.path()) {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
            let body = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            samples.push((stem.to_owned(), body));
        }
    }
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    if samples.is_empty() {
        return Err(Error::check(format!("no samples in {}", dir.display())));
    }
    let run = format!("{}-{}", ids::epoch_millis() / 1000, std::process::id());
    Ok((0..count)
        .map(|i| {
            let (name, sample) = &samples[i % samples.len()];
            let event_type = EventType::parse(name);
            let id = format!("load-{run}-{i:06}");
            let mut body = sample.clone();
            body["event"]["id"] = Value::String(id.clone());
            Event {
                path: routes::function_path(routes::category_of(&event_type), LOCAL_TOKEN),
                body: body.to_string().into_bytes(),
                event_type,
                id,
            }
        })
        .collect())
}

/// Every unique event once, `together` of them as a burst of two, in a shuffled order; then
/// `later` more copies of random events spread over the second half of the run.
fn jobs(uniques: usize, together: usize, later: usize) -> Vec<Job> {
    let mut rng = SplitMix64(SEED);
    let mut indices: Vec<usize> = (0..uniques).collect();
    rng.shuffle(&mut indices);
    let bursts: HashSet<usize> = indices[..together.min(uniques)].iter().copied().collect();
    let mut jobs: Vec<Job> = (0..uniques)
        .map(|i| match bursts.contains(&i) {
            true => Job::Burst(i, 2),
            false => Job::One(i),
        })
        .collect();
    rng.shuffle(&mut jobs);
    let half = jobs.len() / 2;
    for _ in 0..later {
        let event = rng.below(uniques);
        let at = half + rng.below(jobs.len() - half + 1);
        jobs.insert(at, Job::One(event));
    }
    jobs
}

/// The answer's `status` (`accepted`, `duplicate`) or `error.code`.
fn code(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(answer) => answer["status"]
            .as_str()
            .or_else(|| answer["error"]["code"].as_str())
            .unwrap_or("no-status")
            .to_owned(),
        Err(_) => format!("not-json:{}", body.chars().take(80).collect::<String>()),
    }
}

/// Prints throughput, latency and answers; returns what is wrong with the answers.
fn report_answers(
    events: &[Event],
    results: &Results,
    wall: Duration,
    concurrency: usize,
    duplicates: usize,
    together: usize,
) -> Vec<String> {
    let sent: usize = results.statuses.values().sum();
    let mut latencies = results.latencies.clone();
    latencies.sort_unstable();
    let pct = |p: usize| {
        latencies
            .get((p * latencies.len() / 100).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "\nsent {sent} deliveries ({} unique events, {duplicates} duplicates: {together} fired together with their original, {} later) in {:.1} s at concurrency {concurrency}",
        events.len(),
        duplicates - together,
        wall.as_secs_f64()
    );
    println!(
        "throughput  {:.1} deliveries/s",
        sent as f64 / wall.as_secs_f64()
    );
    println!(
        "latency     p50 {:.1} ms   p90 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        pct(50),
        pct(90),
        pct(99),
        pct(100)
    );
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for code in results.answers.values().flatten() {
        *codes.entry(code).or_default() += 1;
    }
    let list = |items: Vec<String>| items.join(", ");
    println!(
        "answers     {}   ({})",
        list(
            results
                .statuses
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect()
        ),
        list(codes.iter().map(|(k, v)| format!("{k}: {v}")).collect())
    );

    let mut problems = Vec::new();
    if !results.failures.is_empty() {
        problems.push(format!(
            "{} deliveries got no answer; first: {}",
            results.failures.len(),
            results.failures[0]
        ));
    }
    let server_errors: usize = results.statuses.range(500..).map(|(_, n)| n).sum();
    if server_errors > 0 {
        problems.push(format!("{server_errors} responses were 5xx"));
    }
    let unexpected: Vec<String> = codes
        .iter()
        .filter(|(code, _)| !["accepted", "duplicate", "in_progress"].contains(code))
        .map(|(code, n)| format!("{code}: {n}"))
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!("unexpected answers: {}", unexpected.join(", ")));
    }
    let mut by_accepted: BTreeMap<usize, usize> = BTreeMap::new();
    for event in 0..events.len() {
        let accepted = results
            .answers
            .get(&event)
            .map_or(0, |codes| codes.iter().filter(|c| *c == "accepted").count());
        *by_accepted.entry(accepted).or_default() += 1;
    }
    if by_accepted.keys().any(|&accepted| accepted != 1) {
        problems.push(format!(
            "unique events by number of 'accepted' answers: {by_accepted:?} (want all 1)"
        ));
    }
    problems
}

/// Receives and deletes every message; counts them by event id. `false` when the queue did
/// not drain in time (so unread messages are not reported as lost).
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<(HashMap<String, usize>, bool)> {
    let mut counted = HashMap::new();
    let began = Instant::now();
    let mut empty_polls = 0;
    while empty_polls < 3 && began.elapsed() < DRAIN_WITHIN {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(900)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| aws_error("ReceiveMessage", &e))?;
        let batch = received.messages();
        if batch.is_empty() {
            empty_polls += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        empty_polls = 0;
        let mut delete = sqs.delete_message_batch().queue_url(queue_url);
        for (i, message) in batch.iter().enumerate() {
            let event_id = serde_json::from_str::<Value>(message.body().unwrap_or_default())
                .ok()
                .and_then(|body| body["event_id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "(no event_id)".to_owned());
            *counted.entry(event_id).or_default() += 1;
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                .build()
                .map_err(|e| Error::check(format!("cannot build DeleteMessageBatch: {e}")))?;
            delete = delete.entries(entry);
        }
        // Counted: delete them, so the emulator's next receive scans a shorter queue.
        delete
            .send()
            .await
            .map_err(|e| aws_error("DeleteMessageBatch", &e))?;
    }
    println!("drained     in {:.1} s", began.elapsed().as_secs_f64());
    Ok((counted, empty_polls >= 3))
}

/// Every record: event id → status.
async fn scan(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<(String, String)>> {
    let mut records = Vec::new();
    let mut start = None;
    for _ in 0..10_000 {
        let page = dynamodb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws_error("Scan", &e))?;
        for item in page.items() {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(s)) => s.clone(),
                _ => String::new(),
            };
            let key = text("id");
            let id = key.strip_prefix("reply#").unwrap_or(&key).to_owned();
            records.push((id, text("status")));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    Ok(records)
}

fn check_queue(events: &[Event], queued: &HashMap<String, usize>, drained: bool) -> Vec<String> {
    let expected: HashSet<&str> = events
        .iter()
        .filter(|e| e.event_type.actionable_by_default())
        .map(|e| e.id.as_str())
        .collect();
    let lost: Vec<&&str> = expected
        .iter()
        .filter(|id| !queued.contains_key(**id))
        .collect();
    let duplicated: Vec<(&String, &usize)> = queued.iter().filter(|(_, n)| **n > 1).collect();
    let stray: Vec<&String> = queued
        .keys()
        .filter(|id| !expected.contains(id.as_str()))
        .collect();
    println!(
        "queue       {} messages for {} event ids; {} actionable unique events expected: lost {}, duplicated {}, stray {}",
        queued.values().sum::<usize>(),
        queued.len(),
        expected.len(),
        lost.len(),
        duplicated.len(),
        stray.len()
    );
    let mut problems = Vec::new();
    if !drained {
        problems.push(format!(
            "the queue did not drain within {} s",
            DRAIN_WITHIN.as_secs()
        ));
    }
    if !lost.is_empty() || !duplicated.is_empty() || !stray.is_empty() {
        problems.push(format!(
            "queue: lost {:?}, duplicated {:?}, stray {:?}",
            first_five(lost),
            first_five(duplicated),
            first_five(stray)
        ));
    }
    problems
}

fn check_table(events: &[Event], records: &[(String, String)]) -> Vec<String> {
    let unique: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (id, _) in records {
        *counts.entry(id).or_default() += 1;
    }
    let missing: Vec<&&str> = unique
        .iter()
        .filter(|id| !counts.contains_key(**id))
        .collect();
    let not_completed: Vec<&(String, String)> = records
        .iter()
        .filter(|(_, status)| status != "COMPLETED")
        .collect();
    let extra: Vec<&&str> = counts.keys().filter(|id| !unique.contains(**id)).collect();
    println!(
        "table       {} records for {} unique events: missing {}, not COMPLETED {}, extra {}",
        records.len(),
        unique.len(),
        missing.len(),
        not_completed.len(),
        extra.len()
    );
    if missing.is_empty() && not_completed.is_empty() && extra.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "table: missing {:?}, not completed {:?}, extra {:?}",
        first_five(missing),
        first_five(not_completed),
        first_five(extra)
    )]
}

fn first_five<T>(mut items: Vec<T>) -> Vec<T> {
    items.truncate(5);
    items
}

fn aws_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    action: &str,
    err: &aws_sdk_sqs::error::SdkError<E, R>,
) -> Error {
    Error::check(format!(
        "{action} failed: {}",
        aws_sdk_sqs::error::DisplayErrorContext(err)
    ))
}

/// A small deterministic generator (SplitMix64): a fixed seed gives the same run every time.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_send_every_delivery_once_with_the_duplicates_asked_for() {
        let (uniques, together, later) = (400, 50, 50);
        let jobs = jobs(uniques, together, later);
        let copies: usize = jobs
            .iter()
            .map(|job| match job {
                Job::One(_) => 1,
                Job::Burst(_, copies) => *copies,
            })
            .sum();
        assert_eq!(copies, uniques + together + later);
        let bursts = jobs.iter().filter(|j| matches!(j, Job::Burst(..))).count();
        assert_eq!(bursts, together);
        let mut seen: Vec<usize> = jobs
            .iter()
            .map(|job| match job {
                Job::One(e) | Job::Burst(e, _) => *e,
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), uniques, "every unique event is sent");
    }

    #[test]
    fn the_order_is_the_same_every_run() {
        let order = |jobs: Vec<Job>| -> Vec<usize> {
            jobs.iter()
                .map(|job| match job {
                    Job::One(e) | Job::Burst(e, _) => *e,
                })
                .collect()
        };
        assert_eq!(order(jobs(100, 10, 10)), order(jobs(100, 10, 10)));
    }

    #[test]
    fn answers_are_read_by_status_or_error_code() {
        assert_eq!(
            code(r#"{"status":"duplicate","event_id":"x"}"#),
            "duplicate"
        );
        assert_eq!(code(r#"{"error":{"code":"in_progress"}}"#), "in_progress");
        assert_eq!(code("<html>"), "not-json:<html>");
    }
}
