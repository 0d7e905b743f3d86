//! Project chores, run as `cargo run -p xtask -- <command> [options]`.
//!
//! Each command lives in its own module and exposes `run(root, args)`; this file only
//! dispatches, so adding a command is one module and one match arm.

mod coldstart;
mod demo;
mod events;
mod provision;

use std::path::PathBuf;
use std::process::ExitCode;

/// What every command returns: an error is printed as `xtask <command>: <error>`, exit 1.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The value after an option flag (`--table NAME`), or an error naming the flag with the
/// command's usage.
pub(crate) fn option_value(
    args: &mut std::slice::Iter<'_, String>,
    flag: &str,
    usage: &str,
) -> std::result::Result<String, String> {
    args.next()
        .cloned()
        .ok_or_else(|| format!("{flag} needs a value\n\n{usage}"))
}

const USAGE: &str = "\
usage: cargo run -p xtask -- <command> [options]

commands:
  events           regenerate events/apigw/ from events/reply/
  events --check   fail (naming each file) if events/apigw/ differs from what it would generate
  provision        create the local table and queues on AWS_ENDPOINT_URL, print the env
  demo             run every sample through the running local stack, check SPEC §4
  coldstart        cold start, latency, CPU and peak RSS of a release function binary (issue 7)
  help             print this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let root = workspace_root();
    let result = match command.as_str() {
        "events" => events::run(&root, rest),
        "provision" => provision::run(&root, rest),
        "demo" => demo::run(&root, rest),
        "coldstart" => coldstart::run(&root, rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {command}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it), whatever the current directory.
fn workspace_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().map(PathBuf::from).unwrap_or(xtask)
}
