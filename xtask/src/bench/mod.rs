//! `bench` and `coldstart`: the figures of docs/benchmarks.md. `bench` runs the criterion
//! benchmarks, builds the function and a lambda_runtime hello-world in release, measures both
//! (and a baseline revision, on request) with the same harness in the same run, counts AWS
//! requests, reads the package sizes, and prints everything against the targets.
//! `coldstart` runs the harness alone on given binaries.

mod harness;
mod keepalive;
mod profile;
mod report;

pub use profile::CHORE as PROFILE;

use std::path::{Path, PathBuf};

use devkit::console::{note, say};
use devkit::interrupt::on_interrupt;
use devkit::process::run_logged;
use devkit::{LocalAws, Moto, Workspace};
use serde_json::{Value, json};

use crate::args::Args;
use crate::{Chore, Error, Result, package};
use harness::{Aws, Settings, Subject};

pub const BENCH: Chore = Chore {
    name: "bench",
    summary: "criterion, cold start, CPU and memory vs a hello-world, package sizes (docs/benchmarks.md)",
    usage: "\
usage: cargo xtask bench [--baseline REV] [--deliveries N] [--rounds N] [--cold-starts N]
                         [--direct] [--skip-criterion] [--package]

  1. criterion   payload parse per event type; the core pipeline on in-memory ports;
                 serialisation (cargo bench, bounded run times)        (--skip-criterion)
  2. release     the email function and the hello-world (xtask/hello-world), release builds;
                 with --baseline REV also the function at REV, built in a temporary git
                 worktree under target/ with its own target directory
  3. harness     each binary under a Lambda Runtime API emulator against moto: cold starts,
                 then per round the mix (N new actionable deliveries, then their N duplicates),
                 new actionable alone and duplicates alone: CPU per warm invocation, peak RSS,
                 AWS requests and the connections opened for them. The function reaches moto
                 through a keep-alive front (moto closes every connection after one answer,
                 AWS's endpoints do not); --direct: straight to moto
  4. requests    AWS requests per delivery, counted on the wire (tests/request_counts.rs)
  5. package     sizes of target/lambda/*/bootstrap.zip (rebuilt first with --package)

Then one table, all medians: the function against the hello-world and the targets, and with
--baseline the change against REV. Defaults: N = $N else 300, rounds $ROUNDS else 3, cold
starts $RUNS else 15; SKIP_CRITERION=1, PACKAGE=1 and BASELINE=REV work as the flags.
Output is kept in target/bench/ (criterion's own data in target/criterion/).",
    run: bench,
};

pub const COLDSTART: Chore = Chore {
    name: "coldstart",
    summary: "cold start, CPU and peak RSS of release function binaries under a Runtime API emulator",
    usage: "\
usage: cargo xtask coldstart [--bin PATH] [--function NAME] [--hello PATH] [--sample NAME]
                             [--deliveries N] [--rounds N] [--cold-starts N] [--direct]
                             [--out FILE]

Runs a function's release binary (default target/release/email-webhook, serving NAME's route,
default email-webhook) under a local Lambda Runtime API emulator against moto (its own, or
the emulator at AWS_ENDPOINT_URL when set), and prints its cold starts and, per round, CPU per
warm invocation and peak RSS for the mix, new actionable alone and duplicates alone (the
deliveries copy events/reply/<sample>.json, default email_replied). --hello PATH measures
another binary the same way (a lambda_runtime hello-world) and prints the ratios. --out FILE
writes the figures as JSON too. Defaults, and --direct, as `cargo xtask bench`.",
    run: coldstart,
};

const FUNCTION: &str = "email-webhook";
const HELLO_PACKAGE: &str = "bench-hello-world";

/// The harness settings both commands take.
fn settings(args: &mut Args) -> Result<Settings> {
    Ok(Settings {
        deliveries: args.setting("--deliveries", "N", 300usize, 1..=10_000)?,
        rounds: args.setting("--rounds", "ROUNDS", 3usize, 1..=50)?,
        cold_starts: args.setting("--cold-starts", "RUNS", 15usize, 1..=1000)?,
        sample: args
            .value("--sample")?
            .unwrap_or_else(|| "email_replied".to_owned()),
        function: FUNCTION.to_owned(),
        keep_alive: !args.flag("--direct"),
    })
}

/// A yes/no setting: the flag, or the variable set to 1.
fn switch(args: &mut Args, flag: &str, env: &str) -> bool {
    args.flag(flag) || std::env::var(env).is_ok_and(|v| v == "1")
}

fn bench(ws: &Workspace, mut args: Args) -> Result {
    let settings = settings(&mut args)?;
    let baseline = args
        .value("--baseline")?
        .or_else(|| std::env::var("BASELINE").ok().filter(|v| !v.is_empty()));
    let skip_criterion = switch(&mut args, "--skip-criterion", "SKIP_CRITERION");
    let rebuild_package = switch(&mut args, "--package", "PACKAGE");
    args.finish()?;

    let out = ws.target_dir().join("bench");
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::io(format!("cannot create {}", out.display()), e))?;
    let machine = machine(ws);
    eprintln!("{machine}");
    write(&out.join("machine.txt"), &machine)?;

    if skip_criterion {
        say("[1/5] criterion: skipped");
    } else {
        say("[1/5] criterion: payload parse (~1.5 s per benchmark)");
        criterion(
            ws,
            &["-p", "reply-payload", "--bench", "parse"],
            &[],
            &out.join("parse.txt"),
        )?;
        say("[1/5] criterion: core pipeline and serialisation (warm-up 1 s, 3 s of samples each)");
        criterion(
            ws,
            &["-p", "webhook-core", "--bench", "pipeline"],
            &["--warm-up-time", "1", "--measurement-time", "3"],
            &out.join("pipeline.txt"),
        )?;
    }

    say(format!(
        "[2/5] release builds of {FUNCTION} and the hello-world (no-op when up to date)"
    ));
    ws.run(
        ws.command("cargo")
            .args(["build", "--release", "-p", FUNCTION, "-p", HELLO_PACKAGE]),
    )?;
    let release = ws.target_dir().join("release");
    let mut subjects = vec![
        Subject {
            label: FUNCTION.to_owned(),
            bin: release.join(FUNCTION),
            checked: true,
        },
        Subject {
            label: "hello-world".to_owned(),
            bin: release.join(HELLO_PACKAGE),
            checked: false,
        },
    ];
    if let Some(rev) = &baseline {
        say(format!(
            "[2/5] release build of {FUNCTION} at {rev} (baseline)"
        ));
        subjects.push(Subject {
            label: format!("baseline {rev}"),
            bin: build_baseline(ws, rev)?,
            checked: true,
        });
    }
    // Compiled before anything is measured, so no build competes with the measurements.
    ws.run(
        ws.command("cargo")
            .args(request_counts_test(&["--no-run", "-q"])),
    )?;

    say(format!(
        "[3/5] harness: {} cold starts and {} rounds of N = {} per binary, against moto",
        settings.cold_starts, settings.rounds, settings.deliveries
    ));
    let moto_dir = ws.stack_dir(&format!("bench-{}", std::process::id()));
    let moto = Moto::start(ws, &moto_dir)?;
    let local = LocalAws::new(moto.endpoint());
    let aws = Aws::Own(moto);
    let mut measured = Vec::new();
    for subject in &subjects {
        note(format!("measuring {}", subject.label));
        measured.push(harness::measure(ws.root(), &aws, subject, &settings, &out)?);
    }

    say("[4/5] AWS requests per delivery (tests/request_counts.rs), on the same moto");
    let mut counts = ws.command("cargo");
    counts
        .args(request_counts_test(&["-q"]))
        .env("RW_MOTO", "1");
    for (name, value) in local.env() {
        counts.env(name, value);
    }
    let requests_met = run_logged(&mut counts, &out.join("request_counts.txt"), |line| {
        if line.starts_with("test ") {
            eprintln!("{line}");
        }
    })?
    .success();
    drop(aws); // stops moto

    if rebuild_package {
        say("[5/5] package: the arm64 zips (cargo xtask package)");
        package::build(ws, package::Arch::Arm64)?;
    } else {
        say("[5/5] package sizes (existing zips; --package rebuilds them)");
    }
    let zips: Vec<(String, Option<u64>, String)> = package::zips(ws)
        .into_iter()
        .map(|zip| {
            let arch = if zip.bytes.is_some() { zip.arch() } else { "?" };
            (zip.function.to_owned(), zip.bytes, arch.to_owned())
        })
        .collect();

    let mut summary = format!("\n{machine}\n");
    if !skip_criterion {
        summary.push_str(&criterion_medians(ws));
    }
    for figures in &measured {
        summary.push('\n');
        summary.push_str(&report::details(figures, settings.deliveries));
    }
    summary.push('\n');
    summary.push_str(&report::targets(
        &measured[0],
        measured.get(1),
        measured.get(2),
        settings.deliveries,
        &zips,
        Some(requests_met),
    ));
    print!("{summary}");
    write(&out.join("summary.txt"), &summary)?;
    let figures: serde_json::Map<String, Value> = measured
        .iter()
        .map(|f| (f.label.clone(), report::to_json(f)))
        .collect();
    write(
        &out.join("bench.json"),
        &serde_json::to_string_pretty(&json!({
            "deliveries": settings.deliveries,
            "rounds": settings.rounds,
            "binaries": figures,
        }))
        .unwrap_or_default(),
    )?;
    if requests_met {
        Ok(())
    } else {
        Err(Error::check(format!(
            "the request-count test failed: see {}",
            ws.rel(&out.join("request_counts.txt"))
        )))
    }
}

fn coldstart(ws: &Workspace, mut args: Args) -> Result {
    let mut settings = settings(&mut args)?;
    if let Some(function) = args.value("--function")? {
        settings.function = function;
    }
    let release = ws.target_dir().join("release");
    let bin = args
        .value("--bin")?
        .map(PathBuf::from)
        .unwrap_or_else(|| release.join(&settings.function));
    let hello = args.value("--hello")?.map(PathBuf::from);
    let out_file = args.value("--out")?.map(PathBuf::from);
    args.finish()?;
    for path in std::iter::once(&bin).chain(hello.as_ref()) {
        if !path.is_file() {
            return Err(Error::check(format!(
                "{} does not exist: build it first (cargo build --release -p {})",
                path.display(),
                settings.function
            )));
        }
    }

    let out = ws.target_dir().join("bench");
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::io(format!("cannot create {}", out.display()), e))?;
    let aws = match LocalAws::from_env() {
        Ok(local) => Aws::External(local),
        Err(_) => Aws::Own(Moto::start(
            ws,
            &ws.stack_dir(&format!("coldstart-{}", std::process::id())),
        )?),
    };
    let ours = harness::measure(
        ws.root(),
        &aws,
        &Subject {
            label: settings.function.clone(),
            bin,
            checked: true,
        },
        &settings,
        &out,
    )?;
    let hello = hello
        .map(|bin| {
            let subject = Subject {
                label: "hello-world".to_owned(),
                bin,
                checked: false,
            };
            harness::measure(ws.root(), &aws, &subject, &settings, &out)
        })
        .transpose()?;
    drop(aws);

    print!("\n{}", report::details(&ours, settings.deliveries));
    if let Some(hello) = &hello {
        print!("\n{}", report::details(hello, settings.deliveries));
        print!(
            "\n{}",
            report::targets(&ours, Some(hello), None, settings.deliveries, &[], None)
        );
    }
    if let Some(path) = out_file {
        let mut figures = json!({ ours.label.clone(): report::to_json(&ours) });
        if let Some(hello) = &hello {
            figures[hello.label.clone()] = report::to_json(hello);
        }
        write(
            &path,
            &serde_json::to_string_pretty(&figures).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// `cargo test -p reply-webhooks-tests --test request_counts` with `extra`.
fn request_counts_test<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "test",
        "-p",
        "reply-webhooks-tests",
        "--test",
        "request_counts",
    ];
    args.extend_from_slice(extra);
    args
}

/// One criterion bench, its output on stderr and in `log`.
fn criterion(ws: &Workspace, selection: &[&str], options: &[&str], log: &Path) -> Result {
    let mut command = ws.command("cargo");
    command.args(["bench", "-q"]).args(selection);
    if !options.is_empty() {
        command.arg("--").args(options);
    }
    let status = run_logged(&mut command, log, |line| eprintln!("{line}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::check(format!(
            "cargo bench {} failed ({status}); see above",
            selection.join(" ")
        )))
    }
}

/// Every criterion median of the benches this command runs.
fn criterion_medians(ws: &Workspace) -> String {
    let root = ws.target_dir().join("criterion");
    let mut out = String::from("criterion medians (target/criterion/*/*/new/estimates.json)\n");
    for group in [
        "delivery_parse",
        "reply_event_parse",
        "parse_parts",
        "pipeline",
        "serialise",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        let mut benches: Vec<(String, f64)> = entries
            .flatten()
            .filter_map(|entry| {
                let estimates =
                    std::fs::read_to_string(entry.path().join("new/estimates.json")).ok()?;
                let median =
                    serde_json::from_str::<Value>(&estimates).ok()?["median"]["point_estimate"]
                        .as_f64()?;
                Some((entry.file_name().to_string_lossy().into_owned(), median))
            })
            .collect();
        benches.sort_by(|a, b| a.0.cmp(&b.0));
        for (bench, nanos) in benches {
            out.push_str(&format!(
                "  {:<60} {:>9.3} µs\n",
                format!("{group}/{bench}"),
                nanos / 1000.0
            ));
        }
    }
    out
}

/// Builds the function at `rev` in a temporary git worktree under target/ (removed afterwards,
/// also on Ctrl-C), into its own target directory; returns the binary.
fn build_baseline(ws: &Workspace, rev: &str) -> Result<PathBuf> {
    let bench_dir = ws.target_dir().join("bench");
    let tree = bench_dir.join("baseline-src");
    let target = bench_dir.join("baseline-target");
    let remove = {
        let root = ws.root().to_path_buf();
        let tree = tree.clone();
        move || {
            let git = |args: &[&std::ffi::OsStr]| {
                let _ = std::process::Command::new("git")
                    .current_dir(&root)
                    .args(args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            };
            git(&[
                "worktree".as_ref(),
                "remove".as_ref(),
                "--force".as_ref(),
                tree.as_os_str(),
            ]);
            let _ = std::fs::remove_dir_all(&tree);
            git(&["worktree".as_ref(), "prune".as_ref()]);
        }
    };
    remove(); // a worktree an interrupted run left behind
    ws.run(
        ws.command("git")
            .args(["worktree", "add", "--detach", "--quiet"])
            .arg(&tree)
            .arg(rev),
    )?;
    let _remove_on_interrupt = on_interrupt(remove.clone())?;
    // First use: start from a copy of the current release build, so only what differs at
    // `rev` is compiled (dependencies are mostly the same).
    let current = ws.target_dir().join("release");
    if !target.exists() && current.is_dir() {
        std::fs::create_dir_all(&target)
            .map_err(|e| Error::io(format!("cannot create {}", target.display()), e))?;
        ws.run(ws.command("cp").arg("-a").arg(&current).arg(&target))?;
    }
    let built = ws.run(
        ws.command("cargo")
            .current_dir(&tree)
            .args(["build", "--release", "-p", FUNCTION, "--target-dir"])
            .arg(&target),
    );
    remove();
    built?;
    Ok(target.join("release").join(FUNCTION))
}

/// The machine and its load, for reading the figures.
fn machine(ws: &Workspace) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1_048_576.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let output = |program: &str, args: &[&str]| {
        ws.command(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let loadavg = read("/proc/loadavg");
    let load: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    let compiling = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "rustc")
                })
                .count()
        })
        .unwrap_or(0);
    let mut text = format!(
        "date:     {}\nmachine:  {cores} cores, {model}, {memory_gib:.1} GiB\nrustc:    {}\nload:     {} (1/5/15 min) at start; rustc processes: {compiling}",
        output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        output("rustc", &["-V"]),
        load.join(" "),
    );
    if compiling > 0 {
        text.push_str("\nnote:     other compilations are running; figures will be noisier than on an idle machine");
    }
    text
}

fn write(path: &Path, text: &str) -> Result {
    std::fs::write(path, text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}
