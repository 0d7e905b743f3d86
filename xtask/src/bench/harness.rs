//! Measures a Lambda function's release binary from outside, under the Runtime API emulator,
//! against moto: cold starts, and CPU and peak memory over a workload.
//!
//! Cold start: a fresh process per run, given two events: spawn → its first
//! `GET /invocation/next` ("init", what Lambda reports as Init Duration), the first event
//! handed out → its response, and the same for the second (warm) event.
//!
//! Workloads, per round: one fresh process takes one warm-up event (not counted), then N new
//! actionable deliveries ("new actionable alone"), then their N duplicates; the two windows
//! together are "the mix". A second fresh process takes N more duplicates of the same events
//! ("duplicates alone"). CPU per invocation is the process's CPU time over a window (every
//! thread's `/proc/<pid>/task/*/schedstat`) ÷ N; peak RSS is `VmHWM` at the end of the window.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use devkit::ids::epoch_millis;
use devkit::provision::{StackNames, provision};
use devkit::runtime_api::Emulator;
use devkit::{LOCAL_TOKEN, LocalAws, Moto, local_aws};
use reply_payload::Category;
use serde_json::{Value, json};
use webhook_core::Routing;
use webhook_core::config::vars;

use super::keepalive::{Counts, Front};
use crate::{Error, Result};

/// How long any one wait for the function may take (plus a per-event allowance for a batch).
const WAIT: Duration = Duration::from_secs(20);

/// What to measure, and how much.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cold_starts: usize,
    pub rounds: usize,
    /// N: deliveries per workload window.
    pub deliveries: usize,
    /// The sample under events/reply/ each delivery copies (with its own event id).
    pub sample: String,
    /// The function whose route the deliveries take.
    pub function: String,
    /// Whether the function reaches moto through the keep-alive front (as AWS's endpoints,
    /// connections are kept open) rather than directly (moto closes each after one answer).
    pub keep_alive: bool,
}

/// A binary to measure.
#[derive(Debug, Clone)]
pub struct Subject {
    /// How the figures name it: `email-webhook`, `hello-world`, `baseline <rev>`.
    pub label: String,
    pub bin: PathBuf,
    /// Whether its answers must be `accepted` / `duplicate` (not for the hello-world).
    pub checked: bool,
}

/// The emulator the functions talk to: ours, wiped before each subject so every binary meets
/// empty tables and queues; or one the caller named with `AWS_ENDPOINT_URL`, left as it is.
pub enum Aws {
    Own(Moto),
    External(LocalAws),
}

impl Aws {
    fn local(&self) -> LocalAws {
        match self {
            Aws::Own(moto) => LocalAws::new(moto.endpoint()),
            Aws::External(local) => local.clone(),
        }
    }

    /// A fresh table and queue, and the functions' environment pointing at them.
    fn fresh_env(&self, label: &str) -> Result<Vec<(String, String)>> {
        if let Aws::Own(moto) = self {
            moto.reset()?;
        }
        let local = self.local();
        let prefix = devkit::ids::run_name(&format!(
            "bench-{}",
            label.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        ));
        let names = StackNames::prefixed(&prefix, false);
        let aws = local.clone();
        let provisioned = local_aws::runtime()?.block_on(async move {
            let (dynamodb, sqs) = aws.clients().await;
            provision(&dynamodb, &sqs, &names).await
        })?;
        let mut env: Vec<(String, String)> = provisioned
            .env()
            .into_iter()
            .chain(local.env())
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        env.push((vars::WEBHOOK_TOKENS.to_owned(), LOCAL_TOKEN.to_owned()));
        Ok(env)
    }
}

/// One workload's figures in one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub cpu_per_invocation: Duration,
    pub peak_rss_kib: u64,
    pub latency_median: Duration,
    /// AWS requests the function sent, and connections it opened, over the window (through
    /// the keep-alive front; zero without it).
    pub aws: Counts,
}

/// Everything measured for one subject.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub label: String,
    pub bin: PathBuf,
    pub bin_bytes: u64,
    pub init: Vec<Duration>,
    pub first: Vec<Duration>,
    pub second: Vec<Duration>,
    pub rss_after_two_kib: Vec<u64>,
    pub mix: Vec<Window>,
    pub new_actionable: Vec<Window>,
    pub duplicates: Vec<Window>,
}

/// The workloads, in the order they are reported (the mix is the headline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Mix,
    NewActionable,
    Duplicates,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Mix, Workload::NewActionable, Workload::Duplicates];

    pub fn describe(self, n: usize) -> String {
        match self {
            Workload::Mix => format!("mix: {n} new actionable + their {n} duplicates"),
            Workload::NewActionable => format!("new actionable alone ({n})"),
            Workload::Duplicates => format!("duplicates alone ({n})"),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Workload::Mix => "mix",
            Workload::NewActionable => "new_actionable",
            Workload::Duplicates => "duplicates",
        }
    }
}

impl Figures {
    pub fn windows(&self, workload: Workload) -> &[Window] {
        match workload {
            Workload::Mix => &self.mix,
            Workload::NewActionable => &self.new_actionable,
            Workload::Duplicates => &self.duplicates,
        }
    }

    /// Median CPU per warm invocation over the rounds.
    pub fn cpu(&self, workload: Workload) -> Option<Duration> {
        median(self.windows(workload).iter().map(|w| w.cpu_per_invocation))
    }

    /// Median peak RSS over the rounds, in KiB.
    pub fn rss_kib(&self, workload: Workload) -> Option<u64> {
        median(self.windows(workload).iter().map(|w| w.peak_rss_kib))
    }

    pub fn cold_start(&self) -> Option<Duration> {
        median(self.init.iter().copied())
    }
}

/// The middle value (the lower of the two middle ones for an even count).
pub fn median<T: Ord + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut sorted: Vec<T> = values.collect();
    sorted.sort_unstable();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// Nearest-rank percentile (0 = min, 100 = max).
pub fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Measures `subject`: its cold starts, then the workload rounds.
pub fn measure(
    root: &Path,
    aws: &Aws,
    subject: &Subject,
    settings: &Settings,
    log_dir: &Path,
) -> Result<Figures> {
    let mut run = Run::new(root, aws, subject, settings, log_dir, Vec::new())?;
    let bin_bytes = std::fs::metadata(&subject.bin)
        .map_err(|e| Error::io(format!("cannot read {}", subject.bin.display()), e))?
        .len();
    let mut figures = Figures {
        label: subject.label.clone(),
        bin: subject.bin.clone(),
        bin_bytes,
        ..Figures::default()
    };
    for _ in 0..settings.cold_starts {
        run.cold_start(&mut figures)?;
    }
    for _ in 0..settings.rounds {
        let (new_actionable, mix, ids) = run.new_then_duplicates(settings.deliveries)?;
        figures.new_actionable.push(new_actionable);
        figures.mix.push(mix);
        figures.duplicates.push(run.duplicates_alone(&ids)?);
    }
    Ok(figures)
}

/// Profiles `subject` under callgrind (`valgrind`: the program, its arguments, and
/// `callgrind_control`): one process started as `valgrind <arguments> <binary>` with
/// instrumentation off takes `warm_up` new deliveries and their duplicates
/// (first connections, lazy initialisation: not counted); then `callgrind_control` turns
/// instrumentation on, the process takes the mix (N new actionable deliveries, then their N
/// duplicates), and SIGTERM ends it, which writes the profile. Returns the number of
/// invocations profiled.
pub fn callgrind_mix(
    root: &Path,
    aws: &Aws,
    subject: &Subject,
    settings: &Settings,
    log_dir: &Path,
    valgrind: (&Path, &[String], &Path),
    warm_up: usize,
) -> Result<usize> {
    let (valgrind, callgrind_args, control) = valgrind;
    let mut wrapper = vec![valgrind.display().to_string()];
    wrapper.extend(callgrind_args.iter().cloned());
    let mut run = Run::new(root, aws, subject, settings, log_dir, wrapper)?;
    let n = settings.deliveries;
    let emulator = Emulator::start()?;
    let (warm_ids, warm_news): (Vec<u64>, Vec<String>) =
        (0..warm_up).map(|_| run.events.new_delivery()).unzip();
    let (ids, news): (Vec<u64>, Vec<String>) = (0..n).map(|_| run.events.new_delivery()).unzip();
    // Under valgrind everything is ~50 times slower: generous waits.
    let slow = WAIT * 10 + Duration::from_secs(2) * u32::try_from(n).unwrap_or(u32::MAX);
    run.with_process(&emulator, |child, _| {
        for event in warm_news {
            emulator.push(event);
        }
        for id in &warm_ids {
            emulator.push(run.events.delivery(*id));
        }
        let calls = emulator.wait_for(|c| c.responses.len() >= 2 * warm_up, child, slow)?;
        for (i, response) in calls.responses.iter().enumerate() {
            let expect = if i < warm_up {
                Expect::Accepted
            } else {
                Expect::Duplicate
            };
            run.check(&response.body, expect)?;
        }
        drop(calls);
        let pid = child.id().to_string();
        // Waits for the process to acknowledge (vgdb wakes it), so nothing of the window is
        // missed.
        let on = Command::new(control)
            .args(["--instr=on", &pid])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| Error::io(format!("cannot run {}", control.display()), e))?;
        if !on.success() {
            return Err(Error::check(format!(
                "{} --instr=on {pid} failed ({on})",
                control.display()
            )));
        }
        for event in news {
            emulator.push(event);
        }
        for id in &ids {
            emulator.push(run.events.delivery(*id));
        }
        let total = 2 * warm_up + 2 * n;
        let calls = emulator.wait_for(|c| c.responses.len() >= total, child, slow)?;
        for (i, response) in calls.responses[2 * warm_up..].iter().enumerate() {
            let expect = if i < n {
                Expect::Accepted
            } else {
                Expect::Duplicate
            };
            run.check(&response.body, expect)?;
        }
        drop(calls);
        // SIGTERM: valgrind ends the program and writes the profile.
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + WAIT * 3;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(2 * n);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::check(format!(
            "{} did not exit after SIGTERM; no profile was written",
            subject.label
        )))
    })
}

struct Run<'a> {
    subject: &'a Subject,
    env: Vec<(String, String)>,
    events: Deliveries,
    log: PathBuf,
    /// A program and its arguments the binary is started under (valgrind), or nothing.
    wrapper: Vec<String>,
    /// The keep-alive front the function reaches moto through, when there is one.
    front: Option<Front>,
}

/// What an answer must say.
#[derive(Clone, Copy)]
enum Expect {
    Accepted,
    Duplicate,
}

impl<'a> Run<'a> {
    fn new(
        root: &Path,
        aws: &Aws,
        subject: &'a Subject,
        settings: &Settings,
        log_dir: &Path,
        wrapper: Vec<String>,
    ) -> Result<Run<'a>> {
        let mut env = aws.fresh_env(&subject.label)?;
        let front = if settings.keep_alive {
            let front = Front::start(&aws.local().endpoint)?;
            for (name, value) in &mut env {
                if name == "AWS_ENDPOINT_URL" {
                    *value = front.url();
                }
            }
            Some(front)
        } else {
            None
        };
        Ok(Run {
            subject,
            env,
            front,
            events: Deliveries::new(root, settings)?,
            log: log_dir.join(format!(
                "{}.log",
                subject
                    .label
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            )),
            wrapper,
        })
    }

    fn spawn(&self, emulator: &Emulator) -> Result<(Child, Instant)> {
        let function = &self.subject.label;
        let log = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .map_err(|e| Error::io(format!("cannot open {}", self.log.display()), e))
        };
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.subject.bin);
                command
            }
            None => Command::new(&self.subject.bin),
        };
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", emulator.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]bench")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("TZ", ":UTC")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log()?)
            .stderr(log()?);
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("cannot start {}", self.subject.bin.display()), e))?;
        Ok((child, started))
    }

    /// Runs `body` with a fresh process of the subject, which is always stopped afterwards.
    fn with_process<T>(
        &self,
        emulator: &Emulator,
        body: impl FnOnce(&mut Child, Instant) -> Result<T>,
    ) -> Result<T> {
        let (mut child, spawned) = self.spawn(emulator)?;
        let outcome = body(&mut child, spawned);
        let _ = child.kill();
        let _ = child.wait();
        outcome.map_err(|err| {
            Error::check(format!(
                "{err} (the function's log: {})",
                self.log.display()
            ))
        })
    }

    fn check(&self, body: &str, expect: Expect) -> Result {
        if !self.subject.checked {
            return Ok(());
        }
        let response: Value = serde_json::from_str(body)
            .map_err(|e| Error::check(format!("the response is not JSON ({e}): {body}")))?;
        let inner: Value = response["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        let wanted = match expect {
            Expect::Accepted => "accepted",
            Expect::Duplicate => "duplicate",
        };
        if response["statusCode"] != 200 || inner["status"] != wanted {
            return Err(Error::check(format!(
                "{}: expected 200 {wanted}, got: {body}",
                self.subject.label
            )));
        }
        Ok(())
    }

    fn cold_start(&mut self, figures: &mut Figures) -> Result {
        let emulator = Emulator::start()?;
        emulator.push(self.events.new_delivery().1);
        emulator.push(self.events.new_delivery().1);
        self.with_process(&emulator, |child, spawned| {
            let calls = emulator.wait_for(|c| c.responses.len() >= 2, child, WAIT)?;
            let first_next = calls
                .first_next
                .ok_or_else(|| Error::check("the function answered without asking for an event"))?;
            let (first, second) = (&calls.responses[0], &calls.responses[1]);
            self.check(&first.body, Expect::Accepted)?;
            self.check(&second.body, Expect::Accepted)?;
            figures.init.push(first_next - spawned);
            figures.first.push(first.posted - first.handed_out);
            figures.second.push(second.posted - second.handed_out);
            figures
                .rss_after_two_kib
                .push(proc_status(child.id(), "VmHWM:").unwrap_or(0));
            Ok(())
        })
    }

    /// One process: a warm-up, N new deliveries, then their N duplicates. Returns the new
    /// deliveries alone, the two windows together, and the new deliveries' ids.
    fn new_then_duplicates(&mut self, n: usize) -> Result<(Window, Window, Vec<u64>)> {
        let emulator = Emulator::start()?;
        emulator.push(self.events.new_delivery().1);
        let (ids, news): (Vec<u64>, Vec<String>) =
            (0..n).map(|_| self.events.new_delivery()).unzip();
        let duplicates: Vec<String> = ids.iter().map(|&id| self.events.delivery(id)).collect();
        self.with_process(&emulator, |child, _| {
            self.warm_up(&emulator, child, Expect::Accepted)?;
            let new = self.window(&emulator, child, news, Expect::Accepted)?;
            let again = self.window(&emulator, child, duplicates, Expect::Duplicate)?;
            let mix = Window {
                cpu_per_invocation: (new.cpu_per_invocation + again.cpu_per_invocation) / 2,
                peak_rss_kib: again.peak_rss_kib,
                latency_median: (new.latency_median + again.latency_median) / 2,
                aws: Counts {
                    connections: new.aws.connections + again.aws.connections,
                    requests: new.aws.requests + again.aws.requests,
                },
            };
            Ok((new, mix, ids))
        })
    }

    /// A fresh process: a warm-up duplicate, then N duplicates of `ids`.
    fn duplicates_alone(&mut self, ids: &[u64]) -> Result<Window> {
        let emulator = Emulator::start()?;
        let warm_up = ids
            .first()
            .map(|&id| self.events.delivery(id))
            .ok_or_else(|| Error::check("no deliveries to duplicate"))?;
        emulator.push(warm_up);
        let duplicates: Vec<String> = ids.iter().map(|&id| self.events.delivery(id)).collect();
        self.with_process(&emulator, |child, _| {
            self.warm_up(&emulator, child, Expect::Duplicate)?;
            self.window(&emulator, child, duplicates, Expect::Duplicate)
        })
    }

    /// Waits for the answer to the warm-up event, which no figure counts.
    fn warm_up(&self, emulator: &Emulator, child: &mut Child, expect: Expect) -> Result {
        let calls = emulator.wait_for(|c| !c.responses.is_empty(), child, WAIT)?;
        self.check(&calls.responses[0].body, expect)
    }

    /// Hands out `events` to a process that has answered everything before, and measures it
    /// over them.
    fn window(
        &self,
        emulator: &Emulator,
        child: &mut Child,
        events: Vec<String>,
        expect: Expect,
    ) -> Result<Window> {
        let n = events.len();
        let done = emulator.wait_for(|_| true, child, WAIT)?.responses.len();
        let pid = child.id();
        let aws_before = self.aws_counts();
        let cpu_before = cpu_nanos(pid);
        for event in events {
            emulator.push(event);
        }
        let allowance = WAIT + Duration::from_millis(200) * u32::try_from(n).unwrap_or(u32::MAX);
        let calls = emulator.wait_for(|c| c.responses.len() >= done + n, child, allowance)?;
        let cpu = cpu_nanos(pid).saturating_sub(cpu_before);
        let aws_after = self.aws_counts();
        let mut latencies = Vec::with_capacity(n);
        for response in &calls.responses[done..] {
            self.check(&response.body, expect)?;
            latencies.push(response.posted - response.handed_out);
        }
        Ok(Window {
            cpu_per_invocation: Duration::from_nanos(cpu / n.max(1) as u64),
            peak_rss_kib: proc_status(pid, "VmHWM:").unwrap_or(0),
            latency_median: percentile(&latencies, 50),
            aws: Counts {
                connections: aws_after.connections - aws_before.connections,
                requests: aws_after.requests - aws_before.requests,
            },
        })
    }

    fn aws_counts(&self) -> Counts {
        self.front.as_ref().map(Front::counts).unwrap_or_default()
    }
}

/// HTTP API (payload 2.0) events POSTing copies of a sample, each with its own event id.
struct Deliveries {
    sample: String,
    sample_id: String,
    route: &'static str,
    prefix: String,
    next: u64,
}

impl Deliveries {
    fn new(root: &Path, settings: &Settings) -> Result<Deliveries> {
        let path = root.join(format!("events/reply/{}.json", settings.sample));
        let sample = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let sample_id = serde_json::from_str::<Value>(&sample)
            .ok()
            .and_then(|v| v["event"]["id"].as_str().map(str::to_owned))
            .filter(|id| id.len() >= 12)
            .ok_or_else(|| {
                Error::check(format!(
                    "{} has no event.id of at least 12 characters",
                    path.display()
                ))
            })?;
        let route = Category::ALL
            .into_iter()
            .find(|c| c.binary() == settings.function)
            .unwrap_or(Category::Email)
            .route();
        Ok(Deliveries {
            sample,
            sample_id,
            route,
            prefix: devkit::ids::run_name("bench"),
            next: 0,
        })
    }

    /// A delivery with an id not used before, and that id's number.
    fn new_delivery(&mut self) -> (u64, String) {
        self.next += 1;
        (self.next, self.delivery(self.next))
    }

    /// The delivery with id number `id`: the same body every time, so a repeat is a duplicate.
    fn delivery(&self, id: u64) -> String {
        let keep = self.sample_id.len() - 12;
        let event_id = format!("{}{id:012x}", &self.sample_id[..keep]);
        let body = self.sample.replacen(&self.sample_id, &event_id, 1);
        let route = self.route;
        json!({
            "version": "2.0",
            "routeKey": format!("POST {route}"),
            "rawPath": route,
            "rawQueryString": format!("token={LOCAL_TOKEN}"),
            "headers": {"content-type": "application/json", "content-length": body.len().to_string()},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "bench",
                "http": {"method": "POST", "path": route, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "xtask-bench"},
                "requestId": format!("{}-{id}", self.prefix),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median([3, 1, 2].into_iter()), Some(2));
        assert_eq!(median([4, 1, 3, 2].into_iter()), Some(2));
        assert_eq!(median(std::iter::empty::<u64>()), None);
        let ms = |v: u64| Duration::from_millis(v);
        let values: Vec<Duration> = (1..=10).map(ms).collect();
        assert_eq!(percentile(&values, 50), ms(5));
        assert_eq!(percentile(&values, 90), ms(9));
        assert_eq!(percentile(&values, 0), ms(1));
        assert_eq!(percentile(&values, 100), ms(10));
    }

    #[test]
    fn a_repeated_delivery_is_the_same_body_and_a_new_one_is_not() {
        let root = devkit::Workspace::locate().root().to_path_buf();
        let settings = Settings {
            cold_starts: 1,
            rounds: 1,
            deliveries: 1,
            sample: "email_replied".into(),
            function: "email-webhook".into(),
            keep_alive: true,
        };
        let mut deliveries = Deliveries::new(&root, &settings).unwrap();
        let body = |event: &str| -> String {
            serde_json::from_str::<Value>(event).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (id, first) = deliveries.new_delivery();
        let (_, other) = deliveries.new_delivery();
        assert_eq!(body(&first), body(&deliveries.delivery(id)));
        assert_ne!(body(&first), body(&other));
        let event: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(event["rawPath"], "/webhooks/email");
    }
}
