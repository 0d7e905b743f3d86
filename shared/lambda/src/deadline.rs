//! How long an invocation may work: from the runtime's deadline, less a margin to answer.

use std::time::{Duration, SystemTime};

use webhook_core::Deadline;
use webhook_core::record::EpochMillis;

/// Time kept back from the deadline to send the answer before Lambda stops the process.
pub const MARGIN: Duration = Duration::from_millis(250);

/// The least time a delivery gets, even when the deadline has already passed. Its claim then
/// expires at that past deadline, so a retry can take the event over at once.
pub const MINIMUM: Duration = Duration::from_secs(1);

/// Runtime deadlines below this (2001-09-09 in epoch milliseconds) are not instants.
/// `cargo lambda watch` sends a fixed 600000 (ten minutes) instead of an epoch time.
const EPOCH_MILLIS_FLOOR: u64 = 1_000_000_000_000;

/// The pipeline's deadline from the runtime's `Lambda-Runtime-Deadline-Ms`, at `now`.
pub fn deadline(runtime_deadline_ms: u64, now: SystemTime) -> Deadline {
    let claim_expires = if runtime_deadline_ms < EPOCH_MILLIS_FLOOR {
        EpochMillis::from_system_time(now + Duration::from_millis(runtime_deadline_ms))
    } else {
        EpochMillis(runtime_deadline_ms)
    };
    let left = claim_expires
        .to_system_time()
        .duration_since(now)
        .unwrap_or(Duration::ZERO);
    Deadline {
        claim_expires,
        answer_by: EpochMillis::from_system_time(now + left.saturating_sub(MARGIN).max(MINIMUM)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: u64 = 1_790_000_000_000;

    fn at(ms: u64) -> SystemTime {
        EpochMillis(ms).to_system_time()
    }

    #[test]
    fn an_epoch_deadline_gives_the_time_left_less_the_margin() {
        let d = deadline(NOW_MS + 10_000, at(NOW_MS));
        assert_eq!(d.claim_expires, EpochMillis(NOW_MS + 10_000));
        assert_eq!(d.answer_by, EpochMillis(NOW_MS + 9_750));
    }

    #[test]
    fn a_passed_deadline_is_kept_for_the_claim_and_still_gets_the_minimum() {
        let d = deadline(NOW_MS - 1, at(NOW_MS));
        assert_eq!(d.claim_expires, EpochMillis(NOW_MS - 1));
        assert_eq!(d.answer_by, EpochMillis(NOW_MS + 1_000));
    }

    #[test]
    fn a_duration_instead_of_an_instant_counts_from_now() {
        let d = deadline(600_000, at(NOW_MS));
        assert_eq!(d.claim_expires, EpochMillis(NOW_MS + 600_000));
        assert_eq!(d.answer_by, EpochMillis(NOW_MS + 600_000 - 250));
    }
}
