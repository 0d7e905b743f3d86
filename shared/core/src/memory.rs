//! In-memory ports with the same semantics as the AWS adapters, plus switches to make a
//! dependency fail. For fast unit tests, benchmarks and fuzzing; never the only proof.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use crate::message::OutboundMessage;
use crate::ports::{Clock, Dependency, DependencyError, Destination, IdempotencyStore, Publisher};
use crate::record::{
    ClaimOutcome, Completion, EpochMillis, ExistingRecord, NewRecord, RecordStatus,
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
    pub completion: Option<Completion>,
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
}

impl MemoryStore {
    pub fn records(&self) -> HashMap<String, StoredRecord> {
        lock(&self.records).clone()
    }

    pub fn get(&self, key: &str) -> Option<StoredRecord> {
        lock(&self.records).get(key).cloned()
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
    ) -> Result<ClaimOutcome, DependencyError> {
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
                return Ok(ClaimOutcome::Held {
                    existing: ExistingRecord {
                        status: held.record.status,
                        validation: Some(held.record.validation.clone()),
                        in_progress_expiration: held.record.in_progress_expiration,
                    },
                    extra_read: false,
                });
            }
        }
        records.insert(
            record.key.clone(),
            StoredRecord {
                record: record.clone(),
                completion: None,
            },
        );
        Ok(ClaimOutcome::Written)
    }

    async fn complete(&self, key: &str, completion: &Completion) -> Result<(), DependencyError> {
        self.call()?;
        if self.fail_complete.load(Ordering::SeqCst) {
            return Err(unavailable(Dependency::DynamoDb));
        }
        if let Some(held) = lock(&self.records).get_mut(key) {
            held.record.status = RecordStatus::Completed;
            held.record.in_progress_expiration = None;
            held.record.enqueued = Some(completion.enqueued);
            held.completion = Some(completion.clone());
        }
        Ok(())
    }

    async fn release(
        &self,
        key: &str,
        in_progress_expiration: EpochMillis,
    ) -> Result<(), DependencyError> {
        self.call()?;
        let mut records = lock(&self.records);
        let ours = records.get(key).is_some_and(|held| {
            held.record.status == RecordStatus::InProgress
                && held.record.in_progress_expiration == Some(in_progress_expiration)
        });
        if ours {
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
}

impl MemoryPublisher {
    pub fn sent(&self) -> Vec<(Destination, OutboundMessage)> {
        lock(&self.sent).clone()
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
    ) -> Result<String, DependencyError> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(unavailable(Dependency::Sqs));
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
