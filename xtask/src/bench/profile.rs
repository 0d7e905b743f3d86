//! `profile`: where the CPU of a warm invocation goes, in instructions (callgrind), per
//! component. Deterministic: instruction counts do not depend on the machine's load, so a
//! change can be judged on a busy shared machine where time-based figures are noisy.
//!
//! The function and the hello-world are built with the `profiling` profile (release with
//! symbols and line tables), each run under `valgrind --tool=callgrind` against the Runtime API
//! emulator and moto (the harness of `cargo xtask bench`), instrumentation is turned on after
//! a warm-up, and the mix (N new actionable deliveries, then their N duplicates) is counted.
//! Each function's own instructions (callgrind's exclusive cost, so nothing counts twice) are
//! grouped into components by the crate that owns the code, as listed in [`COMPONENTS`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use devkit::console::{note, say};
use devkit::{Moto, Workspace};

use super::harness::{self, Aws, Settings, Subject};
use super::{FUNCTION, HELLO_PACKAGE};
use crate::args::Args;
use crate::{Chore, Error, Result};

pub const CHORE: Chore = Chore {
    name: "profile",
    summary: "instructions per warm invocation by component (callgrind), function vs hello-world",
    usage: "\
usage: cargo xtask profile [--deliveries N] [--warm-up N] [--top N] [--direct] [--reuse]

Builds the email function and the hello-world with the `profiling` profile (release, with
symbols), runs each under valgrind's callgrind against the Runtime API emulator and moto,
turns instrumentation on after N_w new deliveries and their duplicates (--warm-up, default
10), then counts the mix: N new actionable deliveries and their N duplicates (--deliveries,
default 50), through the keep-alive front as `cargo xtask bench` (--direct: straight to
moto, a connection per request). Prints instructions per invocation by component and the functions that cost
most (--top, default 25). Needs valgrind (apt-get install valgrind). The profiles are kept in
target/bench/callgrind.<binary>.out (callgrind_annotate reads them), the table in
target/bench/profile.txt. --reuse reads the profiles of the last run again (no build, no run).",
    run,
};

/// Components, in the order they are reported, and the crates whose code counts for each. An
/// instruction counts for the crate whose source it was compiled from (callgrind's line
/// attribution, which follows inlining: a hyper function inlined into our code still counts
/// for hyper), except that standard library code inlined into a crate's function counts for
/// that crate. Code without line tables (libc) counts for its object file.
pub const COMPONENTS: &[(&str, &[&str])] = &[
    (
        "our code (payload, core, aws adapters, lambda glue)",
        &[
            "reply_payload",
            "webhook_core",
            "webhook_aws",
            "webhook_lambda",
            "email_webhook",
        ],
    ),
    (
        "Lambda runtime client, lambda_http, event types",
        &[
            "lambda_runtime",
            "lambda_runtime_api_client",
            "lambda_http",
            "aws_lambda_events",
            "bench_hello_world",
        ],
    ),
    (
        "SDK orchestrator and interceptors (aws_smithy_runtime*, aws_runtime, aws_types, …)",
        &[
            "aws_smithy_runtime",
            "aws_smithy_runtime_api",
            "aws_runtime",
            "aws_types",
            "aws_smithy_async",
            "aws_smithy_http",
            "aws_smithy_observability",
            "aws_credential_types",
            "aws_config",
            "aws_smithy_types",
        ],
    ),
    (
        "SDK operations: request serialisers, response parsers, endpoint rules (aws_sdk_*)",
        &[
            "aws_sdk_dynamodb",
            "aws_sdk_sqs",
            "aws_smithy_json",
            "aws_smithy_query",
        ],
    ),
    (
        "SigV4 and SHA-256 (aws_sigv4, sha2, hmac; the validation hash's SHA-256 included)",
        &[
            "aws_sigv4",
            "sha2",
            "hmac",
            "digest",
            "block_buffer",
            "crypto_common",
            "generic_array",
            "cpufeatures",
        ],
    ),
    (
        "HTTP client (hyper, hyper_util, h2, http, rustls, smithy HTTP client)",
        &[
            "hyper",
            "hyper_util",
            "hyper_rustls",
            "h2",
            "http",
            "http_body",
            "http_body_util",
            "httparse",
            "rustls",
            "tokio_rustls",
            "aws_smithy_http_client",
            "tower",
            "tower_service",
            "want",
            "try_lock",
            "futures_util",
            "futures_core",
            "futures_channel",
            "pin_project_lite",
            "socket2",
            "ipnet",
        ],
    ),
    ("tokio (scheduler, timers, I/O driver)", &["tokio", "mio"]),
    (
        "JSON (serde_json, serde)",
        &["serde_json", "serde", "serde_core", "ryu", "itoa", "zmij"],
    ),
    (
        "logging and metrics (tracing, tracing_subscriber)",
        &[
            "tracing",
            "tracing_core",
            "tracing_subscriber",
            "tracing_serde",
            "sharded_slab",
            "thread_local",
            "nu_ansi_term",
        ],
    ),
    (
        "time, ids, encoding (chrono, time, uuid, base64, hex, fastrand, url)",
        &[
            "chrono",
            "time",
            "uuid",
            "base64",
            "base64_simd",
            "hex",
            "fastrand",
            "getrandom",
            "form_urlencoded",
            "url",
            "percent_encoding",
            "bytes",
            "smallvec",
            "query_map",
            "encoding_rs",
            "mime",
        ],
    ),
    (
        "Rust standard library (alloc, collections, fmt, hashing)",
        &["std", "hashbrown"],
    ),
    (
        "libc (malloc, memcpy, syscall wrappers) and the loader",
        &["libc", "ld"],
    ),
];

/// The component a crate's code counts for.
pub fn component(krate: &str) -> &'static str {
    COMPONENTS
        .iter()
        .find(|(_, crates)| crates.contains(&krate))
        .map_or("other", |(name, _)| name)
}

/// The crate a source file belongs to: `…/registry/src/<index>/<crate>-<version>/…`, the
/// standard library under `/rustc/<hash>/library/`, or this workspace's crates; for code
/// without line tables (`???`), the object it was loaded from.
pub fn crate_of(file: &str, object: &str) -> String {
    if file.starts_with("???") || file.is_empty() {
        let name = object.rsplit('/').next().unwrap_or(object);
        return if name.starts_with("libc.")
            || name.starts_with("libm.")
            || name.starts_with("libgcc")
        {
            "libc".into()
        } else if name.starts_with("ld-linux") {
            "ld".into()
        } else {
            format!("({name})")
        };
    }
    if let Some((_, rest)) = file.split_once("/registry/src/")
        && let Some(dir) = rest.split('/').nth(1)
    {
        return without_version(dir);
    }
    if file.contains("/rustc/") || file.contains("/library/") {
        return "std".into();
    }
    if let Some((_, rest)) = file.split_once("/rust/deps/") {
        return without_version(rest.split('/').next().unwrap_or(rest));
    }
    for (dir, name) in [
        ("shared/payload/", "reply_payload"),
        ("shared/core/", "webhook_core"),
        ("shared/aws/", "webhook_aws"),
        ("shared/lambda/", "webhook_lambda"),
        ("functions/email-webhook/", "email_webhook"),
        ("xtask/hello-world/", "bench_hello_world"),
    ] {
        if file.contains(dir) {
            return name.into();
        }
    }
    // glibc's own sources (`./malloc/malloc.c`, `./string/…`).
    if file.starts_with("./") || file.starts_with("../") || file.contains("sysdeps") {
        return "libc".into();
    }
    format!("({file})")
}

/// `aws-smithy-runtime-1.16.2` -> `aws_smithy_runtime`.
fn without_version(dir: &str) -> String {
    let name = match dir.rfind('-') {
        Some(i) if dir[i + 1..].starts_with(|c: char| c.is_ascii_digit()) => &dir[..i],
        _ => dir,
    };
    name.replace('-', "_")
}

/// A callgrind profile read back: its total and each crate's own instructions.
#[derive(Debug, Default)]
pub struct Profile {
    pub total: u64,
    pub by_crate: BTreeMap<String, u64>,
    /// Own instructions per function symbol (inlined code counts for the symbol it is in).
    pub by_function: BTreeMap<String, u64>,
}

/// Reads callgrind's output format (`positions: line`, one event, Ir): cost lines count for
/// the current source file (`fl=`, or `fi=`/`fe=` inside inlined code) and function (`fn=`);
/// the cost line after a `calls=` line is the call's inclusive cost and is skipped.
pub fn parse_callgrind(text: &str) -> Profile {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut objects: BTreeMap<String, String> = BTreeMap::new();
    let mut functions: BTreeMap<String, String> = BTreeMap::new();
    // `(id) name` defines id; `(id)` refers to it.
    fn name(table: &mut BTreeMap<String, String>, value: &str) -> String {
        let value = value.trim();
        match value.strip_prefix('(').and_then(|v| v.split_once(')')) {
            Some((id, rest)) => {
                let rest = rest.trim();
                if rest.is_empty() {
                    table.get(id).cloned().unwrap_or_default()
                } else {
                    table.insert(id.to_owned(), rest.to_owned());
                    rest.to_owned()
                }
            }
            None => value.to_owned(),
        }
    }
    let mut profile = Profile::default();
    let (mut object, mut file, mut inlined, mut function) =
        (String::new(), String::new(), None::<String>, String::new());
    let mut skip_next = false;
    for line in text.lines() {
        let Some(first) = line.chars().next() else {
            continue;
        };
        if first.is_ascii_digit() || first == '+' || first == '-' || first == '*' {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            let cost: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            // Standard library code inlined into a crate's function counts for that crate
            // (iterators, slices, integer operations are how that crate's code is written).
            let own = crate_of(&file, &object);
            let krate = match inlined.as_deref().map(|f| crate_of(f, &object)) {
                Some(krate) if krate != "std" || own == "std" => krate,
                _ => own,
            };
            *profile.by_crate.entry(krate).or_default() += cost;
            *profile.by_function.entry(function.clone()).or_default() += cost;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            if let Some(total) = line
                .strip_prefix("totals:")
                .or(line.strip_prefix("summary:"))
            {
                profile.total = total.trim().parse().unwrap_or(profile.total);
            }
            continue;
        };
        match key {
            "ob" => object = name(&mut objects, value),
            "cob" => {
                name(&mut objects, value);
            }
            "fl" => {
                file = name(&mut files, value);
                inlined = None;
            }
            "fi" | "fe" => inlined = Some(name(&mut files, value)),
            "cfi" | "cfl" => {
                name(&mut files, value);
            }
            "fn" => {
                function = name(&mut functions, value);
                inlined = None;
            }
            "cfn" => {
                name(&mut functions, value);
            }
            "calls" => skip_next = true,
            _ => {}
        }
    }
    profile
}

/// The components' totals, in [`COMPONENTS`] order then `other`.
pub fn by_component(profile: &Profile) -> Vec<(&'static str, u64)> {
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (krate, cost) in &profile.by_crate {
        *totals.entry(component(krate)).or_default() += cost;
    }
    COMPONENTS
        .iter()
        .map(|(name, _)| *name)
        .chain(["other"])
        .map(|name| (name, totals.get(name).copied().unwrap_or(0)))
        .collect()
}

fn run(ws: &Workspace, mut args: Args) -> Result {
    let deliveries = args.setting("--deliveries", "N", 50usize, 1..=2_000)?;
    let warm_up = args.setting("--warm-up", "WARM_UP", 10usize, 1..=1_000)?;
    let top = args.setting("--top", "TOP", 25usize, 0..=500)?;
    let reuse = args.flag("--reuse");
    let keep_alive = !args.flag("--direct");
    args.finish()?;
    let out = ws.target_dir().join("bench");
    let labels = [FUNCTION, "hello-world"];
    let file = |label: &str| out.join(format!("callgrind.{label}.out"));
    if !reuse {
        record(ws, &labels, &file, deliveries, warm_up, keep_alive)?;
    }
    let mut reports = Vec::new();
    for label in labels {
        let path = file(label);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        // The invocations counted: 2N, as the profile's command line records N.
        reports.push((label, 2 * deliveries, parse_callgrind(&text)));
    }

    say("[3/3] instructions per warm invocation");
    let summary = summary(&reports, deliveries, top);
    print!("\n{summary}");
    std::fs::write(out.join("profile.txt"), &summary)
        .map_err(|e| Error::io("cannot write target/bench/profile.txt", e))?;
    Ok(())
}

/// Builds both binaries and profiles each into `file(label)`.
fn record(
    ws: &Workspace,
    labels: &[&str; 2],
    file: &dyn Fn(&str) -> PathBuf,
    deliveries: usize,
    warm_up: usize,
    keep_alive: bool,
) -> Result {
    let valgrind = find_program("valgrind")?;
    let control = find_program("callgrind_control")?;
    say(format!(
        "[1/3] profiling builds of {FUNCTION} and the hello-world (release with symbols)"
    ));
    ws.run(ws.command("cargo").args([
        "build",
        "--profile",
        "profiling",
        "-p",
        FUNCTION,
        "-p",
        HELLO_PACKAGE,
    ]))?;
    let dir = ws.target_dir().join("profiling");
    let out = ws.target_dir().join("bench");
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::io(format!("cannot create {}", out.display()), e))?;
    let settings = Settings {
        cold_starts: 0,
        rounds: 1,
        deliveries,
        sample: "email_replied".to_owned(),
        function: FUNCTION.to_owned(),
        keep_alive,
    };
    say("[2/3] callgrind: warm-up, then the mix counted, against moto");
    let moto = Moto::start(
        ws,
        &ws.stack_dir(&format!("profile-{}", std::process::id())),
    )?;
    let aws = Aws::Own(moto);
    for (label, bin, checked) in [
        (labels[0], dir.join(FUNCTION), true),
        (labels[1], dir.join(HELLO_PACKAGE), false),
    ] {
        note(format!("profiling {label}"));
        let path = file(label);
        let _ = std::fs::remove_file(&path);
        let callgrind_args = vec![
            "--tool=callgrind".to_owned(),
            "--instr-atstart=no".to_owned(),
            format!("--callgrind-out-file={}", path.display()),
        ];
        let subject = Subject {
            label: label.to_owned(),
            bin,
            checked,
        };
        let invocations = harness::callgrind_mix(
            ws.root(),
            &aws,
            &subject,
            &settings,
            &out,
            (&valgrind, &callgrind_args, &control),
            warm_up,
        )?;
        debug_assert_eq!(invocations, 2 * deliveries);
    }
    Ok(())
}

/// The table: instructions per invocation by component for each binary, then the crates and
/// the function symbols of the first that cost most.
fn summary(reports: &[(&str, usize, Profile)], deliveries: usize, top: usize) -> String {
    let mut out = String::new();
    let per = |total: u64, n: usize| total as f64 / n.max(1) as f64;
    let _ = writeln!(
        out,
        "instructions per warm invocation (callgrind Ir, user space), the mix: {deliveries} new actionable deliveries + their {deliveries} duplicates"
    );
    let mut header = format!("  {:<84}", "component (by the crate the code comes from)");
    for (label, _, _) in reports {
        let _ = write!(header, " {label:>14}  share");
    }
    let _ = writeln!(out, "{header}");
    let components: Vec<Vec<(&str, u64)>> =
        reports.iter().map(|(_, _, p)| by_component(p)).collect();
    for (i, (name, _)) in components[0].iter().enumerate() {
        let mut line = format!("  {name:<84}");
        for ((_, n, profile), rows) in reports.iter().zip(&components) {
            let cost = rows[i].1;
            let _ = write!(
                line,
                " {:>14.0} {:>5.1}%",
                per(cost, *n),
                cost as f64 * 100.0 / profile.total.max(1) as f64
            );
        }
        let _ = writeln!(out, "{line}");
    }
    let mut line = format!("  {:<84}", "total");
    for (_, n, profile) in reports {
        let _ = write!(line, " {:>14.0} {:>5.1}%", per(profile.total, *n), 100.0);
    }
    let _ = writeln!(out, "{line}");
    if let [(ours, ours_n, first), (other, other_n, second), ..] = reports {
        let _ = writeln!(
            out,
            "  {ours} / {other}: {:.2}× (instructions; CPU time also counts the kernel's work for each request)",
            per(first.total, *ours_n) / per(second.total, *other_n).max(1.0)
        );
    }
    if top > 0
        && let Some((label, n, profile)) = reports.first()
    {
        let mut crates: Vec<(&String, &u64)> = profile.by_crate.iter().collect();
        crates.sort_by(|a, b| b.1.cmp(a.1));
        let _ = writeln!(
            out,
            "\n{label}: the {top} crates whose code costs most (instructions per invocation)"
        );
        for (krate, cost) in crates.into_iter().take(top) {
            let _ = writeln!(out, "  {:>10.0}  {krate}", per(*cost, *n));
        }
        let mut functions: Vec<(&String, &u64)> = profile.by_function.iter().collect();
        functions.sort_by(|a, b| b.1.cmp(a.1));
        let _ = writeln!(
            out,
            "\n{label}: the {top} function symbols with the most own instructions (inlined code included)"
        );
        for (function, cost) in functions.into_iter().take(top) {
            let name: String = function.chars().take(150).collect();
            let _ = writeln!(out, "  {:>10.0}  {name}", per(*cost, *n));
        }
    }
    out
}

/// A program on PATH, or an error saying how to get it.
fn find_program(name: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Error::check(format!(
                "{name} is not installed: apt-get install valgrind (it brings callgrind_control)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callgrind_costs_count_for_the_crate_of_their_source_file() {
        let text = "\
# callgrind format
version: 1
positions: line
events: Ir
summary: 1000

ob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(1) ???
fn=(1) malloc
0 100

ob=(2) /t/email-webhook
fl=(2) /work/x/shared/core/src/pipeline.rs
fn=(2) webhook_core::pipeline::Pipeline::handle
10 200
fi=(3) /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hyper-1.12.0/src/proto/h1/role.rs
+2 300
fe=(2)
+1 50
cfi=(4) /rustc/abc/library/core/src/ptr/mod.rs
cfn=(3) core::ptr::drop_in_place<x>
calls=1 5
12 9999
fl=(4)
fn=(3)
5 350
totals: 1000
";
        let profile = parse_callgrind(text);
        assert_eq!(profile.total, 1000);
        assert_eq!(profile.by_crate["libc"], 100);
        assert_eq!(profile.by_crate["webhook_core"], 250);
        assert_eq!(profile.by_crate["hyper"], 300);
        assert_eq!(profile.by_crate["std"], 350);
        // Standard library code inlined into our function counts for our crate.
        let text = "fl=(1) /w/shared/core/src/a.rs\nfn=(1) f\n1 10\nfi=(2) /rustc/x/library/core/src/iter.rs\n2 5\n";
        assert_eq!(parse_callgrind(text).by_crate["webhook_core"], 15);
        assert_eq!(
            profile.by_function["webhook_core::pipeline::Pipeline::handle"],
            550
        );
        let components = by_component(&profile);
        assert_eq!(components.iter().map(|(_, n)| n).sum::<u64>(), 1000);
        assert!(component("hyper").starts_with("HTTP client"));
        assert!(component("aws_sigv4").starts_with("SigV4"));
        assert!(component("sha2").starts_with("SigV4 and SHA-256"));
        assert_eq!(
            without_version("aws-smithy-runtime-api-1.20.0"),
            "aws_smithy_runtime_api"
        );
    }
}
