//! `demo`: the main job on a fresh local stack. POSTs every `events/reply/*.json` to its
//! category's function URL under `cargo lambda watch`, then one duplicate, one delivery to the
//! wrong route, one wrong token and one malformed body; prints a table of the outcomes, the
//! actionable queue's depth and one queue message; fails unless every outcome is the one the
//! HTTP contract (README) prescribes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use devkit::console::{note, say};
use devkit::http::{Loopback, Reply};
use devkit::process::log_tail;
use devkit::{LOCAL_TOKEN, LocalAws, Stack, StackMode, Workspace, ids, local_aws, routes};
use reply_payload::{Category, EventType};
use serde_json::Value;
use webhook_core::Routing;
use webhook_core::config::vars;

use crate::Chore;
use crate::args::Args;

pub const CHORE: Chore = Chore {
    name: "demo",
    summary: "every sample event through the real functions on a fresh local stack, outcomes printed",
    usage: "\
usage: cargo xtask demo [--url BASE [--token TOKEN]]

Starts a private local stack (moto, the table and queues, the functions under cargo lambda
watch, on free ports), POSTs every sample event to its function, then a duplicate, a delivery
to the wrong route, a wrong token and a malformed body, checks each answer against the HTTP
contract and the queue's depth, prints a table of outcomes and one queue message, and stops
the stack. On failure the tail of the functions' log is printed.

--url BASE runs the same checks against an already running stack instead (cargo lambda
watch's address, e.g. http://127.0.0.1:9000), with ACTIONABLE_QUEUE_URL and AWS_ENDPOINT_URL
from the environment (`set -a; . .stack/local/env; set +a`). A stack that already saw the
samples answers `duplicate`.",
    run,
};

/// How long one request may take: the first one to a function may start (or build) it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the deliveries go and where the queue is.
struct Target {
    base: String,
    queue_url: String,
    aws: LocalAws,
}

fn run(ws: &Workspace, mut args: Args) -> crate::Result {
    let url = args.value("--url")?;
    let token = args
        .value("--token")?
        .unwrap_or_else(|| LOCAL_TOKEN.to_owned());
    args.finish()?;
    if let Some(base) = url {
        let queue_url = std::env::var(vars::ACTIONABLE_QUEUE_URL)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or("ACTIONABLE_QUEUE_URL is not set: export the running stack's environment (set -a; . .stack/local/env; set +a), or run `make demo`, which starts its own stack".to_owned())?;
        let target = Target {
            base: base.trim_end_matches('/').to_owned(),
            queue_url,
            aws: LocalAws::from_env()?,
        };
        return demo(ws.root(), &target, &token);
    }

    let started = Instant::now();
    let stack = Stack::start(
        ws,
        &ws.stack_dir(&format!("run-{}", std::process::id())),
        StackMode::Private,
    )?;
    say(format!(
        "stack ready in {} s; running the demo",
        started.elapsed().as_secs()
    ));
    let queue_url = stack
        .env()
        .into_iter()
        .find(|(name, _)| name == vars::ACTIONABLE_QUEUE_URL)
        .map(|(_, url)| url)
        .ok_or("the stack's env file has no ACTIONABLE_QUEUE_URL".to_owned())?;
    let target = Target {
        base: stack.watch_url(),
        queue_url,
        aws: stack.moto().clone(),
    };
    let outcome = demo(ws.root(), &target, &token)
        .and_then(|()| crate::replay::demo(ws, &stack, &token))
        .and_then(|()| subscribe(ws, &stack));
    if outcome.is_err() {
        note(format!(
            "the functions' log: tail of {}{}",
            ws.rel(&stack.watch_log()),
            log_tail(&stack.watch_log(), 20)
        ));
    }
    say("stopping the demo stack");
    stack.stop();
    outcome
}

/// The last step: a fake Reply wired to the stack with `reply-webhooks subscribe --test`, whose
/// test deliveries reach the functions (the `subscribe-demo` binary of the operator command).
fn subscribe(ws: &Workspace, stack: &Stack) -> crate::Result {
    say("wiring a fake Reply to the stack with reply-webhooks subscribe");
    let mut command = ws.command("cargo");
    command
        .args([
            "run",
            "-q",
            "-p",
            "reply-webhooks",
            "--features",
            "fake",
            "--bin",
            "subscribe-demo",
        ])
        .env("RW_STACK_DIR", stack.dir())
        .envs(stack.env());
    Ok(ws.run(&mut command)?)
}

fn demo(root: &Path, target: &Target, token: &str) -> crate::Result {
    let Target {
        base,
        queue_url,
        aws,
    } = target;
    let cases = cases(root, token)?;
    let http = Loopback::new(REQUEST_TIMEOUT);
    let color = std::io::stdout().is_terminal();

    println!(
        "\nPOSTing {} deliveries to the functions at {base}/lambda-url/<function>/webhooks/<category>\n",
        cases.len()
    );
    println!(
        "{:>3}  {:<44} {:<19} {:>4}  {:<44} {:<8} check",
        "#", "event", "route", "HTTP", "outcome", "enqueued"
    );
    let mut failures = Vec::new();
    let mut expected_messages = 0;
    for (i, case) in cases.iter().enumerate() {
        let url = format!(
            "{base}{}",
            routes::function_path(case.category, &case.token)
        );
        let answer = Answer::from(http.post_json(&url, &case.body));
        let verdict = check(&case.expect, &answer);
        if matches!(case.expect, Expect::Accepted { enqueued: true, .. }) {
            expected_messages += 1;
        }
        let mark = match (&verdict, color) {
            (Ok(()), true) => "\x1b[32mok\x1b[0m".to_owned(),
            (Ok(()), false) => "ok".to_owned(),
            (Err(_), true) => "\x1b[31mFAIL\x1b[0m (below)".to_owned(),
            (Err(_), false) => "FAIL (below)".to_owned(),
        };
        println!(
            "{:>3}  {:<44} {:<19} {:>4}  {:<44} {:<8} {mark}",
            i + 1,
            case.label,
            case.category.route(),
            answer.status_text(),
            answer.outcome(),
            answer.enqueued(),
        );
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", case.label));
        }
    }

    // The queue: exactly one message per actionable delivery (none for the duplicate).
    let queue = local_aws::runtime()?.block_on(async {
        let (_, sqs) = aws.clients().await;
        inspect_queue(&sqs, queue_url).await
    });
    println!();
    match queue {
        Ok((depth, message)) => {
            let line = format!(
                "actionable queue: {depth} messages (expected {expected_messages}: one per actionable delivery)"
            );
            println!("{line}");
            if depth != expected_messages {
                failures.push(format!(
                    "the actionable queue holds {depth} messages, expected {expected_messages}"
                ));
            }
            match message {
                Some(message) => {
                    println!("\none queue message (what AWS pipelines consume):\n{message}")
                }
                None => {
                    failures.push("no message could be received from the actionable queue".into())
                }
            }
        }
        Err(err) => failures.push(format!("reading the actionable queue failed: {err}")),
    }

    println!();
    if failures.is_empty() {
        println!(
            "demo passed: all {} deliveries answered as the HTTP contract says, and the queue holds exactly one message per actionable event.",
            cases.len()
        );
        Ok(())
    } else {
        for failure in &failures {
            println!("  ✗ {failure}");
        }
        Err(format!(
            "{} check(s) did not match the HTTP contract (a stack that already saw these events answers `duplicate`: use `make demo`, which starts a fresh one)",
            failures.len()
        )
        .into())
    }
}

/// What the HTTP contract says a delivery must get.
enum Expect {
    Accepted {
        event_id: String,
        enqueued: bool,
        wrong_route: Option<&'static str>,
    },
    Duplicate {
        event_id: String,
    },
    Error {
        status: u16,
        code: &'static str,
    },
    /// Authentic but not processable: kept in the quarantine queue (202).
    Quarantined {
        reason: &'static str,
    },
}

struct Case {
    label: String,
    category: Category,
    token: String,
    body: Vec<u8>,
    expect: Expect,
}

/// A sample body, with the fields the demo needs.
struct Sample {
    path: PathBuf,
    body: Vec<u8>,
    event_id: String,
    event_type: EventType,
}

impl Sample {
    fn category(&self) -> Category {
        routes::category_of(&self.event_type)
    }
}

fn samples(root: &Path) -> crate::Result<Vec<Sample>> {
    let dir = root.join("events/reply");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut samples = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        let event_id = json["event"]["id"]
            .as_str()
            .ok_or_else(|| format!("{} has no string event.id", path.display()))?
            .to_owned();
        let event_type = EventType::parse(
            json["event"]["type"]
                .as_str()
                .ok_or_else(|| format!("{} has no string event.type", path.display()))?,
        );
        samples.push(Sample {
            path,
            body,
            event_id,
            event_type,
        });
    }
    if samples.is_empty() {
        return Err(format!("no sample events in {}", dir.display()).into());
    }
    // The order of the known types, unknown types last.
    let rank = |t: &EventType| {
        EventType::KNOWN
            .iter()
            .position(|k| k == t)
            .unwrap_or(usize::MAX)
    };
    samples.sort_by(|a, b| {
        rank(&a.event_type)
            .cmp(&rank(&b.event_type))
            .then_with(|| a.path.cmp(&b.path))
    });
    Ok(samples)
}

fn cases(root: &Path, token: &str) -> crate::Result<Vec<Case>> {
    let samples = samples(root)?;
    let mut cases: Vec<Case> = samples
        .iter()
        .map(|s| Case {
            label: s.event_type.as_str().to_owned(),
            category: s.category(),
            token: token.to_owned(),
            body: s.body.clone(),
            expect: Expect::Accepted {
                event_id: s.event_id.clone(),
                enqueued: s.event_type.actionable_by_default(),
                wrong_route: None,
            },
        })
        .collect();

    let first = &samples[0];
    cases.push(Case {
        label: format!("{}, again", first.event_type),
        category: first.category(),
        token: token.to_owned(),
        body: first.body.clone(),
        expect: Expect::Duplicate {
            event_id: first.event_id.clone(),
        },
    });

    // A known type at another category's route: processed all the same, with a warning.
    let linkedin = |s: &&Sample| s.event_type.category() == Some(Category::Linkedin);
    let misrouted = samples
        .iter()
        .filter(linkedin)
        .find(|s| s.event_type.actionable_by_default())
        .or_else(|| samples.iter().find(linkedin));
    if let Some(sample) = misrouted {
        let event_id = ids::fresh_id();
        let body = replace_id(&sample.body, &sample.event_id, &event_id);
        let wrong = Category::Email;
        cases.push(Case {
            label: format!("{}, new id", sample.event_type),
            category: wrong,
            token: token.to_owned(),
            body,
            expect: Expect::Accepted {
                event_id,
                enqueued: sample.event_type.actionable_by_default(),
                wrong_route: Some(Category::Linkedin.route()),
            },
        });
    }

    cases.push(Case {
        label: format!("{}, wrong token", first.event_type),
        category: first.category(),
        token: "not-the-configured-token-0000".to_owned(),
        body: first.body.clone(),
        expect: Expect::Error {
            status: 401,
            code: "unauthorized",
        },
    });
    cases.push(Case {
        label: "malformed JSON body".to_owned(),
        category: Category::Email,
        token: token.to_owned(),
        body:
            br#"{"event": {"id": "d3b07384-d9a0-4c9b-8f1e-000000000000", "type": "email_replied""#
                .to_vec(),
        expect: Expect::Quarantined {
            reason: "invalid_payload",
        },
    });
    Ok(cases)
}

/// The body with every `"<old>"` string replaced by `"<new>"` (the formatting is kept).
fn replace_id(body: &[u8], old: &str, new: &str) -> Vec<u8> {
    String::from_utf8_lossy(body)
        .replace(&format!("\"{old}\""), &format!("\"{new}\""))
        .into_bytes()
}

/// An HTTP answer (or why there was none).
struct Answer {
    status: Option<u16>,
    body: Result<Value, String>,
}

impl From<devkit::Result<Reply>> for Answer {
    fn from(sent: devkit::Result<Reply>) -> Answer {
        match sent {
            Ok(reply) => Answer {
                status: Some(reply.status),
                body: serde_json::from_str(&reply.body)
                    .map_err(|_| format!("not JSON: {}", truncate(&reply.body, 200))),
            },
            Err(err) => Answer {
                status: None,
                body: Err(format!(
                    "{err} (is the stack running? start it with `make local`)"
                )),
            },
        }
    }
}

impl Answer {
    fn status_text(&self) -> String {
        self.status
            .map_or_else(|| "-".to_owned(), |s| s.to_string())
    }

    fn outcome(&self) -> String {
        let Ok(body) = &self.body else {
            return self.body.as_ref().err().cloned().unwrap_or_default();
        };
        let text = if let Some(code) = body["error"]["code"].as_str() {
            code.to_owned()
        } else if let Some(status) = body["status"].as_str() {
            match (body["warning"].as_str(), body["route"].as_str()) {
                (Some(warning), Some(route)) => format!("{status} ({warning} → {route})"),
                (Some(warning), None) => format!("{status} ({warning})"),
                _ => status.to_owned(),
            }
        } else {
            body.to_string()
        };
        truncate(&text, 44)
    }

    fn enqueued(&self) -> &'static str {
        match self
            .body
            .as_ref()
            .ok()
            .and_then(|b| b["enqueued"].as_bool())
        {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Whether an answer is the one the HTTP contract prescribes; `Err` says what differs.
fn check(expect: &Expect, answer: &Answer) -> Result<(), String> {
    let status = answer.status.ok_or_else(|| {
        format!(
            "no answer: {}",
            answer.body.as_ref().err().cloned().unwrap_or_default()
        )
    })?;
    let body = answer
        .body
        .as_ref()
        .map_err(|e| format!("HTTP {status}, body is not JSON: {e}"))?;
    let want = |field: &str, expected: &str| -> Result<(), String> {
        match body[field].as_str() {
            Some(v) if v == expected => Ok(()),
            other => Err(format!("`{field}` is {other:?}, expected {expected:?}")),
        }
    };
    match expect {
        Expect::Accepted {
            event_id,
            enqueued,
            wrong_route,
        } => {
            if status != 200 {
                return Err(format!("HTTP {status}, expected 200 ({body})"));
            }
            want("status", "accepted")?;
            want("event_id", event_id)?;
            if body["enqueued"].as_bool() != Some(*enqueued) {
                return Err(format!(
                    "`enqueued` is {}, expected {enqueued}",
                    body["enqueued"]
                ));
            }
            match wrong_route {
                Some(route) => {
                    want("warning", "wrong_route")?;
                    want("route", route)?;
                }
                None if !body["warning"].is_null() => {
                    return Err(format!("unexpected warning {}", body["warning"]));
                }
                None => {}
            }
            Ok(())
        }
        Expect::Duplicate { event_id } => {
            if status != 200 {
                return Err(format!("HTTP {status}, expected 200 ({body})"));
            }
            want("status", "duplicate")?;
            want("event_id", event_id)
        }
        Expect::Error {
            status: expected,
            code,
        } => {
            if status != *expected {
                return Err(format!("HTTP {status}, expected {expected} ({body})"));
            }
            match body["error"]["code"].as_str() {
                Some(c) if c == *code => {}
                other => return Err(format!("error.code is {other:?}, expected {code:?}")),
            }
            if body["error"]["message"].as_str().is_none_or(str::is_empty) {
                return Err("error.message is missing".into());
            }
            Ok(())
        }
        Expect::Quarantined { reason } => {
            if status != 202 {
                return Err(format!("HTTP {status}, expected 202 ({body})"));
            }
            want("status", "quarantined")?;
            want("reason", reason)
        }
    }
}

/// The queue's depth and one message, pretty-printed (left in the queue).
async fn inspect_queue(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<(usize, Option<String>), String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
    let count = |name: &QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let depth = count(&QueueAttributeName::ApproximateNumberOfMessages)
        + count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible);

    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(1)
        .wait_time_seconds(1)
        .visibility_timeout(0)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
    let Some(message) = received.messages().first() else {
        return Ok((depth, None));
    };
    let mut out = String::new();
    out.push_str(&format!(
        "  MessageId: {}\n",
        message.message_id().unwrap_or("-")
    ));
    let mut attrs: Vec<_> = message
        .message_attributes()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    attrs.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in attrs {
        out.push_str(&format!(
            "  attribute {name} = {}\n",
            value.string_value().unwrap_or("-")
        ));
    }
    let body = message.body().unwrap_or_default();
    let pretty = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned());
    out.push_str("  body:\n");
    for line in pretty.lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    Ok((depth, Some(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_id_keeps_the_rest() {
        let body = br#"{"event": {"id": "old", "type": "x"}, "other": "old-ish"}"#;
        let out = replace_id(body, "old", "new");
        assert_eq!(
            out,
            br#"{"event": {"id": "new", "type": "x"}, "other": "old-ish"}"#
        );
    }
}
