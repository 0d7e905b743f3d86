//! `reply-webhooks replay`: feeds the deliveries kept in the quarantine queue back through the
//! pipeline, once the cause that quarantined them is fixed.
//!
//! Each message goes through the pipeline of the function that received it, on DynamoDB and SQS,
//! exactly as a delivery would (`Pipeline::replay`: the same admission and commit, without the
//! token check it already passed). What is now accepted, or is a duplicate, is deleted from the
//! quarantine queue; what still cannot be processed stays there, untouched and not quarantined a
//! second time, visible again when the run ends. Each message is read once per run (hidden from
//! other readers meanwhile), and the claim in the idempotency table makes a replayed event's
//! message go out at most once however often it is replayed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use reply_payload::Category;
use webhook_aws::{QuarantineMessage, QuarantineQueue};
use webhook_core::config::vars;
use webhook_core::quarantine::Quarantined;
use webhook_core::{Config, Outcome};
use webhook_lambda::{AwsPipeline, aws_pipeline};

use crate::aws::Aws;
use crate::{Env, Exit};

/// How long a message read by a run stays hidden from other readers: longer than any run.
const HIDE_FOR: Duration = Duration::from_secs(15 * 60);
/// The time one replayed delivery may take (its claim is held that long if the run dies).
const DELIVERY_TIME: Duration = Duration::from_secs(30);

/// The stack outputs and parameters a replay reads, by the variable they become.
const STACK_OUTPUTS: [(&str, &str); 4] = [
    (vars::IDEMPOTENCY_TABLE_NAME, "IdempotencyTableName"),
    (vars::ACTIONABLE_QUEUE_URL, "ActionableQueueUrl"),
    (vars::QUARANTINE_QUEUE_URL, "QuarantineQueueUrl"),
    (vars::ACTIVITY_QUEUE_URL, "ActivityQueueUrl"),
];
const STACK_PARAMETERS: [(&str, &str); 2] = [
    (vars::ACTIONABLE_EVENTS, "ActionableEvents"),
    (vars::IDEMPOTENCY_TTL_SECONDS, "IdempotencyTtlSeconds"),
];

#[derive(clap::Args)]
pub struct Args {
    /// Replay into this deployed stack (its outputs name the table and the queues, its
    /// parameters the actionable types). Without it, the functions' variables are read from
    /// the environment (IDEMPOTENCY_TABLE_NAME, ACTIONABLE_QUEUE_URL, QUARANTINE_QUEUE_URL,
    /// ACTIVITY_QUEUE_URL, ACTIONABLE_EVENTS, IDEMPOTENCY_TTL_SECONDS), as for the local stack.
    #[arg(long, value_name = "NAME")]
    stack: Option<String>,
    /// Show what would be replayed and change nothing (the messages stay in the queue).
    #[arg(long)]
    dry_run: bool,
    /// Replay at most this many messages.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max: usize,
}

/// What happened to one quarantined message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Result {
    /// Dry run: it would be fed to this function.
    WouldReplay,
    /// Processed now (accepted or duplicate); deleted from the quarantine queue.
    Replayed(&'static str),
    /// Still not processable; left in the quarantine queue.
    StillFails(String),
    /// Not a quarantine message; left in the queue.
    Unreadable(String),
}

/// One row of the report.
struct Row {
    message_id: String,
    function: String,
    reason: String,
    event_id: String,
    result: Result,
}

pub fn run(args: Args, env: Env<'_>) -> Exit {
    match replay(&args, env) {
        Ok(rows) => report(&rows, args.dry_run),
        Err(message) => {
            eprintln!("reply-webhooks replay: {message}");
            Exit::Failed
        }
    }
}

fn replay(args: &Args, env: Env<'_>) -> std::result::Result<Vec<Row>, String> {
    let aws = Aws::load().map_err(|err| err.to_string())?;
    let config = match &args.stack {
        Some(stack) => {
            let stack = aws.describe_stack(stack).map_err(|err| err.to_string())?;
            let from = |pairs: &[(&str, &str)], values: &HashMap<String, String>, name: &str| {
                pairs
                    .iter()
                    .find(|(var, _)| *var == name)
                    .and_then(|(_, key)| values.get(*key).cloned())
            };
            let lookup = |name: &str| {
                from(&STACK_OUTPUTS, &stack.outputs, name)
                    .or_else(|| from(&STACK_PARAMETERS, &stack.parameters, name))
            };
            Config::for_replay(lookup)
        }
        None => Config::for_replay(env),
    }
    .map_err(|err| format!("{err}"))?;
    let queue_url = config.quarantine_queue_url.clone().ok_or_else(|| {
        format!(
            "{} is not set: which quarantine queue should be replayed?",
            vars::QUARANTINE_QUEUE_URL
        )
    })?;
    let queue = QuarantineQueue::new(aws_sdk_sqs::Client::new(aws.config()), queue_url);
    let pipelines: BTreeMap<&str, AwsPipeline> = Category::ALL
        .into_iter()
        .map(|category| {
            let pipeline = aws_pipeline(config.clone(), category, aws.config(), aws.config());
            (category.as_str(), pipeline)
        })
        .collect();

    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    while rows.len() < args.max {
        let batch = aws
            .block_on(queue.receive(HIDE_FOR))
            .map_err(|err| format!("cannot read the quarantine queue: {err}"))?;
        let fresh: Vec<QuarantineMessage> = batch
            .into_iter()
            .filter(|m| seen.insert(m.message_id.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for message in fresh.into_iter().take(args.max - rows.len()) {
            let row = replay_one(&aws, &queue, &pipelines, &message, args.dry_run)?;
            if !matches!(row.result, Result::Replayed(_)) {
                kept.push(message);
            }
            rows.push(row);
        }
    }
    // What stays in the queue is visible again at once, for the next run once more is fixed
    // (a dry run leaves the queue as it found it).
    for message in &kept {
        aws.block_on(queue.release(message))
            .map_err(|err| format!("cannot make a message visible again: {err}"))?;
    }
    Ok(rows)
}

fn replay_one(
    aws: &Aws,
    queue: &QuarantineQueue,
    pipelines: &BTreeMap<&str, AwsPipeline>,
    message: &QuarantineMessage,
    dry_run: bool,
) -> std::result::Result<Row, String> {
    let quarantined = match Quarantined::parse(&message.body) {
        Ok(quarantined) => quarantined,
        Err(err) => {
            return Ok(Row {
                message_id: message.message_id.clone(),
                function: "-".into(),
                reason: "-".into(),
                event_id: "-".into(),
                result: Result::Unreadable(err.to_string()),
            });
        }
    };
    let mut row = Row {
        message_id: message.message_id.clone(),
        function: quarantined.function.as_str().to_owned(),
        reason: quarantined.reason.clone(),
        event_id: quarantined.event_id.clone().unwrap_or_else(|| "-".into()),
        result: Result::WouldReplay,
    };
    if dry_run {
        return Ok(row);
    }
    let pipeline = &pipelines[quarantined.function.as_str()];
    let deadline = webhook_lambda::deadline(
        epoch_millis(SystemTime::now() + DELIVERY_TIME),
        SystemTime::now(),
    );
    let handled = aws.block_on(pipeline.replay(&quarantined.body, deadline));
    let outcome = &handled.report.outcome;
    if let Some(id) = &handled.report.event_id {
        row.event_id.clone_from(id);
    }
    row.result = match outcome {
        Outcome::Accepted { .. } | Outcome::Duplicate => {
            aws.block_on(queue.delete(message))
                .map_err(|err| format!("replayed, but cannot delete the message: {err}"))?;
            Result::Replayed(outcome.code())
        }
        other => Result::StillFails(format!(
            "{}: {}",
            other.code(),
            other.message(handled.report.event_id.as_deref())
        )),
    };
    Ok(row)
}

fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Prints one row per message and a summary; the exit status says whether anything is left.
fn report(rows: &[Row], dry_run: bool) -> Exit {
    if rows.is_empty() {
        println!("The quarantine queue is empty: nothing to replay.");
        return Exit::Success;
    }
    println!(
        "  {:<38} {:<9} {:<18} {:<38} result",
        "message", "function", "reason", "event id"
    );
    let mut left = 0;
    for row in rows {
        let result = match &row.result {
            Result::WouldReplay => "would replay".to_owned(),
            Result::Replayed(code) => format!("replayed: {code}; deleted from the quarantine"),
            Result::StillFails(why) => {
                left += 1;
                format!("still fails, kept: {why}")
            }
            Result::Unreadable(why) => {
                left += 1;
                format!("not a quarantine message, kept: {why}")
            }
        };
        println!(
            "  {:<38} {:<9} {:<18} {:<38} {result}",
            row.message_id, row.function, row.reason, row.event_id
        );
    }
    println!();
    if dry_run {
        let would = rows
            .iter()
            .filter(|row| row.result == Result::WouldReplay)
            .count();
        println!("Dry run: {would} message(s) would be replayed; nothing was changed.");
        return Exit::Success;
    }
    println!(
        "{} replayed, {left} kept in the quarantine queue.",
        rows.len() - left
    );
    if left == 0 {
        Exit::Success
    } else {
        Exit::Failed
    }
}
