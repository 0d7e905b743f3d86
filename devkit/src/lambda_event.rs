//! One HTTP request as each AWS service delivers it to a Lambda function, and the answer each
//! expects back. A function of this project is reachable through all of them (docs/contract.md
//! §2), so the contract suite sends every case in every shape:
//!
//! | source | event | query values | answer |
//! |---|---|---|---|
//! | API Gateway REST API | payload 1.0, a stage in `requestContext.path` | decoded, single and multi-value | `statusCode`, `multiValueHeaders`, `body`, `isBase64Encoded` |
//! | HTTP API, payload 1.0 | as REST, `version` 1.0, stage `$default` | decoded, single and multi-value | as REST |
//! | HTTP API, payload 2.0 | `rawQueryString`, comma-joined repeats | raw | `statusCode`, `headers`, `body`, `isBase64Encoded`, `cookies` |
//! | ALB | `requestContext.elb`, the last of repeated values | **percent-encoded** as sent | `statusCode`, `statusDescription`, `headers`, `body`, `isBase64Encoded` |
//! | ALB, multi-value headers on | `multiValueHeaders`, `multiValueQueryStringParameters` | percent-encoded as sent | as ALB |
//! | Lambda function URL | payload 2.0, `*.lambda-url.<region>.on.aws`, route key `$default` | raw | as HTTP API 2.0 |
//!
//! Values are documentation-only: account 123456789012, source IP 203.0.113.25 (TEST-NET-3),
//! 2026-04-21 09:31:10 UTC. A body that is not UTF-8 is base64-encoded, as every service does
//! for binary content.

use std::collections::BTreeMap;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde_json::{Map, Value, json};

const ACCOUNT_ID: &str = "123456789012";
const REGION: &str = "us-east-1";
const API_ID: &str = "r3plyh00k5";
const FUNCTION_URL_ID: &str = "q3ylocalcontract5uite0000aa";
const SOURCE_IP: &str = "203.0.113.25";
const USER_AGENT: &str = "Reply.io-Webhooks/1.0";
const REQUEST_ID: &str = "c0ffee00-0000-4000-8000-000000000001";
const REQUEST_TIME_V1: &str = "21/Apr/2026:09:31:10 +0000";
const REQUEST_TIME_EPOCH_MS: i64 = 1_776_763_870_000;
/// The stage of the REST API, which API Gateway puts in front of the path it reports.
pub const REST_STAGE: &str = "prod";

/// A way AWS delivers HTTP to a Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    RestApi,
    HttpApiV1,
    HttpApiV2,
    Alb,
    AlbMultiValue,
    FunctionUrl,
}

/// How the service hands the body over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// As the services do by default: UTF-8 text as is, anything else base64-encoded.
    #[default]
    Auto,
    /// Base64-encoded and marked so (a binary media type, or a client's choice).
    Base64,
    /// Marked base64-encoded, but the body's text as is: no service sends this, and a function
    /// must survive it.
    MarkedOnly,
}

/// One HTTP request as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The route, e.g. `/webhooks/email`.
    pub path: String,
    /// The raw query string without `?`, percent-encoding as the client wrote it.
    pub query: String,
    /// Lowercase names, in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub encoding: Encoding,
}

/// Why a function's answer is not what its source expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name} answer: {problem}: {answer}")]
pub struct ShapeError {
    source_name: &'static str,
    problem: String,
    answer: String,
}

/// A function's answer, read from the shape its source expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Lowercase names; the first value of each.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

impl HttpRequest {
    /// The body as the event carries it, and whether it is marked base64-encoded.
    pub fn event_body(&self) -> (String, bool) {
        match (self.encoding, std::str::from_utf8(&self.body)) {
            (Encoding::Auto, Ok(text)) => (text.to_owned(), false),
            (Encoding::MarkedOnly, _) => (String::from_utf8_lossy(&self.body).into_owned(), true),
            _ => (BASE64_STANDARD.encode(&self.body), true),
        }
    }

    /// The bytes the function works on once the service's encoding is undone: a body marked
    /// base64-encoded that does not decode arrives as the text it is.
    pub fn received(&self) -> Vec<u8> {
        let (body, marked) = self.event_body();
        if marked {
            BASE64_STANDARD
                .decode(&body)
                .unwrap_or_else(|_| body.into_bytes())
        } else {
            body.into_bytes()
        }
    }

    /// The query's name-value pairs, decoded (`%XX`, `+` as space), in order.
    fn decoded_query(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The query's name-value pairs as written (what an ALB passes on).
    fn raw_query(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (pair.to_owned(), String::new()),
            })
            .collect()
    }
}

/// Pairs grouped by name, values in order (names in first-seen order is not needed: JSON
/// objects here are maps).
fn grouped(pairs: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in pairs {
        map.entry(name.clone()).or_default().push(value.clone());
    }
    map
}

/// One value per name: the last one, as a service without multi-value support keeps.
fn last_values(pairs: &[(String, String)]) -> Value {
    let map: Map<String, Value> = grouped(pairs)
        .into_iter()
        .filter_map(|(name, values)| values.last().map(|v| (name, json!(v))))
        .collect();
    Value::Object(map)
}

/// Every value per name, as arrays.
fn all_values(pairs: &[(String, String)]) -> Value {
    let map: Map<String, Value> = grouped(pairs)
        .into_iter()
        .map(|(name, values)| (name, json!(values)))
        .collect();
    Value::Object(map)
}

/// Every value per name joined with commas, as HTTP API payload 2.0 does.
fn comma_joined(pairs: &[(String, String)]) -> Value {
    let map: Map<String, Value> = grouped(pairs)
        .into_iter()
        .map(|(name, values)| (name, json!(values.join(","))))
        .collect();
    Value::Object(map)
}

/// An object, or `null` when empty (API Gateway's payload 1.0 sends `null` for no values).
fn or_null(value: Value) -> Value {
    match &value {
        Value::Object(map) if map.is_empty() => Value::Null,
        _ => value,
    }
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::RestApi,
        Source::HttpApiV1,
        Source::HttpApiV2,
        Source::Alb,
        Source::AlbMultiValue,
        Source::FunctionUrl,
    ];

    /// A short name for messages and the case file (`rest-api`, `http-api-v2`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Source::RestApi => "rest-api",
            Source::HttpApiV1 => "http-api-v1",
            Source::HttpApiV2 => "http-api-v2",
            Source::Alb => "alb",
            Source::AlbMultiValue => "alb-multi-value",
            Source::FunctionUrl => "function-url",
        }
    }

    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|source| source.name() == name)
    }

    /// The Lambda event this source delivers for `request`.
    pub fn event(self, request: &HttpRequest) -> Value {
        let (body, is_base64_encoded) = request.event_body();
        let mut headers = request.headers.clone();
        if !headers.iter().any(|(name, _)| name == "content-length") {
            headers.push((
                "content-length".to_owned(),
                request.received().len().to_string(),
            ));
        }
        match self {
            Source::RestApi | Source::HttpApiV1 => {
                let query = request.decoded_query();
                let (version, stage, context_path) = if self == Source::RestApi {
                    (None, REST_STAGE, format!("/{REST_STAGE}{}", request.path))
                } else {
                    (Some("1.0"), "$default", request.path.clone())
                };
                let mut event = json!({
                    "resource": request.path,
                    "path": request.path,
                    "httpMethod": request.method,
                    "headers": or_null(last_values(&headers)),
                    "multiValueHeaders": or_null(all_values(&headers)),
                    "queryStringParameters": or_null(last_values(&query)),
                    "multiValueQueryStringParameters": or_null(all_values(&query)),
                    "pathParameters": null,
                    "stageVariables": null,
                    "requestContext": {
                        "accountId": ACCOUNT_ID,
                        "apiId": API_ID,
                        "domainName": format!("{API_ID}.execute-api.{REGION}.amazonaws.com"),
                        "domainPrefix": API_ID,
                        "httpMethod": request.method,
                        "identity": {"sourceIp": SOURCE_IP, "userAgent": USER_AGENT},
                        "path": context_path,
                        "protocol": "HTTP/1.1",
                        "requestId": REQUEST_ID,
                        "requestTime": REQUEST_TIME_V1,
                        "requestTimeEpoch": REQUEST_TIME_EPOCH_MS,
                        "resourceId": "w8ok4x",
                        "resourcePath": request.path,
                        "stage": stage,
                    },
                    "body": body,
                    "isBase64Encoded": is_base64_encoded,
                });
                if let Some(version) = version {
                    event["version"] = json!(version);
                    event["requestContext"]["routeKey"] =
                        json!(format!("{} {}", request.method, request.path));
                }
                event
            }
            Source::HttpApiV2 | Source::FunctionUrl => {
                let (route_key, domain_id, domain) = if self == Source::HttpApiV2 {
                    (
                        format!("{} {}", request.method, request.path),
                        API_ID,
                        format!("{API_ID}.execute-api.{REGION}.amazonaws.com"),
                    )
                } else {
                    (
                        "$default".to_owned(),
                        FUNCTION_URL_ID,
                        format!("{FUNCTION_URL_ID}.lambda-url.{REGION}.on.aws"),
                    )
                };
                let mut event = json!({
                    "version": "2.0",
                    "routeKey": route_key,
                    "rawPath": request.path,
                    "rawQueryString": request.query,
                    "headers": comma_joined(&headers),
                    "requestContext": {
                        "accountId": ACCOUNT_ID,
                        "apiId": domain_id,
                        "domainName": domain,
                        "domainPrefix": domain_id,
                        "http": {
                            "method": request.method,
                            "path": request.path,
                            "protocol": "HTTP/1.1",
                            "sourceIp": SOURCE_IP,
                            "userAgent": USER_AGENT,
                        },
                        "requestId": REQUEST_ID,
                        "routeKey": route_key,
                        "stage": "$default",
                        "time": REQUEST_TIME_V1,
                        "timeEpoch": REQUEST_TIME_EPOCH_MS,
                    },
                    "body": body,
                    "isBase64Encoded": is_base64_encoded,
                });
                let query = comma_joined(&request.decoded_query());
                if query.as_object().is_some_and(|q| !q.is_empty()) {
                    event["queryStringParameters"] = query;
                }
                event
            }
            Source::Alb | Source::AlbMultiValue => {
                let query = request.raw_query();
                let mut event = json!({
                    "requestContext": {"elb": {"targetGroupArn": format!(
                        "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/reply-webhooks/6d0ecf831eec9f09"
                    )}},
                    "httpMethod": request.method,
                    "path": request.path,
                    "body": body,
                    "isBase64Encoded": is_base64_encoded,
                });
                if self == Source::Alb {
                    event["queryStringParameters"] = last_values(&query);
                    event["headers"] = last_values(&headers);
                } else {
                    event["multiValueQueryStringParameters"] = all_values(&query);
                    event["multiValueHeaders"] = all_values(&headers);
                }
                event
            }
        }
    }

    /// Reads a function's answer, checking it has the fields this source expects (they are
    /// what the service turns into the HTTP response).
    pub fn answer(self, answer: &Value) -> Result<Answer, ShapeError> {
        let fail = |problem: String| ShapeError {
            source_name: self.name(),
            problem,
            answer: answer.to_string(),
        };
        let required: &[&str] = match self {
            Source::RestApi | Source::HttpApiV1 => {
                &["statusCode", "multiValueHeaders", "body", "isBase64Encoded"]
            }
            Source::HttpApiV2 | Source::FunctionUrl => &[
                "statusCode",
                "headers",
                "body",
                "isBase64Encoded",
                "cookies",
            ],
            Source::Alb => &[
                "statusCode",
                "statusDescription",
                "headers",
                "body",
                "isBase64Encoded",
            ],
            Source::AlbMultiValue => &[
                "statusCode",
                "statusDescription",
                "multiValueHeaders",
                "body",
                "isBase64Encoded",
            ],
        };
        if let Some(missing) = required.iter().find(|key| answer.get(**key).is_none()) {
            return Err(fail(format!("`{missing}` is missing")));
        }
        let status = answer["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| fail("`statusCode` is not a status".into()))?;
        if answer["isBase64Encoded"] != json!(false) {
            return Err(fail("the JSON answer is marked base64-encoded".into()));
        }
        let headers = match self {
            Source::RestApi | Source::HttpApiV1 | Source::AlbMultiValue => {
                first_values(&answer["multiValueHeaders"])
            }
            Source::HttpApiV2 | Source::FunctionUrl | Source::Alb => {
                single_values(&answer["headers"])
            }
        }
        .ok_or_else(|| fail("the headers are not a map of strings".into()))?;
        if matches!(self, Source::Alb | Source::AlbMultiValue) {
            let description = answer["statusDescription"].as_str().unwrap_or_default();
            if !description.starts_with(&format!("{status} ")) {
                return Err(fail(format!(
                    "`statusDescription` `{description}` does not start with the status"
                )));
            }
        }
        let body = answer["body"]
            .as_str()
            .ok_or_else(|| fail("`body` is not text".into()))?
            .to_owned();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

fn single_values(headers: &Value) -> Option<BTreeMap<String, String>> {
    headers
        .as_object()?
        .iter()
        .map(|(name, value)| Some((name.to_ascii_lowercase(), value.as_str()?.to_owned())))
        .collect()
}

fn first_values(headers: &Value) -> Option<BTreeMap<String, String>> {
    headers
        .as_object()?
        .iter()
        .map(|(name, values)| {
            let first = values.as_array()?.first()?.as_str()?;
            Some((name.to_ascii_lowercase(), first.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: "/webhooks/email".into(),
            query: query.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
            encoding: Encoding::Auto,
        }
    }

    #[test]
    fn each_source_carries_the_query_as_its_service_does() {
        let r = request("token=a%20b&token=c+d&x");
        let rest = Source::RestApi.event(&r);
        assert_eq!(
            rest["queryStringParameters"],
            json!({"token": "c d", "x": ""})
        );
        assert_eq!(
            rest["multiValueQueryStringParameters"]["token"],
            json!(["a b", "c d"])
        );
        assert_eq!(rest["requestContext"]["path"], "/prod/webhooks/email");
        let v2 = Source::HttpApiV2.event(&r);
        assert_eq!(v2["rawQueryString"], "token=a%20b&token=c+d&x");
        assert_eq!(v2["queryStringParameters"]["token"], "a b,c d");
        let alb = Source::Alb.event(&r);
        assert_eq!(alb["queryStringParameters"]["token"], "c+d");
        let multi = Source::AlbMultiValue.event(&r);
        assert_eq!(
            multi["multiValueQueryStringParameters"]["token"],
            json!(["a%20b", "c+d"])
        );
        let url = Source::FunctionUrl.event(&r);
        assert_eq!(url["routeKey"], "$default");
        assert!(
            url["requestContext"]["domainName"]
                .as_str()
                .unwrap()
                .ends_with(".lambda-url.us-east-1.on.aws")
        );
        assert_eq!(
            Source::RestApi.event(&request(""))["queryStringParameters"],
            Value::Null
        );
    }

    #[test]
    fn bodies_are_encoded_as_asked_and_received_decoded() {
        let mut r = request("");
        r.body = vec![0xff, 0xfe];
        assert_eq!(r.event_body(), ("//4=".to_owned(), true));
        assert_eq!(r.received(), [0xff, 0xfe]);
        r.body = b"not base64!".to_vec();
        r.encoding = Encoding::MarkedOnly;
        assert_eq!(r.event_body(), ("not base64!".to_owned(), true));
        assert_eq!(r.received(), b"not base64!");
        r.encoding = Encoding::Base64;
        assert_eq!(r.event_body().0, BASE64_STANDARD.encode("not base64!"));
    }

    #[test]
    fn an_answer_without_the_fields_of_its_source_is_refused() {
        let v2 = json!({"statusCode": 200, "headers": {"content-type": "application/json"},
                        "body": "{}", "isBase64Encoded": false, "cookies": []});
        let answer = Source::HttpApiV2.answer(&v2).unwrap();
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(Source::RestApi.answer(&v2).is_err());
        assert!(Source::Alb.answer(&v2).is_err());
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
        assert!(names.iter().all(|n| Source::parse(n).is_some()));
    }
}
