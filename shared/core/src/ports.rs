//! The pipeline's ports: what it needs from the outside world, as traits. The AWS adapters
//! live in `webhook-aws`; in-memory ones for tests in [`crate::memory`].
//!
//! Every call takes `within`, the time it may take: the pipeline derives it from the
//! invocation's deadline, so a hung dependency fails the call in time for an answer, and an
//! adapter must give up (and report [`DependencyError`] with code `timeout`) when it passes.

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::message::OutboundMessage;
use crate::record::{Claim, ClaimToken, Completed, EpochMillis, NewRecord};

/// A failed call to a dependency: which service, the error code it gave (if any), and a
/// description for the logs. Never holds request data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dependency} failed ({}): {detail}", code.as_deref().unwrap_or("no error code"))]
pub struct DependencyError {
    pub dependency: Dependency,
    /// The service's error code (e.g. `ProvisionedThroughputExceededException`), or the
    /// transport failure (`timeout`, `dispatch_failure`).
    pub code: Option<String>,
    pub detail: String,
}

/// The two services the pipeline depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    DynamoDb,
    Sqs,
}

impl Dependency {
    pub const fn as_str(self) -> &'static str {
        match self {
            Dependency::DynamoDb => "dynamodb",
            Dependency::Sqs => "sqs",
        }
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dependency::DynamoDb => "DynamoDB",
            Dependency::Sqs => "SQS",
        })
    }
}

/// The idempotency store: one record per event id, claimed once.
pub trait IdempotencyStore: Send + Sync {
    /// Writes `record` if its key is absent, expired (`expiration` before `now`), or held by
    /// an INPROGRESS claim past its `in_progress_expiration`; otherwise returns the record
    /// that holds the key. One request in the common case.
    fn claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
        within: Duration,
    ) -> impl Future<Output = Result<Claim, DependencyError>> + Send;

    /// Marks our claim COMPLETED with the id of the message sent. Never creates a record and
    /// never touches a record holding another claim token.
    fn complete(
        &self,
        key: &str,
        claim: &ClaimToken,
        message_id: &str,
        within: Duration,
    ) -> impl Future<Output = Result<Completed, DependencyError>> + Send;

    /// Deletes our claim, so a retry can take the event at once. A record holding another
    /// claim token is left alone (and that is not an error).
    fn release(
        &self,
        key: &str,
        claim: &ClaimToken,
        within: Duration,
    ) -> impl Future<Output = Result<(), DependencyError>> + Send;
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Events someone must act on.
    Actionable,
    /// The optional queue for the rest.
    Activity,
    /// Authentic deliveries that could not be processed, kept whole for a replay.
    Quarantine,
}

impl Destination {
    pub const fn as_str(self) -> &'static str {
        match self {
            Destination::Actionable => "actionable",
            Destination::Activity => "activity",
            Destination::Quarantine => "quarantine",
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The queue refused this message for its content (a permanent error: sending it again
    /// would fail again), with the service's error code.
    #[error("SQS refused the message ({code}): {detail}")]
    Refused { code: String, detail: String },
    /// The queue could not be reached or failed: a retry may succeed. A timeout is one of
    /// these, and the message may or may not have been sent.
    #[error(transparent)]
    Unavailable(#[from] DependencyError),
}

/// The publisher: one message to one queue.
pub trait Publisher: Send + Sync {
    /// Sends one message; returns the queue's message id.
    fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
        within: Duration,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
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
        within: Duration,
    ) -> impl Future<Output = Result<Claim, DependencyError>> + Send {
        (**self).claim(record, now, within)
    }
    fn complete(
        &self,
        key: &str,
        claim: &ClaimToken,
        message_id: &str,
        within: Duration,
    ) -> impl Future<Output = Result<Completed, DependencyError>> + Send {
        (**self).complete(key, claim, message_id, within)
    }
    fn release(
        &self,
        key: &str,
        claim: &ClaimToken,
        within: Duration,
    ) -> impl Future<Output = Result<(), DependencyError>> + Send {
        (**self).release(key, claim, within)
    }
}

impl<T: Publisher> Publisher for &T {
    fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
        within: Duration,
    ) -> impl Future<Output = Result<String, PublishError>> + Send {
        (**self).publish(destination, message, within)
    }
}

impl<T: Clock> Clock for &T {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}
