//! The API Gateway HTTP API event (payload format 2.0, which Lambda function URLs share) and
//! its response, reduced to what the pipeline reads.
//!
//! We read the event ourselves rather than through `lambda_http`: its conversion panics on a
//! body marked base64 that is not (aws_lambda_events `Body::from_maybe_encoded` uses
//! `expect`), and a malformed request must get a 400, not a crash.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use webhook_core::{InboundRequest, RequestBody, Response, TokenParam};

/// The fields of a payload-2.0 event the pipeline needs; everything else is ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpApiRequest {
    pub raw_path: Option<String>,
    /// As received, so repeated `token` parameters stay distinguishable.
    pub raw_query_string: Option<String>,
    pub body: Option<String>,
    pub is_base64_encoded: bool,
    pub request_context: RequestContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestContext {
    pub http: HttpDescription,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpDescription {
    pub method: String,
}

impl HttpApiRequest {
    /// Every value of the `token` query parameter, percent-decoded.
    pub fn tokens(&self) -> Vec<String> {
        let query = self.raw_query_string.as_deref().unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "token")
            .map(|(_, value)| value.into_owned())
            .collect()
    }

    /// The request as the pipeline sees it; `tokens` are the values from [`Self::tokens`].
    pub fn inbound<'a>(&'a self, tokens: &'a [String]) -> InboundRequest<'a> {
        let body = self.body.as_deref().unwrap_or_default();
        InboundRequest {
            method: &self.request_context.http.method,
            token: TokenParam::from_values(tokens.iter().map(String::as_str)),
            body: if self.is_base64_encoded {
                RequestBody::Base64(body)
            } else {
                RequestBody::Plain(body.as_bytes())
            },
        }
    }
}

/// A payload-2.0 response (also a Lambda function URL response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiResponse {
    pub status_code: u16,
    pub headers: HashMap<&'static str, &'static str>,
    pub body: String,
    pub is_base64_encoded: bool,
    /// Always empty; present because function URL clients (cargo lambda watch among them)
    /// require the field.
    pub cookies: [&'static str; 0],
}

impl From<Response> for HttpApiResponse {
    fn from(response: Response) -> Self {
        let mut headers = HashMap::from([("content-type", "application/json")]);
        if response.allow_post {
            headers.insert("allow", "POST");
        }
        HttpApiResponse {
            status_code: response.status,
            headers,
            body: response.body,
            is_base64_encoded: false,
            cookies: [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_has_every_field_function_url_clients_require() {
        let response = HttpApiResponse::from(Response {
            status: 405,
            body: "{}".into(),
            allow_post: true,
        });
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({
                "statusCode": 405,
                "headers": {"content-type": "application/json", "allow": "POST"},
                "body": "{}",
                "isBase64Encoded": false,
                "cookies": []
            })
        );
    }

    fn event(json: &str) -> HttpApiRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reads_method_tokens_and_body() {
        let e = event(
            r#"{"rawPath":"/webhooks/email","rawQueryString":"a=1&token=abc%2Bdef&token=x+y",
                "requestContext":{"http":{"method":"POST"}},"body":"{}","isBase64Encoded":false}"#,
        );
        assert_eq!(e.tokens(), ["abc+def", "x y"]);
        let tokens = e.tokens();
        let inbound = e.inbound(&tokens);
        assert_eq!(inbound.method, "POST");
        assert_eq!(inbound.token, TokenParam::Several);
        assert_eq!(inbound.body, RequestBody::Plain(b"{}"));
    }

    #[test]
    fn a_missing_body_and_query_are_empty() {
        let e = event(r#"{"requestContext":{"http":{"method":"GET"}}}"#);
        let tokens = e.tokens();
        let inbound = e.inbound(&tokens);
        assert_eq!(inbound.token, TokenParam::Absent);
        assert_eq!(inbound.body, RequestBody::Plain(b""));
    }

    #[test]
    fn base64_bodies_are_left_for_the_pipeline_to_decode() {
        let e = event(r#"{"body":"e30=","isBase64Encoded":true}"#);
        let tokens = e.tokens();
        assert_eq!(e.inbound(&tokens).body, RequestBody::Base64("e30="));
    }
}
