//! The HTTP side, on `lambda_http`: whichever event AWS delivers (API Gateway REST API, HTTP
//! API payload 1.0 or 2.0, Application Load Balancer, Lambda function URL) arrives as one
//! `http::Request`, and the answer goes back in the shape that service expects.
//!
//! One conversion is guarded: `lambda_http` panics on a body marked base64-encoded that is
//! not valid base64. [`BodyGuard`] checks that body before the conversion; a broken one is
//! passed on as the text it is, and the handler is told, so it is quarantined (or refused),
//! never a crash.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt};
use lambda_runtime::LambdaEvent;
use lambda_runtime::tower::Service;
use tokio::task::futures::TaskLocalFuture;
use webhook_core::{InboundRequest, RequestBody, Response, TokenParam};

tokio::task_local! {
    /// Set for the invocation whose body was marked base64-encoded and was not.
    static BODY_NOT_BASE64: bool;
}

/// Wraps `lambda_http`'s adapter: repairs a body marked base64-encoded that does not decode
/// (which would make the conversion panic) and tells the handler about it.
#[derive(Debug, Clone)]
pub struct BodyGuard<S> {
    inner: S,
}

impl<S> BodyGuard<S> {
    pub fn new(inner: S) -> BodyGuard<S> {
        BodyGuard { inner }
    }
}

impl<S> Service<LambdaEvent<LambdaRequest>> for BodyGuard<S>
where
    S: Service<LambdaEvent<LambdaRequest>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<bool, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut event: LambdaEvent<LambdaRequest>) -> Self::Future {
        let not_base64 = unmark_broken_base64(&mut event.payload);
        BODY_NOT_BASE64.scope(not_base64, self.inner.call(event))
    }
}

/// Clears the base64 mark of a body that does not decode; says whether it did.
fn unmark_broken_base64(request: &mut LambdaRequest) -> bool {
    let (marked, body) = match request {
        LambdaRequest::ApiGatewayV1(event) => (&mut event.is_base64_encoded, &event.body),
        LambdaRequest::ApiGatewayV2(event) => (&mut event.is_base64_encoded, &event.body),
        LambdaRequest::Alb(event) => (&mut event.is_base64_encoded, &event.body),
        _ => return false,
    };
    let broken = *marked
        && body
            .as_deref()
            .is_some_and(|body| BASE64_STANDARD.decode(body).is_err());
    if broken {
        *marked = false;
    }
    broken
}

/// The request as the pipeline sees it. `tokens` holds the `token` query values (see
/// [`token_values`]).
pub fn inbound<'a>(request: &'a Request, tokens: &'a [&'a str]) -> InboundRequest<'a> {
    let body: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let not_base64 = BODY_NOT_BASE64.try_with(|flag| *flag).unwrap_or(false);
    InboundRequest {
        method: request.method().as_str(),
        token: TokenParam::from_values(tokens.iter().copied()),
        body: if not_base64 {
            RequestBody::NotBase64(body)
        } else {
            RequestBody::Bytes(body)
        },
        content_type: request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok()),
    }
}

/// Every value of the `token` query parameter, decoded as each service delivers it (API
/// Gateway decodes, `lambda_http` decodes what an ALB leaves encoded).
pub fn token_values(request: &Request) -> Vec<&str> {
    request
        .query_string_parameters_ref()
        .and_then(|query| query.all("token"))
        .unwrap_or_default()
}

/// The pipeline's answer as an HTTP response; `lambda_http` shapes it for the service that
/// delivered the request.
pub fn to_http(response: Response) -> http::Response<Body> {
    let mut http = http::Response::new(Body::Text(response.body));
    *http.status_mut() = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = http.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if response.allow_post {
        headers.insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    }
    http
}
