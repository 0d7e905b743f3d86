//! `package`: the three functions as Lambda zips (`cargo lambda build`), with their sizes; and
//! the architecture choice `sam-build` and `deploy` share.

use std::path::PathBuf;
use std::time::Instant;

use devkit::console::say;
use devkit::{ToolGroup, Workspace};
use reply_payload::Category;
use webhook_core::Routing;

use crate::args::Args;
use crate::{Chore, Error, Result};

pub const CHORE: Chore = Chore {
    name: "package",
    summary: "the three functions as arm64 Lambda zips (ARCH=x86_64 for x86_64), with sizes",
    usage: "\
usage: cargo xtask package [--arch arm64|x86_64]      (default: $ARCH, else arm64)

Builds target/lambda/<function>/bootstrap.zip for the three functions with
`cargo lambda build --release --output-format zip` and prints their sizes. arm64 needs the
aarch64-unknown-linux-gnu standard library, which comes through rustup (not a package
registry): it is added when missing, and the command stops with an explanation when rustup
cannot reach its server.",
    run,
};

const AARCH64_TARGET: &str = "aarch64-unknown-linux-gnu";

/// A Lambda architecture, as the template's `Architecture` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Arm64,
    X86_64,
}

impl Arch {
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// `--arch`, else `ARCH`; `None` when neither is given.
    pub fn requested(args: &mut Args) -> Result<Option<Arch>> {
        let raw = match args.value("--arch")? {
            Some(raw) => raw,
            None => match std::env::var("ARCH").ok().filter(|v| !v.is_empty()) {
                Some(raw) => raw,
                None => return Ok(None),
            },
        };
        match raw.as_str() {
            "arm64" => Ok(Some(Arch::Arm64)),
            "x86_64" => Ok(Some(Arch::X86_64)),
            _ => Err(args.error(format!(
                "the architecture must be arm64 or x86_64, got `{raw}`"
            ))),
        }
    }
}

/// Whether rustup has the aarch64 standard library installed.
pub fn aarch64_std_installed(ws: &Workspace) -> bool {
    ws.command("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|line| line.trim() == AARCH64_TARGET)
        })
}

/// The aarch64 standard library: present, or added through rustup, or a clear stop.
pub fn ensure_aarch64_std(ws: &Workspace) -> Result {
    if aarch64_std_installed(ws) {
        return Ok(());
    }
    say(format!(
        "the {AARCH64_TARGET} standard library is missing; adding it with rustup"
    ));
    let added = ws
        .command("rustup")
        .args(["target", "add", AARCH64_TARGET])
        .status()
        .is_ok_and(|status| status.success());
    if added {
        return Ok(());
    }
    Err(Error::check(format!(
        "cannot build arm64: 'rustup target add {AARCH64_TARGET}' failed (see above).
       The aarch64 standard library is distributed by rustup from static.rust-lang.org, not by a
       package registry. Either run that command on a machine that can reach it, or build for
       x86_64 instead (ARCH=x86_64) and deploy with the template parameter Architecture=x86_64."
    )))
}

fn run(ws: &Workspace, mut args: Args) -> Result {
    let arch = Arch::requested(&mut args)?.unwrap_or(Arch::Arm64);
    args.finish()?;
    build(ws, arch)
}

/// Builds the zips for `arch` and prints their sizes.
pub fn build(ws: &Workspace, arch: Arch) -> Result {
    ws.ensure_tools(&[ToolGroup::Lambda])?;
    if arch == Arch::Arm64 {
        ensure_aarch64_std(ws)?;
    }
    let flag = match arch {
        Arch::Arm64 => "--arm64",
        Arch::X86_64 => "--x86-64",
    };
    say(format!(
        "cargo lambda build --release {flag} --output-format zip (the three functions): a release build, minutes"
    ));
    let started = Instant::now();
    let mut build = ws.command("cargo");
    build.args([
        "lambda",
        "build",
        "--release",
        flag,
        "--output-format",
        "zip",
    ]);
    for category in Category::ALL {
        build.args(["--bin", category.binary()]);
    }
    ws.run(&mut build)?;
    let elapsed = started.elapsed().as_secs();
    say(format!(
        "Lambda zips ({}, built in {}m{}s):",
        arch.name(),
        elapsed / 60,
        elapsed % 60
    ));
    for zip in zips(ws) {
        let bytes = zip
            .bytes
            .ok_or_else(|| Error::check(format!("{} was not produced", ws.rel(&zip.path))))?;
        println!(
            "  {:<46} {bytes:>9} bytes  ({})",
            ws.rel(&zip.path),
            mebibytes(bytes)
        );
    }
    Ok(())
}

/// One function's zip as `package` leaves it.
#[derive(Debug)]
pub struct Zip {
    pub function: &'static str,
    pub path: PathBuf,
    /// `None` when the zip does not exist.
    pub bytes: Option<u64>,
}

impl Zip {
    /// The architecture of the `bootstrap` inside (from its ELF header; `unzip` reads it).
    pub fn arch(&self) -> &'static str {
        let header = std::process::Command::new("unzip")
            .arg("-p")
            .arg(&self.path)
            .arg("bootstrap")
            .output()
            .map(|out| out.stdout)
            .unwrap_or_default();
        elf_arch(&header)
    }
}

/// The three functions' zips under `target/lambda/`.
pub fn zips(ws: &Workspace) -> Vec<Zip> {
    Category::ALL
        .iter()
        .map(|category| {
            let path = ws
                .target_dir()
                .join("lambda")
                .join(category.binary())
                .join("bootstrap.zip");
            let bytes = std::fs::metadata(&path).ok().map(|m| m.len());
            Zip {
                function: category.binary(),
                path,
                bytes,
            }
        })
        .collect()
}

/// `arm64`, `x86_64` or `?` from an ELF header's machine field (bytes 18-19, little endian).
pub fn elf_arch(header: &[u8]) -> &'static str {
    match header.get(..20) {
        Some(h) if h.starts_with(b"\x7fELF") => match (h[18], h[19]) {
            (0xb7, 0x00) => "arm64",
            (0x3e, 0x00) => "x86_64",
            _ => "?",
        },
        _ => "?",
    }
}

/// `3.75 MiB`.
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_machines_name_the_architecture() {
        let mut header = b"\x7fELF".to_vec();
        header.resize(20, 0);
        header[18] = 0xb7;
        assert_eq!(elf_arch(&header), "arm64");
        header[18] = 0x3e;
        assert_eq!(elf_arch(&header), "x86_64");
        assert_eq!(elf_arch(b"PK\x03\x04"), "?");
    }

    #[test]
    fn sizes_read_in_mebibytes() {
        assert_eq!(mebibytes(3 * 1024 * 1024 + 512 * 1024), "3.50 MiB");
    }
}
