//! `demo`: the main job on a fresh local stack. Sends the cases of `events/contract.json` marked
//! for the demo (every sample event, a duplicate, a delivery to the wrong function, a wrong
//! token, a malformed body) to the real functions under `cargo lambda watch`, as API Gateway's
//! HTTP API delivers them; prints a table of the outcomes and one queue message; checks each
//! answer and what it left in the table and queues against the case, and that the strict
//! proxy refused nothing; ends by wiring a fake Reply to the stack with `subscribe`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use devkit::console::{note, say};
use devkit::contract::{Message, Queue, Ran, StackBackend, load, run_case};
use devkit::lambda_event::Source;
use devkit::process::log_tail;
use devkit::stack::operator_command;
use devkit::{LOCAL_TOKEN, LocalAws, Stack, StackMode, Workspace, local_aws};
use serde_json::Value;
use webhook_core::Routing;

use crate::Chore;
use crate::args::Args;

pub const CHORE: Chore = Chore {
    name: "demo",
    summary: "every sample event through the real functions on a fresh local stack, outcomes printed",
    usage: "\
usage: cargo xtask demo [--url BASE]

Starts a private local stack (moto behind the strict AWS proxy, the table and queues, the
functions under cargo lambda watch, on free ports), sends the demo cases of
events/contract.json (every sample event, a duplicate, a delivery to the wrong function, a
wrong token and a malformed body) as API Gateway's HTTP API delivers them, checks each answer
and what it left in the table and queues against the case, prints a table of outcomes and one
queue message, wires a fake Reply to the stack with `reply-webhooks subscribe`, and stops the
stack. On failure the tail of the functions' log is printed.

--url BASE runs the deliveries against an already running stack instead (cargo lambda watch's
address, e.g. http://127.0.0.1:9000), with its table, queues and AWS_ENDPOINT_URL from the
environment (`set -a; . .stack/local/env; set +a`). Each run uses fresh event ids.",
    run,
};

/// Wide enough for the longest demo label.
const LABEL: usize = 36;
const OUTCOME: usize = 44;

fn run(ws: &Workspace, mut args: Args) -> crate::Result {
    let url = args.value("--url")?;
    args.finish()?;
    let runtime = local_aws::runtime()?;
    if let Some(base) = url {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let backend =
            runtime.block_on(StackBackend::connect(&base, &LocalAws::from_env()?, &env))?;
        return demo(ws.root(), &runtime, backend, &base);
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
    let outcome = runtime
        .block_on(StackBackend::of(&stack))
        .map_err(crate::Error::from)
        .and_then(|backend| demo(ws.root(), &runtime, backend, &stack.watch_url()))
        .and_then(|()| crate::replay::demo(ws, &stack, LOCAL_TOKEN))
        .and_then(|()| refused_nothing(&stack))
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

/// Fails when the stack's strict proxy refused a request AWS would refuse.
fn refused_nothing(stack: &Stack) -> crate::Result {
    let refusals = stack.refusals()?;
    if refusals.is_empty() {
        println!("the strict AWS proxy refused nothing: every request was one AWS accepts");
        return Ok(());
    }
    Err(format!(
        "the strict AWS proxy refused {} request(s) AWS would refuse:\n  {}",
        refusals.len(),
        refusals.join("\n  ")
    )
    .into())
}

/// The last step: a fake Reply wired to the stack with `reply-webhooks subscribe --test`, whose
/// test deliveries reach the functions (the `subscribe-demo` binary of the operator command,
/// built with the stack).
fn subscribe(ws: &Workspace, stack: &Stack) -> crate::Result {
    say("wiring a fake Reply to the stack with reply-webhooks subscribe");
    let mut command = operator_command(ws, "subscribe-demo");
    command.env("RW_STACK_DIR", stack.dir()).envs(stack.env());
    Ok(ws.run(&mut command)?)
}

fn demo(
    root: &Path,
    runtime: &tokio::runtime::Runtime,
    mut backend: StackBackend,
    base: &str,
) -> crate::Result {
    let events = root.join("events");
    let cases = load(&events).map_err(|err| err.to_string())?;
    let shown: Vec<_> = cases.iter().filter(|case| case.demo.is_some()).collect();
    if shown.is_empty() {
        return Err("no case of events/contract.json is marked for the demo"
            .to_owned()
            .into());
    }
    let color = std::io::stdout().is_terminal();
    println!(
        "\nSending {} deliveries of events/contract.json to the functions at {base}, as API \
         Gateway's HTTP API delivers them (fresh event ids)\n",
        shown.len()
    );
    println!(
        "{:>3}  {:<LABEL$} {:<19} {:>4}  {:<OUTCOME$} {:<8} check",
        "#", "delivery", "route", "HTTP", "outcome", "enqueued"
    );
    let mut failures = Vec::new();
    let mut sent: Vec<Message> = Vec::new();
    for (i, case) in shown.iter().enumerate() {
        let label = case.demo.as_deref().unwrap_or(&case.name);
        let ran = match case.prepare(&events, Source::HttpApiV2) {
            Ok(prepared) => runtime.block_on(run_case(&mut backend, &prepared)),
            Err(err) => Ran {
                failures: vec![err.to_string()],
                ..Ran::default()
            },
        };
        let mark = match (ran.failures.is_empty(), color) {
            (true, true) => "\x1b[32mok\x1b[0m",
            (true, false) => "ok",
            (false, true) => "\x1b[31mFAIL\x1b[0m (below)",
            (false, false) => "FAIL (below)",
        };
        println!(
            "{:>3}  {:<LABEL$} {:<19} {:>4}  {:<OUTCOME$} {:<8} {mark}",
            i + 1,
            truncate(label, LABEL),
            case.function.route(),
            ran.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            truncate(&outcome(&ran.body), OUTCOME),
            enqueued(&ran.body),
        );
        failures.extend(ran.failures.iter().map(|f| format!("{label}: {f}")));
        sent.extend(ran.effects.messages);
    }

    let count = |queue: Queue| sent.iter().filter(|m| m.queue == queue).count();
    println!(
        "\nqueues: {} actionable message(s), {} quarantined, each the one its delivery must leave (found by event id, and read)",
        count(Queue::Actionable),
        count(Queue::Quarantine)
    );
    if let Some(message) = sent.iter().find(|m| m.queue == Queue::Actionable) {
        println!(
            "\none queue message (what AWS pipelines consume):\n{}",
            pretty(message)
        );
    }
    println!();
    if failures.is_empty() {
        println!(
            "demo passed: all {} deliveries answered, recorded and sent as the HTTP contract says.",
            shown.len()
        );
        return Ok(());
    }
    for failure in &failures {
        println!("  ✗ {failure}");
    }
    Err(format!(
        "{} check(s) did not match the HTTP contract",
        failures.len()
    )
    .into())
}

/// The answer in a few words: the error code, or the status with its reason or warning.
fn outcome(body: &Value) -> String {
    if let Some(code) = body["error"]["code"].as_str() {
        return code.to_owned();
    }
    let Some(status) = body["status"].as_str() else {
        return body.to_string();
    };
    match (
        body["reason"].as_str(),
        body["warning"].as_str(),
        body["route"].as_str(),
    ) {
        (Some(reason), _, _) => format!("{status} ({reason})"),
        (None, Some(warning), Some(route)) => format!("{status} ({warning} → {route})"),
        _ => status.to_owned(),
    }
}

fn enqueued(body: &Value) -> &'static str {
    match body["enqueued"].as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
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

/// A message's id, attributes and JSON body, indented.
fn pretty(message: &Message) -> String {
    let mut out = format!("  MessageId: {}\n", message.id.as_deref().unwrap_or("-"));
    for (name, value) in &message.attributes {
        out.push_str(&format!("  attribute {name} = {value}\n"));
    }
    let body = serde_json::from_str::<Value>(&message.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| message.body.clone());
    out.push_str("  body:\n");
    for line in body.lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_read_in_a_few_words() {
        assert_eq!(
            outcome(&json!({"error": {"code": "unauthorized"}})),
            "unauthorized"
        );
        assert_eq!(
            outcome(&json!({"status": "quarantined", "reason": "invalid_payload"})),
            "quarantined (invalid_payload)"
        );
        assert_eq!(
            outcome(
                &json!({"status": "accepted", "warning": "wrong_route", "route": "/webhooks/linkedin"})
            ),
            "accepted (wrong_route → /webhooks/linkedin)"
        );
        assert_eq!(enqueued(&json!({"enqueued": true})), "yes");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn the_case_file_has_demo_cases_of_every_kind() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cases = load(&root.join("events")).unwrap();
        let shown: Vec<_> = cases.iter().filter(|c| c.demo.is_some()).collect();
        assert!(shown.len() >= 20);
        assert!(shown.iter().all(|c| c.config.is_default()));
        for code in ["accepted", "duplicate", "unauthorized", "quarantined"] {
            assert!(shown.iter().any(|c| c.expect.code == code), "{code}");
        }
        assert!(
            shown
                .iter()
                .all(|c| c.demo.as_deref().unwrap().chars().count() <= LABEL)
        );
    }
}
