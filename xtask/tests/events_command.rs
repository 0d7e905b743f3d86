//! The `events` command as a user runs it (what the generated files hold is checked where they
//! are read: shared/lambda/tests/sample_events.rs).

use std::process::Command;

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn events_check_passes_on_the_checked_in_files() {
    let out = xtask(&["events", "--check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
}

#[test]
fn unknown_commands_and_arguments_fail_with_usage() {
    let out = xtask(&["frobnicate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown command `frobnicate`") && stderr.contains("usage:"));

    let out = xtask(&["events", "--force"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: cargo xtask events [--check]"));

    assert!(!xtask(&[]).status.success());
    assert!(xtask(&["help"]).status.success());
}
