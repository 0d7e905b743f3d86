//! `replay`: `reply-webhooks replay` against the running local stack (its table and queues, on
//! its moto), or against a deployed stack with `--stack NAME`.

use devkit::stack::operator_command;
use devkit::{Stack, Workspace};

use crate::Chore;
use crate::args::Args;

pub const CHORE: Chore = Chore {
    name: "replay",
    summary: "feed the quarantined deliveries back through the pipeline (local stack or --stack)",
    usage: "\
usage: cargo xtask replay [--stack NAME] [--dry-run] [--max N]     (make replay ARGS='...')

Runs `reply-webhooks replay`: reads the quarantine queue and feeds each delivery back through
the pipeline of the function that received it; what is now processed is deleted from the queue,
the rest stays. Without --stack it replays the running local stack (make local); with it, the
deployed stack of that name (AWS credentials and region from the environment). --dry-run lists
what would be replayed and changes nothing.",
    run,
};

fn run(ws: &Workspace, args: Args) -> crate::Result {
    let passed = args.remaining();
    let mut command = operator_command(ws, "reply-webhooks");
    command.args(["--", "replay"]).args(&passed);
    if !passed
        .iter()
        .any(|arg| arg == "--stack" || arg.starts_with("--stack="))
    {
        let dir = ws.stack_dir("local");
        let stack = Stack::attach(&dir).ok_or(devkit::Error::StackNotRunning {
            then: " (or name a deployed stack with --stack NAME)".into(),
        })?;
        command.envs(stack.env());
    }
    Ok(ws.run(&mut command)?)
}

/// The demo's quarantine-and-replay step, on the demo's stack: a delivery whose event id was
/// already recorded with another body is quarantined (202); the operator decides the new body
/// is the right one and removes the stale record; `reply-webhooks replay` then sends it, once.
pub fn demo(ws: &Workspace, stack: &Stack, token: &str) -> crate::Result {
    use devkit::console::say;
    use reply_payload::Category;
    use webhook_core::record::record_key;

    let id = devkit::ids::fresh_id();
    let first =
        format!(r#"{{"event":{{"id":"{id}","type":"email_bounced"}},"bounce_type":"Soft"}}"#);
    let second =
        format!(r#"{{"event":{{"id":"{id}","type":"email_bounced"}},"bounce_type":"Hard"}}"#);
    let http = devkit::http::Loopback::new(std::time::Duration::from_secs(60));
    let url = stack.function_url(Category::Email, token);
    say(format!(
        "quarantine and replay: event {id} delivered twice with different bodies"
    ));
    for (what, body) in [("first body", &first), ("second body", &second)] {
        let reply = http.post_json(&url, body.as_bytes())?;
        println!("  {what}: HTTP {} {}", reply.status, reply.body);
    }
    let replay = |extra: &[&str]| -> crate::Result {
        let mut command = operator_command(ws, "reply-webhooks");
        command.args(["--", "replay"]).args(extra).envs(stack.env());
        let status = ws.status(&mut command)?;
        // 1: something stays quarantined (the demo's malformed body does): expected here.
        match status.code() {
            Some(0 | 1) => Ok(()),
            _ => Err(crate::Error::check(format!(
                "reply-webhooks replay failed ({status})"
            ))),
        }
    };
    say("reply-webhooks replay --dry-run: what the quarantine queue holds");
    replay(&["--dry-run"])?;
    say("the operator keeps the second body: the first one's record is removed");
    let runtime = devkit::local_aws::runtime()?;
    let table = stack
        .env()
        .into_iter()
        .find(|(name, _)| name == webhook_core::config::vars::IDEMPOTENCY_TABLE_NAME)
        .map(|(_, table)| table)
        .ok_or_else(|| crate::Error::check("the stack's env file has no IDEMPOTENCY_TABLE_NAME"))?;
    runtime.block_on(async {
        let (dynamodb, _) = stack.moto().clients().await;
        dynamodb
            .delete_item()
            .table_name(&table)
            .key(
                webhook_aws::dynamodb::PARTITION_KEY,
                aws_sdk_dynamodb::types::AttributeValue::S(record_key(&id)),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|err| format!("cannot remove the record: {err}"))
    })?;
    say("reply-webhooks replay: the second body goes out once; what cannot be fixed stays");
    replay(&[])
}
