//! `test`: everything CI checks, from a clean clone (Rust and Python 3 only), with a timed
//! summary: the build (with the pinned tools and the template lint alongside), a private local
//! stack, and every test binary against it.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use devkit::console::{note, say};
use devkit::interrupt::on_interrupt;
use devkit::process::{self, log_tail};
use devkit::{Stack, StackMode, ToolGroup, Workspace};

use crate::args::Args;
use crate::{Chore, Error, Result, sam};

pub const CHORE: Chore = Chore {
    name: "test",
    summary: "everything CI checks: tools, template lint, build, local stack, all tests",
    usage: "\
usage: cargo xtask test [<cargo test arguments>]

  1. build     cargo build --workspace --all-targets; alongside it, with their output in
               .stack/test-prepare.log (shown when they fail):
     tools     moto's server, cargo-lambda, cfn-lint and SAM into .tools/ (first use only)
     template  cargo xtask template (cfn-lint, sam validate)
  2. stack     moto on 127.0.0.1 behind the strict AWS proxy, the table and queues, the
               three functions under cargo lambda watch (as `make local` does, on free ports)
  3. tests     cargo test --workspace --all-targets --no-fail-fast, with AWS_ENDPOINT_URL,
               AWS_REGION and dummy credentials pointing at moto, RW_MOTO=1, and
               RW_STACK_DIR naming the stack for the end-to-end tests, and
               RUST_TEST_THREADS at least 4 (most tests wait rather than compute); then
               the stack's strict proxy must have refused nothing

Everything started is stopped at the end, also on failure or Ctrl-C; a failure prints the tail
of the functions' log. Arguments go to cargo test as they are: `cargo xtask test -- every_sample`
(a name filter), `cargo xtask test -- --nocapture`.",
    run,
};

/// The summary table, kept where the Ctrl-C cleanup can print it too.
#[derive(Default)]
struct Summary {
    rows: Vec<String>,
    current: Option<(&'static str, Instant)>,
}

impl Summary {
    fn begin(&mut self, step: &'static str, what: &str) {
        say(format!("[{step}] {what}"));
        self.current = Some((step, Instant::now()));
    }

    fn end(&mut self, verdict: &str, detail: &str) {
        if let Some((step, started)) = self.current.take() {
            self.row(step, verdict, started, detail);
        }
    }

    /// A row for a step that ran alongside the current one.
    fn row(&mut self, step: &str, verdict: &str, started: Instant, detail: &str) {
        self.rows.push(format!(
            "{step:<9} {verdict:<6} {:>4} s  {detail}",
            started.elapsed().as_secs()
        ));
    }

    fn print(&mut self, outcome: &str) {
        self.end("FAILED", "");
        println!("\n──────── make test summary ────────");
        for row in &self.rows {
            println!("  {row}");
        }
        println!("  {outcome}");
    }
}

fn run(ws: &Workspace, args: Args) -> Result {
    let cargo_test_args = args.remaining();
    let started = Instant::now();
    let summary = Arc::new(Mutex::new(Summary::default()));
    let on_ctrl_c = Arc::clone(&summary);
    // Registered first, so it runs after the stack's own cleanup.
    let _print_on_interrupt = on_interrupt(move || {
        lock(&on_ctrl_c).print(&format!(
            "INTERRUPTED after {} s",
            started.elapsed().as_secs()
        ));
    })?;
    let mut stack = None;
    let outcome = steps(ws, &cargo_test_args, &mut stack, &summary);
    if let (Err(_), Some(stack)) = (&outcome, &stack) {
        note(format!(
            "tail of the functions' log ({}):{}",
            ws.rel(&stack.watch_log()),
            log_tail(&stack.watch_log(), 15)
        ));
    }
    drop(stack); // stops it
    let total = started.elapsed().as_secs();
    let verdict = match &outcome {
        Ok(()) => format!("PASSED in {total} s"),
        Err(_) => format!("FAILED after {total} s"),
    };
    lock(&summary).print(&verdict);
    outcome
}

fn lock(summary: &Mutex<Summary>) -> std::sync::MutexGuard<'_, Summary> {
    summary.lock().unwrap_or_else(PoisonError::into_inner)
}

fn steps(
    ws: &Workspace,
    cargo_test_args: &[String],
    stack: &mut Option<Stack>,
    summary: &Mutex<Summary>,
) -> Result {
    build_and_prepare(ws, summary)?;

    lock(summary).begin(
        "stack",
        "starting the local stack (moto + cargo lambda watch) on free ports",
    );
    let dir = ws.stack_dir(&format!("run-{}", std::process::id()));
    let started = stack.insert(Stack::start(ws, &dir, StackMode::Private)?);
    let ports = format!(
        "moto :{}, watch :{}",
        started.moto().endpoint.rsplit(':').next().unwrap_or("?"),
        started.watch_port()
    );
    lock(summary).end("ok", &ports);

    lock(summary).begin(
        "tests",
        &format!(
            "cargo test --workspace --all-targets {}",
            cargo_test_args.join(" ")
        ),
    );
    let log_path = ws.root().join(".stack/test-output.log");
    let passed = cargo_test(ws, started, cargo_test_args, &log_path)?;
    let counts = std::fs::read_to_string(&log_path)
        .map(|log| TestCounts::from_log(&log))
        .unwrap_or_default();
    // What the functions and the end-to-end tests did on the stack had to be what AWS accepts.
    let refusals = started.refusals()?;
    if !refusals.is_empty() {
        lock(summary).end("FAILED", &counts.to_string());
        return Err(Error::check(format!(
            "the stack's strict AWS proxy refused {} request(s) AWS would refuse (log: {}):\n  {}",
            refusals.len(),
            ws.rel(&started.dir().join("proxy.log")),
            refusals.join("\n  ")
        )));
    }
    if !passed {
        lock(summary).end("FAILED", &counts.to_string());
        return Err(Error::check(format!(
            "cargo test failed: {counts} (the failures are listed above; full output in {})",
            ws.rel(&log_path)
        )));
    }
    lock(summary).end(
        "ok",
        &format!("{counts} (unit, integration on moto, end-to-end through cargo lambda watch)"),
    );
    Ok(())
}

/// The build, and alongside it what needs the network and Python more than the CPU: the
/// pinned tools and the template lint, their output in a log that is shown when they fail.
fn build_and_prepare(ws: &Workspace, summary: &Mutex<Summary>) -> Result {
    let log = ws.root().join(".stack/test-prepare.log");
    std::fs::create_dir_all(ws.root().join(".stack"))
        .map_err(|e| Error::io("cannot create .stack/", e))?;
    let quiet = ws.logging_to(&log)?;
    lock(summary).begin(
        "build",
        &format!(
            "cargo build --workspace --all-targets; alongside it the tools (first use only) \
             and the template lint, output in {}",
            ws.rel(&log)
        ),
    );
    let (built, prepared) = process::alongside(
        || {
            ws.run(
                ws.command("cargo")
                    .args(["build", "--workspace", "--all-targets"]),
            )
        },
        || prepare(&quiet, summary),
    );
    lock(summary).end(verdict(&built), "");
    if let Err(err) = prepared {
        note(format!("tail of {}:{}", ws.rel(&log), log_tail(&log, 25)));
        return Err(err);
    }
    Ok(built?)
}

/// The tools and the template lint, each a row of the summary.
fn prepare(ws: &Workspace, summary: &Mutex<Summary>) -> Result {
    let started = Instant::now();
    let tools = ws.ensure_tools(&[ToolGroup::Moto, ToolGroup::Lambda, ToolGroup::Template]);
    lock(summary).row(
        "tools",
        verdict(&tools),
        started,
        "moto[server], cargo-lambda, zig, cfn-lint, SAM in .tools/venv (alongside the build)",
    );
    tools?;
    let started = Instant::now();
    let lint = sam::lint(ws);
    lock(summary).row(
        "template",
        verdict(&lint),
        started,
        "template.yaml, docs/wiring (alongside the build)",
    );
    lint
}

/// A step's word in the summary.
fn verdict<T, E>(result: &std::result::Result<T, E>) -> &'static str {
    if result.is_ok() { "ok" } else { "FAILED" }
}

/// Runs every test binary against the stack, its output (stdout and stderr together) both on
/// the terminal and in `log_path`; true when all passed. The terminal going away does not stop
/// the run: the log is what counts.
fn cargo_test(
    ws: &Workspace,
    stack: &Stack,
    extra: &[String],
    log_path: &std::path::Path,
) -> Result<bool> {
    let color = if std::io::stdout().is_terminal() {
        "always".to_owned()
    } else {
        std::env::var("CARGO_TERM_COLOR").unwrap_or_else(|_| "auto".to_owned())
    };
    let mut command = ws.command("cargo");
    command
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--no-fail-fast",
            "--color",
            &color,
        ])
        .args(extra)
        .env("RUST_TEST_THREADS", test_threads())
        .env("RW_MOTO", "1")
        .env("RW_STACK_DIR", stack.dir())
        .env("AWS_DEFAULT_REGION", &stack.moto().region)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    for (name, value) in stack.moto().env() {
        command.env(name, value);
    }
    let mut stdout = std::io::stdout();
    let status = process::run_logged(&mut command, log_path, |line| {
        let _ = writeln!(stdout, "{line}");
    })?;
    Ok(status.success())
}

/// Tests at a time within one test binary: `RUST_TEST_THREADS` when set, else at least 4.
/// Most tests wait (on the emulator, on a deadline the fault tests let run out) rather than
/// compute, so libtest's default of one per core leaves a 2-core machine idle.
fn test_threads() -> String {
    std::env::var("RUST_TEST_THREADS")
        .ok()
        .filter(|threads| !threads.is_empty())
        .unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            cores.max(4).to_string()
        })
}

/// Passed, failed and ignored tests over every `test result:` line of a run.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestCounts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestCounts {
    fn from_log(log: &str) -> TestCounts {
        let mut counts = TestCounts::default();
        for line in log.lines().map(devkit::console::strip_ansi) {
            let Some(rest) = line.strip_prefix("test result:") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            for pair in words.windows(2) {
                let Ok(n) = pair[0].parse::<u64>() else {
                    continue;
                };
                match pair[1].trim_end_matches([';', ',']) {
                    "passed" => counts.passed += n,
                    "failed" => counts.failed += n,
                    "ignored" => counts.ignored += n,
                    _ => {}
                }
            }
        }
        counts
    }
}

impl std::fmt::Display for TestCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} ignored",
            self.passed, self.failed, self.ignored
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_over_every_test_binary_even_in_colour() {
        let log = "\
running 2 tests
test result: ok. 18 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1.2s
\x1b[32mtest result: \x1b[0mFAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out
test something ... ok
";
        assert_eq!(
            TestCounts::from_log(log),
            TestCounts {
                passed: 21,
                failed: 2,
                ignored: 1
            }
        );
        assert_eq!(
            TestCounts::from_log(log).to_string(),
            "21 passed, 2 failed, 1 ignored"
        );
    }

    #[test]
    fn colour_sequences_are_removed() {
        assert_eq!(
            devkit::console::strip_ansi("\x1b[1m\x1b[32mok\x1b[0m."),
            "ok."
        );
    }
}
