//! Just enough HTTP/1.1 to stand between the AWS SDK and an emulator: messages framed by
//! `Content-Length`, chunked encoding or (responses only) the end of the connection.
//!
//! Bodies are read whole: the proxy has to see a request's JSON before deciding to forward it,
//! and the largest AWS JSON-protocol request (a 16 MB DynamoDB batch) fits in memory easily.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest request or response head accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The largest body accepted.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    #[error("the HTTP head exceeds {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("the HTTP body exceeds {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("the connection closed in the middle of a message")]
    Truncated,
    #[error("the connection closed before any answer")]
    ClosedBeforeAnswer,
}

/// A start line and its headers, kept in their original order and spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .flat_map(|(_, value)| value.split(','))
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    }

    fn remove(&mut self, name: &str) {
        self.headers
            .retain(|(key, _)| !key.eq_ignore_ascii_case(name));
    }

    /// Frames `body_len` bytes with `Content-Length` (dropping any chunked framing).
    fn set_length(&mut self, body_len: usize) {
        self.remove("transfer-encoding");
        self.remove("content-length");
        self.headers
            .push(("Content-Length".to_owned(), body_len.to_string()));
    }

    fn wants_close(&self) -> bool {
        self.has_token("connection", "close") || self.start_line.contains("HTTP/1.0")
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.start_line.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (key, value) in &self.headers {
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// A request, its body decoded and framed by `Content-Length`.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Request {
    pub fn method(&self) -> &str {
        self.head.start_line.split(' ').next().unwrap_or_default()
    }

    /// The request target (`/`, `/path?query`).
    pub fn target(&self) -> &str {
        self.head.start_line.split(' ').nth(1).unwrap_or_default()
    }

    /// Whether the client asked to close the connection after this exchange.
    pub fn wants_close(&self) -> bool {
        self.head.wants_close()
    }

    /// The request with another body (a filtered batch), framed again.
    pub fn with_body(&self, body: Vec<u8>) -> Request {
        let mut head = self.head.clone();
        head.set_length(body.len());
        Request { head, body }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        self.head.write_to(&mut out);
        out.extend_from_slice(&self.body);
        out
    }
}

/// A response, its body decoded and framed by `Content-Length`.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: Head,
    pub body: Vec<u8>,
    /// The connection it came on cannot carry another exchange.
    pub closes: bool,
}

impl Response {
    /// A response of the proxy's own, kept alive.
    pub fn new(status: u16, reason: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        let mut head = Head {
            start_line: format!("HTTP/1.1 {status} {reason}"),
            headers,
        };
        head.set_length(body.len());
        Response {
            status,
            head,
            body,
            closes: false,
        }
    }

    /// The response with another body (a merged batch result), framed again.
    pub fn with_body(&self, body: Vec<u8>) -> Response {
        let mut head = self.head.clone();
        head.set_length(body.len());
        Response {
            head,
            body,
            ..self.clone()
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        self.head.write_to(&mut out);
        out.extend_from_slice(&self.body);
        out
    }
}

/// Reads the next request; `None` when the client closed the connection between requests.
/// A request that expects `100 Continue` gets it here, as the proxy wants its body.
pub async fn read_request<S>(stream: &mut S) -> Result<Option<Request>, HttpError>
where
    S: AsyncBufRead + AsyncWrite + Unpin,
{
    let Some(mut head) = read_head(stream).await? else {
        return Ok(None);
    };
    if head.start_line.split(' ').count() != 3 {
        return Err(HttpError::Malformed(format!(
            "request line `{}`",
            head.start_line
        )));
    }
    if head.has_token("expect", "100-continue") {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        stream.flush().await?;
        head.remove("expect");
    }
    let body = read_body(stream, &head, Framing::Request).await?;
    head.set_length(body.len());
    Ok(Some(Request { head, body }))
}

/// Reads the response to a request made with `method`, skipping interim (1xx) responses.
pub async fn read_response<S>(stream: &mut S, method: &str) -> Result<Response, HttpError>
where
    S: AsyncBufRead + Unpin,
{
    loop {
        let mut head = read_head(stream)
            .await?
            .ok_or(HttpError::ClosedBeforeAnswer)?;
        let status: u16 = head
            .start_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| HttpError::Malformed(format!("status line `{}`", head.start_line)))?;
        if (100..200).contains(&status) {
            continue;
        }
        let bodiless = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
        let until_close = !bodiless
            && head.header("content-length").is_none()
            && !head.has_token("transfer-encoding", "chunked");
        let closes = head.wants_close() || until_close;
        let framing = if bodiless {
            Framing::None
        } else {
            Framing::Response
        };
        let body = read_body(stream, &head, framing).await?;
        if !bodiless {
            head.set_length(body.len());
        }
        return Ok(Response {
            status,
            head,
            body,
            closes,
        });
    }
}

/// How a message without length information ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A request without a length has no body.
    Request,
    /// A response without a length runs to the end of the connection.
    Response,
    /// No body whatever the headers say (HEAD, 204, 304).
    None,
}

async fn read_head<S: AsyncBufRead + Unpin>(stream: &mut S) -> Result<Option<Head>, HttpError> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let read = stream
            .take((MAX_HEAD_BYTES + 1 - total) as u64)
            .read_until(b'\n', &mut line)
            .await?;
        total += read;
        if total > MAX_HEAD_BYTES {
            return Err(HttpError::HeadTooLarge);
        }
        if read == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(HttpError::Truncated)
            };
        }
        if !line.ends_with(b"\n") {
            return Err(HttpError::Truncated);
        }
        let text = String::from_utf8(line)
            .map_err(|_| HttpError::Malformed("a header line is not UTF-8".into()))?;
        let text = text.trim_end_matches(['\r', '\n']).to_owned();
        if text.is_empty() {
            if lines.is_empty() {
                continue; // a stray CRLF between messages is allowed
            }
            break;
        }
        lines.push(text);
    }
    let mut lines = lines.into_iter();
    let start_line = lines.next().unwrap_or_default();
    let headers = lines
        .map(|line| {
            line.split_once(':')
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                .ok_or_else(|| HttpError::Malformed(format!("header line `{line}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Head {
        start_line,
        headers,
    }))
}

async fn read_body<S: AsyncBufRead + Unpin>(
    stream: &mut S,
    head: &Head,
    framing: Framing,
) -> Result<Vec<u8>, HttpError> {
    if framing == Framing::None {
        return Ok(Vec::new());
    }
    if head.has_token("transfer-encoding", "chunked") {
        return read_chunked(stream).await;
    }
    if let Some(length) = head.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| HttpError::Malformed(format!("Content-Length `{length}`")))?;
        if length > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
        let mut body = vec![0; length];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|_| HttpError::Truncated)?;
        return Ok(body);
    }
    match framing {
        Framing::Response => {
            let mut body = Vec::new();
            stream
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut body)
                .await?;
            if body.len() > MAX_BODY_BYTES {
                return Err(HttpError::BodyTooLarge);
            }
            Ok(body)
        }
        Framing::Request | Framing::None => Ok(Vec::new()),
    }
}

async fn read_chunked<S: AsyncBufRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size `{size}`")))?;
        if body.len() + size > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream
            .read_exact(&mut body[start..])
            .await
            .map_err(|_| HttpError::Truncated)?;
        let mut crlf = [0; 2];
        stream
            .read_exact(&mut crlf)
            .await
            .map_err(|_| HttpError::Truncated)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    /// A duplex stream whose read side replays `input`.
    struct Replay {
        input: std::io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl tokio::io::AsyncRead for Replay {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Replay {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn replay(input: &str) -> BufReader<Replay> {
        BufReader::new(Replay {
            input: std::io::Cursor::new(input.as_bytes().to_vec()),
            written: Vec::new(),
        })
    }

    #[tokio::test]
    async fn reads_two_pipelined_requests_then_the_close() {
        let mut stream = replay(
            "POST / HTTP/1.1\r\nX-Amz-Target: A.B\r\nContent-Length: 2\r\n\r\n{}\
             POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n",
        );
        let first = read_request(&mut stream).await.unwrap().unwrap();
        assert_eq!(first.head.header("x-amz-target"), Some("A.B"));
        assert_eq!(first.body, b"{}");
        let second = read_request(&mut stream).await.unwrap().unwrap();
        assert_eq!(second.body, b"abcd");
        assert_eq!(second.head.header("content-length"), Some("4"));
        assert_eq!(second.head.header("transfer-encoding"), None);
        assert!(read_request(&mut stream).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn answers_100_continue_and_does_not_forward_the_expectation() {
        let mut stream =
            replay("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
        let request = read_request(&mut stream).await.unwrap().unwrap();
        assert_eq!(request.body, b"x");
        assert_eq!(request.head.header("expect"), None);
        assert_eq!(
            stream.get_ref().written,
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()
        );
    }

    #[tokio::test]
    async fn a_response_without_length_runs_to_the_close() {
        let mut stream = replay("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nhello");
        let response = read_response(&mut stream, "POST").await.unwrap();
        assert_eq!((response.status, response.closes), (200, true));
        assert_eq!(response.body, b"hello");
        assert_eq!(response.head.header("content-length"), Some("5"));
    }

    #[tokio::test]
    async fn interim_responses_are_skipped() {
        let mut stream = replay(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
        );
        let response = read_response(&mut stream, "POST").await.unwrap();
        assert_eq!((response.status, response.body.len()), (204, 0));
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_error() {
        let mut stream = replay("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
        assert!(matches!(
            read_request(&mut stream).await,
            Err(HttpError::Truncated)
        ));
    }

    #[tokio::test]
    async fn keeps_connection_close_visible() {
        let mut stream =
            replay("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        let response = read_response(&mut stream, "POST").await.unwrap();
        assert!(response.closes);
        assert_eq!(response.head.header("connection"), Some("close"));
    }
}
