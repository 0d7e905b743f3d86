//! One category's function: admission, then commit, then the answer and a report.

use reply_payload::{Category, EventType};

use crate::admission::{self, Admission};
use crate::commit::{Commit, Committed, Deadline, Requests, Unfinished};
use crate::config::Config;
use crate::message::event_type_text;
use crate::outcome::Outcome;
use crate::ports::{Clock, IdempotencyStore, Publisher, SystemClock};
use crate::request::InboundRequest;
use crate::response::Response;
use crate::routes::Routing;

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
    /// The event id, when one could be read.
    pub event_id: Option<String>,
    /// What the event is, when the body could be parsed.
    pub event: Option<EventFacts>,
    /// What was odd about the envelope but tolerated.
    pub warnings: Vec<String>,
    pub requests: Requests,
    pub unfinished: Option<Unfinished>,
}

/// What a parsed event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    /// The canonical name, or an unknown type's raw name (capped).
    pub event_type: String,
    /// The event's own category (the receiving function's for an unknown type).
    pub category: Category,
    pub known_type: bool,
    /// A known type of another category than the receiving function's.
    pub wrong_route: bool,
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
    /// Handles one delivery, answering by `deadline.answer_by`.
    pub async fn handle(&self, request: &InboundRequest<'_>, deadline: Deadline) -> Handled {
        let admission = admission::admit(&self.config, self.function, request);
        let quarantine = self.config.quarantine_queue_url.is_some();
        self.settle(admission, deadline, quarantine, request.content_type)
            .await
    }

    /// Feeds a quarantined delivery's body back through the same path (no token, method or
    /// size check: it was authenticated when it arrived). What still cannot be processed is
    /// answered as it would be without a quarantine queue, and not quarantined again.
    pub async fn replay(&self, body: &[u8], deadline: Deadline) -> Handled {
        let admission = admission::admit_body(&self.config, self.function, body);
        self.settle(admission, deadline, false, None).await
    }

    async fn settle(
        &self,
        admission: Admission<'_>,
        deadline: Deadline,
        quarantine: bool,
        content_type: Option<&str>,
    ) -> Handled {
        let mut commit = Commit {
            config: &self.config,
            function: self.function,
            store: &self.store,
            publisher: &self.publisher,
            clock: &self.clock,
            deadline,
            quarantine,
            content_type,
            requests: Requests::default(),
            unfinished: None,
        };
        let (event_id, event, warnings) = describe(&admission);
        let outcome = match &admission {
            Admission::Refused(outcome) => outcome.clone(),
            Admission::Unprocessable(delivery) => commit.unprocessable(delivery).await,
            Admission::Event(event) => commit.event(event).await,
        };
        let Committed {
            outcome,
            requests,
            unfinished,
        } = commit.finish(outcome);
        let wrong_route = event
            .as_ref()
            .filter(|facts| facts.wrong_route)
            .map(|facts| facts.category.route());
        let response = Response::for_outcome(&outcome, event_id.as_deref(), wrong_route);
        let report = Report {
            outcome,
            function: self.function,
            event_id,
            event,
            warnings,
            requests,
            unfinished,
        };
        Handled { response, report }
    }
}

/// What admission learnt about a delivery, for the report: its event id, what the event is,
/// and the envelope's warnings.
fn describe(admission: &Admission<'_>) -> (Option<String>, Option<EventFacts>, Vec<String>) {
    match admission {
        Admission::Refused(_) => (None, None, Vec::new()),
        Admission::Unprocessable(delivery) => (delivery.event_id.clone(), None, Vec::new()),
        Admission::Event(event) => {
            let envelope = &event.delivery.envelope;
            let facts = EventFacts {
                event_type: event_type_text(&envelope.event_type).to_owned(),
                category: event.category,
                known_type: !matches!(envelope.event_type, EventType::Unknown(_)),
                wrong_route: event.wrong_route,
            };
            let warnings = envelope.warnings.iter().map(ToString::to_string).collect();
            (Some(envelope.id.clone()), Some(facts), warnings)
        }
    }
}
