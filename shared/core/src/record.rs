//! The idempotency record (SPEC §5), in the Powertools for AWS Lambda schema: what the store
//! port writes and reads, independent of DynamoDB.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Epoch seconds: the unit of `expiration`, the table's TTL attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochSeconds(pub u64);

/// Epoch milliseconds: the unit of `in_progress_expiration` (and of the Lambda deadline).
/// A distinct type from [`EpochSeconds`], so the two units cannot be mixed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochMillis(pub u64);

impl EpochMillis {
    pub fn from_system_time(time: SystemTime) -> EpochMillis {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        EpochMillis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// The whole seconds of this instant (rounded down).
    pub fn seconds(self) -> EpochSeconds {
        EpochSeconds(self.0 / 1000)
    }
}

impl EpochSeconds {
    pub fn plus(self, duration: Duration) -> EpochSeconds {
        EpochSeconds(self.0.saturating_add(duration.as_secs()))
    }
}

/// `status`: a claim in flight, or a finished event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    InProgress,
    Completed,
}

impl RecordStatus {
    /// The stored value, as Powertools writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordStatus::InProgress => "INPROGRESS",
            RecordStatus::Completed => "COMPLETED",
        }
    }

    pub fn parse(value: &str) -> Option<RecordStatus> {
        match value {
            "INPROGRESS" => Some(RecordStatus::InProgress),
            "COMPLETED" => Some(RecordStatus::Completed),
            _ => None,
        }
    }
}

/// The record's key: `reply#<event.id>`.
pub fn record_key(event_id: &str) -> String {
    format!("reply#{event_id}")
}

/// A record to write with a conditional put: a claim (INPROGRESS) or, for an event that needs
/// no message, the finished record (COMPLETED) in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub key: String,
    pub status: RecordStatus,
    /// When the record may be deleted (the table's TTL).
    pub expiration: EpochSeconds,
    /// Until when the claim is held: the invocation's deadline. Set only while INPROGRESS.
    pub in_progress_expiration: Option<EpochMillis>,
    /// SHA-256 hex of the body, to tell a duplicate from a different payload under one id.
    pub validation: String,
    pub event_type: String,
    pub category: String,
    /// RFC 3339, UTC, milliseconds.
    pub received_at: String,
    /// Set on a COMPLETED record: whether a message was sent (false for a direct COMPLETED).
    pub enqueued: Option<bool>,
}

/// What a claim found instead of writing: the record that holds the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingRecord {
    pub status: RecordStatus,
    pub validation: Option<String>,
    pub in_progress_expiration: Option<EpochMillis>,
}

/// The result of a conditional put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The record was written: this invocation owns the event.
    Written,
    /// A live record holds the key. `extra_read` is true when the store needed a second
    /// request to read it (an emulator that does not return the old item).
    Held {
        existing: ExistingRecord,
        extra_read: bool,
    },
}

/// How a claimed event ended, for `complete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub enqueued: bool,
    pub message_id: Option<String>,
}
