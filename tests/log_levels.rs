//! No token and no prospect data in the logs, at any level. The real email function runs at
//! `AWS_LAMBDA_LOG_LEVEL=TRACE` under the Runtime API emulator ([`devkit::runtime_api`]),
//! against moto through a strict proxy, and handles a new delivery, its duplicate, a wrong
//! token and a quarantined body; then everything it wrote (stdout and stderr) is searched.
//!
//! What this guards is the dependency cap of `webhook_lambda::logging`: at DEBUG or TRACE the
//! Lambda runtime logs each raw invocation (the query string with the token, the whole body),
//! and the AWS SDK and HTTP stack their requests. The unit test checks the filter; this checks
//! that the binary as deployed installs it, whatever the level asks for: without the cap the
//! raw invocations fail it.
//!
//! The binary is the one cargo built next to this test (`make test` builds it before the
//! tests run); a missing or stale one fails under CI and skips with a note otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use devkit::LocalAws;
use devkit::console::strip_ansi;
use devkit::ids::fresh_id;
use devkit::lambda_event::{Encoding, HttpRequest, Source};
use devkit::runtime_api::Emulator;
use reply_payload::Category;
use reply_webhooks_tests::{Fixture, Queues, TOKEN, require_moto};
use serde_json::Value;
use webhook_core::Routing;
use webhook_core::config::vars;

/// How long the function may take for all the deliveries (a debug build, at TRACE).
const WAIT: Duration = Duration::from_secs(60);

/// The lines our own crates log below INFO; any other DEBUG or TRACE line is a dependency's.
const OWN_VERBOSE_MESSAGES: [&str; 1] = ["the conditional put returned no old item; reading it"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_at_trace_hold_no_token_and_no_prospect_data() {
    check_logs(Format::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_at_trace_hold_no_token_and_no_prospect_data() {
    check_logs(Format::Text).await;
}

/// One delivery to send, and what it must be answered.
struct Delivery {
    source: Source,
    query: String,
    body: String,
    status: u64,
    code: &'static str,
}

async fn check_logs(format: Format) {
    require_moto!();
    let Some(bin) = function_binary(Category::Email) else {
        return;
    };
    let name = match format {
        Format::Json => "log-levels-json",
        Format::Text => "log-levels-text",
    };
    let f = Fixture::new(name, Queues::default()).await;

    // Distinctive prospect data: the sample's contact, and a marker no log line could hold
    // unless it copied the body.
    let marker = format!("ProspectMarker{}", fresh_id().replace('-', ""));
    let sample = std::fs::read_to_string(events_dir().join("reply/email_replied.json")).unwrap();
    let mut reply: Value = serde_json::from_str(&sample).unwrap();
    reply["event"]["id"] = fresh_id().into();
    reply["reply_content"] =
        format!("{} {marker}", reply["reply_content"].as_str().unwrap()).into();
    let body = reply.to_string();
    let mut bad = reply.clone();
    bad["event"]["id"] = fresh_id().into();
    bad["event"]["type"] = serde_json::json!(["email_replied"]);
    let bad_body = bad.to_string();
    // Written percent-encoded, as a client would send it; the REST API would hand it over
    // decoded.
    let wrong_token = format!("not-the-token/{marker}");
    let wrong_query = format!("token=not-the-token%2F{marker}");
    let good_query = format!("token={TOKEN}");

    let deliveries = vec![
        Delivery {
            source: Source::HttpApiV2,
            query: good_query.clone(),
            body: body.clone(),
            status: 200,
            code: "accepted",
        },
        Delivery {
            source: Source::RestApi,
            query: good_query.clone(),
            body: body.clone(),
            status: 200,
            code: "duplicate",
        },
        Delivery {
            source: Source::HttpApiV2,
            query: wrong_query.clone(),
            body: body.clone(),
            status: 401,
            code: "unauthorized",
        },
        Delivery {
            source: Source::HttpApiV2,
            query: good_query,
            body: bad_body.clone(),
            status: 202,
            code: "quarantined",
        },
    ];

    let mut env: Vec<(String, String)> = LocalAws::new(f.endpoint())
        .env()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    env.extend([
        (vars::IDEMPOTENCY_TABLE_NAME.to_owned(), f.table.clone()),
        (
            vars::ACTIONABLE_QUEUE_URL.to_owned(),
            f.actionable_queue_url.clone(),
        ),
        (
            vars::QUARANTINE_QUEUE_URL.to_owned(),
            f.quarantine_queue_url.clone(),
        ),
        (vars::WEBHOOK_TOKENS.to_owned(), TOKEN.to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL".to_owned(), "TRACE".to_owned()),
        (
            "AWS_LAMBDA_LOG_FORMAT".to_owned(),
            match format {
                Format::Json => "JSON",
                Format::Text => "Text",
            }
            .to_owned(),
        ),
    ]);
    let log = log_dir().join(format!("{name}.log"));
    let run_log = log.clone();
    let answers = tokio::task::spawn_blocking(move || run(&bin, &env, &run_log, &deliveries))
        .await
        .unwrap();
    let output = std::fs::read_to_string(&log).unwrap();
    let shown = log.display();

    // The binary really handled each delivery, AWS calls included.
    for (answer, expected) in &answers {
        assert_eq!(answer, expected, "an answer (the function's log: {shown})");
    }
    assert_eq!(f.drain(&f.actionable_queue_url).await.len(), 1);
    assert_eq!(f.drain(&f.quarantine_queue_url).await.len(), 1);

    let lines = lines(&output, format);
    // Our own lines are there: the output is not empty by accident.
    let mut outcomes: Vec<String> = lines
        .iter()
        .filter(|line| line.message.contains("delivery handled"))
        .map(|line| line.outcome.clone())
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["accepted", "duplicate", "quarantined", "unauthorized"],
        "one summary line per delivery (log: {shown})"
    );

    // No secret and no prospect data, in any form a log line could carry it.
    let mut forbidden: Vec<(&str, String)> = vec![
        ("the token", TOKEN.to_owned()),
        ("the wrong token", wrong_token),
        ("the wrong token as sent", wrong_query),
        ("the marker in the reply text", marker),
    ];
    for (what, value) in [
        ("the contact's email", "jane.doe@example.com"),
        ("the contact's name", "Jane Doe"),
        ("the contact's phone", "+1 555 0100"),
        ("the contact's LinkedIn", "linkedin.com/in/jane-doe-example"),
        (
            "the reply's message id",
            "CAJane.0421.a1b2c3@mail.example.com",
        ),
    ] {
        forbidden.push((what, value.to_owned()));
    }
    for (what, whole) in [("the body", &body), ("the quarantined body", &bad_body)] {
        forbidden.extend(body_forms(whole).into_iter().map(|form| (what, form)));
    }
    let plain = strip_ansi(&output);
    let found: Vec<String> = forbidden
        .iter()
        .filter_map(|(what, value)| {
            let at = plain.find(value.as_str())?;
            let line_start = plain[..at].rfind('\n').map_or(0, |i| i + 1);
            Some(format!("{what}, in: {}", truncate(&plain[line_start..])))
        })
        .collect();
    assert!(
        found.is_empty(),
        "the log holds what it must never hold (log: {shown}):\n  {}",
        found.join("\n  ")
    );

    // Nothing below INFO but our own crates' lines.
    let verbose: Vec<&str> = lines
        .iter()
        .filter(|line| matches!(line.level.as_str(), "DEBUG" | "TRACE"))
        .filter(|line| {
            !OWN_VERBOSE_MESSAGES
                .iter()
                .any(|m| line.message.contains(m))
        })
        .map(|line| truncate(&line.raw))
        .collect();
    assert!(
        verbose.is_empty(),
        "{} line(s) below INFO at AWS_LAMBDA_LOG_LEVEL=TRACE that are not our crates' (OWN_VERBOSE_MESSAGES) (log: {shown}), first:\n  {}",
        verbose.len(),
        verbose[..verbose.len().min(10)].join("\n  ")
    );
}

/// Runs the binary under the emulator with `env` until it has answered every delivery; its
/// stdout and stderr go to `log`. Each answer's status and code, with the expected ones.
fn run(
    bin: &Path,
    env: &[(String, String)],
    log: &Path,
    deliveries: &[Delivery],
) -> Vec<((u64, String), (u64, String))> {
    let emulator = Emulator::start().unwrap();
    let ids: Vec<String> = deliveries
        .iter()
        .map(|delivery| {
            let request = HttpRequest {
                method: "POST".to_owned(),
                path: Category::Email.route().to_owned(),
                query: delivery.query.clone(),
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: delivery.body.clone().into_bytes(),
                encoding: Encoding::Auto,
            };
            emulator.push(delivery.source.event(&request).to_string())
        })
        .collect();
    let file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", emulator.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", Category::Email.binary())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", bin.display()));
    let outcome = emulator
        .wait_for(|calls| calls.responses.len() >= ids.len(), &mut child, WAIT)
        .map(|calls| {
            ids.iter()
                .zip(deliveries)
                .map(|(id, delivery)| {
                    let posted = calls
                        .responses
                        .iter()
                        .find(|posted| posted.request_id == *id)
                        .map_or("", |posted| posted.body.as_str());
                    let expected = (delivery.status, delivery.code.to_owned());
                    (answer(delivery.source, posted), expected)
                })
                .collect()
        });
    let _ = child.kill();
    let _ = child.wait();
    outcome.unwrap_or_else(|err| panic!("{err} (its log: {})", log.display()))
}

/// The status and the outcome code (`status`, or `error.code`) of a function's answer.
fn answer(source: Source, posted: &str) -> (u64, String) {
    let Ok(answer) = serde_json::from_str(posted).map(|value: Value| source.answer(&value)) else {
        return (0, format!("not JSON: {posted}"));
    };
    let answer = answer.unwrap_or_else(|err| panic!("{err}"));
    let body: Value = serde_json::from_str(&answer.body).unwrap_or_default();
    let code = body["status"]
        .as_str()
        .or(body["error"]["code"].as_str())
        .unwrap_or_default();
    (u64::from(answer.status), code.to_owned())
}

/// A log line: its level, message and summary outcome, as far as they can be read.
struct Line {
    raw: String,
    level: String,
    message: String,
    outcome: String,
}

/// The output's lines. JSON lines are read as JSON; text lines are `LEVEL message fields`
/// (no timestamp). Lines of neither shape (EMF) keep an empty level.
fn lines(output: &str, format: Format) -> Vec<Line> {
    strip_ansi(output)
        .lines()
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            let mut line = Line {
                raw: raw.to_owned(),
                level: String::new(),
                message: String::new(),
                outcome: String::new(),
            };
            if format == Format::Json {
                let value: Value = serde_json::from_str(raw).unwrap_or_default();
                line.level = value["level"].as_str().unwrap_or_default().to_owned();
                line.message = value["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                line.outcome = value["fields"]["outcome"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            } else {
                let trimmed = raw.trim_start();
                let (level, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
                if matches!(level, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR") {
                    line.level = level.to_owned();
                    line.message = rest.to_owned();
                    line.outcome = rest
                        .split_once("outcome=")
                        .map(|(_, value)| value.split_whitespace().next().unwrap_or_default())
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_owned();
                }
            }
            line
        })
        .collect()
}

/// A whole body as a log line could carry it: as is, JSON-escaped once or twice (a string
/// field of a JSON line, an event's body inside one), Rust-escaped (a text line's field), and
/// base64-encoded.
fn body_forms(body: &str) -> Vec<String> {
    let escape = |text: &str| {
        let quoted = serde_json::to_string(text).unwrap();
        quoted[1..quoted.len() - 1].to_owned()
    };
    let debug = format!("{body:?}");
    vec![
        body.to_owned(),
        escape(body),
        escape(&escape(body)),
        debug[1..debug.len() - 1].to_owned(),
        BASE64_STANDARD.encode(body),
    ]
}

/// The first line of `text`, at most 200 characters of it.
fn truncate(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((end, _)) => &line[..end],
        None => line,
    }
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// `target/<profile>/`: this test runs from its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps/", exe.display()))
        .to_path_buf()
}

/// Where the function's output is kept for reading after a failure.
fn log_dir() -> PathBuf {
    let dir = profile_dir()
        .parent()
        .map_or_else(profile_dir, Path::to_path_buf)
        .join("log-levels");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The function's binary of this build profile, or `None` (skipped; under CI a failure) when
/// it is missing or older than a source it is built from: `cargo test` alone does not build
/// it, and a stale one would test old code.
fn function_binary(category: Category) -> Option<PathBuf> {
    let bin = profile_dir().join(category.binary());
    let problem = match std::fs::metadata(&bin).and_then(|m| m.modified()) {
        Err(_) => "is missing".to_owned(),
        Ok(built) => match changed_since(&bin.with_extension("d"), built) {
            None => return Some(bin),
            Some(source) => format!("is older than {}", source.display()),
        },
    };
    let message = format!(
        "{} {problem}: build it with `cargo build --bin {}` (make test does)",
        bin.display(),
        category.binary()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    None
}

/// A source listed in cargo's dep-info file `dep_info` (`<binary>: <source> <source> …`, the
/// workspace's sources the binary is built from) modified after `built`.
fn changed_since(dep_info: &Path, built: SystemTime) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dep_info).ok()?;
    let (_, sources) = text.lines().next()?.split_once(": ")?;
    sources
        .replace("\\ ", "\0")
        .split_whitespace()
        .map(|source| PathBuf::from(source.replace('\0', " ")))
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > built)
        })
}
