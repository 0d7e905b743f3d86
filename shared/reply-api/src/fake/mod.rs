//! A local fake of Reply's v3 webhook API, for tests and the demo: an HTTP server on
//! 127.0.0.1 that behaves as Reply's documentation says.
//!
//! - `Authorization: Bearer <key>` (or `X-API-Key`), else 401 with `WWW-Authenticate: Bearer`
//!   and an empty body;
//! - `GET /v3/webhooks?top=&skip=` pages of `{"items", "hasMore"}` (at most
//!   [`FakeOptions::page_size`] per page, so paging is exercised);
//! - create `201` + the subscription, replace (`PUT`) `200`, delete / enable / disable `204`;
//! - `application/problem+json` errors with a `code` (bad event type, URL or scope; unknown
//!   id); `Organization` scope refused;
//! - ids as numbers, or as strings ([`FakeOptions::string_ids`]); scope answered as sent, or in
//!   lower case as some live answers were ([`FakeOptions::lowercase_scope`]);
//! - `POST /v3/webhooks/{id}/test` really POSTs a delivery of the live shape to the
//!   subscription's URL, with placeholder data whose event id is the same every time for a
//!   type (within one fake; each fake draws its own, so runs do not see each other's), and
//!   records what the receiver answered; a disabled subscription gets 404, as v2 answers.
//!
//! Tests also reach into its state: seed subscriptions, disable or remove one as Reply would,
//! make the next calls answer 429 or 5xx, and read which calls were made.

mod http;

use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use reply_payload::{Category, EventType};
use serde_json::{Value, json};

use self::http::{Request, Response, read_request, write_response};
use crate::model::PayloadConfig;

/// The longest URL Reply accepts in a subscription.
const MAX_URL_CHARS: usize = 1024;

/// How the fake answers.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The one API key it accepts.
    pub api_key: String,
    /// The most subscriptions per page, whatever `top` asks.
    pub page_size: usize,
    /// Ids as JSON strings (v2 style) instead of numbers.
    pub string_ids: bool,
    /// `scope` in lower case (`personal`), as some live answers had it.
    pub lowercase_scope: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            api_key: "fake-reply-api-key-0001".into(),
            page_size: 10,
            string_ids: false,
            lowercase_scope: false,
        }
    }
}

/// A subscription as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSubscription {
    pub id: u64,
    pub event_type: String,
    pub url: String,
    /// `Personal` or `Team`.
    pub scope: String,
    pub enabled: bool,
    pub payload_config: PayloadConfig,
}

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
}

impl RecordedCall {
    /// Whether the call changes something (anything but a read).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// A test delivery the fake sent, and what the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDelivery {
    pub subscription: u64,
    pub event_type: String,
    pub event_id: String,
    /// `None` when nothing answered.
    pub status: Option<u16>,
    pub answer: String,
}

/// An answer to give instead of the real one.
#[derive(Clone, Copy)]
struct Failure {
    status: u16,
    retry_after: Option<u64>,
    /// Only for a call that changes something (not a read).
    writes_only: bool,
}

struct State {
    options: FakeOptions,
    next_id: u64,
    subscriptions: BTreeMap<u64, FakeSubscription>,
    calls: Vec<RecordedCall>,
    failures: VecDeque<Failure>,
    deliveries: Vec<FakeDelivery>,
    placeholder_seed: u32,
}

/// The running fake; it stops when dropped.
pub struct FakeReply {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl FakeReply {
    /// Starts on a free port of 127.0.0.1.
    pub fn start(options: FakeOptions) -> std::io::Result<FakeReply> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            options,
            next_id: 1001,
            subscriptions: BTreeMap::new(),
            calls: Vec::new(),
            failures: VecDeque::new(),
            deliveries: Vec::new(),
            placeholder_seed: (crate::retry::jitter() * f64::from(u32::MAX)) as u32,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let state = Arc::clone(&state);
                        std::thread::spawn(move || serve(&stream, &state));
                    }
                }
            })
        };
        Ok(FakeReply {
            address,
            state,
            stop,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:<port>`: the value for `REPLY_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn api_key(&self) -> String {
        self.state().options.api_key.clone()
    }

    /// Adds a subscription as if it had been made earlier; returns its id.
    pub fn insert(
        &self,
        event_type: &str,
        url: &str,
        scope: &str,
        enabled: bool,
        payload_config: PayloadConfig,
    ) -> u64 {
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        state.subscriptions.insert(
            id,
            FakeSubscription {
                id,
                event_type: event_type.into(),
                url: url.into(),
                scope: scope.into(),
                enabled,
                payload_config,
            },
        );
        id
    }

    pub fn subscriptions(&self) -> Vec<FakeSubscription> {
        self.state().subscriptions.values().cloned().collect()
    }

    /// Disables or enables a subscription, as Reply does on its own.
    pub fn set_enabled(&self, id: u64, enabled: bool) {
        if let Some(s) = self.state().subscriptions.get_mut(&id) {
            s.enabled = enabled;
        }
    }

    /// Removes a subscription, as if someone deleted it in Reply.
    pub fn remove(&self, id: u64) {
        self.state().subscriptions.remove(&id);
    }

    /// The next `times` calls answer `status` (a problem), with `Retry-After` when given.
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>, times: usize) {
        self.queue_failures(
            Failure {
                status,
                retry_after,
                writes_only: false,
            },
            times,
        );
    }

    /// The next `times` calls that change something (not reads) answer `status`.
    pub fn fail_next_write(&self, status: u16, times: usize) {
        self.queue_failures(
            Failure {
                status,
                retry_after: None,
                writes_only: true,
            },
            times,
        );
    }

    fn queue_failures(&self, failure: Failure, times: usize) {
        self.state()
            .failures
            .extend(std::iter::repeat_n(failure, times));
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state().calls.clone()
    }

    /// Every test delivery sent so far.
    pub fn deliveries(&self) -> Vec<FakeDelivery> {
        self.state().deliveries.clone()
    }

    /// The event id of this fake's test deliveries of `event_type`.
    pub fn placeholder_event_id(&self, event_type: &str) -> String {
        placeholder_event_id(self.state().placeholder_seed, event_type)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for FakeReply {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A poisoned lock only means a test thread panicked; the state is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn serve(stream: &TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(stream) else {
        return;
    };
    let response = match handle(&request, state) {
        Handled::Answer(response) => response,
        Handled::Deliver(delivery) => deliver(delivery, state),
    };
    write_response(stream, &response);
}

enum Handled {
    Answer(Response),
    /// A test delivery to send once the state is unlocked.
    Deliver(PendingDelivery),
}

struct PendingDelivery {
    subscription: u64,
    event_type: String,
    event_id: String,
    url: String,
    body: Value,
}

fn handle(request: &Request, state: &Mutex<State>) -> Handled {
    let mut state = lock(state);
    state.calls.push(RecordedCall {
        method: request.method.clone(),
        path: request.path.clone(),
    });
    let write = request.method != "GET";
    let failure = state
        .failures
        .iter()
        .position(|f| write || !f.writes_only)
        .and_then(|at| state.failures.remove(at));
    if let Some(failure) = failure {
        let mut response = Response::problem(
            failure.status,
            "injected_failure",
            "failure injected by the test",
        );
        if let Some(seconds) = failure.retry_after {
            response.headers.push(("Retry-After", seconds.to_string()));
        }
        return Handled::Answer(response);
    }
    if !authorized(request, &state.options.api_key) {
        let mut response = Response::empty(401);
        response.headers.push(("WWW-Authenticate", "Bearer".into()));
        return Handled::Answer(response);
    }
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let answer = match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["v3", "webhooks"]) => list(&state, request),
        ("POST", ["v3", "webhooks"]) => create(&mut state, &request.body),
        ("GET", ["v3", "webhooks", "events"]) => Response::json(
            200,
            &json!(
                EventType::KNOWN
                    .iter()
                    .map(EventType::as_str)
                    .collect::<Vec<_>>()
            ),
        ),
        (method, ["v3", "webhooks", id, rest @ ..]) => {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| state.subscriptions.contains_key(id))
            else {
                return Handled::Answer(Response::problem(
                    404,
                    "webhook_not_found",
                    "no webhook subscription has this id",
                ));
            };
            match (method, rest) {
                ("GET", []) => subscription_answer(&state, 200, id),
                ("PUT", []) => replace(&mut state, id, &request.body),
                ("DELETE", []) => {
                    state.subscriptions.remove(&id);
                    Response::empty(204)
                }
                ("POST", ["enable"]) => toggle(&mut state, id, true),
                ("POST", ["disable"]) => toggle(&mut state, id, false),
                ("POST", ["test"]) => return test(&state, id),
                _ => Response::problem(405, "method_not_allowed", "not a webhook operation"),
            }
        }
        _ => Response::problem(404, "not_found", "no such endpoint"),
    };
    Handled::Answer(answer)
}

fn authorized(request: &Request, key: &str) -> bool {
    let bearer = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|v| v.trim() == key);
    bearer || request.header("x-api-key").is_some_and(|v| v.trim() == key)
}

fn list(state: &State, request: &Request) -> Response {
    let number = |name: &str, default: usize| {
        request
            .query(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let top = number("top", 25).clamp(1, state.options.page_size);
    let skip = number("skip", 0);
    let items: Vec<Value> = state
        .subscriptions
        .values()
        .skip(skip)
        .take(top)
        .map(|s| subscription_json(&state.options, s))
        .collect();
    let has_more = skip + items.len() < state.subscriptions.len();
    Response::json(200, &json!({"items": items, "hasMore": has_more}))
}

fn create(state: &mut State, body: &[u8]) -> Response {
    let fields = match read_fields(body) {
        Ok(fields) => fields,
        Err(problem) => return problem,
    };
    let id = state.next_id;
    state.next_id += 1;
    state.subscriptions.insert(
        id,
        FakeSubscription {
            id,
            event_type: fields.event_type,
            url: fields.url,
            scope: fields.scope,
            enabled: fields.enabled,
            payload_config: fields.payload_config,
        },
    );
    subscription_answer(state, 201, id)
}

fn replace(state: &mut State, id: u64, body: &[u8]) -> Response {
    let fields = match read_fields(body) {
        Ok(fields) => fields,
        Err(problem) => return problem,
    };
    if let Some(s) = state.subscriptions.get_mut(&id) {
        // A replacement leaves `enabled` alone: enable and disable are their own calls.
        s.event_type = fields.event_type;
        s.url = fields.url;
        s.scope = fields.scope;
        s.payload_config = fields.payload_config;
    }
    subscription_answer(state, 200, id)
}

fn toggle(state: &mut State, id: u64, enabled: bool) -> Response {
    if let Some(s) = state.subscriptions.get_mut(&id) {
        s.enabled = enabled;
    }
    Response::empty(204)
}

fn test(state: &State, id: u64) -> Handled {
    let Some(subscription) = state.subscriptions.get(&id) else {
        return Handled::Answer(Response::problem(
            404,
            "webhook_not_found",
            "no such webhook",
        ));
    };
    if !subscription.enabled {
        return Handled::Answer(Response::problem(
            404,
            "webhook_disabled",
            "the webhook subscription is disabled",
        ));
    }
    let event_id = placeholder_event_id(state.placeholder_seed, &subscription.event_type);
    Handled::Deliver(PendingDelivery {
        subscription: id,
        event_type: subscription.event_type.clone(),
        body: sample_delivery(&subscription.event_type, &event_id, id),
        event_id,
        url: subscription.url.clone(),
    })
}

/// POSTs a test delivery, with the state unlocked (the receiver may take its time), records
/// the answer and tells the caller it was sent.
fn deliver(pending: PendingDelivery, state: &Mutex<State>) -> Response {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let (status, answer) = match agent
        .post(&pending.url)
        .header("Content-Type", "application/json")
        .send(pending.body.to_string())
    {
        Ok(mut response) => (
            Some(response.status().as_u16()),
            response.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(err) => (None, err.to_string()),
    };
    lock(state).deliveries.push(FakeDelivery {
        subscription: pending.subscription,
        event_type: pending.event_type,
        event_id: pending.event_id,
        status,
        answer,
    });
    Response::empty(204)
}

/// A delivery of the live v3 shape with fixed placeholder data.
fn sample_delivery(event_type: &str, event_id: &str, subscription: u64) -> Value {
    let mut body = json!({
        "event": {
            "id": event_id, "date": "2026-01-01T12:00:00.000Z", "type": event_type,
            "user_id": 1234, "team_id": 100, "subscription_id": subscription,
        },
    });
    if EventType::parse(event_type).category() != Some(Category::Account) {
        body["contact_fields"] = json!({
            "id": 12345, "email": "prospect@example.com", "first_name": "Test",
            "last_name": "Prospect",
        });
        body["sequence_fields"] = json!({"id": 67890, "name": "Test sequence", "step_number": 1});
    }
    body
}

fn placeholder_event_id(seed: u32, event_type: &str) -> String {
    let index = EventType::KNOWN
        .iter()
        .position(|t| t.as_str() == event_type)
        .map_or(999, |i| i + 1);
    format!("{seed:08x}-0000-4000-8000-{index:012}")
}

/// The writable fields of a create or replace body, validated as Reply documents.
struct Fields {
    event_type: String,
    url: String,
    scope: String,
    enabled: bool,
    payload_config: PayloadConfig,
}

fn read_fields(body: &[u8]) -> Result<Fields, Response> {
    let bad = |code: &str, detail: &str| Response::problem(400, code, detail);
    let value: Value =
        serde_json::from_slice(body).map_err(|_| bad("invalid_body", "the body is not JSON"))?;
    let event_type = value["eventType"]
        .as_str()
        .filter(|t| EventType::KNOWN.iter().any(|k| k.as_str() == *t))
        .ok_or_else(|| {
            bad(
                "invalid_event_type",
                "eventType is not one of GET /v3/webhooks/events",
            )
        })?;
    let url = value["url"]
        .as_str()
        .filter(|u| {
            u.chars().count() <= MAX_URL_CHARS
                && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
        })
        .ok_or_else(|| {
            bad(
                "invalid_url",
                "url must be an absolute http(s) URL of at most 1024 characters",
            )
        })?;
    let scope = match value.get("scope").and_then(Value::as_str) {
        None => "Personal",
        Some(s) if s.eq_ignore_ascii_case("personal") => "Personal",
        Some(s) if s.eq_ignore_ascii_case("team") => "Team",
        Some(_) => return Err(bad("invalid_scope", "scope must be Personal or Team")),
    };
    // v3 reads `payloadConfig` only; a v2 `payload` key is ignored (all flags false).
    let payload_config = value
        .get("payloadConfig")
        .map(|p| serde_json::from_value(p.clone()))
        .transpose()
        .map_err(|_| {
            bad(
                "invalid_payload_config",
                "payloadConfig holds three booleans",
            )
        })?
        .unwrap_or_default();
    Ok(Fields {
        event_type: event_type.to_owned(),
        url: url.to_owned(),
        scope: scope.to_owned(),
        enabled: value
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        payload_config,
    })
}

fn subscription_answer(state: &State, status: u16, id: u64) -> Response {
    match state.subscriptions.get(&id) {
        Some(s) => Response::json(status, &subscription_json(&state.options, s)),
        None => Response::problem(404, "webhook_not_found", "no such webhook"),
    }
}

fn subscription_json(options: &FakeOptions, s: &FakeSubscription) -> Value {
    json!({
        "id": if options.string_ids { json!(s.id.to_string()) } else { json!(s.id) },
        "eventType": s.event_type,
        "url": s.url,
        "scope": if options.lowercase_scope { s.scope.to_lowercase() } else { s.scope.clone() },
        "enabled": s.enabled,
        "createdAt": "2026-01-01T12:00:00+00:00",
        "payloadConfig": s.payload_config,
    })
}
