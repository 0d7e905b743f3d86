//! Why a delivery could not be read. Every message names the field and the problem, so the
//! 400 body tells the sender exactly what to fix.

/// A delivery body that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The body has no bytes at all.
    #[error("body is empty")]
    Empty,
    /// API Gateway marked the body base64-encoded, and it is not valid base64.
    #[error("body is marked base64-encoded but is not valid base64")]
    NotBase64,
    /// The body is not UTF-8 (JSON must be, and so must an SQS message).
    #[error("body is not valid UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The body is not well-formed JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON, but not an object.
    #[error("body is not a JSON object")]
    NotObject,
    /// A required field is absent (or null).
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A field has a JSON type we cannot use.
    #[error("{field} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// A required field is given more than once with different values: which one is the
    /// event cannot be known.
    #[error("{0} is given more than once with different values")]
    Conflicting(&'static str),
    /// A field has the right type but an unusable value.
    #[error("{field} {problem}")]
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
}
