//! `xtask provision`: creates the local stack's table and queues on the emulator named by
//! `AWS_ENDPOINT_URL` (moto's server), with the same AWS SDK and key schema as the functions,
//! and prints the environment the functions need, one `NAME=value` per line on stdout.

use std::fmt::Write as _;
use std::path::Path;

use webhook_aws::provision::{self, StackNames};

/// The token the local stack accepts (documented in docs/local.md; never a real secret).
pub const LOCAL_TOKEN: &str = "reply-local-test-token-0001";
/// The region the local stack uses when `AWS_REGION` is unset.
pub const LOCAL_REGION: &str = "us-east-1";

const USAGE: &str = "\
usage: cargo run -p xtask -- provision [--activity] [--table NAME] [--queue NAME]
                                      [--activity-queue NAME] [--token TOKEN]

Creates the idempotency table (key `id` S, on-demand, TTL on `expiration`), the actionable
queue with its dead-letter queue, and with --activity the activity queue, on the emulator at
AWS_ENDPOINT_URL (required: this command never talks to real AWS; dummy credentials are used).
Idempotent. Prints the functions' environment (NAME=value lines) on stdout.";

pub fn run(_root: &Path, args: &[String]) -> crate::Result {
    let mut names = StackNames::local();
    let mut token = LOCAL_TOKEN.to_owned();
    let mut with_activity = false;
    let mut activity_name = provision::LOCAL_ACTIVITY_QUEUE.to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| crate::option_value(&mut args, flag, USAGE);
        match arg.as_str() {
            "--activity" => with_activity = true,
            "--table" => names.table = value("--table")?,
            "--queue" => names.actionable_queue = value("--queue")?,
            "--activity-queue" => {
                activity_name = value("--activity-queue")?;
                with_activity = true;
            }
            "--token" => token = value("--token")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
    }
    if with_activity {
        names.activity_queue = Some(activity_name);
    }
    if token.chars().count() < 16 {
        return Err("--token must be at least 16 characters (WEBHOOK_TOKENS rule)".into());
    }

    let local = LocalAws::from_env()?;
    let runtime = runtime()?;
    let stack = runtime.block_on(async {
        let (dynamodb, sqs) = local.clients().await;
        provision::provision(&dynamodb, &sqs, &names).await
    })?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# reply-webhooks local stack, written by `cargo run -p xtask -- provision`"
    );
    let _ = writeln!(
        out,
        "# dead-letter queue: {} (maxReceiveCount {})",
        stack.dead_letter.url,
        provision::MAX_RECEIVE_COUNT
    );
    for (name, value) in stack.env() {
        let _ = writeln!(out, "{name}={value}");
    }
    let _ = writeln!(out, "WEBHOOK_TOKENS={token}");
    for (name, value) in local.env() {
        let _ = writeln!(out, "{name}={value}");
    }
    print!("{out}");
    eprintln!(
        "provisioned table `{}`, queues `{}` (+ `{}`){} on {}",
        stack.table,
        names.actionable_queue,
        provision::dead_letter_name(&names.actionable_queue),
        names
            .activity_queue
            .as_deref()
            .map(|q| format!(", `{q}`"))
            .unwrap_or_default(),
        local.endpoint
    );
    Ok(())
}

/// The emulator the local stack talks to: `AWS_ENDPOINT_URL` and a region, dummy credentials.
pub struct LocalAws {
    pub endpoint: String,
    pub region: String,
}

impl LocalAws {
    /// Reads `AWS_ENDPOINT_URL` (required) and `AWS_REGION` (default us-east-1).
    pub fn from_env() -> crate::Result<LocalAws> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or(
                "AWS_ENDPOINT_URL is not set. This command only talks to a local emulator: start \
                 one with `make local` (or scripts/moto.sh run -- <command>) and set \
                 AWS_ENDPOINT_URL=http://127.0.0.1:<moto port>",
            )?;
        let region = std::env::var("AWS_REGION")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| LOCAL_REGION.to_owned());
        Ok(LocalAws { endpoint, region })
    }

    /// DynamoDB and SQS clients for the emulator (dummy credentials, never the user's).
    pub async fn clients(&self) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
        let credentials =
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "xtask-local");
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .load()
            .await;
        (
            aws_sdk_dynamodb::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
        )
    }

    /// The AWS variables the functions need to reach the same emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ]
    }
}

/// A single-threaded Tokio runtime for the SDK calls.
pub fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the Tokio runtime: {e}").into())
}
