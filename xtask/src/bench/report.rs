//! What the bench prints: each binary's figures, then one table of the function against the
//! hello-world and the targets (all medians), with the change against a baseline when one was
//! measured in the same run.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{Figures, Workload, percentile};

/// CPU per warm invocation may be at most this many times the hello-world's.
pub const CPU_RATIO_TARGET: f64 = 2.5;
/// Cold start may be at most this many times the hello-world's.
pub const COLD_START_RATIO_TARGET: f64 = 2.0;
/// Peak RSS, MiB.
pub const RSS_TARGET_MIB: f64 = 12.0;
/// Each arm64 zip, MiB.
pub const ZIP_TARGET_MIB: f64 = 3.0;
/// A change against the baseline within this is "no worse than before".
pub const BASELINE_TOLERANCE_PERCENT: f64 = 5.0;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One binary's figures, as lines.
pub fn details(figures: &Figures, deliveries: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}, {:.1} MB): {} cold starts, {} rounds",
        figures.label,
        figures.bin.display(),
        figures.bin_bytes as f64 / 1e6,
        figures.init.len(),
        figures.mix.len()
    );
    for (what, values) in [
        ("cold start: spawn -> first /next", &figures.init),
        ("first event: handed out -> answer", &figures.first),
        ("second event, same process", &figures.second),
    ] {
        let _ = writeln!(
            out,
            "  {what:<36} median {:>8.3} ms  p90 {:>8.3} ms  min {:>8.3} ms  max {:>8.3} ms",
            ms(percentile(values, 50)),
            ms(percentile(values, 90)),
            ms(percentile(values, 0)),
            ms(percentile(values, 100)),
        );
    }
    let rss = super::harness::median(figures.rss_after_two_kib.iter().copied()).unwrap_or(0);
    let _ = writeln!(
        out,
        "  {:<36} median {:>8.1} MiB",
        "peak RSS after two events",
        mib(rss)
    );
    let _ = writeln!(
        out,
        "  {:<52} {:>14} {:>11} {:>14} {:>24}",
        "workload (medians over the rounds)",
        "CPU/invocation",
        "peak RSS",
        "latency",
        "AWS requests/connections"
    );
    for workload in Workload::ALL {
        let windows = figures.windows(workload);
        let latency = super::harness::median(windows.iter().map(|w| w.latency_median));
        // Over all rounds: how many AWS requests, over how many new connections.
        let (requests, connections) = windows.iter().fold((0, 0), |(r, c), w| {
            (r + w.aws.requests, c + w.aws.connections)
        });
        let _ = writeln!(
            out,
            "  {:<52} {:>11.1} µs {:>7.1} MiB {:>11.3} ms {:>24}",
            workload.describe(deliveries),
            figures.cpu(workload).map_or(f64::NAN, us),
            figures.rss_kib(workload).map_or(f64::NAN, mib),
            latency.map_or(f64::NAN, ms),
            if requests == 0 && connections == 0 {
                "-".to_owned()
            } else {
                format!("{requests} / {connections}")
            },
        );
    }
    out
}

/// A row of the targets table.
struct Row {
    name: String,
    ours: String,
    hello: String,
    ratio: String,
    target: String,
    verdict: String,
    change: String,
}

/// The table of the function against the hello-world, the targets and the baseline.
pub fn targets(
    ours: &Figures,
    hello: Option<&Figures>,
    baseline: Option<&Figures>,
    deliveries: usize,
    zips: &[(String, Option<u64>, String)],
    requests_met: Option<bool>,
) -> String {
    let mut rows = Vec::new();
    let change = |now: Option<f64>, before: Option<f64>| match (now, before) {
        (Some(now), Some(before)) if before > 0.0 => {
            let percent = (now - before) / before * 100.0;
            let judged = if percent <= BASELINE_TOLERANCE_PERCENT {
                "within"
            } else {
                "over"
            };
            format!("{percent:+.1} % ({judged} {BASELINE_TOLERANCE_PERCENT} %)")
        }
        _ => String::new(),
    };
    let ratio_row = |name: String, now: Option<f64>, hello: Option<f64>, unit: &str, limit: f64| {
        let ratio = now.zip(hello).filter(|(_, h)| *h > 0.0).map(|(n, h)| n / h);
        Row {
            name,
            ours: now.map_or("n/a".into(), |v| format!("{v:.1} {unit}")),
            hello: hello.map_or("n/a".into(), |v| format!("{v:.1} {unit}")),
            ratio: ratio.map_or(String::new(), |r| format!("{r:.2}×")),
            target: format!("≤ {limit}× hello"),
            verdict: verdict(ratio.map(|r| r <= limit)),
            change: String::new(),
        }
    };
    for workload in Workload::ALL {
        let cpu = |f: &Figures| f.cpu(workload).map(us);
        let mut row = ratio_row(
            format!("CPU per warm invocation, {}", workload.describe(deliveries)),
            cpu(ours),
            hello.and_then(cpu),
            "µs",
            CPU_RATIO_TARGET,
        );
        row.change = change(cpu(ours), baseline.and_then(cpu));
        rows.push(row);
    }
    let cold = |f: &Figures| f.cold_start().map(ms);
    let mut row = ratio_row(
        "cold start (spawn -> ready for the first event)".into(),
        cold(ours),
        hello.and_then(cold),
        "ms",
        COLD_START_RATIO_TARGET,
    );
    row.change = change(cold(ours), baseline.and_then(cold));
    rows.push(row);
    for workload in Workload::ALL {
        let rss = |f: &Figures| f.rss_kib(workload).map(mib);
        let now = rss(ours);
        rows.push(Row {
            name: format!("peak RSS, {}", workload.describe(deliveries)),
            ours: now.map_or("n/a".into(), |v| format!("{v:.1} MiB")),
            hello: hello
                .and_then(rss)
                .map_or("n/a".into(), |v| format!("{v:.1} MiB")),
            ratio: String::new(),
            target: format!("≤ {RSS_TARGET_MIB} MiB"),
            verdict: verdict(now.map(|v| v <= RSS_TARGET_MIB)),
            change: change(now, baseline.and_then(rss)),
        });
    }
    for (function, bytes, arch) in zips {
        let size = bytes.map(|b| b as f64 / (1024.0 * 1024.0));
        rows.push(Row {
            name: format!("zip {function} ({arch})"),
            ours: size.map_or("none (make package)".into(), |v| format!("{v:.2} MiB")),
            hello: String::new(),
            ratio: String::new(),
            target: format!("≤ {ZIP_TARGET_MIB} MiB arm64"),
            verdict: match size {
                Some(_) if arch != "arm64" => "not measured (not arm64)".into(),
                other => verdict(other.map(|v| v <= ZIP_TARGET_MIB)),
            },
            change: String::new(),
        });
    }
    rows.push(Row {
        name: "AWS requests: new actionable 3, non-actionable 1, duplicate 1".into(),
        ours: "tests/request_counts.rs".into(),
        hello: String::new(),
        ratio: String::new(),
        target: "exact".into(),
        verdict: match requests_met {
            Some(true) => "met".into(),
            Some(false) => "FAILED".into(),
            None => "not measured".into(),
        },
        change: String::new(),
    });

    let mut out = String::new();
    let hello_label = hello.map_or("hello-world", |h| h.label.as_str());
    let header = format!(
        "{:<74} {:>14} {:>14} {:>7}  {:<16} {:<12}{}",
        "targets (medians)",
        ours.label,
        hello_label,
        "ratio",
        "target",
        "verdict",
        baseline.map_or(String::new(), |b| format!(" change vs {}", b.label))
    );
    let _ = writeln!(out, "{}", header.trim_end());
    for row in rows {
        let line = format!(
            "  {:<72} {:>14} {:>14} {:>7}  {:<16} {:<12}{}",
            row.name, row.ours, row.hello, row.ratio, row.target, row.verdict, row.change
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "met".into(),
        Some(false) => "MISSED".into(),
        None => "not measured".into(),
    }
}

/// The figures as JSON (target/bench/bench.json, or coldstart's --out).
pub fn to_json(figures: &Figures) -> Value {
    let summary = |values: &[Duration]| {
        json!({
            "median": ms(percentile(values, 50)),
            "p90": ms(percentile(values, 90)),
            "min": ms(percentile(values, 0)),
            "max": ms(percentile(values, 100)),
        })
    };
    let mut workloads = serde_json::Map::new();
    for workload in Workload::ALL {
        let rounds: Vec<Value> = figures
            .windows(workload)
            .iter()
            .map(|w| {
                json!({
                    "cpu_per_invocation_us": us(w.cpu_per_invocation),
                    "peak_rss_kib": w.peak_rss_kib,
                    "latency_median_ms": ms(w.latency_median),
                    "aws_requests": w.aws.requests,
                    "aws_connections_opened": w.aws.connections,
                })
            })
            .collect();
        workloads.insert(
            workload.key().into(),
            json!({
                "cpu_per_invocation_us_median": figures.cpu(workload).map(us),
                "peak_rss_kib_median": figures.rss_kib(workload),
                "rounds": rounds,
            }),
        );
    }
    json!({
        "binary": figures.bin.display().to_string(),
        "binary_bytes": figures.bin_bytes,
        "cold_start_ms": summary(&figures.init),
        "first_event_ms": summary(&figures.first),
        "second_event_ms": summary(&figures.second),
        "peak_rss_after_two_events_kib": figures.rss_after_two_kib,
        "workloads": workloads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::harness::Window;

    fn figures(label: &str, cpu_us: u64, init_ms: u64, rss_kib: u64) -> Figures {
        let window = Window {
            cpu_per_invocation: Duration::from_micros(cpu_us),
            peak_rss_kib: rss_kib,
            latency_median: Duration::from_millis(1),
            aws: Default::default(),
        };
        Figures {
            label: label.into(),
            init: vec![Duration::from_millis(init_ms)],
            mix: vec![window],
            new_actionable: vec![window],
            duplicates: vec![window],
            ..Figures::default()
        }
    }

    #[test]
    fn ratios_are_judged_against_the_targets_and_changes_against_the_baseline() {
        let ours = figures("email-webhook", 300, 10, 11 * 1024);
        let hello = figures("hello-world", 100, 4, 2 * 1024);
        let before = figures("baseline HEAD~1", 280, 10, 11 * 1024);
        let table = targets(&ours, Some(&hello), Some(&before), 300, &[], Some(true));
        let line = |start: &str| {
            table
                .lines()
                .find(|l| l.trim_start().starts_with(start))
                .unwrap_or_else(|| panic!("no `{start}` row in\n{table}"))
                .to_owned()
        };
        let cpu = line("CPU per warm invocation, mix");
        assert!(cpu.contains("3.00×") && cpu.contains("MISSED"), "{cpu}");
        assert!(cpu.contains("+7.1 % (over 5 %)"), "{cpu}");
        let cold = line("cold start");
        assert!(cold.contains("2.50×") && cold.contains("MISSED"), "{cold}");
        assert!(cold.contains("+0.0 % (within 5 %)"), "{cold}");
        let rss = line("peak RSS, mix");
        assert!(rss.contains("11.0 MiB") && rss.contains("met"), "{rss}");
    }

    #[test]
    fn zips_that_are_not_arm64_are_not_judged() {
        let ours = figures("email-webhook", 1, 1, 1);
        let zips = [
            (
                "email-webhook".to_owned(),
                Some(2 * 1024 * 1024),
                "arm64".to_owned(),
            ),
            (
                "linkedin-webhook".to_owned(),
                Some(2 * 1024 * 1024),
                "x86_64".to_owned(),
            ),
            ("account-webhook".to_owned(), None, "?".to_owned()),
        ];
        let table = targets(&ours, None, None, 10, &zips, None);
        assert!(table.contains("zip email-webhook (arm64)"));
        let row = |name: &str| table.lines().find(|l| l.contains(name)).unwrap().to_owned();
        assert!(row("email-webhook (arm64)").contains("met"));
        assert!(row("linkedin-webhook").contains("not measured (not arm64)"));
        assert!(row("account-webhook").contains("not measured"));
    }
}
