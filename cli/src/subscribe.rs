//! `reply-webhooks subscribe`: makes Reply's webhook subscriptions match this deployment.
//!
//! The plan is one subscription per event type, on its category's route, with the token in
//! the URL and the chosen scope and payload options. Reply's subscriptions are listed and
//! compared with it (`reply_api::plan`); what is missing is created, what differs is updated,
//! what is disabled is re-enabled, and with `--prune` our stale ones (recognised by URL) are
//! deleted. A table says what was done. A second run changes nothing.

use std::collections::HashMap;

use reply_api::plan::{
    self, Action, Difference, Endpoints, Entry, Policy, StaleReason, State, WebhookToken,
};
use reply_api::sync::{self, EntryOutcome, Outcome, StepResult};
use reply_api::{
    ApiKey, Client, ClientConfig, DEFAULT_BASE_URL, Plan, PlanOptions, SubscriptionId,
};
use reply_payload::{Category, EventType};
use webhook_core::Routing;
use webhook_core::auth::TokenSet;
use webhook_core::config::vars::IDEMPOTENCY_TABLE_NAME;

use crate::aws::Aws;
use crate::stack::{TABLE_OUTPUT, url_output};
use crate::{Env, Exit, test_deliveries};

/// The environment variable holding the Reply API key.
pub const API_KEY_VAR: &str = "REPLY_API_KEY";
/// The environment variable overriding Reply's API address.
pub const BASE_URL_VAR: &str = "REPLY_API_BASE_URL";

/// Reply API calls one run may make, retries included: a full first run with `--test` takes
/// about 40 (one list page, 19 creates, 19 tests); the rest is room for retries. Reply allows
/// about 15,000 calls a month per account.
pub const CALL_BUDGET: u32 = 150;

/// The options of `subscribe`. Not `Debug`: it holds the token.
#[derive(clap::Args)]
#[command(after_help = "\
Environment:
  REPLY_API_KEY        the Reply API key (Settings > API Key), unless --api-key-secret is given
  REPLY_API_BASE_URL   Reply's API (default https://api.reply.io)
  IDEMPOTENCY_TABLE_NAME  the table --test reads when --stack is not given
  AWS_REGION, AWS_PROFILE, ...  for --stack, --api-key-secret and --test (the usual AWS sources)

Exit status: 0 Reply matches the plan; 1 something failed (see the table and the message);
2 bad or missing options, nothing sent; 3 --dry-run found changes to make.")]
pub struct Args {
    /// The email function's route URL (the stack output EmailWebhookUrl)
    #[arg(long, value_name = "URL")]
    email_url: Option<String>,
    /// The LinkedIn function's route URL (LinkedinWebhookUrl)
    #[arg(long, value_name = "URL")]
    linkedin_url: Option<String>,
    /// The account function's route URL (AccountWebhookUrl)
    #[arg(long, value_name = "URL")]
    account_url: Option<String>,
    /// The webhook token each subscription URL carries: one of the stack's WebhookTokens
    #[arg(long, value_name = "TOKEN")]
    token: String,
    /// Read the route URLs (and the table for --test) from this CloudFormation stack's outputs;
    /// a URL option given as well wins
    #[arg(long, value_name = "NAME")]
    stack: Option<String>,
    /// Comma-separated event types to subscribe
    #[arg(long, value_name = "a,b,...", default_value = "all")]
    events: String,
    /// personal: the API key owner's activity; team: every member of the owner's team
    #[arg(long, value_name = "personal|team", default_value = "personal")]
    scope: String,
    /// Also send the email's text (prospect content that then sits in the queue)
    #[arg(long)]
    include_email_text: bool,
    /// Print what would change, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Delete our stale subscriptions: types not planned, and second ones for a type
    #[arg(long)]
    prune: bool,
    /// Fire Reply's test delivery for each subscription and report what our functions made
    /// of it (read from the idempotency table)
    #[arg(long)]
    test: bool,
    /// Read the Reply API key from this Secrets Manager secret instead of REPLY_API_KEY
    #[arg(long, value_name = "ARN")]
    api_key_secret: Option<String>,
}

/// A problem that ends the run before or while talking to Reply.
#[derive(Debug, thiserror::Error)]
enum Stop {
    /// Bad or missing input: nothing was sent.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    #[error(transparent)]
    Reply(#[from] reply_api::Error),
}

impl Stop {
    fn exit(&self) -> Exit {
        match self {
            Stop::Usage(_) => Exit::Usage,
            Stop::Aws(_) | Stop::Reply(_) => Exit::Failed,
        }
    }
}

fn usage(message: impl std::fmt::Display) -> Stop {
    Stop::Usage(message.to_string())
}

pub fn run(args: Args, env: Env<'_>) -> Exit {
    match subscribe(&args, env) {
        Ok(exit) => exit,
        Err(stop) => {
            eprintln!("reply-webhooks subscribe: {stop}");
            stop.exit()
        }
    }
}

/// Everything the run needs from AWS, loaded once when an option asks for it.
struct Context<'a> {
    args: &'a Args,
    env: Env<'a>,
    aws: Option<Aws>,
    outputs: HashMap<String, String>,
}

impl Context<'_> {
    fn aws(&mut self) -> Result<&Aws, Stop> {
        let aws = match self.aws.take() {
            Some(aws) => aws,
            None => Aws::load()?,
        };
        Ok(self.aws.insert(aws))
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }
}

fn subscribe(args: &Args, env: Env<'_>) -> Result<Exit, Stop> {
    // Everything that can be checked without a network call first.
    let options = PlanOptions {
        event_types: plan::parse_event_types(&args.events)
            .map_err(|e| usage(format!("--events: {e}")))?,
        scope: plan::parse_scope(&args.scope).map_err(|e| usage(format!("--scope: {e}")))?,
        include_email_text: args.include_email_text,
    };
    let token = checked_token(&args.token)?;
    let mut context = Context {
        args,
        env,
        aws: None,
        outputs: HashMap::new(),
    };
    if let Some(stack) = &args.stack {
        context.outputs = context.aws()?.stack_outputs(stack)?;
    }
    let endpoints = endpoints(&context)?;
    let key = api_key(&mut context)?;
    let base_url = context
        .var(BASE_URL_VAR)
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let client = Client::new(key, ClientConfig::new(base_url.trim(), CALL_BUDGET))?;
    let plan = Plan::new(endpoints, token, options);
    let policy = Policy {
        update: true,
        prune: args.prune,
    };

    let reconciliation = sync::reconcile(&client, &plan)?;
    println!(
        "Reply's subscriptions for {} ({} event types, scope {}, email text {}):",
        origin(&plan),
        plan.event_types().len(),
        plan.options().scope,
        if args.include_email_text { "on" } else { "off" },
    );
    println!();
    if args.dry_run {
        let matches = reconciliation.matches(policy);
        let planned: Vec<(&Entry, Vec<Action>)> = reconciliation
            .entries
            .iter()
            .map(|entry| (entry, entry.actions(policy)))
            .collect();
        print_rows(planned.iter().map(|(entry, actions)| {
            let steps: Vec<_> = actions.iter().map(|a| (a, None)).collect();
            row(entry, &steps, policy, None)
        }));
        println!();
        println!(
            "{} {}.",
            if matches {
                "Reply matches the plan: nothing to do"
            } else {
                "Dry run: Reply differs from the plan; nothing was changed"
            },
            others_and_calls(reconciliation.others, &client)
        );
        if args.test {
            println!("--test is skipped on a dry run.");
        }
        return Ok(if matches {
            Exit::Success
        } else {
            Exit::Pending
        });
    }

    let outcome = sync::apply(&client, reconciliation, policy);
    print_rows(outcome.entries.iter().map(|done| {
        let steps: Vec<_> = done
            .steps
            .iter()
            .map(|s| (&s.action, Some(&s.result)))
            .collect();
        row(&done.entry, &steps, policy, done.created.as_ref())
    }));
    println!();
    println!("{}", summary(&outcome, &client));
    let mut exit = if outcome.succeeded() {
        Exit::Success
    } else {
        Exit::Failed
    };
    if args.test {
        let table = match context.outputs.get(TABLE_OUTPUT) {
            Some(table) => Some(table.clone()),
            None => context.var(IDEMPOTENCY_TABLE_NAME),
        };
        let aws = match &table {
            Some(_) => Some(context.aws()?),
            None => None,
        };
        println!();
        if !test_deliveries::run(&client, &outcome, table.as_deref().zip(aws)) {
            exit = Exit::Failed;
        }
    }
    Ok(exit)
}

/// The token, if our functions would accept it (the same rule as theirs).
fn checked_token(raw: &str) -> Result<WebhookToken, Stop> {
    if raw.contains(',') {
        return Err(usage("--token takes one token, without commas"));
    }
    TokenSet::parse(raw).map_err(|reason| usage(format!("--token: {reason}")))?;
    WebhookToken::new(raw).map_err(|e| usage(format!("--token: {e}")))
}

/// The three route URLs: the URL options, else the stack's outputs.
fn endpoints(context: &Context<'_>) -> Result<Endpoints, Stop> {
    let args = context.args;
    let given = |category: Category| match category {
        Category::Email => args.email_url.clone(),
        Category::Linkedin => args.linkedin_url.clone(),
        Category::Account => args.account_url.clone(),
    };
    let missing: Vec<String> = Category::ALL
        .into_iter()
        .filter(|c| given(*c).is_none() && !context.outputs.contains_key(url_output(*c)))
        .map(|c| format!("--{}-url", c.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(usage(match &args.stack {
            Some(stack) => format!(
                "stack {stack:?} has no {} output; give {}",
                missing.join(", "),
                missing.join(" and ")
            ),
            None => format!(
                "give {} (the stack outputs EmailWebhookUrl, LinkedinWebhookUrl, AccountWebhookUrl), or --stack NAME",
                missing.join(", ")
            ),
        }));
    }
    Endpoints::new(|c| {
        given(c)
            .or_else(|| context.outputs.get(url_output(c)).cloned())
            .unwrap_or_default()
    })
    .map_err(usage)
}

fn api_key(context: &mut Context<'_>) -> Result<ApiKey, Stop> {
    if let Some(arn) = context.args.api_key_secret.clone() {
        let secret = context.aws()?.secret_string(&arn)?;
        return ApiKey::from_secret_string(&secret)
            .map_err(|_| usage(format!("the secret {arn} holds no API key")));
    }
    let key = context.var(API_KEY_VAR).ok_or_else(|| {
        usage("set REPLY_API_KEY to the Reply API key (Settings > API Key), or pass --api-key-secret ARN")
    })?;
    Ok(ApiKey::new(&key)?)
}

/// `https://host` of the email route: where the subscriptions point.
fn origin(plan: &Plan) -> String {
    plan.endpoints()
        .url(Category::Email)
        .origin()
        .ascii_serialization()
}

/// One line of the table.
struct Row {
    event_type: String,
    route: &'static str,
    subscription: String,
    result: String,
}

/// `created`: the id Reply gave a subscription created in this run.
fn row(
    entry: &Entry,
    steps: &[(&Action, Option<&StepResult>)],
    policy: Policy,
    created: Option<&SubscriptionId>,
) -> Row {
    let result = match &entry.state {
        State::Stale { reason, .. } if !policy.prune => {
            format!(
                "kept: stale, {} (--prune deletes it)",
                stale_reason(*reason)
            )
        }
        State::Present { .. } if steps.is_empty() => "unchanged".to_owned(),
        state => steps
            .iter()
            .map(|(action, result)| step_text(state, action, *result))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Row {
        event_type: entry.event_type.clone(),
        // Where it points after the run: the planned route, or where a stale one points.
        route: match entry.state {
            State::Stale { .. } => entry.route,
            _ => EventType::parse(&entry.event_type).category(),
        }
        .map_or("-", Routing::route),
        subscription: entry
            .subscription()
            .or(created)
            .map_or_else(|| "-".to_owned(), ToString::to_string),
        result,
    }
}

fn step_text(state: &State, action: &Action, result: Option<&StepResult>) -> String {
    let (done, todo) = match (action, state) {
        (Action::Create(_), _) => ("created".to_owned(), "create".to_owned()),
        (Action::Update(..), State::Present { differences, .. }) => {
            let what = differences
                .iter()
                .map(|d: &Difference| d.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            (format!("updated ({what})"), format!("update ({what})"))
        }
        (Action::Update(..), _) => ("updated".to_owned(), "update".to_owned()),
        (Action::Enable(_), _) => ("re-enabled".to_owned(), "re-enable".to_owned()),
        (Action::Delete(_), State::Stale { reason, .. }) => (
            format!("deleted: stale, {}", stale_reason(*reason)),
            format!("delete: stale, {}", stale_reason(*reason)),
        ),
        (Action::Delete(_), _) => ("deleted".to_owned(), "delete".to_owned()),
    };
    match result {
        None => format!("would {todo}"),
        Some(StepResult::Done) => done,
        Some(StepResult::Failed(err)) => format!("{todo} FAILED: {err}"),
        Some(StepResult::NotAttempted) => format!("{todo}: not attempted after the error above"),
    }
}

fn stale_reason(reason: StaleReason) -> &'static str {
    match reason {
        StaleReason::NotPlanned => "type not in the plan",
        StaleReason::Duplicate => "a second one for this type",
    }
}

fn print_rows(rows: impl Iterator<Item = Row>) {
    println!(
        "  {:<38} {:<19} {:<12} result",
        "event type", "route", "subscription"
    );
    for row in rows {
        println!(
            "  {:<38} {:<19} {:<12} {}",
            row.event_type, row.route, row.subscription, row.result
        );
    }
}

fn summary(outcome: &Outcome, client: &Client) -> String {
    let count =
        |which: &dyn Fn(&EntryOutcome) -> bool| outcome.entries.iter().filter(|e| which(e)).count();
    let planned = count(&|e| !matches!(e.entry.state, State::Stale { .. }));
    let created = count(&|e| e.did(|a| matches!(a, Action::Create(_))));
    let updated = count(&|e| e.did(|a| matches!(a, Action::Update(..))));
    let enabled = count(&|e| e.did(|a| matches!(a, Action::Enable(_))));
    let deleted = count(&|e| e.did(|a| matches!(a, Action::Delete(_))));
    let kept_stale = count(&|e| matches!(e.entry.state, State::Stale { .. }) && e.steps.is_empty());
    let failed = count(&|e| e.failed());
    let unchanged =
        count(&|e| matches!(e.entry.state, State::Present { .. }) && e.steps.is_empty());
    let mut counts = format!(
        "{planned} planned: {created} created, {updated} updated, {enabled} re-enabled, {unchanged} unchanged"
    );
    if deleted > 0 {
        counts.push_str(&format!("; {deleted} stale deleted"));
    }
    if kept_stale > 0 {
        counts.push_str(&format!("; {kept_stale} stale kept (--prune deletes them)"));
    }
    let calls = others_and_calls(outcome.others, client);
    match outcome.first_error() {
        None => format!("Reply matches the plan. {counts}. {calls}."),
        Some(err) => format!(
            "Reply does NOT match the plan: {failed} subscription(s) failed ({err}). {counts}. {calls}. Run again once the cause is fixed."
        ),
    }
}

fn others_and_calls(others: usize, client: &Client) -> String {
    format!(
        "{others} subscription(s) of other receivers left alone; {} Reply API call(s)",
        client.calls()
    )
}
