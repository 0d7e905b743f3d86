//! A loopback TCP fault proxy: put it between the AWS SDK and moto's server to make DynamoDB or
//! SQS slow, hung or reset, before or after the request reaches the service.
//!
//! ```text
//! SDK ──▶ 127.0.0.1:<proxy> ──(mode)──▶ moto
//! ```
//! The mode applies per HTTP exchange on every connection and can be changed while requests are
//! in flight ([`Proxy::set_mode`]); [`Proxy::fault_once`] injects one fault, then passes again.
//! Everything binds 127.0.0.1; the proxy stops when dropped (or with the test's runtime).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does with each exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Forward the request at once, hold the response for this long: a slow service (the
    /// request is applied; the answer is late).
    Delay(Duration),
    /// Accept the connection, swallow the request, never answer: the service hangs before it
    /// sees anything.
    Hang,
    /// Forward the request, swallow the response: the service applied it, the answer never
    /// comes (hung mid-request).
    HangAfterForward,
    /// Reset the connection (RST) as soon as the request arrives; nothing reaches the service.
    Reset,
    /// Forward the request, then reset instead of answering: applied, then cut mid-request.
    ResetAfterForward,
}

struct Shared {
    mode: Mutex<Mode>,
    /// After one fault, go back to [`Mode::Pass`].
    once: AtomicBool,
    /// Request chunks seen that started an exchange (approximately: HTTP requests).
    requests: AtomicUsize,
    /// Faults injected (delays included).
    faults: AtomicUsize,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// The mode for a new exchange, counting the fault (and dropping back to Pass if once).
    fn take(&self) -> Mode {
        let mut mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = *mode;
        if taken != Mode::Pass {
            self.faults.fetch_add(1, Ordering::SeqCst);
            if self.once.load(Ordering::SeqCst) {
                *mode = Mode::Pass;
            }
        }
        taken
    }
}

/// A running proxy in front of `upstream`.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free 127.0.0.1 port forwarding to `upstream` (an `http://host:port`
    /// URL such as moto's `AWS_ENDPOINT_URL`, or `host:port`).
    pub async fn start(upstream: &str, mode: Mode) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let upstream: SocketAddr = tokio::net::lookup_host(&upstream)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve the proxy's upstream {upstream}"));
        assert!(upstream.ip().is_loopback(), "loopback only: {upstream}");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            once: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            faults: AtomicUsize::new(0),
        });
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            // Bounded: a test makes a handful of connections; the task ends with the proxy.
            for _ in 0..10_000 {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(exchange(client, upstream, Arc::clone(&accepting)));
            }
        });
        Proxy { addr, shared, task }
    }

    /// The endpoint URL to give the SDK (`endpoint_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.once.store(false, Ordering::SeqCst);
        self.shared.set(mode);
    }

    /// Injects `mode` for the next exchange only, then passes everything again.
    pub fn fault_once(&self, mode: Mode) {
        self.shared.once.store(true, Ordering::SeqCst);
        self.shared.set(mode);
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Exchanges (HTTP requests, approximately) the proxy has seen.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Faults injected so far.
    pub fn faults(&self) -> usize {
        self.shared.faults.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Longest any one connection is served: nothing the proxy does outlives a test.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

async fn exchange(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let _ = tokio::time::timeout(CONNECTION_LIFETIME, relay(client, upstream, shared)).await;
}

/// Relays one connection. HTTP/1.1 is strictly request then response, so a chunk from the
/// client after a response (or the first one) starts a new exchange, whose mode is taken then.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    let mut from_client = vec![0u8; 64 * 1024];
    let mut from_server = vec![0u8; 64 * 1024];
    // The mode of the exchange in progress; None between exchanges.
    let mut current: Option<Mode> = None;
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let mode = match current {
                    Some(mode) => mode,
                    None => {
                        shared.requests.fetch_add(1, Ordering::SeqCst);
                        let mode = shared.take();
                        current = Some(mode);
                        mode
                    }
                };
                match mode {
                    Mode::Hang => continue, // swallowed
                    Mode::Reset => return reset(client),
                    _ => server.write_all(&from_client[..n]).await?,
                }
            }
            read = server.read(&mut from_server) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                match current.take().unwrap_or(Mode::Pass) {
                    Mode::HangAfterForward => {
                        // Swallow this response and whatever follows on this connection.
                        current = Some(Mode::HangAfterForward);
                        continue;
                    }
                    Mode::ResetAfterForward => return reset(client),
                    Mode::Delay(by) => {
                        tokio::time::sleep(by).await;
                        client.write_all(&from_server[..n]).await?;
                    }
                    _ => client.write_all(&from_server[..n]).await?,
                }
            }
        }
    }
}

/// Closes with a TCP RST (zero linger), as a crashed peer or a middlebox would.
fn reset(client: TcpStream) -> std::io::Result<()> {
    client.set_zero_linger()?;
    drop(client);
    Ok(())
}
