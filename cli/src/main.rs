//! `reply-webhooks`: the operator command (see the library for the subcommands).

use std::process::ExitCode;

fn main() -> ExitCode {
    reply_webhooks::main(std::env::args_os(), &|name| std::env::var(name).ok()).into()
}
