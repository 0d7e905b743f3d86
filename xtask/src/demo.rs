//! `xtask demo`: the main job on a running local stack. POSTs every `events/reply/*.json` to its
//! category's function URL under `cargo lambda watch`, then one duplicate, one delivery to the
//! wrong route, one wrong token and one malformed body; prints a table of the outcomes, the
//! actionable queue's depth and one queue message; fails unless every outcome is what SPEC §4
//! says it must be. `scripts/stack.sh demo` (`make demo`) starts and stops the stack around it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use reply_payload::{Category, EventType};
use serde_json::Value;
use webhook_core::Routing;

use crate::provision::{LOCAL_TOKEN, LocalAws, runtime};

const USAGE: &str = "\
usage: cargo run -p xtask -- demo [--url BASE] [--token TOKEN]

Runs every sample event through the functions of a running local stack (make local) and checks
each answer against SPEC §4. BASE is cargo lambda watch's address (default: $RW_WATCH_URL, else
http://127.0.0.1:$WATCH_PORT, else http://127.0.0.1:9000). ACTIONABLE_QUEUE_URL and
AWS_ENDPOINT_URL (printed by `xtask provision`) locate the queue. `make demo` does all of this
on a fresh stack.";

/// How long one request may take: the first one to a function may start (or build) it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

pub fn run(root: &Path, args: &[String]) -> crate::Result {
    let mut base = std::env::var("RW_WATCH_URL").ok().filter(|v| !v.is_empty());
    let mut token = LOCAL_TOKEN.to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => base = Some(crate::option_value(&mut args, "--url", USAGE)?),
            "--token" => token = crate::option_value(&mut args, "--token", USAGE)?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
    }
    let base = base.unwrap_or_else(|| {
        let port = std::env::var("WATCH_PORT").unwrap_or_else(|_| "9000".into());
        format!("http://127.0.0.1:{port}")
    });
    let base = base.trim_end_matches('/').to_owned();
    let queue_url = std::env::var("ACTIONABLE_QUEUE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or("ACTIONABLE_QUEUE_URL is not set: run the demo with `make demo`, or export the variables printed by `cargo run -p xtask -- provision`")?;
    let local = LocalAws::from_env()?;

    let cases = cases(root, &token)?;
    let http = Http::new();
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
            "{base}/lambda-url/{}{}?token={}",
            case.binary,
            case.route,
            percent_encode(&case.token)
        );
        let answer = http.post(&url, &case.body);
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
            case.route,
            answer.status_text(),
            answer.outcome(),
            answer.enqueued(),
        );
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", case.label));
        }
    }

    // The queue: exactly one message per actionable delivery (none for the duplicate).
    let runtime = runtime()?;
    let queue = runtime.block_on(async {
        let (_, sqs) = local.clients().await;
        inspect_queue(&sqs, &queue_url).await
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
            "demo passed: all {} deliveries answered as SPEC §4 says, and the queue holds exactly one message per actionable event.",
            cases.len()
        );
        Ok(())
    } else {
        for failure in &failures {
            println!("  ✗ {failure}");
        }
        Err(format!(
            "{} check(s) did not match SPEC §4 (a stack that already saw these events answers `duplicate`: use `make demo`, which starts a fresh one)",
            failures.len()
        )
        .into())
    }
}

/// What SPEC §4 says a delivery must get.
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
    binary: &'static str,
    route: &'static str,
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
        // An unknown type is accepted by whichever function gets it.
        self.event_type.category().unwrap_or(Category::Email)
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
    // SPEC §2 order, unknown types last.
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
            binary: s.category().binary(),
            route: s.category().route(),
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
        binary: first.category().binary(),
        route: first.category().route(),
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
        let event_id = fresh_id();
        let body = replace_id(&sample.body, &sample.event_id, &event_id);
        let wrong = Category::Email;
        cases.push(Case {
            label: format!("{}, new id", sample.event_type),
            binary: wrong.binary(),
            route: wrong.route(),
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
        binary: first.category().binary(),
        route: first.category().route(),
        token: "not-the-configured-token-0000".to_owned(),
        body: first.body.clone(),
        expect: Expect::Error {
            status: 401,
            code: "unauthorized",
        },
    });
    cases.push(Case {
        label: "malformed JSON body".to_owned(),
        binary: Category::Email.binary(),
        route: Category::Email.route(),
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

/// A random UUID-shaped id (no extra dependency: std's randomly keyed hasher).
fn fresh_id() -> String {
    let mut bits = [0u64; 2];
    for (i, b) in bits.iter_mut().enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        *b = h.finish();
    }
    let v = (u128::from(bits[0]) << 64 | u128::from(bits[1])) & !(0xf000u128 << 64) & !(0xc << 60)
        | (0x4000u128 << 64)
        | (0x8u128 << 60);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The body with every `"<old>"` string replaced by `"<new>"` (the formatting is kept).
fn replace_id(body: &[u8], old: &str, new: &str) -> Vec<u8> {
    String::from_utf8_lossy(body)
        .replace(&format!("\"{old}\""), &format!("\"{new}\""))
        .into_bytes()
}

fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An HTTP answer (or why there was none).
struct Answer {
    status: Option<u16>,
    body: Result<Value, String>,
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

/// Whether an answer is the one SPEC §4 prescribes; `Err` says what differs.
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

struct Http {
    agent: ureq::Agent,
}

impl Http {
    fn new() -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Loopback only: never through a proxy from the environment.
            .proxy(None)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        Http { agent }
    }

    fn post(&self, url: &str, body: &[u8]) -> Answer {
        let sent = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .send(body);
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| format!("unreadable body: {e}"))
                    .and_then(|text| {
                        serde_json::from_str(&text)
                            .map_err(|_| format!("not JSON: {}", truncate(&text, 200)))
                    });
                Answer {
                    status: Some(status),
                    body,
                }
            }
            Err(e) => Answer {
                status: None,
                body: Err(format!(
                    "{e} (is the stack running? start it with `make local`)"
                )),
            },
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
    fn fresh_ids_look_like_uuids_and_differ() {
        let a = fresh_id();
        let b = fresh_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn replace_id_keeps_the_rest() {
        let body = br#"{"event": {"id": "old", "type": "x"}, "other": "old-ish"}"#;
        let out = replace_id(body, "old", "new");
        assert_eq!(
            out,
            br#"{"event": {"id": "new", "type": "x"}, "other": "old-ish"}"#
        );
    }

    #[test]
    fn token_is_query_encoded() {
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
        assert_eq!(percent_encode(LOCAL_TOKEN), LOCAL_TOKEN);
    }
}
