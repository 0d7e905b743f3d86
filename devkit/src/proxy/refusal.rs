//! AWS's answer to an invalid request, byte for byte where the SDK looks: HTTP 400, the AWS
//! JSON 1.0 error body (`__type`, `message`), and for SQS the `x-amzn-query-error` header
//! from which the SDKs take the error code.
//!
//! - DynamoDB error shape:
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html>
//! - SQS JSON error shape (`x-amzn-query-error: <code>;Sender`):
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-api-responses.html>
//!
//! The SQS `__type` of an error that is not in the service model (`InvalidParameterValue`,
//! `MissingParameter`) is the one SQS sends for it, `com.amazon.coral.service#…Exception`; the
//! SDKs report the header's code either way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::http::Response;

/// The errors the strict rules answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// SQS: a message body character outside the allowed set.
    InvalidMessageContents,
    /// SQS: any other invalid parameter value.
    InvalidParameterValue,
    /// SQS: a required parameter is missing (or empty, as an empty body is).
    MissingParameter,
    /// SQS: the messages of a batch add up to more than the limit.
    BatchRequestTooLong,
    /// DynamoDB: the request breaks a documented constraint.
    ValidationException,
}

impl ErrorCode {
    /// The code the SDK reports (`ProvideErrorMetadata::code`).
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessageContents => "InvalidMessageContents",
            ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            ErrorCode::ValidationException => "ValidationException",
        }
    }

    /// The `__type` of the JSON error body.
    fn json_type(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessageContents => "com.amazonaws.sqs#InvalidMessageContents",
            ErrorCode::InvalidParameterValue => {
                "com.amazon.coral.service#InvalidParameterValueException"
            }
            ErrorCode::MissingParameter => {
                "com.amazon.coral.service#MissingRequiredParameterException"
            }
            ErrorCode::BatchRequestTooLong => "com.amazonaws.sqs#BatchRequestTooLong",
            ErrorCode::ValidationException => "com.amazon.coral.validate#ValidationException",
        }
    }

    fn is_sqs(self) -> bool {
        self != ErrorCode::ValidationException
    }
}

/// A request refused as AWS would refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// DynamoDB's `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::ValidationException, message)
    }

    /// The HTTP response AWS sends for it.
    pub fn response(&self) -> Response {
        let body = serde_json::json!({
            "__type": self.code.json_type(),
            "message": self.message,
        })
        .to_string()
        .into_bytes();
        let mut headers = vec![
            ("x-amzn-RequestId".to_owned(), request_id()),
            (
                "Content-Type".to_owned(),
                "application/x-amz-json-1.0".to_owned(),
            ),
        ];
        if self.code.is_sqs() {
            headers.push((
                "x-amzn-query-error".to_owned(),
                format!("{};Sender", self.code.code()),
            ));
        } else {
            // DynamoDB signs every body with its CRC32; some SDKs check it.
            headers.push(("x-amz-crc32".to_owned(), crc32(&body).to_string()));
        }
        Response::new(400, "Bad Request", headers, body)
    }
}

/// A request id in AWS's UUID shape, unique within the process.
pub fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mixed = (nanos ^ count.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        mixed >> 32,
        (mixed >> 16) & 0xffff,
        mixed & 0xfff,
        count & 0xfff,
        (nanos ^ mixed) & 0xffff_ffff_ffff
    )
}

/// CRC-32 (IEEE 802.3), as DynamoDB's `x-amz-crc32` header carries it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn an_sqs_refusal_carries_the_query_error_header() {
        let response = Refusal::new(ErrorCode::InvalidMessageContents, "bad").response();
        assert_eq!(response.status, 400);
        assert_eq!(
            response.head.header("x-amzn-query-error"),
            Some("InvalidMessageContents;Sender")
        );
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidMessageContents");
        assert_eq!(body["message"], "bad");
    }

    #[test]
    fn a_dynamodb_refusal_has_no_query_error_but_a_checksum() {
        let response = Refusal::validation("no").response();
        assert_eq!(response.head.header("x-amzn-query-error"), None);
        let crc = response.head.header("x-amz-crc32").unwrap();
        assert_eq!(crc, crc32(&response.body).to_string());
    }

    #[test]
    fn request_ids_differ() {
        assert_ne!(request_id(), request_id());
    }
}
