//! The pipeline's ports: what it needs from the outside world, as traits. The AWS adapters
//! live in `webhook-aws`; in-memory ones for tests in [`crate::memory`].

use std::future::Future;
use std::time::SystemTime;

use crate::message::OutboundMessage;
use crate::record::{ClaimOutcome, Completion, EpochMillis, NewRecord};

/// A failed call to a dependency: which service, the error code it gave (if any), and a
/// description for the logs. Never holds request data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dependency} failed ({}): {detail}", code.as_deref().unwrap_or("no error code"))]
pub struct DependencyError {
    pub dependency: Dependency,
    /// The service's error code (e.g. `ProvisionedThroughputExceededException`), or the
    /// transport failure (`timeout`, `dispatch`).
    pub code: Option<String>,
    pub detail: String,
}

/// The two services the pipeline depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    DynamoDb,
    Sqs,
    /// Either: the invocation ran out of time before knowing which one hung.
    Unknown,
}

impl Dependency {
    pub const fn as_str(self) -> &'static str {
        match self {
            Dependency::DynamoDb => "dynamodb",
            Dependency::Sqs => "sqs",
            Dependency::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dependency::DynamoDb => "DynamoDB",
            Dependency::Sqs => "SQS",
            Dependency::Unknown => "DynamoDB or SQS",
        })
    }
}

/// The idempotency store (SPEC §5).
pub trait IdempotencyStore: Send + Sync {
    /// Writes `record` if its key is absent, expired (`expiration` before `now`), or held by
    /// an INPROGRESS claim past its `in_progress_expiration`; otherwise returns the record
    /// that holds the key. One request in the common case.
    fn claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
    ) -> impl Future<Output = Result<ClaimOutcome, DependencyError>> + Send;

    /// Marks a claim COMPLETED with its outcome.
    fn complete(
        &self,
        key: &str,
        completion: &Completion,
    ) -> impl Future<Output = Result<(), DependencyError>> + Send;

    /// Deletes our INPROGRESS claim (the one expiring at `in_progress_expiration`), so a
    /// retry can take the event. A claim someone else has taken over is left alone.
    fn release(
        &self,
        key: &str,
        in_progress_expiration: EpochMillis,
    ) -> impl Future<Output = Result<(), DependencyError>> + Send;
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Events someone must act on (SPEC §2).
    Actionable,
    /// The optional queue for the rest.
    Activity,
}

impl Destination {
    pub const fn as_str(self) -> &'static str {
        match self {
            Destination::Actionable => "actionable",
            Destination::Activity => "activity",
        }
    }
}

/// The publisher (SPEC §6).
pub trait Publisher: Send + Sync {
    /// Sends one message; returns the queue's message id.
    fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
    ) -> impl Future<Output = Result<String, DependencyError>> + Send;
}

/// The time, injectable so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A port behind a shared reference is a port too, so a caller can keep a handle on it.
impl<T: IdempotencyStore> IdempotencyStore for &T {
    fn claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
    ) -> impl Future<Output = Result<ClaimOutcome, DependencyError>> + Send {
        (**self).claim(record, now)
    }
    fn complete(
        &self,
        key: &str,
        completion: &Completion,
    ) -> impl Future<Output = Result<(), DependencyError>> + Send {
        (**self).complete(key, completion)
    }
    fn release(
        &self,
        key: &str,
        in_progress_expiration: EpochMillis,
    ) -> impl Future<Output = Result<(), DependencyError>> + Send {
        (**self).release(key, in_progress_expiration)
    }
}

impl<T: Publisher> Publisher for &T {
    fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
    ) -> impl Future<Output = Result<String, DependencyError>> + Send {
        (**self).publish(destination, message)
    }
}

impl<T: Clock> Clock for &T {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}
