//! The project's chores, one `cargo xtask <command>` each (`make <target>` runs the same).
//! The machinery they share (tools, processes, moto, the local stack, provisioning) lives in
//! the `devkit` crate; this binary only reads arguments, runs steps and reports.

mod args;
mod bench;
mod demo;
mod error;
mod events;
mod fuzz;
mod load;
mod package;
mod provision;
mod replay;
mod sam;
mod stack;
mod test;

use std::process::ExitCode;

use devkit::Workspace;

use crate::args::Args;
pub use crate::error::{Error, Result};

/// A chore: its name, one line for the command list, its usage text and its entry point.
struct Chore {
    name: &'static str,
    summary: &'static str,
    usage: &'static str,
    run: fn(&Workspace, Args) -> Result,
}

const CHORES: &[Chore] = &[
    test::CHORE,
    demo::CHORE,
    stack::LOCAL,
    stack::STOP,
    stack::STATUS,
    stack::INVOKE,
    events::CHORE,
    provision::CHORE,
    replay::CHORE,
    load::CHORE,
    bench::BENCH,
    bench::COLDSTART,
    bench::PROFILE,
    fuzz::CHORE,
    sam::TEMPLATE,
    sam::SAM_BUILD,
    package::CHORE,
    sam::DEPLOY,
    sam::DELETE,
];

fn usage() -> String {
    let mut text = String::from(
        "usage: cargo xtask <command> [options]   (cargo xtask <command> --help)\n\ncommands:\n",
    );
    for chore in CHORES {
        text.push_str(&format!("  {:<11} {}\n", chore.name, chore.summary));
    }
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((name, rest)) = args.split_first() else {
        eprint!("{}", usage());
        return ExitCode::FAILURE;
    };
    if matches!(name.as_str(), "help" | "-h" | "--help") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let Some(chore) = CHORES.iter().find(|c| c.name == name) else {
        eprint!("xtask: unknown command `{name}`\n\n{}", usage());
        return ExitCode::FAILURE;
    };
    let args = Args::new(rest, chore.usage);
    if args.wants_help() {
        println!("{}", chore.usage);
        return ExitCode::SUCCESS;
    }
    match (chore.run)(&Workspace::locate(), args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {name}: {err}");
            ExitCode::FAILURE
        }
    }
}
