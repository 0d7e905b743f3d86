//! The answer to a delivery: a status and a JSON body, the same whatever AWS service delivered
//! the request (the Lambda layer shapes it for that service).

use serde_json::json;

use crate::outcome::Outcome;

/// A response: status and JSON body (always `application/json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// 405 responses name the one allowed method in an `Allow` header.
    pub allow_post: bool,
}

impl Response {
    /// The response for `outcome`: `{"status", "event_id", ...}` when the delivery is settled
    /// (200, 202), `{"error": {"code", "message"}}` otherwise. `wrong_route` is the route the
    /// event belongs on, when it came to another one.
    pub fn for_outcome(
        outcome: &Outcome,
        event_id: Option<&str>,
        wrong_route: Option<&str>,
    ) -> Response {
        let body = match outcome {
            Outcome::Accepted { sent_to } => {
                let mut body = json!({
                    "status": outcome.code(),
                    "event_id": event_id,
                    "enqueued": sent_to.is_some(),
                });
                if let Some(route) = wrong_route {
                    body["warning"] = json!("wrong_route");
                    body["route"] = json!(route);
                }
                body
            }
            Outcome::Duplicate => json!({ "status": outcome.code(), "event_id": event_id }),
            Outcome::Quarantined { reason, .. } => json!({
                "status": outcome.code(),
                "reason": reason.as_str(),
                "event_id": event_id,
                "message": outcome.message(event_id),
            }),
            failure => json!({
                "error": { "code": failure.code(), "message": failure.message(event_id) }
            }),
        };
        Response {
            status: outcome.status(),
            body: body.to_string(),
            allow_post: matches!(outcome, Outcome::MethodNotAllowed),
        }
    }
}
