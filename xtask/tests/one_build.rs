//! `make test` builds the workspace twice over: `cargo xtask` (no dev-dependencies) and then
//! `cargo test --workspace --all-targets` (with them). When a dev-dependency turns on a feature
//! of a crate the first build also compiles, that crate and everything above it (the AWS SDK)
//! is compiled again with the other features. xtask/Cargo.toml turns those features on for
//! both builds; this test names any crate whose features still differ, so a new
//! dev-dependency cannot quietly double the build time again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Each registry package's features as `cargo tree` resolves them for this machine with
/// `edges` (`"normal,build"`: the build `cargo xtask` makes; `"all"`: the test build's). The
/// workspace's own crates are left out: a test-only feature of ours recompiles only that crate.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--workspace", "--prefix", "none"])
        .args(["-e", edges, "-f", "{p}|{f}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, features)) = line.split_once('|')
            && !package.contains("(/")
        {
            packages
                .entry(package.trim().to_owned())
                .or_default()
                .insert(features.trim().to_owned());
        }
    }
    packages
}

#[test]
fn dev_dependencies_turn_on_no_feature_the_chores_build_lacks() {
    let chores = features("normal,build");
    let tests = features("all");
    assert!(
        chores.len() > 100,
        "cargo tree listed {} packages",
        chores.len()
    );
    let differ: Vec<String> = chores
        .iter()
        .filter_map(|(package, sets)| {
            let with_dev = tests.get(package)?;
            (sets != with_dev).then(|| format!("{package}: {sets:?} vs {with_dev:?}"))
        })
        .collect();
    assert!(
        differ.is_empty(),
        "turn these features on in xtask/Cargo.toml (build sharing), or `make test` compiles \
         what depends on them twice:\n  {}",
        differ.join("\n  ")
    );
}
