//! The real binaries as a backend: each case goes to a function under `cargo lambda watch`
//! through its invoke API (`POST /2015-03-31/functions/<binary>/invocations`), which takes any
//! event kind as it is (a body marked base64 that is not, too), and what it left behind is
//! read from the stack's table and queues through the functions' own endpoint (the strict
//! proxy).
//!
//! The table and queues are shared with whatever else uses the stack, so effects are found
//! by event id: the record under it, and the messages carrying it (a quarantined body without
//! a readable id: by its bytes), which are deleted once read; every other message is made
//! visible again at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName};
use reply_payload::Category;
use serde_json::Value;
use webhook_aws::DynamoDbStore;
use webhook_core::Routing;
use webhook_core::config::vars;
use webhook_core::ports::IdempotencyStore;
use webhook_core::quarantine::Quarantined;
use webhook_core::record::{Claim, EpochMillis, NewRecord};

use super::{Backend, Effects, Message, Probe, Queue, Record, Setup};
use crate::http::Loopback;
use crate::{LocalAws, Stack};

/// One invocation may start (or build) a function.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a message read while looking for ours stays hidden from others (it is released
/// at once when the scan ends).
const SCAN_VISIBILITY_SECONDS: i32 = 30;
/// Receive calls per queue scan, at most.
const MAX_SCAN_BATCHES: usize = 100;

/// The functions of a running stack.
#[derive(Debug, Clone)]
pub struct StackBackend {
    base: String,
    http: Loopback,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    queues: Vec<(Queue, String)>,
}

impl StackBackend {
    /// The stack's functions at `watch_url`, its AWS side at `aws` (the endpoint the functions
    /// are given) and the table and queues its environment names.
    pub async fn connect(
        watch_url: &str,
        aws: &LocalAws,
        env: &[(String, String)],
    ) -> Result<StackBackend, String> {
        let var = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let table = var(vars::IDEMPOTENCY_TABLE_NAME)
            .ok_or("the stack's environment names no IDEMPOTENCY_TABLE_NAME")?;
        let mut queues = Vec::new();
        for (queue, name) in [
            (Queue::Actionable, vars::ACTIONABLE_QUEUE_URL),
            (Queue::Activity, vars::ACTIVITY_QUEUE_URL),
            (Queue::Quarantine, vars::QUARANTINE_QUEUE_URL),
        ] {
            if let Some(url) = var(name) {
                queues.push((queue, url));
            }
        }
        let (dynamodb, sqs) = aws.clients().await;
        Ok(StackBackend {
            base: watch_url.trim_end_matches('/').to_owned(),
            http: Loopback::new(INVOKE_TIMEOUT),
            dynamodb,
            sqs,
            table,
            queues,
        })
    }

    /// The backend of `stack`.
    pub async fn of(stack: &Stack) -> Result<StackBackend, String> {
        StackBackend::connect(&stack.watch_url(), stack.functions_aws(), &stack.env()).await
    }

    /// The messages of `url` that `ours` picks, deleted; the others are left as they were.
    async fn take(
        &self,
        queue: Queue,
        url: &str,
        ours: impl Fn(&str) -> bool,
    ) -> Result<Vec<Message>, String> {
        let mut taken = Vec::new();
        let mut others = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_SCAN_BATCHES {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(SCAN_VISIBILITY_SECONDS)
                .wait_time_seconds(0)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ReceiveMessage: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    )
                })?
                .messages
                .unwrap_or_default();
            let mut new = 0;
            for message in batch {
                if !seen.insert(message.message_id().unwrap_or_default().to_owned()) {
                    continue;
                }
                new += 1;
                let handle = message.receipt_handle().unwrap_or_default().to_owned();
                if ours(message.body().unwrap_or_default()) {
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(&handle)
                        .send()
                        .await
                        .map_err(|e| {
                            format!(
                                "DeleteMessage: {}",
                                aws_sdk_sqs::error::DisplayErrorContext(&e)
                            )
                        })?;
                    taken.push(message_of(queue, &message));
                } else {
                    others.push(handle);
                }
            }
            if new == 0 {
                break;
            }
        }
        for batch in others.chunks(10) {
            let entries = batch.iter().enumerate().filter_map(|(n, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            });
            // Best effort: a message comes back by itself when its visibility ends.
            let _ = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
        }
        Ok(taken)
    }
}

impl Backend for StackBackend {
    fn name(&self) -> String {
        "binaries".to_owned()
    }

    fn runs(&self, setup: &Setup) -> bool {
        setup.is_default()
    }

    async fn begin(&mut self, _setup: &Setup) -> Result<(), String> {
        Ok(())
    }

    async fn invoke(&mut self, function: Category, event: &Value) -> Result<Value, String> {
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.base,
            function.binary()
        );
        let http = self.http.clone();
        let event = event.to_string();
        let reply = tokio::task::spawn_blocking(move || http.post_json(&url, event.as_bytes()))
            .await
            .map_err(|e| format!("the invocation did not finish: {e}"))?
            .map_err(|e| e.to_string())?;
        if reply.status != 200 {
            return Err(format!(
                "the invoke API answered {}: {}",
                reply.status, reply.body
            ));
        }
        serde_json::from_str(&reply.body)
            .map_err(|e| format!("the invoke API's answer is not JSON ({e}): {}", reply.body))
    }

    async fn hold_claim(&mut self, record: &NewRecord) -> Result<(), String> {
        let store = DynamoDbStore::new(self.dynamodb.clone(), self.table.clone());
        let now = EpochMillis(crate::ids::epoch_millis());
        match store.claim(record, now, Duration::from_secs(5)).await {
            Ok(Claim::Written) => Ok(()),
            Ok(held) => Err(format!("the id is already held: {held:?}")),
            Err(err) => Err(err.to_string()),
        }
    }

    async fn effects(&mut self, probe: &Probe<'_>) -> Result<Effects, String> {
        let record = match probe.event_id {
            Some(id) => self
                .dynamodb
                .get_item()
                .table_name(&self.table)
                .key("id", AttributeValue::S(format!("reply#{id}")))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "GetItem: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )
                })?
                .item
                .map(|item| record_of(&item)),
            None => None,
        };
        let mut messages = Vec::new();
        for (queue, url) in &self.queues {
            let found = if *queue == Queue::Quarantine {
                let mut found = self
                    .take(*queue, url, |body| quarantined_here(probe, body))
                    .await?;
                // Bodies without a readable id are matched by their bytes: a run before this
                // one may have left the same body; what counts is that it is there.
                if probe.event_id.is_none() {
                    found.truncate(1);
                }
                found
            } else {
                let Some(id) = probe.event_id else { continue };
                self.take(*queue, url, |body| carries_event_id(body, id))
                    .await?
            };
            messages.extend(found);
        }
        Ok(Effects { record, messages })
    }
}

fn carries_event_id(body: &str, id: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|b| b["event_id"] == id)
}

fn quarantined_here(probe: &Probe<'_>, body: &str) -> bool {
    let Ok(kept) = Quarantined::parse(body) else {
        return false;
    };
    match (&kept.event_id, probe.event_id) {
        (Some(kept_id), Some(id)) => kept_id == id,
        (None, _) => kept.body == probe.received,
        (Some(_), None) => false,
    }
}

/// A DynamoDB item as a [`Record`].
pub fn record_of(item: &HashMap<String, AttributeValue>) -> Record {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
    };
    Record {
        status: text("status").unwrap_or_default(),
        validation: text("validation"),
        event_type: text("event_type"),
        category: text("category"),
        expiration: number("expiration"),
        in_progress_expiration: number("in_progress_expiration"),
        enqueued: item.get("enqueued").and_then(|v| v.as_bool().ok()).copied(),
        message_id: text("message_id"),
    }
}

/// An SQS message as a [`Message`] of `queue`.
pub fn message_of(queue: Queue, message: &aws_sdk_sqs::types::Message) -> Message {
    let attributes: BTreeMap<String, String> = message
        .message_attributes()
        .map(|all| {
            all.iter()
                .filter_map(|(name, value)| Some((name.clone(), value.string_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Message {
        queue,
        body: message.body().unwrap_or_default().to_owned(),
        attributes,
        id: message.message_id().map(str::to_owned),
    }
}
