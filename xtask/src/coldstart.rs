//! `xtask coldstart`: cold start, per-invocation latency, CPU and peak memory of a function's
//! release binary under a minimal local Lambda Runtime API emulator, against the embedded stack
//! (moto's server at `AWS_ENDPOINT_URL`). Figures for docs/benchmarks.md (issue 7).
//!
//! The emulator is a loopback HTTP/1.1 server implementing the two calls a runtime makes on the
//! happy path: `GET /2018-06-01/runtime/invocation/next` (answered with the next queued HTTP API
//! event and the `Lambda-Runtime-*` headers) and `POST /2018-06-01/runtime/invocation/{id}/response`
//! (plus `/error` and `/init/error`, recorded as failures). Each call is timestamped on arrival.
//!
//! Per cold start (a fresh process each time): (a) spawn → first `/next` request = ready for the
//! first event; (b) first event handed out → its response posted; (c) the same for a second,
//! warm event. Then one process takes `--load` events back to back for peak RSS (`VmHWM`) and
//! CPU time per warm invocation (`/proc/<pid>/task/*/schedstat`, nanoseconds).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use webhook_aws::provision::{self, StackNames};

use crate::provision::{LOCAL_TOKEN, LocalAws, runtime};

const USAGE: &str = "\
usage: cargo run -p xtask -- coldstart [--bin PATH] [--function NAME] [--runs N] [--load N]
                                       [--sample NAME] [--hello PATH] [--out FILE]

Runs a function's release binary under a local Lambda Runtime API emulator against the
emulator at AWS_ENDPOINT_URL (moto; run through `scripts/moto.sh run --`), and prints:
  ready       process spawn -> first GET /invocation/next (median, p90 over --runs cold starts)
  first       first event handed out -> its response posted
  warm        second event, same process
  load        --load new events through one process: latency percentiles, CPU per invocation
              (schedstat), peak RSS (VmHWM)
Defaults: --bin target/release/email-webhook, --function email-webhook, --runs 15,
--load 1000, --sample email_replied (events/reply/<sample>.json; a new event id per event).
--hello PATH also measures ready/first/warm for another runtime binary (e.g. a hello-world)
with the same emulator. --out FILE writes the figures as JSON too.";

/// How long any one wait may take before the run is declared failed.
const WAIT: Duration = Duration::from_secs(20);

pub fn run(root: &Path, args: &[String]) -> crate::Result {
    let mut options = Options {
        bin: root.join("target/release/email-webhook"),
        function: "email-webhook".to_owned(),
        runs: 15,
        load: 1000,
        sample: "email_replied".to_owned(),
        hello: None,
        out: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| crate::option_value(&mut args, flag, USAGE);
        match arg.as_str() {
            "--bin" => options.bin = PathBuf::from(value("--bin")?),
            "--function" => options.function = value("--function")?,
            "--runs" => options.runs = value("--runs")?.parse()?,
            "--load" => options.load = value("--load")?.parse()?,
            "--sample" => options.sample = value("--sample")?,
            "--hello" => options.hello = Some(PathBuf::from(value("--hello")?)),
            "--out" => options.out = Some(PathBuf::from(value("--out")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
    }
    if !options.bin.is_file() {
        return Err(format!(
            "{} does not exist: build it first (cargo build --release -p {})",
            options.bin.display(),
            options.function
        )
        .into());
    }
    if !(1..=1000).contains(&options.runs) || options.load > 100_000 {
        return Err("--runs must be 1..=1000 and --load at most 100000".into());
    }
    let sample_path = root.join(format!("events/reply/{}.json", options.sample));
    let sample = std::fs::read_to_string(&sample_path)
        .map_err(|e| format!("{}: {e}", sample_path.display()))?;
    let sample_id = serde_json::from_str::<Value>(&sample)?["event"]["id"]
        .as_str()
        .ok_or("the sample has no event.id")?
        .to_owned();

    // A table and queue of this run's own on the emulator.
    let local = LocalAws::from_env()?;
    let prefix = format!(
        "coldstart-{}-{}",
        std::process::id(),
        epoch_millis() % 100_000
    );
    let names = StackNames::prefixed(&prefix, false);
    let stack = runtime()?.block_on(async {
        let (dynamodb, sqs) = local.clients().await;
        provision::provision(&dynamodb, &sqs, &names).await
    })?;
    let mut env: Vec<(String, String)> = Vec::new();
    for (name, value) in stack.env().into_iter().chain(local.env()) {
        env.push((name.to_owned(), value));
    }
    env.push(("WEBHOOK_TOKENS".to_owned(), LOCAL_TOKEN.to_owned()));

    let log_dir = root.join("target/coldstart");
    std::fs::create_dir_all(&log_dir)?;
    let events = EventSource {
        sample,
        sample_id,
        prefix: prefix.clone(),
        next: 0,
    };
    let mut bench = Bench {
        function: options.function.clone(),
        check: true,
        env,
        events,
        log: log_dir.join(format!("{}.log", options.function)),
    };

    let mut report = String::new();
    let mut json = serde_json::Map::new();
    let _ = writeln!(
        report,
        "binary {} ({} bytes), {} cold starts, against {}",
        options.bin.display(),
        std::fs::metadata(&options.bin)?.len(),
        options.runs,
        local.endpoint
    );
    let cold = bench.cold_starts(&options.bin, options.runs)?;
    cold.print(&mut report, &options.function);
    json.insert("cold".into(), cold.to_json());

    if options.load > 0 {
        let load = bench.load(&options.bin, options.load)?;
        load.print(&mut report);
        json.insert("load".into(), load.to_json());
    }

    if let Some(hello) = &options.hello {
        let mut hello_bench = Bench {
            function: "hello".to_owned(),
            check: false,
            env: Vec::new(),
            events: bench.events.clone(),
            log: log_dir.join("hello.log"),
        };
        let cold = hello_bench.cold_starts(hello, options.runs)?;
        let _ = writeln!(
            report,
            "comparison: {} ({} bytes)",
            hello.display(),
            std::fs::metadata(hello)?.len()
        );
        cold.print(&mut report, "hello");
        json.insert("hello".into(), cold.to_json());
    }
    print!("{report}");
    if let Some(out) = &options.out {
        std::fs::write(out, serde_json::to_string_pretty(&Value::Object(json))?)?;
    }
    Ok(())
}

struct Options {
    bin: PathBuf,
    function: String,
    runs: usize,
    load: usize,
    sample: String,
    hello: Option<PathBuf>,
    out: Option<PathBuf>,
}

/// New events from the sample: the event id's last 12 hex digits replaced by a counter.
#[derive(Clone)]
struct EventSource {
    sample: String,
    sample_id: String,
    prefix: String,
    next: u64,
}

impl EventSource {
    /// An HTTP API (payload 2.0) event posting a new delivery.
    fn next_event(&mut self, function: &str) -> String {
        self.next += 1;
        let id = format!(
            "{}{:012x}",
            &self.sample_id[..self.sample_id.len().saturating_sub(12)],
            self.next
        );
        let body = self.sample.replacen(&self.sample_id, &id, 1);
        let route = format!("/webhooks/{}", function.trim_end_matches("-webhook"));
        serde_json::json!({
            "version": "2.0",
            "routeKey": format!("POST {route}"),
            "rawPath": route,
            "rawQueryString": format!("token={LOCAL_TOKEN}"),
            "headers": {"content-type": "application/json", "content-length": body.len().to_string()},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "coldstart",
                "http": {"method": "POST", "path": route, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "xtask-coldstart"},
                "requestId": format!("{}-{}", self.prefix, self.next),
                "routeKey": format!("POST {route}"),
                "stage": "$default",
                "timeEpoch": epoch_millis()
            },
            "body": body,
            "isBase64Encoded": false
        })
        .to_string()
    }
}

struct Bench {
    function: String,
    /// Require `200 accepted` answers (not for a hello-world).
    check: bool,
    env: Vec<(String, String)>,
    events: EventSource,
    log: PathBuf,
}

impl Bench {
    fn spawn(&self, bin: &Path, emulator: &Emulator) -> crate::Result<(Child, Instant)> {
        let mut command = Command::new(bin);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", emulator.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.function),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/26/[$LATEST]coldstart",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("TZ", ":UTC")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file(&self.log)?)
            .stderr(log_file(&self.log)?);
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok((child, started))
    }

    /// `runs` fresh processes, each given two events.
    fn cold_starts(&mut self, bin: &Path, runs: usize) -> crate::Result<Cold> {
        let mut cold = Cold::default();
        for _ in 0..runs {
            let emulator = Emulator::start()?;
            emulator.push(self.events.next_event(&self.function));
            emulator.push(self.events.next_event(&self.function));
            let (mut child, spawned) = self.spawn(bin, &emulator)?;
            let result = (|| -> crate::Result<()> {
                let calls = emulator.wait_for(|c| c.responses.len() >= 2, &mut child, WAIT)?;
                let first_next = calls.first_next.ok_or("no /next request")?;
                let (first, warm) = (&calls.responses[0], &calls.responses[1]);
                if self.check {
                    check_response(&first.body)?;
                    check_response(&warm.body)?;
                }
                cold.ready.push(first_next - spawned);
                cold.first.push(first.posted - first.handed_out);
                cold.warm.push(warm.posted - warm.handed_out);
                cold.rss_after_two_kib
                    .push(proc_status(child.id(), "VmHWM:").unwrap_or(0));
                Ok(())
            })();
            stop(&mut child);
            result?;
        }
        Ok(cold)
    }

    /// One process, `n` events back to back (plus one first event outside the figures).
    fn load(&mut self, bin: &Path, n: usize) -> crate::Result<Load> {
        let emulator = Emulator::start()?;
        emulator.push(self.events.next_event(&self.function));
        let (mut child, _) = self.spawn(bin, &emulator)?;
        let result = (|| -> crate::Result<Load> {
            drop(emulator.wait_for(|c| !c.responses.is_empty(), &mut child, WAIT)?);
            let pid = child.id();
            let rss_idle_kib = proc_status(pid, "VmHWM:").unwrap_or(0);
            let cpu_before = cpu_nanos(pid);
            let started = Instant::now();
            for _ in 0..n {
                emulator.push(self.events.next_event(&self.function));
            }
            // Bounded by a generous per-event allowance (moto answers in milliseconds).
            let allowance =
                WAIT + Duration::from_millis(200) * u32::try_from(n).unwrap_or(u32::MAX);
            let calls = emulator.wait_for(|c| c.responses.len() > n, &mut child, allowance)?;
            let wall = started.elapsed();
            let cpu = cpu_nanos(pid).saturating_sub(cpu_before);
            let mut latencies = Vec::with_capacity(n);
            for response in &calls.responses[1..] {
                if self.check {
                    check_response(&response.body)?;
                }
                latencies.push(response.posted - response.handed_out);
            }
            Ok(Load {
                events: n,
                wall,
                cpu_per_event: Duration::from_nanos(cpu / n as u64),
                latencies,
                rss_first_kib: rss_idle_kib,
                rss_peak_kib: proc_status(pid, "VmHWM:").unwrap_or(0),
                rss_now_kib: proc_status(pid, "VmRSS:").unwrap_or(0),
            })
        })();
        stop(&mut child);
        result
    }
}

fn log_file(path: &Path) -> crate::Result<std::fs::File> {
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The function answered 200 with an accepted (or duplicate) body.
fn check_response(body: &str) -> crate::Result {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("response is not JSON ({e}): {body}"))?;
    let status = value["statusCode"].as_u64().unwrap_or(0);
    let inner: Value = value["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    if status != 200 || inner["status"] != "accepted" {
        return Err(format!("unexpected response: {body}").into());
    }
    Ok(())
}

#[derive(Default)]
struct Cold {
    ready: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    rss_after_two_kib: Vec<u64>,
}

impl Cold {
    fn print(&self, out: &mut String, name: &str) {
        let _ = writeln!(out, "{name}: {} cold starts", self.ready.len());
        for (what, values) in [
            ("ready (spawn -> first /next)", &self.ready),
            ("first event latency", &self.first),
            ("warm event latency", &self.warm),
        ] {
            let _ = writeln!(
                out,
                "  {what:<30} median {:>8.3} ms  p90 {:>8.3} ms  min {:>8.3} ms  max {:>8.3} ms",
                ms(percentile(values, 50)),
                ms(percentile(values, 90)),
                ms(percentile(values, 0)),
                ms(percentile(values, 100)),
            );
        }
        let mut rss = self.rss_after_two_kib.clone();
        rss.sort_unstable();
        let _ = writeln!(
            out,
            "  {:<30} median {:>8.1} MiB",
            "peak RSS after two events",
            rss.get(rss.len() / 2).copied().unwrap_or(0) as f64 / 1024.0
        );
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "runs": self.ready.len(),
            "ready_ms": summary(&self.ready),
            "first_event_ms": summary(&self.first),
            "warm_event_ms": summary(&self.warm),
            "peak_rss_after_two_events_kib": self.rss_after_two_kib,
        })
    }
}

struct Load {
    events: usize,
    wall: Duration,
    cpu_per_event: Duration,
    latencies: Vec<Duration>,
    rss_first_kib: u64,
    rss_peak_kib: u64,
    rss_now_kib: u64,
}

impl Load {
    fn print(&self, out: &mut String) {
        let l = &self.latencies;
        let _ = writeln!(
            out,
            "load: {} new events through one process in {:.2} s ({:.0} events/s, serial)",
            self.events,
            self.wall.as_secs_f64(),
            self.events as f64 / self.wall.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  latency (handed out -> response) median {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
            ms(percentile(l, 50)),
            ms(percentile(l, 90)),
            ms(percentile(l, 99)),
            ms(percentile(l, 100)),
        );
        let _ = writeln!(
            out,
            "  CPU time per warm invocation (schedstat, all threads) {:.1} µs",
            self.cpu_per_event.as_secs_f64() * 1e6
        );
        let _ = writeln!(
            out,
            "  RSS: peak after the first event {:.1} MiB, peak after the load {:.1} MiB (VmHWM), now {:.1} MiB",
            self.rss_first_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
            self.rss_now_kib as f64 / 1024.0
        );
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "events": self.events,
            "wall_s": self.wall.as_secs_f64(),
            "latency_ms": summary(&self.latencies),
            "cpu_per_event_us": self.cpu_per_event.as_secs_f64() * 1e6,
            "peak_rss_after_first_event_kib": self.rss_first_kib,
            "peak_rss_kib": self.rss_peak_kib,
            "rss_kib": self.rss_now_kib,
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile (0 = min, 100 = max).
fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(values: &[Duration]) -> Value {
    serde_json::json!({
        "median": ms(percentile(values, 50)),
        "p90": ms(percentile(values, 90)),
        "min": ms(percentile(values, 0)),
        "max": ms(percentile(values, 100)),
    })
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A `kB` line of /proc/<pid>/status (e.g. `VmHWM:`), in KiB.
fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time of every thread of `pid` so far, in nanoseconds (first field of schedstat).
fn cpu_nanos(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

// ---- The Runtime API emulator ----

/// One invocation's timeline.
struct Posted {
    handed_out: Instant,
    posted: Instant,
    body: String,
}

#[derive(Default)]
struct Calls {
    first_next: Option<Instant>,
    /// Events waiting for a `/next`, with their request ids.
    queue: VecDeque<(String, String)>,
    /// Handed out and not yet answered: request id -> when.
    pending: Vec<(String, Instant)>,
    responses: Vec<Posted>,
    failures: Vec<String>,
    next_id: u64,
}

struct Shared {
    calls: Mutex<Calls>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Emulator {
    fn start() -> crate::Result<Emulator> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            calls: Mutex::new(Calls::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(Emulator { addr, shared })
    }

    fn push(&self, event: String) {
        let mut calls = self.shared.lock();
        calls.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", calls.next_id);
        calls.queue.push_back((id, event));
        self.shared.changed.notify_all();
    }

    /// Waits (bounded) until `done` holds; fails on a reported error or a dead process.
    fn wait_for(
        &self,
        done: impl Fn(&Calls) -> bool,
        child: &mut Child,
        wait: Duration,
    ) -> crate::Result<MutexGuard<'_, Calls>> {
        let deadline = Instant::now() + wait;
        let mut calls = self.shared.lock();
        loop {
            if let Some(failure) = calls.failures.first() {
                return Err(format!("the function reported an error: {failure}").into());
            }
            if done(&calls) {
                return Ok(calls);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(
                    format!("the function exited ({status}); see target/coldstart/").into(),
                );
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("timed out after {wait:?} waiting for the function").into());
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            calls = self
                .shared
                .changed
                .wait_timeout(calls, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        let _ = TcpStream::connect(self.addr);
    }
}

/// One connection from the runtime client (kept alive across calls).
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // Bounded: far more calls than any run makes on one connection.
    for _ in 0..1_000_000 {
        let Some((method, path, body)) = read_request(&mut reader) else {
            return;
        };
        let arrived = Instant::now();
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            match next_invocation(shared, arrived) {
                Some(reply) => reply,
                None => return, // stopping
            }
        } else if method == "POST" && path.contains("/runtime/invocation/") {
            let id = path
                .trim_end_matches("/response")
                .trim_end_matches("/error")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut calls = shared.lock();
            let handed_out = calls
                .pending
                .iter()
                .position(|(pending, _)| *pending == id)
                .map(|i| calls.pending.swap_remove(i).1);
            if path.ends_with("/response") {
                if let Some(handed_out) = handed_out {
                    calls.responses.push(Posted {
                        handed_out,
                        posted: arrived,
                        body,
                    });
                } else {
                    calls
                        .failures
                        .push(format!("response for unknown request {id}"));
                }
            } else {
                calls.failures.push(format!("{path}: {body}"));
            }
            shared.changed.notify_all();
            http_response(202, &[], r#"{"status":"OK"}"#)
        } else if method == "POST" && path.ends_with("/runtime/init/error") {
            let mut calls = shared.lock();
            calls.failures.push(format!("init error: {body}"));
            shared.changed.notify_all();
            http_response(202, &[], r#"{"status":"OK"}"#)
        } else {
            http_response(404, &[], r#"{"errorMessage":"not emulated"}"#)
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Blocks until an event is queued (or the emulator stops), then answers `/next` with it.
fn next_invocation(shared: &Shared, arrived: Instant) -> Option<String> {
    let mut calls = shared.lock();
    calls.first_next.get_or_insert(arrived);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some((id, event)) = calls.queue.pop_front() {
            let deadline = (epoch_millis() + 30_000).to_string();
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
                ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:coldstart",
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-6745a000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
                ),
            ];
            let reply = http_response(200, &headers, &event);
            // Timestamped as late as possible: the event leaves right after this.
            calls.pending.push((id, Instant::now()));
            return Some(reply);
        }
        calls = shared
            .changed
            .wait_timeout(calls, Duration::from_millis(200))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn http_response(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        _ => "Not Found",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

/// Reads one request: method, path, body (Content-Length or chunked). `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}
