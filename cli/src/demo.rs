//! The end of `make demo`: a fake Reply wired to the running local stack with
//! `reply-webhooks subscribe`, run in-process. The fake's test deliveries really reach the
//! three functions under `cargo lambda watch`, and `--test` finds their records in the table.
//!
//! The stack is named by `RW_STACK_DIR` (its `watch.port` and `env` files, as the stack
//! scripts write them); the AWS variables of that `env` must be in the process environment,
//! as `make demo` exports them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use reply_api::fake::{FakeOptions, FakeReply};
use reply_payload::Category;
use webhook_core::Routing;
use webhook_core::config::vars::{IDEMPOTENCY_TABLE_NAME, WEBHOOK_TOKENS};

use crate::Exit;
use crate::subscribe::{API_KEY_VAR, BASE_URL_VAR};

/// The variable naming the stack's directory.
pub const STACK_DIR_VAR: &str = "RW_STACK_DIR";

/// A running local stack: the functions' URLs and the environment they were given.
#[derive(Debug, Clone)]
pub struct LocalStack {
    watch_port: String,
    env: HashMap<String, String>,
}

impl LocalStack {
    /// Reads the stack named by `RW_STACK_DIR` (relative paths from `root`); `Ok(None)` when
    /// the variable is not set.
    pub fn from_env(root: &Path) -> Result<Option<LocalStack>, String> {
        let Some(dir) = std::env::var_os(STACK_DIR_VAR).filter(|d| !d.is_empty()) else {
            return Ok(None);
        };
        let dir = root.join(PathBuf::from(dir));
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| {
                format!(
                    "cannot read {}: {e}; is the local stack running (make local)?",
                    dir.join(name).display()
                )
            })
        };
        let env = read("env")?
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Some(LocalStack {
            watch_port: read("watch.port")?.trim().to_owned(),
            env,
        }))
    }

    /// The route URL of `category` on the function URL `cargo lambda watch` serves.
    pub fn url(&self, category: Category) -> String {
        format!(
            "http://127.0.0.1:{}/lambda-url/{}{}",
            self.watch_port,
            category.binary(),
            category.route()
        )
    }

    /// A token the functions accept: the first of `WEBHOOK_TOKENS`.
    pub fn token(&self) -> Option<&str> {
        let tokens = self.env.get(WEBHOOK_TOKENS)?;
        tokens.split(',').map(str::trim).find(|t| !t.is_empty())
    }

    /// The functions' environment (the table, the queues, the AWS endpoint, the tokens).
    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
    }

    pub fn table(&self) -> Option<&str> {
        self.env.get(IDEMPOTENCY_TABLE_NAME).map(String::as_str)
    }

    /// The `subscribe` arguments that point at this stack, the token included.
    pub fn subscribe_args(&self) -> Result<Vec<String>, String> {
        let token = self
            .token()
            .ok_or("the stack's env has no WEBHOOK_TOKENS")?;
        let mut args = vec!["reply-webhooks".to_owned(), "subscribe".to_owned()];
        for category in Category::ALL {
            args.push(format!("--{}-url", category.as_str()));
            args.push(self.url(category));
        }
        args.extend(["--token".to_owned(), token.to_owned()]);
        Ok(args)
    }
}

/// Runs the demo; the exit says whether every step went as it should.
pub fn run(root: &Path) -> Exit {
    match demo(root) {
        Ok(()) => {
            println!();
            println!("subscribe demo: ok");
            Exit::Success
        }
        Err(problem) => {
            eprintln!("subscribe demo: {problem}");
            Exit::Failed
        }
    }
}

fn demo(root: &Path) -> Result<(), String> {
    let stack = LocalStack::from_env(root)?
        .ok_or("RW_STACK_DIR is not set: run it through `make demo`, or against `make local` with RW_STACK_DIR=.stack/local")?;
    let fake = FakeReply::start(FakeOptions::default())
        .map_err(|e| format!("cannot start the fake Reply: {e}"))?;
    let mut vars = HashMap::from([
        (API_KEY_VAR.to_owned(), fake.api_key()),
        (BASE_URL_VAR.to_owned(), fake.base_url()),
    ]);
    if let Some(table) = stack.table() {
        vars.insert(IDEMPOTENCY_TABLE_NAME.to_owned(), table.to_owned());
    }
    let env = move |name: &str| vars.get(name).cloned().or_else(|| std::env::var(name).ok());
    let args = stack.subscribe_args()?;
    let subscribe = |extra: &[&str], title: &str| -> Result<(), String> {
        println!();
        println!("── {title}");
        println!(
            "$ REPLY_API_BASE_URL={} reply-webhooks subscribe --email-url … --linkedin-url … --account-url … --token …{}",
            fake.base_url(),
            extra.iter().map(|a| format!(" {a}")).collect::<String>()
        );
        println!();
        let all = args
            .iter()
            .map(OsString::from)
            .chain(extra.iter().map(OsString::from));
        match crate::main(all, &env) {
            Exit::Success => Ok(()),
            other => Err(format!(
                "`subscribe {}` ended with {other:?}",
                extra.join(" ")
            )),
        }
    };

    println!(
        "A fake Reply API on {} is wired to the local functions with `reply-webhooks subscribe`.",
        fake.base_url()
    );
    subscribe(
        &["--test"],
        "1. An account without subscriptions: all 19 are created, then each is test-fired",
    )?;
    let answers: Vec<_> = fake.deliveries();
    let refused: Vec<_> = answers
        .iter()
        .filter(|d| !d.status.is_some_and(|s| (200..300).contains(&s)))
        .collect();
    if answers.len() != 19 || !refused.is_empty() {
        return Err(format!(
            "expected 19 test deliveries answered 2xx, got {} of which {} were not: {refused:?}",
            answers.len(),
            refused.len()
        ));
    }

    let subscriptions = fake.subscriptions();
    let (disabled, removed) = match subscriptions.as_slice() {
        [first, second, ..] => (first, second),
        _ => return Err("the fake holds fewer than two subscriptions".into()),
    };
    fake.set_enabled(disabled.id, false);
    fake.remove(removed.id);
    subscribe(
        &[],
        &format!(
            "2. Reply disabled {} and {} was deleted: one run repairs both (the watchdog does the same every 15 minutes)",
            disabled.event_type, removed.event_type
        ),
    )?;
    subscribe(&[], "3. Run again: nothing to change")?;
    Ok(())
}
