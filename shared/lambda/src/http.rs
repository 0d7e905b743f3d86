//! The HTTP side, on `lambda_http`: whichever event AWS delivers (API Gateway REST API, HTTP
//! API payload 1.0 or 2.0, Application Load Balancer, Lambda function URL) arrives as one
//! `http::Request`, and the answer goes back in the shape that service expects.
//!
//! One conversion is guarded: `lambda_http` panics on a body marked base64-encoded that is
//! not valid base64. [`BodyGuard`] checks that body before the conversion; a broken one is
//! passed on as the text it is, and the handler is told, so it is quarantined (or refused),
//! never a crash.
//!
//! The event is parsed once ([`HttpEvent`]): `lambda_http`'s own deserialiser tries each
//! service's shape in turn, REST API first, so an HTTP API payload 2.0 event (what the
//! template's API sends) was parsed in full three times.

use std::borrow::Cow;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt};
use lambda_runtime::LambdaEvent;
use lambda_runtime::tower::util::MapRequest;
use lambda_runtime::tower::{Service, ServiceExt};
use serde::de::{Deserialize, Deserializer, Error as _, IgnoredAny};
use serde_json::value::RawValue;
use tokio::task::futures::TaskLocalFuture;
use webhook_core::{InboundRequest, RequestBody, Response, TokenParam};

/// Any HTTP event Lambda delivers, as `lambda_http` understands it, parsed once.
///
/// `lambda_http` tries REST API (payload 1.0), then HTTP API payload 2.0, then ALB, each as a
/// full parse, and keeps the first that succeeds; a payload 1.0 parse fails on a 2.0 event only
/// for want of its top-level `httpMethod`. So an event whose `version` is `"2.0"` and that has
/// no `httpMethod` is what `lambda_http` would take as payload 2.0: a light pass over the keys
/// (values skipped) finds that out, and the event is parsed as payload 2.0 directly. Every other
/// event, and a 2.0 event that does not parse, goes through `lambda_http`'s own deserialiser,
/// so the outcome is the same as before in every case.
#[derive(Debug)]
pub struct HttpEvent(pub LambdaRequest);

/// The two top-level keys that tell a payload 2.0 event.
#[derive(serde::Deserialize)]
struct Shape<'a> {
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(rename = "httpMethod", default)]
    http_method: Option<IgnoredAny>,
}

impl<'de> Deserialize<'de> for HttpEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HttpEvent, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let payload_v2 = serde_json::from_str::<Shape<'_>>(text).is_ok_and(|shape| {
            shape.version.as_deref() == Some("2.0") && shape.http_method.is_none()
        });
        if payload_v2 && let Ok(event) = serde_json::from_str::<ApiGatewayV2httpRequest>(text) {
            return Ok(HttpEvent(LambdaRequest::ApiGatewayV2(event)));
        }
        serde_json::from_str::<LambdaRequest>(text)
            .map(HttpEvent)
            .map_err(D::Error::custom)
    }
}

/// `inner`, fed from [`HttpEvent`]s: what the runtime loop drives.
pub type ParseOnce<S> = MapRequest<S, fn(LambdaEvent<HttpEvent>) -> LambdaEvent<LambdaRequest>>;

/// Wraps a service of `lambda_http`'s requests so the runtime deserialises each event as an
/// [`HttpEvent`].
pub fn parse_once<S>(inner: S) -> ParseOnce<S>
where
    S: Service<LambdaEvent<LambdaRequest>>,
{
    fn unwrap(event: LambdaEvent<HttpEvent>) -> LambdaEvent<LambdaRequest> {
        LambdaEvent::new(event.payload.0, event.context)
    }
    inner.map_request(unwrap as fn(LambdaEvent<HttpEvent>) -> LambdaEvent<LambdaRequest>)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(request: &LambdaRequest) -> &'static str {
        match request {
            LambdaRequest::ApiGatewayV1(_) => "rest",
            LambdaRequest::ApiGatewayV2(_) => "http-2.0",
            LambdaRequest::Alb(_) => "alb",
            _ => "other",
        }
    }

    /// What the template's API sends, a payload 1.0 event, an ALB event, a 2.0 event that also
    /// has a top-level `httpMethod`, and a 2.0 event that payload 2.0 cannot read.
    const EVENTS: [&str; 5] = [
        r#"{"version":"2.0","routeKey":"POST /webhooks/email","rawPath":"/webhooks/email","rawQueryString":"token=a","headers":{"content-type":"application/json"},"requestContext":{"http":{"method":"POST","path":"/webhooks/email","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"x"},"requestId":"r","stage":"$default"},"body":"{\"event\":{}}","isBase64Encoded":false}"#,
        r#"{"version":"1.0","resource":"/webhooks/email","path":"/webhooks/email","httpMethod":"POST","headers":{},"queryStringParameters":{"token":"a"},"requestContext":{"httpMethod":"POST","path":"/webhooks/email","requestId":"r","stage":"$default"},"body":"{}","isBase64Encoded":false}"#,
        r#"{"requestContext":{"elb":{"targetGroupArn":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},"httpMethod":"POST","path":"/webhooks/email","queryStringParameters":{"token":"a"},"headers":{},"body":"{}","isBase64Encoded":false}"#,
        r#"{"version":"2.0","httpMethod":"POST","path":"/webhooks/email","headers":{},"requestContext":{"httpMethod":"POST","requestId":"r"},"body":"{}","isBase64Encoded":false}"#,
        r#"{"version":"2.0","rawPath":7,"httpMethod":"POST","path":"/x","headers":{},"requestContext":{},"body":"{}","isBase64Encoded":false}"#,
    ];

    #[test]
    fn an_event_reads_as_the_same_kind_and_request_as_through_lambda_http() {
        for event in EVENTS {
            let ours = serde_json::from_str::<HttpEvent>(event).map(|e| e.0);
            let theirs = serde_json::from_str::<LambdaRequest>(event);
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(kind(&ours), kind(&theirs), "{event}");
                    let (ours, theirs) = (Request::from(ours), Request::from(theirs));
                    assert_eq!(ours.method(), theirs.method(), "{event}");
                    assert_eq!(ours.uri(), theirs.uri(), "{event}");
                    assert_eq!(ours.headers(), theirs.headers(), "{event}");
                    assert_eq!(ours.body(), theirs.body(), "{event}");
                }
                (Err(_), Err(_)) => {}
                (ours, theirs) => panic!("{event}: {ours:?} vs {theirs:?}"),
            }
        }
        let fast = serde_json::from_str::<HttpEvent>(EVENTS[0]).unwrap();
        assert_eq!(kind(&fast.0), "http-2.0");
        assert!(serde_json::from_str::<HttpEvent>("[1]").is_err());
        assert!(serde_json::from_str::<HttpEvent>(r#"{"version":"2.0"}"#).is_err());
    }
}
