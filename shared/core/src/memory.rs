//! In-memory ports with the same semantics as the AWS adapters, plus switches to make a
//! dependency fail. For fast unit tests, benchmarks and fuzzing; never the only proof.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use crate::message::OutboundMessage;
use crate::ports::{
    Clock, Dependency, DependencyError, Destination, IdempotencyStore, PublishError, Publisher,
};
use crate::record::{
    Claim, ClaimToken, Completed, EpochMillis, ExistingRecord, NewRecord, RecordStatus,
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(dependency: Dependency) -> DependencyError {
    DependencyError {
        dependency,
        code: Some("ServiceUnavailable".into()),
        detail: "injected failure".into(),
    }
}

/// A stored record, as the DynamoDB adapter would hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub record: NewRecord,
    /// The id of the message sent, once the claim is COMPLETED after a send.
    pub message_id: Option<String>,
}

impl StoredRecord {
    pub fn status(&self) -> RecordStatus {
        self.record.status
    }
}

/// The idempotency store in a map.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, StoredRecord>>,
    requests: AtomicU64,
    /// When set, every call fails as if DynamoDB were down.
    pub fail: AtomicBool,
    /// When set, only `complete` fails.
    pub fail_complete: AtomicBool,
    /// When set, the next claim behaves as an SDK retry after a lost answer: the first attempt
    /// wrote the record, and the retry finds it held (by our own claim token).
    pub retried_claim: AtomicBool,
    /// When set, the next `complete` finds the claim taken over by another invocation.
    pub taken_over_before_complete: AtomicBool,
}

impl MemoryStore {
    pub fn records(&self) -> HashMap<String, StoredRecord> {
        lock(&self.records).clone()
    }

    pub fn get(&self, key: &str) -> Option<StoredRecord> {
        lock(&self.records).get(key).cloned()
    }

    /// Removes a record, as TTL or an operator would.
    pub fn remove(&self, key: &str) -> Option<StoredRecord> {
        lock(&self.records).remove(key)
    }

    /// Calls made, like requests counted at the emulator.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    fn call(&self) -> Result<(), DependencyError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            Err(unavailable(Dependency::DynamoDb))
        } else {
            Ok(())
        }
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
        _within: Duration,
    ) -> Result<Claim, DependencyError> {
        self.call()?;
        let mut records = lock(&self.records);
        if let Some(held) = records.get(&record.key) {
            let expired = held.record.expiration < now.seconds();
            let abandoned = held.record.status == RecordStatus::InProgress
                && held
                    .record
                    .in_progress_expiration
                    .is_some_and(|until| until < now);
            if !expired && !abandoned {
                return Ok(Claim::Held(ExistingRecord {
                    status: held.record.status,
                    validation: Some(held.record.validation.clone()),
                    in_progress_expiration: held.record.in_progress_expiration,
                    claim_token: Some(held.record.claim_token.clone()),
                }));
            }
        }
        records.insert(
            record.key.clone(),
            StoredRecord {
                record: record.clone(),
                message_id: None,
            },
        );
        if self.retried_claim.swap(false, Ordering::SeqCst) {
            return Ok(Claim::Held(ExistingRecord {
                status: record.status,
                validation: Some(record.validation.clone()),
                in_progress_expiration: record.in_progress_expiration,
                claim_token: Some(record.claim_token.clone()),
            }));
        }
        Ok(Claim::Written)
    }

    async fn complete(
        &self,
        key: &str,
        claim: &ClaimToken,
        message_id: &str,
        _within: Duration,
    ) -> Result<Completed, DependencyError> {
        self.call()?;
        if self.fail_complete.load(Ordering::SeqCst) {
            return Err(unavailable(Dependency::DynamoDb));
        }
        let mut records = lock(&self.records);
        if let Some(held) = records.get_mut(key).filter(|_| {
            self.taken_over_before_complete
                .swap(false, Ordering::SeqCst)
        }) {
            held.record.claim_token = ClaimToken::new();
        }
        match records.get_mut(key) {
            Some(held) if held.record.claim_token == *claim => {
                held.record.status = RecordStatus::Completed;
                held.record.in_progress_expiration = None;
                held.message_id = Some(message_id.to_owned());
                Ok(Completed::Done)
            }
            _ => Ok(Completed::ClaimLost),
        }
    }

    async fn release(
        &self,
        key: &str,
        claim: &ClaimToken,
        _within: Duration,
    ) -> Result<(), DependencyError> {
        self.call()?;
        let mut records = lock(&self.records);
        if records
            .get(key)
            .is_some_and(|held| held.record.claim_token == *claim)
        {
            records.remove(key);
        }
        Ok(())
    }
}

/// A publisher that keeps what it sent.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    sent: Mutex<Vec<(Destination, OutboundMessage)>>,
    requests: AtomicU64,
    /// When set, every send fails as if SQS were down.
    pub fail: AtomicBool,
    /// When set, event messages (not quarantine ones) are refused for their content.
    pub refuse_events: AtomicBool,
}

impl MemoryPublisher {
    pub fn sent(&self) -> Vec<(Destination, OutboundMessage)> {
        lock(&self.sent).clone()
    }

    /// The messages sent to `destination`.
    pub fn sent_to(&self, destination: Destination) -> Vec<OutboundMessage> {
        lock(&self.sent)
            .iter()
            .filter(|(to, _)| *to == destination)
            .map(|(_, message)| message.clone())
            .collect()
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Publisher for MemoryPublisher {
    async fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
        _within: Duration,
    ) -> Result<String, PublishError> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(unavailable(Dependency::Sqs).into());
        }
        if destination != Destination::Quarantine && self.refuse_events.load(Ordering::SeqCst) {
            return Err(PublishError::Refused {
                code: "InvalidMessageContents".into(),
                detail: "injected refusal".into(),
            });
        }
        lock(&self.sent).push((destination, message.clone()));
        Ok(format!("memory-message-{n}"))
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn at(time: SystemTime) -> ManualClock {
        ManualClock(Mutex::new(time))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.0);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *lock(&self.0)
    }
}
