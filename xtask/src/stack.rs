//! `local`, `stop`, `status`, `invoke`: the long-running local stack of `make local`, in
//! `.stack/local`.

use std::path::PathBuf;

use devkit::console::say;
use devkit::{LOCAL_TOKEN, Stack, StackMode, ToolGroup, Workspace, routes, stack};
use reply_payload::{Category, EventType};
use serde_json::Value;
use webhook_core::Routing;

use crate::args::Args;
use crate::{Chore, Error, Result};

pub const LOCAL: Chore = Chore {
    name: "local",
    summary: "start the local stack (moto + cargo lambda watch) and keep it running",
    usage: "\
usage: cargo xtask local

Starts moto's server, creates the table and queues, and runs the three functions under
cargo lambda watch, on 127.0.0.1, and leaves them running (state and logs in .stack/local/).
Ports: WATCH_PORT (default 9000 when free, else a free port), MOTO_PORT (default a free port);
a port you set that is taken is an error. Run again while it runs: prints its URLs.",
    run: local,
};

pub const STOP: Chore = Chore {
    name: "stop",
    summary: "stop the local stack",
    usage: "usage: cargo xtask stop\n\nStops the functions, the watcher and moto of `cargo xtask local` and removes .stack/local/.",
    run: stop,
};

pub const STATUS: Chore = Chore {
    name: "status",
    summary: "is the local stack running? print its URLs",
    usage: "usage: cargo xtask status\n\nPrints the local stack's URLs, or fails when it is not running.",
    run: status,
};

pub const INVOKE: Chore = Chore {
    name: "invoke",
    summary: "cargo lambda invoke the running stack with events/apigw/<TYPE>.json",
    usage: "\
usage: cargo xtask invoke <TYPE>        (make invoke EVENT=<TYPE>)

Runs `cargo lambda invoke` against the running local stack with the API Gateway event
events/apigw/<TYPE>.json, on the function of TYPE's category, and prints the function's
answer with its body decoded.",
    run: invoke,
};

fn local_dir(ws: &Workspace) -> PathBuf {
    ws.stack_dir("local")
}

fn local(ws: &Workspace, args: Args) -> Result {
    args.finish()?;
    let dir = local_dir(ws);
    if let Some(running) = Stack::attach(&dir) {
        say("the local stack is already running");
        print_stack(ws, &running);
        return Ok(());
    }
    stack::stop_dir(&dir); // what a stack that died left behind
    let started = Stack::start(ws, &dir, StackMode::Local)?;
    print_stack(ws, &started);
    started.keep_running();
    Ok(())
}

fn stop(ws: &Workspace, args: Args) -> Result {
    args.finish()?;
    let dir = local_dir(ws);
    if dir.is_dir() {
        say("stopping the local stack");
        stack::stop_dir(&dir);
    } else {
        say("the local stack is not running");
    }
    Ok(())
}

fn status(ws: &Workspace, args: Args) -> Result {
    args.finish()?;
    let running = Stack::attach(&local_dir(ws)).ok_or(devkit::Error::StackNotRunning {
        then: String::new(),
    })?;
    print_stack(ws, &running);
    Ok(())
}

fn print_stack(ws: &Workspace, stack: &Stack) {
    let dir = ws.rel(stack.dir());
    println!("\nLocal stack running (state and logs: {dir}/):");
    for category in Category::ALL {
        println!(
            "  {:<9} {}",
            category.as_str(),
            stack.function_url(category, LOCAL_TOKEN)
        );
    }
    println!(
        "  {:<9} {}  (DynamoDB + SQS; table and queue URLs in {dir}/env)",
        "moto",
        stack.moto().endpoint
    );
    println!(
        "  {:<9} {}  (the functions' AWS_ENDPOINT_URL: moto as strict as AWS; refusals in {dir}/proxy.log)",
        "proxy",
        stack.functions_aws().endpoint
    );
    println!("\nTry:");
    println!(
        "  curl -sS -X POST '{}' \\",
        stack.function_url(Category::Email, LOCAL_TOKEN)
    );
    println!(
        "       -H 'content-type: application/json' --data-binary @events/reply/email_replied.json"
    );
    println!("  make invoke EVENT=linkedin_message_replied");
    println!("  tail -f {dir}/watch.log      # the functions' logs");
    println!("  make stop");
}

fn invoke(ws: &Workspace, mut args: Args) -> Result {
    let event_type = args.positional();
    args.finish()?;
    let known = || -> Result<String> {
        let dir = ws.root().join("events/apigw");
        let mut types: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?
            .flatten()
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect();
        types.sort();
        Ok(types.join(" "))
    };
    let Some(event_type) = event_type else {
        return Err(Error::Usage {
            reason: format!("which event? TYPE is one of: {}", known()?),
            usage: INVOKE.usage,
        });
    };
    let file = format!("events/apigw/{event_type}.json");
    if !ws.root().join(&file).is_file() {
        return Err(Error::check(format!(
            "no event file {file}. Types: {}",
            known()?
        )));
    }
    let running = Stack::attach(&local_dir(ws)).ok_or(devkit::Error::StackNotRunning {
        then: format!(" (then: make invoke EVENT={event_type})"),
    })?;
    ws.ensure_tools(&[ToolGroup::Lambda])?;
    let binary = routes::category_of(&EventType::parse(&event_type)).binary();
    say(format!(
        "cargo lambda invoke {binary} --data-file {file} (stack on 127.0.0.1:{})",
        running.watch_port()
    ));
    let output = ws
        .command("cargo")
        .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &running.watch_port().to_string()])
        .args([binary, "--data-file", &file])
        .output()
        .map_err(|e| Error::io("cannot run cargo lambda invoke", e))?;
    let log = ws.rel(&running.watch_log());
    let out = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        print!("{out}");
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        return Err(Error::check(format!(
            "cargo lambda invoke failed (the functions' log: {log})"
        )));
    }
    println!("{}", with_decoded_body(&out));
    Ok(())
}

/// The function's API Gateway response, pretty-printed with its JSON body decoded; the raw text
/// when it is not JSON.
fn with_decoded_body(raw: &str) -> String {
    let Ok(mut response) = serde_json::from_str::<Value>(raw) else {
        return raw.trim_end().to_owned();
    };
    if let Some(body) = response.get("body").and_then(Value::as_str)
        && let Ok(decoded) = serde_json::from_str::<Value>(body)
    {
        response["body"] = decoded;
    }
    serde_json::to_string_pretty(&response).unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_body_is_shown_decoded() {
        let raw = r#"{"statusCode":200,"body":"{\"status\":\"accepted\"}"}"#;
        let shown = with_decoded_body(raw);
        assert!(shown.contains("\"status\": \"accepted\""), "{shown}");
        assert_eq!(with_decoded_body("not json\n"), "not json");
    }
}
