//! The AWS side of the local stack: an emulator's endpoint, a region and dummy credentials,
//! never the user's own.

use crate::{Error, LOCAL_REGION, Result};

/// Dummy credentials: the emulator accepts anything, and real AWS would refuse these.
const ACCESS_KEY_ID: &str = "test";
const SECRET_ACCESS_KEY: &str = "test";

/// An emulator to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAws {
    pub endpoint: String,
    pub region: String,
}

impl LocalAws {
    /// The emulator at `endpoint`, in `AWS_REGION` (default us-east-1).
    pub fn new(endpoint: impl Into<String>) -> LocalAws {
        let region = std::env::var("AWS_REGION")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| LOCAL_REGION.to_owned());
        LocalAws {
            endpoint: endpoint.into(),
            region,
        }
    }

    /// The emulator named by `AWS_ENDPOINT_URL` (required: these chores never talk to AWS).
    pub fn from_env() -> Result<LocalAws> {
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .map(LocalAws::new)
            .ok_or(Error::NoEndpoint)
    }

    /// DynamoDB and SQS clients for the emulator.
    pub async fn clients(&self) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
        let credentials = aws_sdk_dynamodb::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "devkit-local",
        );
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .load()
            .await;
        (
            aws_sdk_dynamodb::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
        )
    }

    /// The variables that point the SDK (a function, a test) at the same emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ]
    }
}

/// Variables of the caller's environment that would point a child elsewhere than the emulator
/// (another endpoint, real credentials or a profile): removed from the children's environment.
pub const INHERITED_AWS_OVERRIDES: [&str; 7] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
];

/// A single-threaded Tokio runtime for SDK calls from blocking code.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start a Tokio runtime", e))
}
