//! A keep-alive front for moto. moto's server (Werkzeug's) answers every request with
//! `Connection: close`, so a client talking to it directly opens a TCP connection per request,
//! which AWS's endpoints never impose: they keep connections open, and the SDK's connection
//! pool reuses them. Between the function and moto, this front keeps the function's
//! connections open (HTTP/1.1 keep-alive) and forwards each request to moto on a connection of
//! its own; the connecting and closing then happen in this process, not in the measured one.
//!
//! It also counts the connections the function opens and the requests it sends, which is how
//! the harness shows that connections are reused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::{Error, Result};

/// Connections accepted and requests forwarded so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub connections: u64,
    pub requests: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
}

pub struct Front {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Front {
    /// A front on a free loopback port for the server at `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Result<Front> {
        let authority = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let upstream = authority
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| Error::check(format!("cannot resolve {authority}")))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("cannot start the keep-alive front on 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the keep-alive front's address", e))?;
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (accept_counters, accept_stop) = (Arc::clone(&counters), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accept_counters.connections.fetch_add(1, Ordering::SeqCst);
                let counters = Arc::clone(&accept_counters);
                std::thread::spawn(move || serve(stream, upstream, &counters));
            }
        });
        Ok(Front {
            addr,
            counters,
            stop,
        })
    }

    /// The endpoint to give the function (`AWS_ENDPOINT_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            connections: self.counters.connections.load(Ordering::SeqCst),
            requests: self.counters.requests.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// One client connection: requests in, each forwarded on a new upstream connection, answers
/// back without `Connection: close`.
fn serve(client: TcpStream, upstream: SocketAddr, counters: &Counters) {
    let _ = client.set_nodelay(true);
    let Ok(mut out) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(client);
    // Bounded: far more requests than any run sends on one connection.
    for _ in 0..1_000_000 {
        let Some((head, body)) = read_request(&mut reader) else {
            return;
        };
        counters.requests.fetch_add(1, Ordering::SeqCst);
        let Some(answer) = forward(upstream, &head, &body) else {
            return;
        };
        if out.write_all(&answer).is_err() {
            return;
        }
    }
}

/// A request's head (request line and headers, `Connection` headers left out) and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
            if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
            if name.eq_ignore_ascii_case("transfer-encoding") {
                return None; // the SDK sends DynamoDB and SQS bodies with a length
            }
        }
        head.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// Sends one request upstream and returns its answer, made keep-alive.
fn forward(upstream: SocketAddr, head: &[String], body: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).ok()?;
    let _ = stream.set_nodelay(true);
    let mut request = head.join("\r\n");
    request.push_str("\r\nConnection: close\r\n\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let (head, body) = (
        String::from_utf8_lossy(&answer[..split]).into_owned(),
        &answer[split + 4..],
    );
    let mut out = String::new();
    let mut has_length = false;
    for line in head.split("\r\n") {
        let name = line.split_once(':').map_or("", |(n, _)| n.trim());
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return None; // moto answers with a length
        }
        has_length |= name.eq_ignore_ascii_case("content-length");
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !has_length {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers each request once, with `Connection: close`, like moto.
    fn closing_upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (head, body) = read_request(&mut reader).unwrap();
                let text = format!("{} {}", head[0], String::from_utf8_lossy(&body));
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn requests_on_one_connection_are_forwarded_and_answered_keep_alive() {
        let front = Front::start(&closing_upstream()).unwrap();
        let mut client = TcpStream::connect(front.addr).unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        for i in 0..3 {
            let body = format!("{{\"n\":{i}}}");
            let request = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client.write_all(request.as_bytes()).unwrap();
            let mut status = String::new();
            reader.read_line(&mut status).unwrap();
            assert!(status.starts_with("HTTP/1.1 200"), "{status}");
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                assert!(!line.to_ascii_lowercase().starts_with("connection"));
                if let Some(v) = line.strip_prefix("Content-Length: ") {
                    length = v.parse().unwrap();
                }
            }
            let mut answer = vec![0; length];
            reader.read_exact(&mut answer).unwrap();
            assert_eq!(
                String::from_utf8(answer).unwrap(),
                format!("POST / HTTP/1.1 {body}")
            );
        }
        assert_eq!(
            front.counts(),
            Counts {
                connections: 1,
                requests: 3
            }
        );
    }
}
