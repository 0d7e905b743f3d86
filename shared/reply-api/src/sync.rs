//! Making Reply match the plan: list, compare ([`Plan::reconcile`]), call. The one place
//! where both `subscribe` and the watchdog act, so they cannot drift apart.

use crate::client::Client;
use crate::error::Error;
use crate::model::SubscriptionId;
use crate::plan::{Action, Entry, Plan, Policy, Reconciliation, State};

/// What became of one call.
#[derive(Debug)]
pub enum StepResult {
    Done,
    Failed(Error),
    /// Not sent: an earlier error (a refused key, an exhausted budget) would repeat.
    NotAttempted,
}

#[derive(Debug)]
pub struct Step {
    pub action: Action,
    pub result: StepResult,
}

/// One entry of the comparison and what was done about it.
#[derive(Debug)]
pub struct EntryOutcome {
    pub entry: Entry,
    pub steps: Vec<Step>,
    /// The id Reply gave a subscription created now.
    pub created: Option<SubscriptionId>,
}

impl EntryOutcome {
    pub fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|s| !matches!(s.result, StepResult::Done))
    }

    /// The planned subscription after the run, when it exists.
    pub fn planned_subscription(&self) -> Option<&SubscriptionId> {
        match &self.entry.state {
            State::Missing { .. } => self.created.as_ref(),
            State::Present { id, .. } => Some(id),
            State::Stale { .. } => None,
        }
    }

    /// Whether the planned subscription is enabled after the run.
    pub fn enabled_after(&self) -> bool {
        match &self.entry.state {
            State::Missing { .. } => self.created.is_some(),
            State::Present { enabled, .. } => {
                *enabled || self.did(|a| matches!(a, Action::Enable(_)))
            }
            State::Stale { .. } => false,
        }
    }

    /// Whether a call matching `which` succeeded.
    pub fn did(&self, which: impl Fn(&Action) -> bool) -> bool {
        self.steps
            .iter()
            .any(|s| which(&s.action) && matches!(s.result, StepResult::Done))
    }
}

/// A whole run.
#[derive(Debug)]
pub struct Outcome {
    pub entries: Vec<EntryOutcome>,
    /// Subscriptions that are not ours, left alone.
    pub others: usize,
}

impl Outcome {
    /// Whether every call succeeded (so Reply now matches the plan under the policy used).
    pub fn succeeded(&self) -> bool {
        !self.entries.iter().any(EntryOutcome::failed)
    }

    /// The first error, for a one-line summary.
    pub fn first_error(&self) -> Option<&Error> {
        self.entries
            .iter()
            .flat_map(|e| &e.steps)
            .find_map(|s| match &s.result {
                StepResult::Failed(err) => Some(err),
                _ => None,
            })
    }
}

/// Lists Reply's subscriptions and compares them with `plan`.
pub fn reconcile(client: &Client, plan: &Plan) -> Result<Reconciliation, Error> {
    Ok(plan.reconcile(&client.list()?))
}

/// Makes the calls `reconciliation` needs under `policy`. Entries are handled in order, so
/// creates and updates come before the deletes of stale subscriptions. After an error that
/// every further call would meet too (a refused key, the budget spent), nothing more is sent.
pub fn apply(client: &Client, reconciliation: Reconciliation, policy: Policy) -> Outcome {
    let mut stop = false;
    let entries = reconciliation
        .entries
        .into_iter()
        .map(|entry| {
            let mut created = None;
            let steps = entry
                .actions(policy)
                .into_iter()
                .map(|action| {
                    if stop {
                        return Step {
                            action,
                            result: StepResult::NotAttempted,
                        };
                    }
                    let result = match &action {
                        Action::Create(spec) => client.create(spec).map(|s| created = Some(s.id)),
                        Action::Update(id, spec) => client.update(id, spec),
                        Action::Enable(id) => client.enable(id),
                        Action::Delete(id) => client.delete(id),
                    };
                    let result = match result {
                        Ok(()) => StepResult::Done,
                        Err(err) => {
                            stop = matches!(
                                err,
                                Error::Unauthorized { .. } | Error::BudgetExhausted { .. }
                            );
                            StepResult::Failed(err)
                        }
                    };
                    Step { action, result }
                })
                .collect();
            EntryOutcome {
                entry,
                steps,
                created,
            }
        })
        .collect();
    Outcome {
        entries,
        others: reconciliation.others,
    }
}
