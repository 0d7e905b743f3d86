//! `reply-webhooks replay` on moto (started by `make test`, which sets AWS_ENDPOINT_URL): the
//! real binary reads the quarantine queue that the real pipeline filled, feeds back what can now
//! be processed, keeps the rest, and a dry run changes nothing.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use devkit::provision::{Provisioned, StackNames, provision};
use reply_payload::Category;
use webhook_core::config::vars;
use webhook_core::{InboundRequest, RequestBody, TokenParam};

const TOKEN: &str = "replay-test-token-0001";

struct Setup {
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
    stack: Provisioned,
}

impl Setup {
    fn new() -> Option<Setup> {
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "AWS_ENDPOINT_URL is not set under CI: run the tests through `make test`"
            );
            eprintln!("skipped: AWS_ENDPOINT_URL is not set (run `make test`)");
            return None;
        }
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sdk = runtime.block_on(aws_config::defaults(BehaviorVersion::latest()).load());
        let names = StackNames::prefixed(&format!("replay-{}", std::process::id()), false);
        let stack = runtime
            .block_on(provision(
                &aws_sdk_dynamodb::Client::new(&sdk),
                &aws_sdk_sqs::Client::new(&sdk),
                &names,
            ))
            .unwrap();
        Some(Setup {
            runtime,
            sdk,
            stack,
        })
    }

    fn env(&self) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = self
            .stack
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.insert(vars::WEBHOOK_TOKENS.into(), TOKEN.into());
        env
    }

    /// Delivers `body` to the email function's pipeline, on the real adapters.
    fn deliver(&self, body: &str) -> u16 {
        let env = self.env();
        let config = webhook_core::Config::from_lookup(|name| env.get(name).cloned()).unwrap();
        let pipeline = webhook_lambda::aws_pipeline(config, Category::Email, &self.sdk, &self.sdk);
        let request = InboundRequest {
            method: "POST",
            token: TokenParam::One(TOKEN),
            body: RequestBody::Bytes(body.as_bytes()),
            content_type: Some("application/json"),
        };
        let in_ten_seconds = SystemTime::now() + Duration::from_secs(10);
        let deadline = webhook_lambda::deadline(
            u64::try_from(
                in_ten_seconds
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )
            .unwrap(),
            SystemTime::now(),
        );
        self.runtime
            .block_on(pipeline.handle(&request, deadline))
            .response
            .status
    }

    /// The bodies of the messages in `queue_url`, left in the queue (read, then made visible).
    fn peek(&self, queue_url: &str) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut bodies = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..5 {
            let out = self
                .runtime
                .block_on(
                    sqs.receive_message()
                        .queue_url(queue_url)
                        .max_number_of_messages(10)
                        .visibility_timeout(30)
                        .send(),
                )
                .unwrap();
            for message in out.messages.unwrap_or_default() {
                bodies.push(message.body.unwrap_or_default());
                handles.extend(message.receipt_handle);
            }
        }
        for handle in handles {
            self.runtime
                .block_on(
                    sqs.change_message_visibility()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .send(),
                )
                .unwrap();
        }
        bodies
    }

    fn replay(&self, extra: &[&str]) -> (i32, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_reply-webhooks"))
            .arg("replay")
            .args(extra)
            .envs(self.env())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), stdout)
    }
}

#[test]
fn replay_sends_what_can_now_be_processed_once_and_keeps_the_rest() {
    let Some(setup) = Setup::new() else { return };
    let quarantine = setup.stack.quarantine.url.clone();
    let actionable = setup.stack.actionable.url.clone();

    // A different body under a known id, and a body that is not JSON: both quarantined.
    let first = r#"{"event":{"id":"replay-1","type":"email_replied"},"n":1}"#;
    let second = r#"{"event":{"id":"replay-1","type":"email_replied"},"n":2}"#;
    assert_eq!(setup.deliver(first), 200);
    assert_eq!(setup.deliver(second), 202);
    assert_eq!(setup.deliver("not json"), 202);
    // And a message that is no quarantine message at all.
    setup
        .runtime
        .block_on(
            aws_sdk_sqs::Client::new(&setup.sdk)
                .send_message()
                .queue_url(&quarantine)
                .message_body("{\"hello\":1}")
                .send(),
        )
        .unwrap();
    assert_eq!(setup.peek(&quarantine).len(), 3);
    let sent_before = setup.peek(&actionable).len();

    // A dry run lists them and changes nothing.
    let (code, out) = setup.replay(&["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("would replay").count(), 2, "{out}");
    assert!(
        out.contains("Dry run: 2 message(s) would be replayed"),
        "{out}"
    );
    assert!(out.contains("not a quarantine message"), "{out}");
    assert_eq!(setup.peek(&quarantine).len(), 3);

    // The cause of the mismatch is fixed (the first delivery's record is removed by the
    // operator): the replay sends the second body once; the others stay.
    setup
        .runtime
        .block_on(
            aws_sdk_dynamodb::Client::new(&setup.sdk)
                .delete_item()
                .table_name(&setup.stack.table)
                .key(
                    "id",
                    aws_sdk_dynamodb::types::AttributeValue::S("reply#replay-1".into()),
                )
                .send(),
        )
        .unwrap();
    let (code, out) = setup.replay(&[]);
    assert_eq!(code, 1, "something is still quarantined: {out}");
    assert!(out.contains("replayed: accepted"), "{out}");
    assert!(out.contains("still fails, kept: invalid_payload"), "{out}");
    assert!(out.contains("1 replayed, 2 kept"), "{out}");
    let sent: Vec<String> = setup.peek(&actionable);
    assert_eq!(sent.len(), sent_before + 1);
    assert!(
        sent.iter()
            .any(|m| m.ends_with(&format!(",\"payload\":{second}}}")))
    );
    assert_eq!(setup.peek(&quarantine).len(), 2);

    // Replaying again sends nothing more.
    let (code, _) = setup.replay(&[]);
    assert_eq!(code, 1);
    assert_eq!(setup.peek(&actionable).len(), sent_before + 1);
}
