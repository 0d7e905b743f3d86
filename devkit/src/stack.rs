//! The local stack: moto's server (DynamoDB + SQS), the table and queues, the strict proxy
//! between the functions and moto, and the three functions under `cargo lambda watch`, all on
//! 127.0.0.1.
//!
//! ```text
//! functions ──AWS_ENDPOINT_URL──▶ strict-proxy ──▶ moto ◀── provisioning, tests' reads
//! ```
//!
//! The proxy answers as AWS would to a request AWS refuses ([`crate::proxy`]), so the local
//! stack is as strict as AWS; [`Stack::refusals`] lists what it refused (nothing, if all is
//! well: `make test` and `make demo` fail otherwise).
//!
//! Its state lives in one directory (`.stack/local` for `make local`, `.stack/run-<pid>` for a
//! run of its own): `moto.{pid,port,log}`, `proxy.{pid,port,log}`, `watch.{pid,port,log}` and
//! `env`, the functions' environment (NAME=value lines). The end-to-end tests read `watch.port`
//! and `env` from it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reply_payload::Category;
use webhook_core::Routing;

use serde_json::Value;

use crate::console::{note, say};
use crate::http::Loopback;
use crate::interrupt::{OnInterrupt, on_interrupt};
use crate::local_aws::{INHERITED_AWS_OVERRIDES, LocalAws, runtime};
use crate::moto::{self, Moto};
use crate::process::{self, Background, Signal, log_tail};
use crate::provision::{StackNames, provision};
use crate::proxy::REFUSALS_PATH;
use crate::workspace::{ToolGroup, Workspace};
use crate::{Error, LOCAL_TOKEN, Result, ports, routes};

/// The port `make local` prefers for the functions.
pub const LOCAL_WATCH_PORT: u16 = 9000;
/// How long the watcher may take to answer at all.
const WATCHER_READY_WITHIN: Duration = Duration::from_secs(60);
/// The first request to a function may compile and start it.
const FUNCTION_START_WITHIN: Duration = Duration::from_secs(600);
/// How long the watcher gets to stop its functions on SIGINT.
const WATCHER_STOP_GRACE: Duration = Duration::from_secs(15);
const WATCHER: &str = "watch";
const PROXY: &str = "proxy";
/// The strict proxy's binary (devkit's `strict-proxy`).
const PROXY_BINARY: &str = "strict-proxy";
/// How long the proxy may take to answer after it is started (it answers at once).
const PROXY_READY_WITHIN: Duration = Duration::from_secs(10);
/// The operator command's binaries, which the stack builds with the functions.
const OPERATOR_BINARIES: [&str; 2] = ["reply-webhooks", "subscribe-demo"];
/// `subscribe-demo` needs the operator command's fake Reply. Named without its package: cargo
/// refuses `reply-webhooks/fake` for a `--bin` build's required features, and `fake` turns on
/// the same in every crate that has it (the operator command and reply-api).
const OPERATOR_FEATURES: &str = "fake";

/// Which ports a stack takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackMode {
    /// `make local`: the functions on port 9000 when it is free, so URLs stay the same.
    Local,
    /// A run of its own (demo, test, load): free ports, so it never meets another stack.
    Private,
}

/// A running local stack; stopped when dropped (and on Ctrl-C) unless [`Stack::keep_running`].
#[derive(Debug)]
pub struct Stack {
    dir: PathBuf,
    moto: LocalAws,
    functions_aws: LocalAws,
    watch_port: u16,
    armed: Option<OnInterrupt>,
}

impl Stack {
    /// Builds the functions, the strict proxy and the operator command (installing moto and
    /// cargo-lambda alongside, on first use), starts moto, provisions the table and queues,
    /// starts `cargo lambda watch` and starts each function once (a GET, which answers 405 and
    /// touches nothing), so the first delivery meets a running function. `WATCH_PORT` and
    /// `MOTO_PORT` choose the ports; one that is taken fails at once, before the build.
    pub fn start(ws: &Workspace, dir: &Path, mode: StackMode) -> Result<Stack> {
        let preferred = match mode {
            StackMode::Local => Some(LOCAL_WATCH_PORT),
            StackMode::Private => None,
        };
        let watch_port = ports::pick("WATCH_PORT", preferred)?;
        let moto_port = ports::pick("MOTO_PORT", None)?;
        let proxy_port = ports::pick("PROXY_PORT", None)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let started = Stack::start_in(ws, dir, [watch_port, moto_port, proxy_port]);
        if started.is_err() {
            stop_dir(dir);
        }
        started
    }

    fn start_in(
        ws: &Workspace,
        dir: &Path,
        [watch_port, moto_port, proxy_port]: [u16; 3],
    ) -> Result<Stack> {
        let stop_on_interrupt = dir.to_path_buf();
        let armed = on_interrupt(move || stop_dir(&stop_on_interrupt))?;
        // The tools come from PyPI while the functions compile (first use only).
        let (built, tools) = process::alongside(
            || build_binaries(ws),
            || ws.ensure_tools(&[ToolGroup::Moto, ToolGroup::Lambda]),
        );
        built.and(tools)?;
        let moto = Moto::start_on(ws, dir, moto_port)?;
        let moto_aws = LocalAws::new(moto.endpoint());
        moto.detach(); // from here on the stack stops it
        let stack = Stack {
            dir: dir.to_path_buf(),
            functions_aws: start_proxy(ws, dir, &moto_aws, proxy_port)?,
            moto: moto_aws,
            watch_port,
            armed: Some(armed),
        };
        stack.write_env()?;
        stack.start_watcher(ws)?;
        stack.start_functions(ws)?;
        Ok(stack)
    }

    /// The stack recorded in `dir`, when both its processes run.
    pub fn attach(dir: &Path) -> Option<Stack> {
        let moto = Moto::from_dir(dir).filter(Moto::is_running)?;
        for process in [WATCHER, PROXY] {
            Background::from_pid_file(dir, process).filter(Background::is_running)?;
        }
        let watch_port = read_port(&dir.join("watch.port"))?;
        let env = read_env(dir);
        let moto_aws = LocalAws::new(moto.endpoint());
        let functions_aws = env
            .iter()
            .find(|(name, _)| name == "AWS_ENDPOINT_URL")
            .map(|(_, endpoint)| LocalAws::new(endpoint.clone()))
            .unwrap_or_else(|| moto_aws.clone());
        Some(Stack {
            dir: dir.to_path_buf(),
            moto: moto_aws,
            functions_aws,
            watch_port,
            armed: None,
        })
    }

    /// Leaves the stack running after this value is gone (`make local`); `make stop` or
    /// [`stop_dir`] stops it.
    pub fn keep_running(mut self) {
        self.armed = None;
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// moto's own endpoint: what tests and chores use to inspect the table and queues.
    pub fn moto(&self) -> &LocalAws {
        &self.moto
    }

    /// The endpoint the functions are given (`AWS_ENDPOINT_URL` in `env`): the strict proxy
    /// in front of moto. What is read or written here is checked as AWS would check it.
    pub fn functions_aws(&self) -> &LocalAws {
        &self.functions_aws
    }

    /// What the strict proxy refused so far, one line each (target, error code, request):
    /// requests AWS would have refused.
    pub fn refusals(&self) -> Result<Vec<String>> {
        let url = format!("{}{REFUSALS_PATH}", self.functions_aws.endpoint);
        let reply = Loopback::new(Duration::from_secs(10)).get(&url)?;
        let refusals: Vec<Value> = serde_json::from_str(&reply.body)
            .ok()
            .filter(|_| reply.status == 200)
            .ok_or_else(|| Error::Http {
                url: url.clone(),
                reason: format!("HTTP {}: {}", reply.status, reply.body),
            })?;
        Ok(refusals
            .iter()
            .map(|r| {
                let body = r["body"].as_str().unwrap_or_default();
                format!(
                    "{} refused with {}: {}",
                    r["target"].as_str().unwrap_or_default(),
                    r["refused"].as_str().unwrap_or_default(),
                    truncate(body, 300)
                )
            })
            .collect())
    }

    pub fn watch_port(&self) -> u16 {
        self.watch_port
    }

    /// `http://127.0.0.1:<watch port>`: the functions' URLs start here.
    pub fn watch_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.watch_port)
    }

    /// The URL that POSTs to `category`'s function with `token`.
    pub fn function_url(&self, category: Category, token: &str) -> String {
        format!(
            "{}{}",
            self.watch_url(),
            routes::function_path(category, token)
        )
    }

    /// The functions' environment file (NAME=value lines).
    pub fn env_file(&self) -> PathBuf {
        self.dir.join("env")
    }

    /// The functions' environment, as written to [`Stack::env_file`].
    pub fn env(&self) -> Vec<(String, String)> {
        read_env(&self.dir)
    }

    /// The watcher's log: the functions' JSON logs and their builds.
    pub fn watch_log(&self) -> PathBuf {
        self.dir.join(format!("{WATCHER}.log"))
    }

    /// Stops it now (the same as dropping it).
    pub fn stop(mut self) {
        self.armed = None;
        stop_dir(&self.dir);
    }

    fn write_env(&self) -> Result {
        say("creating the table and queues");
        let moto = self.moto.clone();
        let provisioned = runtime()?.block_on(async move {
            let (dynamodb, sqs) = moto.clients().await;
            provision(&dynamodb, &sqs, &StackNames::local()).await
        })?;
        let mut lines: Vec<String> = provisioned
            .env()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        lines.push(format!(
            "{}={LOCAL_TOKEN}",
            webhook_core::config::vars::WEBHOOK_TOKENS
        ));
        lines.extend(
            self.functions_aws
                .env()
                .into_iter()
                .map(|(name, value)| format!("{name}={value}")),
        );
        let path = self.env_file();
        std::fs::write(&path, lines.join("\n") + "\n")
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    fn start_watcher(&self, ws: &Workspace) -> Result {
        // A port can be taken while we built: check again right before binding.
        ports::still_free("WATCH_PORT", self.watch_port)?;
        say(format!(
            "starting cargo lambda watch on 127.0.0.1:{} (log: {})",
            self.watch_port,
            ws.rel(&self.watch_log())
        ));
        let mut command = ws.command("cargo");
        command
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.watch_port.to_string()])
            .arg("--env-file")
            .arg(self.env_file());
        // The functions get exactly the provisioned environment; nothing of the caller's
        // AWS settings may reach them.
        for name in INHERITED_AWS_OVERRIDES {
            command.env_remove(name);
        }
        let watcher = Background::spawn(&self.dir, WATCHER, &mut command)?;
        let path = self.dir.join("watch.port");
        std::fs::write(&path, format!("{}\n", self.watch_port))
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;

        let client = Loopback::new(Duration::from_secs(2));
        let deadline = Instant::now() + WATCHER_READY_WITHIN;
        loop {
            if !watcher.is_running() {
                return Err(self.startup_error("cargo lambda watch", "exited during start-up"));
            }
            if client.get(&format!("{}/", self.watch_url())).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.startup_error(
                    "cargo lambda watch",
                    &format!(
                        "did not answer on 127.0.0.1:{} within {} s",
                        self.watch_port,
                        WATCHER_READY_WITHIN.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_functions(&self, ws: &Workspace) -> Result {
        let client = Loopback::new(FUNCTION_START_WITHIN);
        for category in Category::ALL {
            note(format!("starting {}", category.binary()));
            let url = format!(
                "{}/lambda-url/{}/webhooks/warm-up?token={LOCAL_TOKEN}",
                self.watch_url(),
                category.binary()
            );
            let answer = match client.get(&url) {
                Ok(reply) if reply.status == 405 => continue,
                Ok(reply) => format!("{} {}", reply.status, truncate(&reply.body, 300)),
                Err(err) => err.to_string(),
            };
            return Err(self.startup_error(
                category.binary(),
                &format!(
                    "did not start: GET answered '{answer}' (expected 405 method_not_allowed; log {})",
                    ws.rel(&self.watch_log())
                ),
            ));
        }
        Ok(())
    }

    fn startup_error(&self, what: &str, problem: &str) -> Error {
        Error::Startup {
            what: what.to_owned(),
            problem: problem.to_owned(),
            log: self.watch_log(),
            tail: log_tail(&self.watch_log(), 30),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.armed.take().is_some() {
            stop_dir(&self.dir);
        }
    }
}

/// Stops the stack recorded in `dir` (the watcher first, with SIGINT, so it stops the functions
/// it started; then moto) and removes the directory. Nothing when there is none.
pub fn stop_dir(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    if let Some(watcher) = Background::from_pid_file(dir, WATCHER) {
        watcher.stop(Signal::Interrupt, WATCHER_STOP_GRACE);
    }
    if let Some(proxy) = Background::from_pid_file(dir, PROXY) {
        proxy.stop(Signal::Terminate, Duration::from_secs(5));
    }
    moto::stop_in(dir);
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts the strict proxy on `port` in front of `moto` and waits until it answers; the
/// endpoint the functions get.
fn start_proxy(ws: &Workspace, dir: &Path, moto: &LocalAws, port: u16) -> Result<LocalAws> {
    ports::still_free("PROXY_PORT", port)?;
    say(format!(
        "starting the strict AWS proxy on 127.0.0.1:{port}, in front of moto (log: {}/{PROXY}.log)",
        ws.rel(dir)
    ));
    let mut command = ws.command(ws.target_dir().join("debug").join(PROXY_BINARY));
    command.args(["--upstream", &moto.endpoint, "--port", &port.to_string()]);
    let process = Background::spawn(dir, PROXY, &mut command)?;
    let path = dir.join(format!("{PROXY}.port"));
    std::fs::write(&path, format!("{port}\n"))
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    let proxy = LocalAws::new(format!("http://127.0.0.1:{port}"));
    let client = Loopback::new(Duration::from_secs(2));
    let deadline = Instant::now() + PROXY_READY_WITHIN;
    loop {
        if !process.is_running() {
            return Err(proxy_error(&process, "exited during start-up"));
        }
        if client
            .get(&format!("{}{REFUSALS_PATH}", proxy.endpoint))
            .is_ok_and(|reply| reply.status == 200)
        {
            return Ok(proxy);
        }
        if Instant::now() >= deadline {
            return Err(proxy_error(
                &process,
                &format!("did not answer on 127.0.0.1:{port}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn proxy_error(process: &Background, problem: &str) -> Error {
    Error::Startup {
        what: "the strict proxy".into(),
        problem: problem.to_owned(),
        log: process.log(),
        tail: log_tail(&process.log(), 20),
    }
}

/// Builds the functions as `cargo lambda watch` will run them, the strict proxy, and the
/// operator command (its binaries run against the stack: `reply-webhooks replay`, the demo's
/// `subscribe-demo`). `cargo run --bin <function>` at the workspace root resolves features over
/// the whole workspace, so this builds with the same selection (`--bin`, not `-p`), or the
/// first request would rebuild. On a first run the operator command compiles while the tools
/// install; xtask does not depend on it, so `cargo xtask` starts without it.
fn build_binaries(ws: &Workspace) -> Result {
    say(
        "building the functions, the strict proxy and the operator command (cargo build --bin …; first run: a few minutes)",
    );
    let mut command = ws.command("cargo");
    command.arg("build");
    for category in Category::ALL {
        command.args(["--bin", category.binary()]);
    }
    command.args(["--bin", PROXY_BINARY]);
    for binary in OPERATOR_BINARIES {
        command.args(["--bin", binary]);
    }
    command.args(["--features", OPERATOR_FEATURES]);
    ws.run(&mut command)
}

/// `cargo run` of one of the operator command's binaries, as the stack built it (`--bin`, with
/// the features the stack's build turns on), so running it compiles nothing more. `fake` only
/// adds the fake Reply's modules: `reply-webhooks` itself behaves the same with it.
pub fn operator_command(ws: &Workspace, binary: &str) -> Command {
    let mut command = ws.command("cargo");
    command
        .args(["run", "-q", "--features", OPERATOR_FEATURES])
        .args(["--bin", binary]);
    command
}

fn read_port(path: &Path) -> Option<u16> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_env(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
