//! The idempotency record, in the Powertools for AWS Lambda schema: what the store port writes
//! and reads, independent of DynamoDB.

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

/// A value unique to one claim (128 random bits, hex). It fences the claim: the store's
/// complete and release act only on the record holding this token, and a claim whose answer
/// was lost recognises its own record when the SDK retries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A fresh token from the operating system's random source.
    pub fn new() -> ClaimToken {
        let mut bytes = [0u8; 16];
        // Without OS randomness (never seen on Lambda), fall back to time and a counter:
        // still unique per process, which is all fencing needs.
        if getrandom::fill(&mut bytes).is_err() {
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_nanos() as u64;
            bytes[..8].copy_from_slice(&nanos.to_le_bytes());
            bytes[8..].copy_from_slice(&(count ^ u64::from(std::process::id())).to_le_bytes());
        }
        ClaimToken(hex::encode(bytes))
    }

    /// A token read back from the store.
    pub fn from_stored(value: impl Into<String>) -> ClaimToken {
        ClaimToken(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ClaimToken {
    fn default() -> Self {
        ClaimToken::new()
    }
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
    /// SHA-256 hex of the body's canonical form, to tell a duplicate (the same JSON value,
    /// however written) from a different payload under one id.
    pub validation: String,
    /// Fences this claim (see [`ClaimToken`]).
    pub claim_token: ClaimToken,
    pub event_type: String,
    pub category: String,
    /// RFC 3339, UTC, milliseconds.
    pub received_at: String,
    /// Set on a record written COMPLETED at once: no message was sent.
    pub enqueued: Option<bool>,
}

/// What a claim found instead of writing: the record that holds the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingRecord {
    pub status: RecordStatus,
    pub validation: Option<String>,
    pub in_progress_expiration: Option<EpochMillis>,
    /// `None` for a record written without one (by an older version, or by hand).
    pub claim_token: Option<ClaimToken>,
}

/// The result of a conditional put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The record was written: this invocation owns the event.
    Written,
    /// A live record holds the key (possibly our own, written by an attempt whose answer was
    /// lost: the pipeline compares claim tokens).
    Held(ExistingRecord),
}

/// What marking a claim COMPLETED found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    /// Our claim is now COMPLETED (or already was: a retried update is harmless).
    Done,
    /// No record holds our claim token any more (it expired and was taken over, or was
    /// deleted): nothing was written.
    ClaimLost,
}
