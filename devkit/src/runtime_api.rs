//! A minimal Lambda Runtime API emulator on loopback, so a function's real binary can run
//! outside Lambda with events of our choosing: the bench times it, and the log test searches
//! what it writes. It serves the calls a runtime makes on the happy path:
//! `GET /2018-06-01/runtime/invocation/next` is answered with the next queued event and the
//! `Lambda-Runtime-*` headers; `POST …/invocation/{id}/response` is recorded, and `/error`
//! and `/init/error` are recorded as failures. Each call is timestamped on arrival, so a
//! process's start-up and each invocation can be timed from outside. Std only (threads, no
//! async runtime), so blocking code can drive it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::ids::epoch_millis;
use crate::{Error, Result};

/// One invocation's answer and timeline.
pub struct Posted {
    /// The id [`Emulator::push`] returned for its event.
    pub request_id: String,
    pub handed_out: Instant,
    pub posted: Instant,
    pub body: String,
}

/// What the function has asked for and answered so far.
#[derive(Default)]
pub struct Calls {
    pub first_next: Option<Instant>,
    /// Events waiting for a `/next`, with their request ids.
    queue: VecDeque<(String, String)>,
    /// Handed out and not yet answered: request id -> when.
    pending: Vec<(String, Instant)>,
    pub responses: Vec<Posted>,
    failures: Vec<String>,
    next_id: u64,
}

struct Shared {
    calls: Mutex<Calls>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running emulator; dropping it stops serving, which ends a waiting `/next`.
pub struct Emulator {
    /// What the function's `AWS_LAMBDA_RUNTIME_API` names.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Emulator {
    /// Serves on a free loopback port.
    pub fn start() -> Result<Emulator> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| Ok((l.local_addr()?, l)))
            .map_err(|e| Error::io("cannot start the Runtime API emulator on 127.0.0.1", e));
        let (addr, listener) = listener?;
        let shared = Arc::new(Shared {
            calls: Mutex::new(Calls::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(Emulator { addr, shared })
    }

    /// Queues an event for the next `/next`; its request id.
    pub fn push(&self, event: String) -> String {
        let mut calls = self.shared.lock();
        calls.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", calls.next_id);
        calls.queue.push_back((id.clone(), event));
        self.shared.changed.notify_all();
        id
    }

    /// Waits (bounded) until `done` holds; fails on a reported error or a dead process.
    pub fn wait_for(
        &self,
        done: impl Fn(&Calls) -> bool,
        child: &mut Child,
        wait: Duration,
    ) -> Result<MutexGuard<'_, Calls>> {
        let deadline = Instant::now() + wait;
        let mut calls = self.shared.lock();
        loop {
            if let Some(failure) = calls.failures.first() {
                return Err(Error::Function {
                    problem: format!("reported an error: {failure}"),
                });
            }
            if done(&calls) {
                return Ok(calls);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Function {
                    problem: format!("exited ({status})"),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Function {
                    problem: format!("did not answer within {wait:?}"),
                });
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            calls = self
                .shared
                .changed
                .wait_timeout(calls, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        let _ = TcpStream::connect(self.addr);
    }
}

/// One connection from the runtime client (kept alive across calls).
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // Bounded: far more calls than any run makes on one connection.
    for _ in 0..1_000_000 {
        let Some((method, path, body)) = read_request(&mut reader) else {
            return;
        };
        let arrived = Instant::now();
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            match next_invocation(shared, arrived) {
                Some(reply) => reply,
                None => return, // stopping
            }
        } else if method == "POST" && path.contains("/runtime/invocation/") {
            let id = path
                .trim_end_matches("/response")
                .trim_end_matches("/error")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut calls = shared.lock();
            let handed_out = calls
                .pending
                .iter()
                .position(|(pending, _)| *pending == id)
                .map(|i| calls.pending.swap_remove(i).1);
            if path.ends_with("/response") {
                if let Some(handed_out) = handed_out {
                    calls.responses.push(Posted {
                        request_id: id,
                        handed_out,
                        posted: arrived,
                        body,
                    });
                } else {
                    calls
                        .failures
                        .push(format!("response for unknown request {id}"));
                }
            } else {
                calls.failures.push(format!("{path}: {body}"));
            }
            shared.changed.notify_all();
            http_response(202, &[], r#"{"status":"OK"}"#)
        } else if method == "POST" && path.ends_with("/runtime/init/error") {
            let mut calls = shared.lock();
            calls.failures.push(format!("init error: {body}"));
            shared.changed.notify_all();
            http_response(202, &[], r#"{"status":"OK"}"#)
        } else {
            http_response(404, &[], r#"{"errorMessage":"not emulated"}"#)
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Blocks until an event is queued (or the emulator stops), then answers `/next` with it.
fn next_invocation(shared: &Shared, arrived: Instant) -> Option<String> {
    let mut calls = shared.lock();
    calls.first_next.get_or_insert(arrived);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some((id, event)) = calls.queue.pop_front() {
            let deadline = (epoch_millis() + 30_000).to_string();
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
                ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:emulated",
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-6745a000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
                ),
            ];
            let reply = http_response(200, &headers, &event);
            // Timestamped as late as possible: the event leaves right after this.
            calls.pending.push((id, Instant::now()));
            return Some(reply);
        }
        calls = shared
            .changed
            .wait_timeout(calls, Duration::from_millis(200))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn http_response(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        _ => "Not Found",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

/// Reads one request: method, path, body (Content-Length or chunked). `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}
