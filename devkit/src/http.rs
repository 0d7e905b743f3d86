//! A blocking HTTP client for the servers this project runs on 127.0.0.1: never through a
//! proxy from the environment, any status is an answer.

use std::time::Duration;

use crate::{Error, Result};

/// Connections kept open for reuse: above the highest concurrency a chore uses.
const IDLE_CONNECTIONS: usize = 300;

/// An answer: status and body (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A client whose every request is bounded by one timeout. Clones share one connection pool,
/// large enough that concurrent callers (a load test) reuse their connections.
#[derive(Debug, Clone)]
pub struct Loopback {
    agent: ureq::Agent,
}

impl Loopback {
    pub fn new(timeout: Duration) -> Loopback {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(timeout))
            .max_idle_connections(IDLE_CONNECTIONS)
            .max_idle_connections_per_host(IDLE_CONNECTIONS)
            .build()
            .new_agent();
        Loopback { agent }
    }

    pub fn get(&self, url: &str) -> Result<Reply> {
        read(url, self.agent.get(url).call())
    }

    /// POSTs `body` as `application/json`.
    pub fn post_json(&self, url: &str, body: &[u8]) -> Result<Reply> {
        read(
            url,
            self.agent
                .post(url)
                .header("content-type", "application/json")
                .send(body),
        )
    }
}

fn read(
    url: &str,
    sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply> {
    let no_answer = |reason: String| Error::Http {
        url: url.to_owned(),
        reason,
    };
    let mut response = sent.map_err(|e| no_answer(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| no_answer(format!("unreadable body: {e}")))?;
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn any_status_is_an_answer_and_silence_is_an_error() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 2\r\n\r\nno")
                .unwrap();
        });
        let client = Loopback::new(Duration::from_secs(5));
        let reply = client.get(&format!("http://127.0.0.1:{port}/")).unwrap();
        server.join().unwrap();
        assert_eq!(
            reply,
            Reply {
                status: 405,
                body: "no".into()
            }
        );
        let closed = crate::ports::free_port().unwrap();
        assert!(client.get(&format!("http://127.0.0.1:{closed}/")).is_err());
    }
}
