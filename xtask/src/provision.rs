//! `provision`: creates the local table and queues on the emulator at `AWS_ENDPOINT_URL`
//! and prints the functions' environment, one `NAME=value` per line on stdout.

use devkit::provision::{self, StackNames};
use devkit::{LOCAL_TOKEN, LocalAws, Workspace, local_aws};
use webhook_core::auth::TokenSet;
use webhook_core::config::vars;

use crate::args::Args;
use crate::{Chore, Result};

pub const CHORE: Chore = Chore {
    name: "provision",
    summary: "create the local table and queues on AWS_ENDPOINT_URL, print the functions' env",
    usage: "\
usage: cargo xtask provision [--activity] [--table NAME] [--queue NAME]
                             [--activity-queue NAME] [--token TOKEN]

Creates the idempotency table, the actionable queue with its dead-letter queue, and with
--activity the activity queue (with its own), as template.yaml defines them, on the emulator at
AWS_ENDPOINT_URL (required: this never talks to AWS; dummy credentials). Idempotent. Prints
the functions' environment (NAME=value lines) on stdout. `make local` does this itself.",
    run,
};

fn run(_ws: &Workspace, mut args: Args) -> Result {
    let mut names = StackNames::local();
    if let Some(table) = args.value("--table")? {
        names.table = table;
    }
    if let Some(queue) = args.value("--queue")? {
        names.actionable_queue = queue;
    }
    let activity = args.value("--activity-queue")?;
    if args.flag("--activity") || activity.is_some() {
        names.activity_queue =
            Some(activity.unwrap_or_else(|| provision::LOCAL_ACTIVITY_QUEUE.to_owned()));
    }
    let token = args
        .value("--token")?
        .unwrap_or_else(|| LOCAL_TOKEN.to_owned());
    if let Err(err) = TokenSet::parse(&token) {
        return Err(args.error(format!(
            "--token is not a token WEBHOOK_TOKENS accepts: {err}"
        )));
    }
    args.finish()?;

    let local = LocalAws::from_env()?;
    let aws = local.clone();
    let stack = local_aws::runtime()?.block_on(async move {
        let (dynamodb, sqs) = aws.clients().await;
        provision::provision(&dynamodb, &sqs, &names).await
    })?;

    println!("# reply-webhooks local stack, written by `cargo xtask provision`");
    println!("# dead-letter queue: {}", stack.dead_letter.url);
    for (name, value) in stack.env() {
        println!("{name}={value}");
    }
    println!("{}={token}", vars::WEBHOOK_TOKENS);
    for (name, value) in local.env() {
        println!("{name}={value}");
    }
    eprintln!(
        "provisioned table `{}`, queues `{}` (+ dead-letter){} on {}",
        stack.table,
        stack.actionable.url,
        stack
            .activity
            .as_ref()
            .map(|q| format!(", `{}`", q.url))
            .unwrap_or_default(),
        local.endpoint
    );
    Ok(())
}
