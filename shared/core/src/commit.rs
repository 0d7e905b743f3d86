//! Commit: the asynchronous half of a delivery. Claims the event in the idempotency store,
//! sends its message, marks it COMPLETED, or keeps an unprocessable delivery in the quarantine
//! queue, each step bounded by the time left before the answer is due. Every call to DynamoDB
//! or SQS goes through this module, which counts them.
//!
//! The two rules that make delivery exactly-once:
//! - nothing is sent without a claim, and a send is only started when there is time left to
//!   mark the claim COMPLETED afterwards;
//! - once SQS has accepted the message, the answer is 200 whatever happens next (a 503 would
//!   make Reply retry and, once the claim expires, send it again).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reply_payload::Category;

use crate::admission::{Admitted, Unprocessable};
use crate::config::Config;
use crate::message::{OutboundMessage, event_type_text};
use crate::outcome::{Outcome, mismatch};
use crate::ports::{
    Clock, Dependency, DependencyError, Destination, IdempotencyStore, PublishError, Publisher,
};
use crate::quarantine::{QuarantineNotice, QuarantineReason};
use crate::record::{
    Claim, ClaimToken, Completed, EpochMillis, ExistingRecord, NewRecord, RecordStatus, record_key,
};
use crate::sqs_rules::MAX_MESSAGE_BYTES;

/// The least time a send is started with.
pub const SEND_MIN: Duration = Duration::from_millis(250);
/// The time kept, when a send starts, for marking the claim COMPLETED after it.
pub const COMPLETE_RESERVE: Duration = Duration::from_millis(500);
/// The least time any call is given, even past the deadline: a call that cannot finish
/// in time fails with a timeout rather than not being tried.
const CALL_MIN: Duration = Duration::from_millis(50);
/// Attempts at marking a claim COMPLETED (each already retried by the SDK).
const COMPLETE_ATTEMPTS: u32 = 3;

/// When a delivery's time is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When the invocation ends: a claim is held until then (`in_progress_expiration`), so a
    /// retry after it can take over an event whose invocation died.
    pub claim_expires: EpochMillis,
    /// When the answer must be ready (the end less a margin to send it).
    pub answer_by: EpochMillis,
}

/// Requests made to DynamoDB and SQS for one delivery (the SDK's own retries not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub dynamodb: u32,
    pub sqs: u32,
}

impl Requests {
    pub fn total(self) -> u32 {
        self.dynamodb + self.sqs
    }
}

/// Work left undone after the answer was decided: it did not change the answer, but an
/// operator should know (logged as a warning, counted as a metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfinished {
    /// The message was sent, but the claim could not be marked COMPLETED: it stays INPROGRESS
    /// until its deadline.
    NotCompleted(DependencyError),
    /// The message was sent, but another invocation had taken the claim over (or it was
    /// deleted): nothing was written.
    ClaimLost,
    /// A claim could not be released after a failure; it expires at the deadline.
    NotReleased(DependencyError),
}

/// What a commit produced.
#[derive(Debug)]
pub struct Committed {
    pub outcome: Outcome,
    pub requests: Requests,
    pub unfinished: Option<Unfinished>,
}

/// One delivery's commit: the ports, the clock, the deadline, and the requests made so far.
pub(crate) struct Commit<'p, S, P, C> {
    pub(crate) config: &'p Config,
    pub(crate) function: Category,
    pub(crate) store: &'p S,
    pub(crate) publisher: &'p P,
    pub(crate) clock: &'p C,
    pub(crate) deadline: Deadline,
    /// Keep unprocessable deliveries in the quarantine queue (false when there is none, and
    /// for a replay, whose deliveries are already there).
    pub(crate) quarantine: bool,
    pub(crate) content_type: Option<&'p str>,
    pub(crate) requests: Requests,
    pub(crate) unfinished: Option<Unfinished>,
}

impl<S: IdempotencyStore, P: Publisher, C: Clock> Commit<'_, S, P, C> {
    pub(crate) fn finish(self, outcome: Outcome) -> Committed {
        Committed {
            outcome,
            requests: self.requests,
            unfinished: self.unfinished,
        }
    }

    /// Time left before the answer is due.
    fn left(&self) -> Duration {
        let now = EpochMillis::from_system_time(self.clock.now());
        Duration::from_millis(self.deadline.answer_by.0.saturating_sub(now.0))
    }

    /// Time for one call: what is left less `reserve`, and never less than [`CALL_MIN`].
    fn within(&self, reserve: Duration) -> Duration {
        self.left().saturating_sub(reserve).max(CALL_MIN)
    }

    fn received_at(&self) -> String {
        DateTime::<Utc>::from(self.clock.now()).to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Claims, sends and completes an admitted event.
    pub(crate) async fn event(&mut self, event: &Admitted<'_>) -> Outcome {
        let now = EpochMillis::from_system_time(self.clock.now());
        let envelope = &event.delivery.envelope;
        let record = NewRecord {
            key: record_key(&envelope.id),
            status: match event.destination {
                Some(_) => RecordStatus::InProgress,
                None => RecordStatus::Completed,
            },
            expiration: now.seconds().plus(self.config.record_ttl),
            in_progress_expiration: event.destination.map(|_| self.deadline.claim_expires),
            validation: event.validation.clone(),
            claim_token: ClaimToken::new(),
            event_type: event_type_text(&envelope.event_type).to_owned(),
            category: event.category.as_str().to_owned(),
            received_at: self.received_at(),
            enqueued: event.destination.is_none().then_some(false),
        };
        let reserve = match event.destination {
            Some(_) => SEND_MIN + COMPLETE_RESERVE,
            None => Duration::ZERO,
        };
        self.requests.dynamodb += 1;
        let within = self.within(reserve);
        match self.store.claim(&record, now, within).await {
            Err(err) => return Outcome::Unavailable(err),
            Ok(Claim::Held(existing)) if !held_by_us(&existing, &record.claim_token) => {
                return self.held(&existing, event).await;
            }
            Ok(_) => {}
        }
        let Some(destination) = event.destination else {
            return Outcome::Accepted { sent_to: None };
        };

        if self.left() < SEND_MIN + COMPLETE_RESERVE {
            // Too late to send and still record it: give the event back for a retry.
            self.release(&record).await;
            return Outcome::Unavailable(deadline_error(Dependency::Sqs));
        }
        let message = OutboundMessage::event(&event.delivery, event.category, &record.received_at);
        let sent = if message.size() > MAX_MESSAGE_BYTES {
            Err(PublishError::Refused {
                code: "MessageTooLong".into(),
                detail: format!(
                    "the message would be {} bytes; SQS takes at most {MAX_MESSAGE_BYTES}",
                    message.size()
                ),
            })
        } else {
            self.requests.sqs += 1;
            let within = self.within(COMPLETE_RESERVE);
            self.publisher.publish(destination, &message, within).await
        };
        let message_id = match sent {
            Ok(message_id) => message_id,
            Err(PublishError::Unavailable(err)) => {
                self.release(&record).await;
                return Outcome::Unavailable(err);
            }
            Err(PublishError::Refused { code, detail }) => {
                let problem = format!("SQS refused the event message ({code}): {detail}");
                let outcome = self
                    .keep(
                        QuarantineReason::RejectedByQueue,
                        problem,
                        Some(&envelope.id),
                        event.delivery.body,
                    )
                    .await;
                self.release(&record).await;
                return outcome.unwrap_or(Outcome::Unavailable(DependencyError {
                    dependency: Dependency::Sqs,
                    code: Some(code),
                    detail,
                }));
            }
        };
        self.complete(&record, &message_id).await;
        Outcome::Accepted {
            sent_to: Some(destination),
        }
    }

    /// Marks our claim COMPLETED, retrying while time is left; a failure is only reported.
    async fn complete(&mut self, record: &NewRecord, message_id: &str) {
        let mut last_error = None;
        for _ in 0..COMPLETE_ATTEMPTS {
            self.requests.dynamodb += 1;
            let within = self.within(Duration::ZERO);
            match self
                .store
                .complete(&record.key, &record.claim_token, message_id, within)
                .await
            {
                Ok(Completed::Done) => return,
                Ok(Completed::ClaimLost) => {
                    self.unfinished = Some(Unfinished::ClaimLost);
                    return;
                }
                Err(err) => last_error = Some(err),
            }
            if self.left() < CALL_MIN {
                break;
            }
        }
        if let Some(err) = last_error {
            self.unfinished = Some(Unfinished::NotCompleted(err));
        }
    }

    /// Deletes our claim after a failure, so a retry need not wait for the deadline.
    async fn release(&mut self, record: &NewRecord) {
        self.requests.dynamodb += 1;
        let within = self.within(Duration::ZERO);
        if let Err(err) = self
            .store
            .release(&record.key, &record.claim_token, within)
            .await
        {
            self.unfinished = Some(Unfinished::NotReleased(err));
        }
    }

    /// The answer when another live record holds the event's key.
    async fn held(&mut self, existing: &ExistingRecord, event: &Admitted<'_>) -> Outcome {
        let same_body = existing
            .validation
            .as_deref()
            .is_none_or(|v| v == event.validation);
        if !same_body {
            let id = &event.delivery.envelope.id;
            return self
                .keep(
                    QuarantineReason::PayloadMismatch,
                    mismatch(id),
                    Some(id),
                    event.delivery.body,
                )
                .await
                .unwrap_or(Outcome::PayloadMismatch);
        }
        match existing.status {
            RecordStatus::Completed => Outcome::Duplicate,
            RecordStatus::InProgress => Outcome::InProgress,
        }
    }

    /// Keeps an unprocessable delivery in the quarantine queue, or refuses it (400) without one.
    pub(crate) async fn unprocessable(&mut self, delivery: &Unprocessable<'_>) -> Outcome {
        self.keep(
            QuarantineReason::InvalidPayload,
            delivery.problem.clone(),
            delivery.event_id.as_deref(),
            delivery.body,
        )
        .await
        .unwrap_or_else(|| Outcome::InvalidPayload(delivery.problem.clone()))
    }

    /// Sends a delivery to the quarantine queue: `Quarantined` once it is there, `Unavailable`
    /// if it could not be sent, `None` when this commit keeps nothing.
    async fn keep(
        &mut self,
        reason: QuarantineReason,
        problem: String,
        event_id: Option<&str>,
        body: &[u8],
    ) -> Option<Outcome> {
        if !self.quarantine {
            return None;
        }
        let received_at = self.received_at();
        let message = QuarantineNotice {
            reason,
            message: &problem,
            function: self.function,
            received_at: &received_at,
            event_id,
            content_type: self.content_type,
            body,
        }
        .message();
        self.requests.sqs += 1;
        let within = self.within(Duration::ZERO);
        Some(
            match self
                .publisher
                .publish(Destination::Quarantine, &message, within)
                .await
            {
                Ok(_) => Outcome::Quarantined { reason, problem },
                Err(PublishError::Unavailable(err)) => Outcome::Unavailable(err),
                Err(PublishError::Refused { code, detail }) => {
                    Outcome::Unavailable(DependencyError {
                        dependency: Dependency::Sqs,
                        code: Some(code),
                        detail,
                    })
                }
            },
        )
    }
}

/// Whether the record holding the key is our own claim: the SDK retried a put whose answer was
/// lost, and the retry found what the first attempt wrote.
fn held_by_us(existing: &ExistingRecord, ours: &ClaimToken) -> bool {
    existing.claim_token.as_ref() == Some(ours)
}

fn deadline_error(dependency: Dependency) -> DependencyError {
    DependencyError {
        dependency,
        code: Some("deadline".into()),
        detail: "too little time was left before the invocation's deadline to send and record the message".into(),
    }
}
