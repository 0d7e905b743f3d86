//! The in-process backends of the contract suite ([`devkit::contract`]): the core on in-memory
//! ports, and the AWS adapters on moto through each fixture's strict proxy. Both run a Lambda
//! event through exactly the service the runtime drives ([`webhook_lambda::invoke`]) and see
//! every effect of a case: each run starts from empty ports (memory) or is checked against
//! every request the proxy saw (moto).

use std::collections::HashMap;
use std::time::Duration;

use devkit::contract::{
    Backend, Effects, Message, Probe, Queue, Record, Setup, message_of, record_of,
};
use devkit::proxy::target::{DELETE_ITEM, PUT_ITEM, SEND_MESSAGE, SEND_MESSAGE_BATCH, UPDATE_ITEM};
use reply_payload::Category;
use serde_json::Value;
use webhook_aws::DynamoDbStore;
use webhook_core::config::vars;
use webhook_core::memory::{MemoryPublisher, MemoryStore};
use webhook_core::ports::{Destination, IdempotencyStore, SystemClock};
use webhook_core::record::{Claim, EpochMillis, NewRecord};
use webhook_core::{Config, Pipeline};

use crate::{Fixture, Queues, TOKEN, deadline_in, invoke_raw};

/// How long an invocation may run: as on Lambda, with room to spare.
const INVOCATION: Duration = Duration::from_secs(10);

/// Claims `record` in `store` as another invocation would have.
async fn hold<S: IdempotencyStore>(store: &S, record: &NewRecord) -> Result<(), String> {
    let now = EpochMillis(deadline_in(Duration::ZERO));
    match store.claim(record, now, Duration::from_secs(5)).await {
        Ok(Claim::Written) => Ok(()),
        Ok(held) => Err(format!("the id is already held: {held:?}")),
        Err(err) => Err(err.to_string()),
    }
}

/// Runs `event` through `pipeline` with a deadline [`INVOCATION`] away.
async fn invoke<S, P, C>(pipeline: &Pipeline<S, P, C>, event: &Value) -> Result<Value, String>
where
    S: IdempotencyStore,
    P: webhook_core::ports::Publisher,
    C: webhook_core::ports::Clock,
{
    invoke_raw(pipeline, &event.to_string(), deadline_in(INVOCATION)).await
}

/// The core on in-memory ports; every run of a case starts from empty ones.
#[derive(Default)]
pub struct MemoryBackend {
    store: MemoryStore,
    publisher: MemoryPublisher,
    config: Option<Config>,
    /// Messages already reported.
    reported: usize,
}

impl MemoryBackend {
    fn config(setup: &Setup) -> Result<Config, String> {
        let queue = |name: &str| format!("https://sqs.us-east-1.amazonaws.com/123456789012/{name}");
        Config::from_lookup(|name| {
            if let Some(value) = setup.env.get(name) {
                return Some(value.clone());
            }
            match name {
                vars::IDEMPOTENCY_TABLE_NAME => Some("contract".into()),
                vars::ACTIONABLE_QUEUE_URL if setup.fifo => Some(queue("actionable.fifo")),
                vars::ACTIONABLE_QUEUE_URL => Some(queue("actionable")),
                vars::ACTIVITY_QUEUE_URL if setup.activity => Some(queue("activity")),
                vars::QUARANTINE_QUEUE_URL => Some(queue("quarantine")),
                vars::WEBHOOK_TOKENS => Some(TOKEN.to_owned()),
                _ => None,
            }
        })
        .map_err(|err| err.to_string())
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> String {
        "memory".into()
    }

    fn runs(&self, _setup: &Setup) -> bool {
        true
    }

    async fn begin(&mut self, setup: &Setup) -> Result<(), String> {
        *self = MemoryBackend {
            config: Some(MemoryBackend::config(setup)?),
            ..MemoryBackend::default()
        };
        Ok(())
    }

    async fn invoke(&mut self, function: Category, event: &Value) -> Result<Value, String> {
        let config = self.config.clone().ok_or("invoked before begin")?;
        let pipeline = Pipeline::new(config, function, &self.store, &self.publisher, SystemClock);
        invoke(&pipeline, event).await
    }

    async fn hold_claim(&mut self, record: &NewRecord) -> Result<(), String> {
        hold(&self.store, record).await
    }

    async fn effects(&mut self, probe: &Probe<'_>) -> Result<Effects, String> {
        let key = probe.event_id.map(|id| format!("reply#{id}"));
        let records = self.store.records();
        if let Some(other) = records.keys().find(|k| Some(*k) != key.as_ref()) {
            return Err(format!("a record under another key: {other}"));
        }
        let record = key
            .and_then(|key| records.get(&key).cloned())
            .map(|stored| {
                let r = &stored.record;
                Record {
                    status: r.status.as_str().to_owned(),
                    validation: Some(r.validation.clone()),
                    event_type: Some(r.event_type.clone()),
                    category: Some(r.category.clone()),
                    expiration: Some(r.expiration.0),
                    in_progress_expiration: r.in_progress_expiration.map(|at| at.0),
                    enqueued: r.enqueued.or(stored.message_id.as_ref().map(|_| true)),
                    message_id: None,
                }
            });
        let sent = self.publisher.sent();
        let messages = sent[self.reported.min(sent.len())..]
            .iter()
            .map(|(destination, message)| Message {
                queue: match destination {
                    Destination::Actionable => Queue::Actionable,
                    Destination::Activity => Queue::Activity,
                    Destination::Quarantine => Queue::Quarantine,
                },
                body: message.body.clone(),
                attributes: message
                    .attributes
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), value.clone()))
                    .collect(),
                id: None,
            })
            .collect();
        self.reported = sent.len();
        Ok(Effects { record, messages })
    }
}

/// The AWS adapters on moto, through each fixture's strict proxy: one fixture per queue
/// setup, made on first use and shared by the runs (their event ids differ). Effects are
/// exact: every write the proxy saw must be the case's record, and every queue it sent to is
/// drained.
pub struct MotoBackend {
    label: String,
    fixtures: HashMap<(bool, bool), Fixture>,
    current: (bool, bool),
    env: Vec<(String, String)>,
}

impl MotoBackend {
    /// Fixtures are named after `label`.
    pub fn new(label: &str) -> MotoBackend {
        MotoBackend {
            label: label.to_owned(),
            fixtures: HashMap::new(),
            current: (false, false),
            env: Vec::new(),
        }
    }

    fn fixture(&self) -> Result<&Fixture, String> {
        self.fixtures
            .get(&self.current)
            .ok_or_else(|| "invoked before begin".to_owned())
    }
}

impl Backend for MotoBackend {
    fn name(&self) -> String {
        "moto".into()
    }

    fn runs(&self, _setup: &Setup) -> bool {
        true
    }

    async fn begin(&mut self, setup: &Setup) -> Result<(), String> {
        self.current = (setup.fifo, setup.activity);
        if !self.fixtures.contains_key(&self.current) {
            let queues = Queues {
                fifo: setup.fifo,
                activity: setup.activity,
            };
            let fixture = Fixture::new(&format!("contract-{}", self.label), queues).await;
            self.fixtures.insert(self.current, fixture);
        }
        self.env = setup
            .env
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(())
    }

    async fn invoke(&mut self, function: Category, event: &Value) -> Result<Value, String> {
        let f = self.fixture()?;
        let extra: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let pipeline = webhook_lambda::aws_pipeline(f.config(&extra), function, &f.sdk, &f.sdk);
        invoke(&pipeline, event).await
    }

    async fn hold_claim(&mut self, record: &NewRecord) -> Result<(), String> {
        let f = self.fixture()?;
        hold(
            &DynamoDbStore::new(f.dynamodb.clone(), f.table.clone()),
            record,
        )
        .await
    }

    async fn effects(&mut self, probe: &Probe<'_>) -> Result<Effects, String> {
        let f = self.fixture()?;
        let key = probe.event_id.map(|id| format!("reply#{id}"));
        let mut queues: Vec<String> = Vec::new();
        for exchange in f.proxy.take_exchanges() {
            if let Some(code) = &exchange.refused {
                return Err(format!(
                    "the strict proxy refused {} with {code}: {}",
                    exchange.target, exchange.body
                ));
            }
            let body: Value = serde_json::from_str(&exchange.body).unwrap_or_default();
            match exchange.target.as_str() {
                PUT_ITEM | UPDATE_ITEM | DELETE_ITEM => {
                    let written = body["Item"]["id"]["S"]
                        .as_str()
                        .or(body["Key"]["id"]["S"].as_str());
                    if written != key.as_deref() {
                        return Err(format!("{} of another key: {written:?}", exchange.target));
                    }
                }
                SEND_MESSAGE | SEND_MESSAGE_BATCH => {
                    let url = body["QueueUrl"].as_str().unwrap_or_default().to_owned();
                    if !queues.contains(&url) {
                        queues.push(url);
                    }
                }
                _ => {}
            }
        }
        let mut messages = Vec::new();
        for url in queues {
            let queue = if url == f.actionable_queue_url {
                Queue::Actionable
            } else if url == f.quarantine_queue_url {
                Queue::Quarantine
            } else if Some(&url) == f.activity_queue_url.as_ref() {
                Queue::Activity
            } else {
                return Err(format!("a message to a queue not the fixture's: {url}"));
            };
            messages.extend(f.drain(&url).await.iter().map(|m| message_of(queue, m)));
        }
        let record = match probe.event_id {
            Some(id) => f.record(id).await.map(|item| record_of(&item)),
            None => None,
        };
        // The reads above went through the proxy too: forget them.
        f.proxy.take_exchanges();
        Ok(Effects { record, messages })
    }
}
