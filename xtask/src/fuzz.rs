//! `fuzz`: coverage-guided fuzzing (cargo fuzz, libFuzzer) of the payload parsers and the
//! request path, seeded from `events/`.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

use devkit::console::say;
use devkit::process::run_logged;
use devkit::{ToolGroup, Workspace};

use crate::args::Args;
use crate::{Chore, Error, Result};

pub const CHORE: Chore = Chore {
    name: "fuzz",
    summary: "coverage-guided fuzzing of the parser and the core (FUZZ_SECONDS per target)",
    usage: "\
usage: cargo xtask fuzz [parse] [pipeline]     (default: both)
       [--seconds N]      per target, 1-86400 (default: $FUZZ_SECONDS, else 60)
       [--sanitizer address|none]   (default: $FUZZ_SANITIZER, else address; falls back to
                                     none when the AddressSanitizer build fails)
       [--jobs N]         libFuzzer jobs (default: $FUZZ_JOBS, else 1: the cores are shared)

cargo-fuzz is installed on first use into .tools/cargo (scripts/tools.sh fuzz). It needs
nightly-only flags, so it runs on the stable toolchain with RUSTC_BOOTSTRAP=1. The corpus
(fuzz/corpus/<target>, kept between runs) is seeded every run from events/reply,
events/variants and events/bad. A crash stops the run with the input in
fuzz/artifacts/<target>/; turn it into a regression test (docs/reliability.md).",
    run,
};

const TARGETS: [&str; 2] = ["parse", "pipeline"];
/// Seeds larger than this (the 413 samples) would only slow libFuzzer down.
const MAX_SEED_BYTES: u64 = 65_536;
/// The pipeline target's first byte picks the request shape (fuzz/fuzz_targets/pipeline.rs):
/// a valid POST to the email function, the same with SQS down, no token to linkedin.
const PIPELINE_SHAPES: [(u8, &str); 3] = [(0x00, "post"), (0x20, "sqs-down"), (0x41, "no-token")];

fn run(ws: &Workspace, mut args: Args) -> Result {
    let seconds = args.setting("--seconds", "FUZZ_SECONDS", 60u32, 1..=86_400)?;
    let jobs = args.setting("--jobs", "FUZZ_JOBS", 1u32, 1..=64)?;
    let sanitizer = args
        .value("--sanitizer")?
        .or_else(|| {
            std::env::var("FUZZ_SANITIZER")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| "address".to_owned());
    if sanitizer != "address" && sanitizer != "none" {
        return Err(args.error("the sanitizer must be address or none"));
    }
    let mut targets = Vec::new();
    while let Some(target) = args.positional() {
        if !TARGETS.contains(&target.as_str()) {
            return Err(args.error(format!("unknown target `{target}` (parse, pipeline)")));
        }
        targets.push(target);
    }
    args.finish()?;
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    ws.ensure_tools(&[ToolGroup::Fuzz])?;

    let fuzz_dir = ws.root().join("fuzz");
    let mut failed = Vec::new();
    for target in &targets {
        let seeds = seed(ws, target)?;
        say(format!("{target}: seeded with {seeds} files from events/"));
        say(format!(
            "{target}: {seconds} s, sanitizer {sanitizer}, {jobs} job(s) (full log: fuzz/{target}.log)"
        ));
        let started = Instant::now();
        let mut status = fuzz(ws, target, &sanitizer, seconds, jobs)?;
        if !status.success() && sanitizer == "address" && asan_build_failed(&fuzz_dir, target) {
            say(format!(
                "{target}: the AddressSanitizer build failed on this toolchain; retrying with --sanitizer none"
            ));
            status = fuzz(ws, target, "none", seconds, jobs)?;
        }
        let log =
            std::fs::read_to_string(fuzz_dir.join(format!("{target}.log"))).unwrap_or_default();
        let executions: u64 = log
            .lines()
            .filter_map(|line| line.split("stat::number_of_executed_units:").nth(1))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .sum();
        let corpus = count_files(&fuzz_dir.join("corpus").join(target));
        let elapsed = started.elapsed().as_secs();
        if status.success() {
            say(format!(
                "{target}: no crash in {elapsed} s; {executions} executions; corpus {corpus} inputs"
            ));
        } else {
            say(format!(
                "{target}: FAILED ({status}) after {elapsed} s; crash inputs in fuzz/artifacts/{target}/"
            ));
            say(format!(
                "reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {target} artifacts/{target}/<file>)"
            ));
            failed.push(target.clone());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::check(format!(
            "fuzzing found a crash in: {}",
            failed.join(", ")
        )))
    }
}

/// Fills `fuzz/seeds/<target>` from the sample bodies; returns how many files were used.
fn seed(ws: &Workspace, target: &str) -> Result<usize> {
    let fuzz_dir = ws.root().join("fuzz");
    let seeds = fuzz_dir.join("seeds").join(target);
    let _ = std::fs::remove_dir_all(&seeds);
    for dir in [&seeds, &fuzz_dir.join("corpus").join(target)] {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    let mut files = Vec::new();
    for dir in ["events/reply", "events/variants", "events/bad"] {
        collect_files(&ws.root().join(dir), &mut files);
    }
    files.sort();
    let mut used = 0;
    for file in files {
        let small = std::fs::metadata(&file).is_ok_and(|m| m.len() <= MAX_SEED_BYTES);
        if !small {
            continue;
        }
        let body = std::fs::read(&file)
            .map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
        used += 1;
        let write = |name: String, bytes: &[u8]| {
            let path = seeds.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
        };
        if target == "parse" {
            write(used.to_string(), &body)?;
        } else {
            for (shape, name) in PIPELINE_SHAPES {
                write(
                    format!("{used}-{name}"),
                    &[&[shape], body.as_slice()].concat(),
                )?;
            }
        }
    }
    Ok(used)
}

/// One libFuzzer run; its whole output goes to fuzz/<target>.log, the lines worth seeing to the
/// terminal.
fn fuzz(
    ws: &Workspace,
    target: &str,
    sanitizer: &str,
    seconds: u32,
    jobs: u32,
) -> Result<ExitStatus> {
    let fuzz_dir = ws.root().join("fuzz");
    let mut command = ws.command("cargo");
    command
        .current_dir(&fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--sanitizer", sanitizer, "-O", target])
        .arg(format!("corpus/{target}"))
        .arg(format!("seeds/{target}"))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"));
    // One job runs in-process (final stats in the log); more run as libFuzzer workers.
    if jobs > 1 {
        command.args([format!("-jobs={jobs}"), format!("-workers={jobs}")]);
    }
    command.args([
        "-max_len=12288",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
    ]);
    let log = fuzz_dir.join(format!("{target}.log"));
    Ok(run_logged(&mut command, &log, |line| {
        if worth_showing(line) {
            eprintln!("{line}");
        }
    })?)
}

/// libFuzzer's start and end lines, sanitizer reports, panics, final stats and errors.
fn worth_showing(line: &str) -> bool {
    let progress = line
        .strip_prefix('#')
        .and_then(|rest| rest.split_once(char::is_whitespace))
        .is_some_and(|(n, rest)| {
            n.bytes().all(|b| b.is_ascii_digit())
                && ["INITED", "DONE"]
                    .iter()
                    .any(|w| rest.trim_start().starts_with(w))
        });
    let sanitizer_report = line.starts_with("==")
        && line[2..]
            .split_once("==")
            .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    progress
        || sanitizer_report
        || (line.starts_with("thread ") && line.contains(" panicked"))
        || [
            "SUMMARY",
            "Done ",
            "stat::number_of_executed_units",
            "stat::peak_rss_mb",
            "artifact_prefix",
            "Test unit written",
            "error",
        ]
        .iter()
        .any(|start| line.starts_with(start))
}

/// The run failed building with AddressSanitizer, not on a crash.
fn asan_build_failed(fuzz_dir: &Path, target: &str) -> bool {
    let crashed = std::fs::read_dir(fuzz_dir.join("artifacts").join(target)).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("crash-"))
    });
    let log = std::fs::read_to_string(fuzz_dir.join(format!("{target}.log")))
        .unwrap_or_default()
        .to_lowercase();
    !crashed
        && (log.contains("error: could not compile")
            || (log.contains("sanitizer")
                && (log.contains("not supported") || log.contains("unsupported")))
            || (log.contains("linking with") && log.contains("failed")))
}

fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.push(path);
        }
    }
}

fn count_files(dir: &Path) -> usize {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_lines_worth_seeing_are_shown() {
        for shown in [
            "#2\tINITED cov: 1234 ft: 2345 corp: 40/20Kb",
            "#123456\tDONE   cov: 1300",
            "==4242==ERROR: AddressSanitizer: heap-buffer-overflow",
            "thread '<unnamed>' panicked at src/lib.rs:1:1:",
            "stat::number_of_executed_units: 98765",
            "Done 98765 runs in 60 second(s)",
            "error: could not compile `reply-payload`",
        ] {
            assert!(worth_showing(shown), "{shown}");
        }
        for hidden in [
            "#4096\tpulse  cov: 1234",
            "#512\tNEW    cov: 1250",
            "   Compiling serde v1.0.0",
            "== not a pid ==",
        ] {
            assert!(!worth_showing(hidden), "{hidden}");
        }
    }
}
