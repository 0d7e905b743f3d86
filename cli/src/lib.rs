//! `reply-webhooks`, the operator command. Each subcommand is a module with `Args` (its
//! options, for clap) and `run`; [`Command`] lists them, so adding one is a module and one
//! variant.
//!
//! The command reads its environment through a lookup function rather than the process
//! environment, so the demo can run it in-process against a fake Reply.

mod aws;
#[cfg(feature = "fake")]
pub mod demo;
pub mod replay;
mod stack;
pub mod subscribe;
mod test_deliveries;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use stack::{TABLE_OUTPUT, url_output};

/// How the command ends, for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: Reply matches the plan.
    Success = 0,
    /// Something failed (Reply, AWS, a call of the plan); the message says what.
    Failed = 1,
    /// The command line or the environment is incomplete or wrong; nothing was sent.
    Usage = 2,
    /// `--dry-run`: Reply differs from the plan; the listed changes are pending.
    Pending = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// The environment as the command sees it.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Parser)]
#[command(
    name = "reply-webhooks",
    version,
    about = "Operate a reply-webhooks deployment.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make Reply's webhook subscriptions match this deployment: create what is missing,
    /// update what differs, re-enable what is disabled, delete our stale ones (--prune).
    Subscribe(subscribe::Args),
    /// Feed the deliveries kept in the quarantine queue back through the pipeline once their
    /// cause is fixed: what is now processed is deleted from the queue, the rest stays.
    Replay(replay::Args),
}

/// Parses `args` (the program name first) and runs the subcommand, printing to stdout and
/// stderr.
pub fn main(args: impl IntoIterator<Item = OsString>, env: Env<'_>) -> Exit {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let exit = if err.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            let text = hide_token_values(&err.render().to_string(), &args);
            if err.use_stderr() {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
            return exit;
        }
    };
    init_logging();
    match cli.command {
        Command::Subscribe(args) => subscribe::run(args, env),
        Command::Replay(args) => replay::run(args, env),
    }
}

/// clap may echo a value it could not place; the token's value must not reach the terminal.
fn hide_token_values(text: &str, args: &[OsString]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let tokens = args.iter().enumerate().filter_map(|(i, arg)| {
        arg.strip_prefix("--token=").map(str::to_owned).or_else(|| {
            (arg == "--token")
                .then(|| args.get(i + 1).cloned())
                .flatten()
        })
    });
    let tokens: Vec<String> = tokens.filter(|t| !t.is_empty()).collect();
    let secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    reply_api::redact::redact_text(text, &secrets)
}

/// Warnings (Reply rate-limiting, a retry) on stderr, without timestamps: a terminal tool.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_hidden_from_argument_errors() {
        let args: Vec<OsString> = [
            "reply-webhooks",
            "subscribe",
            "--token",
            "secret-token-value-1",
        ]
        .map(OsString::from)
        .to_vec();
        assert_eq!(
            hide_token_values("unexpected 'secret-token-value-1'", &args),
            "unexpected '***'"
        );
        let args = [OsString::from("--token=secret-token-value-2")];
        assert_eq!(
            hide_token_values("x secret-token-value-2 y", &args),
            "x *** y"
        );
    }
}
