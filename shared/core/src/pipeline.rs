//! The pipeline of SPEC §1: authenticate, parse, route, claim, publish, answer.

use chrono::{DateTime, SecondsFormat, Utc};
use reply_payload::{Category, Delivery, EventType, PayloadError};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::http::{BodyProblem, InboundRequest, Response, TokenParam};
use crate::message::OutboundMessage;
use crate::outcome::Outcome;
use crate::ports::{Clock, DependencyError, Destination, IdempotencyStore, Publisher, SystemClock};
use crate::record::{
    ClaimOutcome, Completion, EpochMillis, ExistingRecord, NewRecord, RecordStatus, record_key,
};

/// One category's function: its configuration and ports, built once per process.
pub struct Pipeline<S, P, C = SystemClock> {
    config: Config,
    function: Category,
    store: S,
    publisher: P,
    clock: C,
}

/// What a delivery produced: the HTTP response and a report for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub response: Response,
    pub report: Report,
}

/// Everything worth logging or counting about one delivery. Holds no token and no prospect
/// data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    /// The function that received the delivery.
    pub function: Category,
    pub event_id: Option<String>,
    /// Canonical name (raw for an unknown type).
    pub event_type: Option<String>,
    /// The event's own category (the receiving function's for an unknown type).
    pub category: Option<Category>,
    pub known_type: bool,
    /// The event belongs to another function's route.
    pub wrong_route: bool,
    /// Requests made to DynamoDB and SQS (SDK retries not counted).
    pub aws_requests: u32,
    /// A dependency failure that did not change the answer (e.g. marking a sent event
    /// COMPLETED, or releasing a claim after a failed send).
    pub secondary_failure: Option<DependencyError>,
}

impl Report {
    /// A report with nothing known yet but the receiving function and the outcome.
    pub fn new(function: Category, outcome: Outcome) -> Report {
        Report {
            outcome,
            function,
            event_id: None,
            event_type: None,
            category: None,
            known_type: false,
            wrong_route: false,
            aws_requests: 0,
            secondary_failure: None,
        }
    }
}

impl<S, P, C> Pipeline<S, P, C> {
    pub fn new(config: Config, function: Category, store: S, publisher: P, clock: C) -> Self {
        Pipeline {
            config,
            function,
            store,
            publisher,
            clock,
        }
    }

    /// The category whose route this function serves.
    pub fn function(&self) -> Category {
        self.function
    }
}

impl<S: IdempotencyStore, P: Publisher, C: Clock> Pipeline<S, P, C> {
    /// Handles one delivery. `deadline` is the invocation's deadline: a claim is held until
    /// then, so if this invocation dies, a retry after it can take the event over.
    pub async fn handle(&self, request: &InboundRequest<'_>, deadline: EpochMillis) -> Handled {
        let mut report = Report::new(self.function, Outcome::Duplicate);
        let outcome = self.run(request, deadline, &mut report).await;
        let wrong_route = report
            .category
            .filter(|_| report.wrong_route)
            .map(Category::route);
        let response = Response::for_outcome(&outcome, report.event_id.as_deref(), wrong_route);
        report.outcome = outcome;
        Handled { response, report }
    }

    async fn run(
        &self,
        request: &InboundRequest<'_>,
        deadline: EpochMillis,
        report: &mut Report,
    ) -> Outcome {
        // Authenticate first: an unauthenticated caller learns nothing else.
        let authentic = match request.token {
            TokenParam::One(token) => self.config.tokens.accepts(token),
            TokenParam::Absent | TokenParam::Several => false,
        };
        if !authentic {
            return Outcome::Unauthorized;
        }
        if !request.method.eq_ignore_ascii_case("POST") {
            return Outcome::MethodNotAllowed;
        }
        let body = match request.body.decode(self.config.max_body_bytes) {
            Ok(body) => body,
            Err(BodyProblem::TooLarge(size)) => {
                return Outcome::PayloadTooLarge {
                    size,
                    limit: self.config.max_body_bytes,
                };
            }
            Err(BodyProblem::NotBase64) => {
                return Outcome::InvalidPayload(PayloadError::NotBase64);
            }
        };
        let delivery = match Delivery::parse(&body) {
            Ok(delivery) => delivery,
            Err(err) => return Outcome::InvalidPayload(err),
        };

        let event_type = &delivery.envelope.event_type;
        let category = event_type.category().unwrap_or(self.function);
        report.event_id = Some(delivery.envelope.id.clone());
        report.event_type = Some(event_type.as_str().to_owned());
        report.category = Some(category);
        report.known_type = !matches!(event_type, EventType::Unknown(_));
        report.wrong_route = category != self.function;

        let destination = if self.config.is_actionable(event_type) {
            Some(Destination::Actionable)
        } else if self.config.activity_queue_url.is_some() {
            Some(Destination::Activity)
        } else {
            None
        };

        let now = self.clock.now();
        let now_ms = EpochMillis::from_system_time(now);
        let received_at = DateTime::<Utc>::from(now).to_rfc3339_opts(SecondsFormat::Millis, true);
        let record = NewRecord {
            key: record_key(&delivery.envelope.id),
            status: match destination {
                Some(_) => RecordStatus::InProgress,
                None => RecordStatus::Completed,
            },
            expiration: now_ms.seconds().plus(self.config.record_ttl),
            in_progress_expiration: destination.map(|_| deadline),
            validation: hex::encode(Sha256::digest(&body)),
            event_type: event_type.as_str().to_owned(),
            category: category.as_str().to_owned(),
            received_at,
            enqueued: destination.is_none().then_some(false),
        };

        report.aws_requests += 1;
        match self.store.claim(&record, now_ms).await {
            Err(err) => return Outcome::Unavailable(err),
            Ok(ClaimOutcome::Held {
                existing,
                extra_read,
            }) => {
                report.aws_requests += u32::from(extra_read);
                return held_by(&existing, &record.validation);
            }
            Ok(ClaimOutcome::Written) => {}
        }
        let Some(destination) = destination else {
            return Outcome::Accepted {
                enqueued: false,
                destination: None,
            };
        };

        let message = OutboundMessage::new(&delivery, category, &record.received_at);
        report.aws_requests += 1;
        let message_id = match self.publisher.publish(destination, &message).await {
            Ok(id) => id,
            Err(err) => {
                report.aws_requests += 1;
                if let Err(release) = self.store.release(&record.key, deadline).await {
                    // The claim expires at the deadline anyway; a retry after it succeeds.
                    report.secondary_failure = Some(release);
                }
                return Outcome::Unavailable(err);
            }
        };

        report.aws_requests += 1;
        let completion = Completion {
            enqueued: true,
            message_id: Some(message_id),
        };
        if let Err(err) = self.store.complete(&record.key, &completion).await {
            // The message is sent: answering 503 would make Reply retry and, once the claim
            // expires, send it again. Answer 200 and report the bookkeeping failure.
            report.secondary_failure = Some(err);
        }
        Outcome::Accepted {
            enqueued: true,
            destination: Some(destination),
        }
    }
}

/// The answer when a live record already holds the event's key.
fn held_by(existing: &ExistingRecord, validation: &str) -> Outcome {
    let same_body = existing
        .validation
        .as_deref()
        .is_none_or(|v| v == validation);
    match (same_body, existing.status) {
        (false, _) => Outcome::PayloadMismatch,
        (true, RecordStatus::Completed) => Outcome::Duplicate,
        (true, RecordStatus::InProgress) => Outcome::InProgress,
    }
}
