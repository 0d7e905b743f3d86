//! The subscription watchdog: a scheduled Lambda function that keeps Reply sending.
//!
//! While Reply has a subscription disabled, its events are not sent at all (not queued), and
//! nothing tells anyone. On each run (every 15 minutes by default) this lists Reply's
//! subscriptions and, for the deployment's plan (the same plan as `reply-webhooks subscribe`,
//! from `reply_api`), re-enables ours that are disabled and recreates ours that are missing.
//! It never edits or deletes one: a subscription that differs from the plan (another token
//! during a rotation, say) is the operator's, changed with `subscribe`. Each run writes one
//! EMF metrics line; the template alarms when a run had to act, and Lambda's `Errors` counts
//! a run that failed.
//!
//! The Reply API key is read from Secrets Manager on each run (one call every 15 minutes),
//! so a rotated key is picked up without a redeploy; it is never logged.

pub mod config;
pub mod metrics;

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use reply_api::plan::{Action, Policy, State};
use reply_api::sync::{self, EntryOutcome, Outcome, StepResult};
use reply_api::{ApiKey, Client, ClientConfig, Plan};
use serde_json::{Value, json};

pub use config::Config;
pub use metrics::Report;

/// Reply API calls one run may make: one page of the list, plus room to repair every
/// subscription (a re-enable or a create each) with retries.
pub const CALL_BUDGET: u32 = 60;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error("cannot read the Reply API key from the secret {arn}: {detail}")]
    Secret { arn: String, detail: String },
    #[error(transparent)]
    Reply(#[from] reply_api::Error),
    #[error("{failed} repair(s) failed, the first: {first}")]
    Repairs { failed: usize, first: String },
    #[error("the check stopped unexpectedly: {0}")]
    Task(String),
}

/// The watchdog with what it keeps between runs: its configuration and a Secrets Manager
/// client.
pub struct Watchdog {
    config: Config,
    secrets_manager: aws_sdk_secretsmanager::Client,
}

/// One run's result: what it found and did, its metrics line, and the first repair that
/// failed (the run then fails, after its metrics are written).
#[derive(Debug)]
pub struct Checked {
    pub report: Report,
    pub emf: String,
    pub failure: Option<WatchdogError>,
}

impl Watchdog {
    pub fn new(config: Config, secrets_manager: aws_sdk_secretsmanager::Client) -> Watchdog {
        Watchdog {
            config,
            secrets_manager,
        }
    }

    /// One run: the key, then the check (blocking HTTP, off the async runtime). `Err` when
    /// Reply's subscriptions could not even be listed.
    pub async fn run_once(&self) -> Result<Checked, WatchdogError> {
        let key = self.api_key().await?;
        let mut client_config = ClientConfig::new(self.config.base_url.clone(), CALL_BUDGET);
        client_config.retry = self.config.retry;
        let plan = self.config.plan.clone();
        // The blocking thread logs where the caller logs.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let (report, failure) = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let client = Client::new(key, client_config)?;
                check(&client, &plan)
            })
        })
        .await
        .map_err(|err| WatchdogError::Task(err.to_string()))??;
        let emf = metrics::emf_line(&report, &metrics::function_name(), epoch_millis());
        Ok(Checked {
            report,
            emf,
            failure,
        })
    }

    async fn api_key(&self) -> Result<ApiKey, WatchdogError> {
        let arn = &self.config.api_key_secret_arn;
        let failed = |detail: String| WatchdogError::Secret {
            arn: arn.clone(),
            detail,
        };
        let answer = self
            .secrets_manager
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|err| {
                failed(aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string())
            })?;
        let secret = answer
            .secret_string()
            .ok_or_else(|| failed("it holds binary data; store the key as text".into()))?;
        ApiKey::from_secret_string(secret).map_err(|err| failed(err.to_string()))
    }
}

/// Lists, compares and repairs (re-enable, recreate); logs what it did. A failed repair
/// does not stop the others; the report counts what happened either way.
pub fn check(
    client: &Client,
    plan: &Plan,
) -> Result<(Report, Option<WatchdogError>), WatchdogError> {
    let reconciliation = sync::reconcile(client, plan).inspect_err(|err| {
        tracing::error!(error = %err, "cannot list Reply's subscriptions");
    })?;
    let outcome = sync::apply(client, reconciliation, Policy::REPAIR);
    for entry in &outcome.entries {
        log_entry(entry);
    }
    let report = Report::of(&outcome, client.calls());
    tracing::info!(
        planned = report.planned,
        enabled = report.enabled,
        re_enabled = report.re_enabled,
        missing = report.missing,
        differing = report.differing,
        others = outcome.others,
        reply_calls = report.reply_calls,
        "subscriptions checked"
    );
    Ok((report, failure(&outcome)))
}

fn failure(outcome: &Outcome) -> Option<WatchdogError> {
    let first = outcome.first_error()?;
    Some(WatchdogError::Repairs {
        failed: outcome.entries.iter().filter(|e| e.failed()).count(),
        first: first.to_string(),
    })
}

/// One line per subscription that needed attention; never its URL (it holds the token).
fn log_entry(done: &EntryOutcome) {
    let event_type = done.entry.event_type.as_str();
    let subscription = done
        .planned_subscription()
        .or(done.entry.subscription())
        .map(ToString::to_string);
    for step in &done.steps {
        let what = match step.action {
            Action::Create(_) => "recreated a missing subscription",
            Action::Enable(_) => "re-enabled a subscription Reply had disabled",
            Action::Update(..) | Action::Delete(_) => "changed a subscription",
        };
        match &step.result {
            StepResult::Done => tracing::warn!(event_type, subscription, "{what}"),
            StepResult::Failed(err) => {
                tracing::error!(event_type, subscription, error = %err, "could not repair a subscription");
            }
            StepResult::NotAttempted => {
                tracing::error!(
                    event_type,
                    subscription,
                    "repair not attempted after an earlier error"
                );
            }
        }
    }
    match &done.entry.state {
        State::Present { differences, .. } if !differences.is_empty() => {
            let differences: Vec<&str> = differences.iter().map(|d| d.as_str()).collect();
            tracing::info!(
                event_type,
                subscription,
                differences = differences.join(", "),
                "differs from the plan; left as it is (reply-webhooks subscribe changes it)"
            );
        }
        State::Stale { .. } => tracing::info!(
            event_type,
            subscription,
            "a stale subscription of ours; left as it is (reply-webhooks subscribe --prune deletes it)"
        ),
        _ => {}
    }
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Starts the function: configuration, the Secrets Manager client, then the runtime loop.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "configuration is invalid; the watchdog cannot start");
    })?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let watchdog = &Watchdog::new(config, aws_sdk_secretsmanager::Client::new(&aws));
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let checked = watchdog.run_once().await?;
        // The metrics line must be the whole log line (EMF), so it goes to stdout as it is.
        println!("{}", checked.emf);
        match checked.failure {
            Some(err) => Err(lambda_runtime::Error::from(err)),
            None => Ok(json!(checked.report)),
        }
    }))
    .await
}
