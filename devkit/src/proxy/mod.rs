//! A loopback proxy between the AWS SDK and a local emulator (moto's server) that makes the
//! local stack as strict as AWS and lets tests break it on purpose.
//!
//! ```text
//! SDK ──HTTP/1.1──▶ 127.0.0.1:<proxy> ──(fault? strict?)──▶ moto
//! ```
//!
//! Per exchange (one request and its answer) the proxy
//! - records the request's `X-Amz-Target` and body ([`Control::exchanges`]): request counts
//!   measured on the wire;
//! - injects a [`Fault`] chosen by a [`Trigger`]: delay, hang or reset, before or after the
//!   request reaches the emulator, on every exchange, the next one, or the nth of one target
//!   ([`Control::inject`]);
//! - in strict mode (the default), checks SQS SendMessage/SendMessageBatch and DynamoDB
//!   PutItem/UpdateItem/DeleteItem/GetItem against AWS's documented rules and, on a violation,
//!   answers as AWS does (status, JSON error shape, error code) instead of forwarding; the SDK
//!   then reports the same service error as against AWS. The rules and their sources are in
//!   `sqs.rs` and `dynamodb.rs`.
//!
//! Both SDK clients speak the AWS JSON protocol (`X-Amz-Target: DynamoDB_20120810.*`,
//! `AmazonSQS.*`); anything else passes through untouched. Everything binds 127.0.0.1.
//!
//! Every refusal is also kept apart ([`Control::refusals`]), and served as JSON at
//! [`REFUSALS_PATH`] (`GET`), so whoever runs a long-lived proxy can fail on one.
//!
//! In a test, [`Proxy::start`] runs it until dropped. As a long-running process (the
//! `strict-proxy` binary, in front of moto for the functions of the local stack), [`serve`]
//! runs it on a listener until its future is dropped or its task aborted:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use devkit::proxy::{Control, resolve_upstream, serve};
//! let upstream = resolve_upstream("http://127.0.0.1:5000").await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4566").await?;
//! serve(listener, upstream, Control::new()).await;
//! # Ok(()) }
//! ```
//!
//! Self-contained on purpose (tokio, serde_json, base64, thiserror), so it can move to a
//! crate of its own.

mod dynamodb;
mod fault;
mod http;
mod lookup;
mod number;
mod refusal;
mod sqs;
mod update_expression;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub use fault::{Fault, Trigger};
pub use refusal::ErrorCode;

use fault::Rules;
use http::{HttpError, Request, Response};
use lookup::{Cache, Lookup};
use refusal::{Refusal, request_id};

/// `X-Amz-Target` values of the requests the functions make.
pub mod target {
    pub const PUT_ITEM: &str = "DynamoDB_20120810.PutItem";
    pub const UPDATE_ITEM: &str = "DynamoDB_20120810.UpdateItem";
    pub const DELETE_ITEM: &str = "DynamoDB_20120810.DeleteItem";
    pub const GET_ITEM: &str = "DynamoDB_20120810.GetItem";
    pub const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";
    pub const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";
}

/// How long a kept-alive client connection may sit idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// The pause after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Exchanges kept for [`Control::exchanges`]: the most recent, so that a long-running proxy
/// (a load test through it) keeps bounded memory.
pub const MAX_RECORDED_EXCHANGES: usize = 10_000;
/// Refusals kept for [`Control::refusals`]: the first ones, which are the ones to fix.
pub const MAX_KEPT_REFUSALS: usize = 1_000;
/// Where a `GET` answers the refusals so far (JSON: `[{"target", "refused", "body"}]`), never
/// forwarded.
pub const REFUSALS_PATH: &str = "/__strict-proxy/refusals";

/// One request the proxy received, and what it did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem` (empty when absent).
    pub target: String,
    /// The request body (lossy UTF-8).
    pub body: String,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// The error code strict mode answered with (for a batch: its first refused entry's).
    pub refused: Option<String>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "the upstream `{0}` is not an http://host:port address: give the emulator's endpoint, \
         such as moto's AWS_ENDPOINT_URL"
    )]
    UpstreamAddress(String),
    #[error("cannot resolve the upstream `{url}`: {source}")]
    Resolve {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the upstream {0} is not a loopback address: the proxy only fronts a local emulator")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
}

#[derive(Debug, Default)]
struct State {
    rules: Mutex<Rules>,
    exchanges: Mutex<VecDeque<Exchange>>,
    refusals: Mutex<Vec<Exchange>>,
    /// Refusals are also written to stderr.
    log_refusals: AtomicBool,
    /// Strict mode is on unless this is set.
    lenient: AtomicBool,
    requests: AtomicUsize,
    faults: AtomicUsize,
    cache: Cache,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a running proxy does, changeable while requests are in flight. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct Control {
    state: Arc<State>,
}

impl Control {
    /// Strict, no faults, nothing recorded.
    pub fn new() -> Control {
        Control::default()
    }

    /// Adds `fault` for the exchanges `trigger` selects. Faults injected earlier win when two
    /// select the same exchange.
    pub fn inject(&self, fault: Fault, trigger: Trigger) {
        lock(&self.state.rules).inject(fault, trigger);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.state.rules).clear();
    }

    /// Strict mode on (the default) or off (forward everything, as a plain proxy).
    pub fn set_strict(&self, strict: bool) {
        self.state.lenient.store(!strict, Ordering::SeqCst);
    }

    pub fn is_strict(&self) -> bool {
        !self.state.lenient.load(Ordering::SeqCst)
    }

    /// The exchanges recorded since the last [`Control::take_exchanges`], oldest first (at
    /// most the last [`MAX_RECORDED_EXCHANGES`]).
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.state.exchanges).iter().cloned().collect()
    }

    /// The exchanges recorded so far, forgetting them.
    pub fn take_exchanges(&self) -> Vec<Exchange> {
        std::mem::take(&mut *lock(&self.state.exchanges)).into()
    }

    /// The exchanges strict mode refused since the start (at most the first
    /// [`MAX_KEPT_REFUSALS`]).
    pub fn refusals(&self) -> Vec<Exchange> {
        lock(&self.state.refusals).clone()
    }

    /// Writes each refusal to stderr as it happens (a long-running proxy's log).
    pub fn log_refusals(&self) {
        self.state.log_refusals.store(true, Ordering::SeqCst);
    }

    /// Requests received since the start.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Faults injected since the start (delays included).
    pub fn faults(&self) -> usize {
        self.state.faults.load(Ordering::SeqCst)
    }

    fn next_fault(&self, target: &str) -> Option<Fault> {
        self.state.requests.fetch_add(1, Ordering::SeqCst);
        let fault = lock(&self.state.rules).next(target);
        if fault.is_some() {
            self.state.faults.fetch_add(1, Ordering::SeqCst);
        }
        fault
    }

    fn record(&self, exchange: Exchange) {
        if let Some(code) = &exchange.refused {
            if self.state.log_refusals.load(Ordering::SeqCst) {
                eprintln!(
                    "refused {} with {code}: {}",
                    exchange.target,
                    exchange.body.chars().take(2_000).collect::<String>()
                );
            }
            let mut refusals = lock(&self.state.refusals);
            if refusals.len() < MAX_KEPT_REFUSALS {
                refusals.push(exchange.clone());
            }
        }
        let mut exchanges = lock(&self.state.exchanges);
        if exchanges.len() == MAX_RECORDED_EXCHANGES {
            exchanges.pop_front();
        }
        exchanges.push_back(exchange);
    }
}

/// A proxy serving on a free 127.0.0.1 port until dropped. Dereferences to its [`Control`].
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    control: Control,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a strict proxy in front of `upstream` (`http://host:port`, such as moto's
    /// `AWS_ENDPOINT_URL`, or `host:port`).
    pub async fn start(upstream: &str) -> Result<Proxy, ProxyError> {
        let upstream = resolve_upstream(upstream).await?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ProxyError::Bind)?;
        let addr = listener.local_addr().map_err(ProxyError::Bind)?;
        let control = Control::new();
        let task = tokio::spawn(serve(listener, upstream, control.clone()));
        Ok(Proxy {
            addr,
            control,
            task,
        })
    }

    /// The endpoint URL to give the SDK (`endpoint_url`, `AWS_ENDPOINT_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn control(&self) -> &Control {
        &self.control
    }
}

impl Deref for Proxy {
    type Target = Control;

    fn deref(&self) -> &Control {
        &self.control
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The socket address of an `http://host:port` (or `host:port`) upstream on loopback.
pub async fn resolve_upstream(url: &str) -> Result<SocketAddr, ProxyError> {
    let host_port = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/');
    if host_port.is_empty() || host_port.contains('/') || host_port.contains("://") {
        return Err(ProxyError::UpstreamAddress(url.to_owned()));
    }
    let addr = tokio::net::lookup_host(host_port)
        .await
        .map_err(|source| ProxyError::Resolve {
            url: url.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| ProxyError::UpstreamAddress(url.to_owned()))?;
    if !addr.ip().is_loopback() {
        return Err(ProxyError::NotLoopback(addr));
    }
    Ok(addr)
}

/// Serves the proxy on `listener`, forwarding to `upstream`, until this future is dropped
/// (every connection it serves ends with it).
pub async fn serve(listener: TcpListener, upstream: SocketAddr, control: Control) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(connection(client, upstream, control.clone()));
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Whether a client connection carries another exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepOpen,
    Close,
}

type Client = BufReader<TcpStream>;

async fn connection(client: TcpStream, upstream: SocketAddr, control: Control) {
    let _ = client.set_nodelay(true);
    let mut client = BufReader::new(client);
    let mut server = None;
    loop {
        let request =
            match tokio::time::timeout(IDLE_TIMEOUT, http::read_request(&mut client)).await {
                Ok(Ok(Some(request))) => request,
                Ok(Err(
                    error @ (HttpError::Malformed(_)
                    | HttpError::HeadTooLarge
                    | HttpError::BodyTooLarge),
                )) => {
                    let answer = Response::new(
                        400,
                        "Bad Request",
                        vec![("Content-Type".to_owned(), "text/plain".to_owned())],
                        error.to_string().into_bytes(),
                    );
                    let _ = client.write_all(&answer.to_bytes()).await;
                    return;
                }
                _ => return,
            };
        if exchange(&mut client, &mut server, upstream, &control, request).await == Next::Close {
            return;
        }
    }
}

/// What strict mode does with a request.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Forward,
    Refuse(Refusal),
    /// A batch of which some entries broke a rule: send the others (this body; `None` when
    /// none is left), then report these `Failed` entries with the answer.
    Split {
        body: Option<Value>,
        failed: Vec<Value>,
    },
}

async fn exchange(
    client: &mut Client,
    server: &mut Option<Client>,
    upstream: SocketAddr,
    control: &Control,
    request: Request,
) -> Next {
    if request.target() == REFUSALS_PATH {
        return answer_refusals(client, control).await;
    }
    let target = request
        .head
        .header("x-amz-target")
        .unwrap_or_default()
        .to_owned();
    let fault = control.next_fault(&target);
    let mut seen = Exchange {
        target,
        body: String::from_utf8_lossy(&request.body).into_owned(),
        fault,
        refused: None,
    };
    if let Some(fault) = fault.filter(|fault| !fault.lands()) {
        control.record(seen);
        return if fault == Fault::Hang {
            hang(client).await
        } else {
            reset(client)
        };
    }
    let decision = if control.is_strict() {
        decide(&seen.target, &request, upstream, &control.state.cache).await
    } else {
        Decision::Forward
    };
    let (answer, refused) = respond(decision, server, upstream, &request).await;
    seen.refused = refused;
    // Queue and table changes that went through invalidate what the rules knew.
    control.state.cache.note(&seen.target);
    control.record(seen);
    let Ok(answer) = answer else {
        // The upstream is down or broke off: the client sees its connection reset.
        return reset(client);
    };
    match fault {
        Some(Fault::HangAfterForward) => return hang(client).await,
        Some(Fault::ResetAfterForward) => return reset(client),
        Some(Fault::Delay(by)) => tokio::time::sleep(by).await,
        _ => {}
    }
    if client.write_all(&answer.to_bytes()).await.is_err() || client.flush().await.is_err() {
        return Next::Close;
    }
    if answer.closes || request.wants_close() {
        Next::Close
    } else {
        Next::KeepOpen
    }
}

/// The answer to `request` under `decision` (forwarding what it lets through), and the
/// error code strict mode refused it (or its first refused batch entry) with.
async fn respond(
    decision: Decision,
    server: &mut Option<Client>,
    upstream: SocketAddr,
    request: &Request,
) -> (Result<Response, HttpError>, Option<String>) {
    match decision {
        Decision::Forward => (forward(server, upstream, request).await, None),
        Decision::Refuse(refusal) => (Ok(refusal.response()), Some(refusal.code.code().to_owned())),
        Decision::Split { body, failed } => {
            let code = failed
                .first()
                .and_then(|entry| entry["Code"].as_str())
                .map(str::to_owned);
            let answer = match body {
                Some(body) => {
                    let body = serde_json::to_vec(&body).unwrap_or_default();
                    forward(server, upstream, &request.with_body(body))
                        .await
                        .map(|answer| with_failed_entries(answer, failed))
                }
                None => Ok(batch_answer(failed)),
            };
            (answer, code)
        }
    }
}

async fn decide(target: &str, request: &Request, upstream: SocketAddr, cache: &Cache) -> Decision {
    let Some((service, operation)) = target.split_once('.') else {
        return Decision::Forward;
    };
    if !matches!(service, "DynamoDB_20120810" | "AmazonSQS") {
        return Decision::Forward;
    }
    // A body that is not JSON gets the emulator's own protocol error.
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return Decision::Forward;
    };
    let lookup = Lookup::new(upstream, request, cache);
    match (service, operation) {
        ("AmazonSQS", "SendMessage") => sqs::check_send(&body, &lookup).await,
        ("AmazonSQS", "SendMessageBatch") => sqs::check_batch(&body, &lookup).await,
        ("AmazonSQS", _) => Decision::Forward,
        (_, operation) => match dynamodb::Operation::named(operation) {
            Some(operation) => dynamodb::check(operation, &body, &lookup)
                .await
                .map_or(Decision::Forward, Decision::Refuse),
            None => Decision::Forward,
        },
    }
}

/// Sends `request` on the kept-alive upstream connection (or a new one) and reads the answer.
async fn forward(
    server: &mut Option<Client>,
    upstream: SocketAddr,
    request: &Request,
) -> Result<Response, HttpError> {
    let bytes = request.to_bytes();
    let mut retried = false;
    loop {
        let reused = server.is_some();
        let connection = match server {
            Some(connection) => connection,
            None => {
                let stream = TcpStream::connect(upstream).await?;
                let _ = stream.set_nodelay(true);
                server.insert(BufReader::new(stream))
            }
        };
        let sent = async {
            connection.write_all(&bytes).await?;
            connection.flush().await
        }
        .await;
        let answer = match sent {
            Ok(()) => http::read_response(connection, request.method()).await,
            Err(error) => Err(HttpError::Io(error)),
        };
        match answer {
            Ok(answer) => {
                if answer.closes {
                    *server = None;
                }
                return Ok(answer);
            }
            // A kept-alive connection the upstream had closed: the request never reached it.
            Err(HttpError::Io(_) | HttpError::ClosedBeforeAnswer) if reused && !retried => {
                *server = None;
                retried = true;
            }
            Err(error) => {
                *server = None;
                return Err(error);
            }
        }
    }
}

/// The upstream's batch answer with the entries strict mode refused added to `Failed`.
fn with_failed_entries(answer: Response, failed: Vec<Value>) -> Response {
    if answer.status != 200 {
        return answer;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
        return answer;
    };
    let Some(object) = body.as_object_mut() else {
        return answer;
    };
    let entries = object
        .entry("Failed")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(entries) = entries {
        entries.extend(failed);
    }
    answer.with_body(body.to_string().into_bytes())
}

/// SQS's answer to a batch of which every entry was refused.
fn batch_answer(failed: Vec<Value>) -> Response {
    Response::new(
        200,
        "OK",
        vec![
            ("x-amzn-RequestId".to_owned(), request_id()),
            (
                "Content-Type".to_owned(),
                "application/x-amz-json-1.0".to_owned(),
            ),
        ],
        json!({ "Successful": [], "Failed": failed })
            .to_string()
            .into_bytes(),
    )
}

/// The refusals so far, as JSON.
async fn answer_refusals(client: &mut Client, control: &Control) -> Next {
    let refusals: Vec<Value> = control
        .refusals()
        .into_iter()
        .map(|e| json!({"target": e.target, "refused": e.refused, "body": e.body}))
        .collect();
    let answer = Response::new(
        200,
        "OK",
        vec![("Content-Type".to_owned(), "application/json".to_owned())],
        Value::Array(refusals).to_string().into_bytes(),
    );
    if client.write_all(&answer.to_bytes()).await.is_err() || client.flush().await.is_err() {
        return Next::Close;
    }
    Next::KeepOpen
}

/// Reads and discards whatever the client sends until it gives up: no answer ever comes.
async fn hang(client: &mut Client) -> Next {
    let mut sink = [0; 8192];
    while let Ok(read) = client.read(&mut sink).await {
        if read == 0 {
            break;
        }
    }
    Next::Close
}

/// Ends the connection with a TCP RST (zero linger), as a crashed peer or a middlebox would.
fn reset(client: &mut Client) -> Next {
    let _ = client.get_ref().set_zero_linger();
    Next::Close
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(n: usize) -> Exchange {
        Exchange {
            target: target::PUT_ITEM.to_owned(),
            body: n.to_string(),
            fault: None,
            refused: None,
        }
    }

    #[test]
    fn the_record_keeps_the_most_recent_exchanges() {
        let control = Control::new();
        for n in 0..=MAX_RECORDED_EXCHANGES {
            control.record(exchange(n));
        }
        let kept = control.take_exchanges();
        assert_eq!(kept.len(), MAX_RECORDED_EXCHANGES);
        assert_eq!(kept[0].body, "1");
        assert!(control.exchanges().is_empty());
    }

    #[tokio::test]
    async fn the_upstream_is_a_plain_http_loopback_address() {
        assert_eq!(
            resolve_upstream("http://127.0.0.1:5000/").await.unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        for bad in ["https://127.0.0.1:5000", "http://127.0.0.1:5000/path", ""] {
            assert!(
                matches!(
                    resolve_upstream(bad).await,
                    Err(ProxyError::UpstreamAddress(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            resolve_upstream("10.1.2.3:80").await,
            Err(ProxyError::NotLoopback(_))
        ));
    }
}
